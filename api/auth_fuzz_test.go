package api

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"golang.org/x/crypto/argon2"

	"github.com/latchkey/latchkey/keys"
	"github.com/latchkey/latchkey/oauth"
	"github.com/latchkey/latchkey/storage"
)

// The one credential of each kind the fakes below accept.
const (
	fuzzUserID   = "user-alice"
	fuzzPassword = "correct horse battery staple"
	fuzzToken    = "ory_at_good.token-signature"
	fuzzKeyID    = "key-1"
)

// oneKey accepts exactly one API key (and parses every presented key with
// the real format first, as keys.Service does).
type oneKey struct {
	Keys   // nil: Authenticate calls only the methods below
	format keys.Format
	key    string
}

func (k oneKey) Format() keys.Format { return k.format }
func (k oneKey) Scopes() []string    { return []string{"keys:read"} }
func (k oneKey) Verify(_ context.Context, raw, _ string) (*storage.APIKey, error) {
	if _, err := k.format.Parse(raw); err != nil || raw != k.key {
		return nil, keys.ErrNotFound
	}
	return &storage.APIKey{ID: fuzzKeyID, UserID: fuzzUserID, Scopes: []string{"keys:read"}}, nil
}

// oneToken accepts exactly one access token.
type oneToken struct{ Tokens }

func (oneToken) ValidateAccessToken(_ context.Context, tok string) (*oauth.TokenInfo, error) {
	if tok != fuzzToken {
		return nil, oauth.ErrInvalidToken
	}
	return &oauth.TokenInfo{Subject: fuzzUserID, ClientID: "client-1", Scopes: []string{"users:read"}}, nil
}

// oneUser knows alice by her one password; every other username is a
// user whose password nobody knows (so no username costs the real 64 MiB
// argon2id of secret.VerifyNoUser). Hashes use tiny argon2id parameters.
type oneUser struct{ alice, other string }

func (oneUser) GetUser(context.Context, string) (*storage.User, error) {
	return nil, storage.ErrNotFound
}
func (u oneUser) GetUserByUsername(_ context.Context, name string) (*storage.User, error) {
	if name == "alice" {
		return &storage.User{ID: fuzzUserID, Username: name, PasswordHash: u.alice}, nil
	}
	return &storage.User{ID: "user-other", Username: name, PasswordHash: u.other}, nil
}

func cheapHash(password string) string {
	salt := []byte("0123456789abcdef")
	b64 := base64.RawStdEncoding
	key := argon2.IDKey([]byte(password), salt, 1, 8, 1, 32)
	return fmt.Sprintf("$argon2id$v=%d$m=8,t=1,p=1$%s$%s", argon2.Version, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// FuzzAuthorization drives the Authorization header resolver (Bearer,
// Basic, the bare key Flare documents) with fakes that accept exactly one
// key, one access token and one username/password: it never panics, never
// answers 5xx, and authenticates only a header that carries one of those.
func FuzzAuthorization(f *testing.F) {
	format := keys.NewFormat("lk")
	goodKey, err := format.New(keys.EnvLive)
	if err != nil {
		f.Fatal(err)
	}
	otherKey, _ := format.New(keys.EnvTest)
	h := New(Config{
		Keys:   oneKey{format: format, key: goodKey},
		Tokens: oneToken{},
		Users:  oneUser{alice: cheapHash(fuzzPassword), other: cheapHash(goodKey + fuzzToken + "unguessable")},
	})
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	e.GET("/t", h.Authenticate(), func(c *gin.Context) {
		p := principal(c)
		c.String(http.StatusOK, "%s|%s|%s", p.Kind, p.UserID, p.KeyID)
	})
	basic := func(u, p string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(u+":"+p)) }
	for _, s := range []string{
		"Bearer " + goodKey, goodKey, "bearer   " + goodKey + " ", "Bearer " + otherKey, otherKey,
		"Bearer " + goodKey[:len(goodKey)-1] + "x", "Bearer " + fuzzToken, "Bearer " + fuzzToken + "x",
		basic("alice", fuzzPassword), basic("alice", fuzzPassword+"x"), basic("Alice", fuzzPassword), basic("bob", fuzzPassword),
		"Basic !!!", "Basic " + base64.StdEncoding.EncodeToString([]byte("nocolon")), "Bearer", "Bearer ", "Digest x",
		"", " ", "lk_live_", "Bearer lk_live_\xff", "\x00", strings.Repeat("A", 5000),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, authz string) {
		r := httptest.NewRequest(http.MethodGet, "/t", nil)
		r.Header["Authorization"] = []string{authz}
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, r)
		if rec.Code >= 500 {
			t.Fatalf("status %d for %q: %s", rec.Code, authz, rec.Body)
		}
		if rec.Code != http.StatusOK {
			if rec.Code != http.StatusUnauthorized && rec.Code != http.StatusBadRequest {
				t.Fatalf("status %d for %q", rec.Code, authz)
			}
			return
		}
		kind, _, _ := strings.Cut(rec.Body.String(), "|")
		switch kind {
		case KindAPIKey:
			if !strings.Contains(authz, goodKey) || rec.Body.String() != KindAPIKey+"|"+fuzzUserID+"|"+fuzzKeyID {
				t.Fatalf("%q authenticated as %s", authz, rec.Body)
			}
		case KindOAuthToken:
			if !strings.Contains(authz, fuzzToken) || rec.Body.String() != KindOAuthToken+"|"+fuzzUserID+"|" {
				t.Fatalf("%q authenticated as %s", authz, rec.Body)
			}
		case KindPassword:
			u, p, ok := r.BasicAuth()
			if !ok || u != "alice" || p != fuzzPassword || rec.Body.String() != KindPassword+"|"+fuzzUserID+"|" {
				t.Fatalf("%q authenticated as %s", authz, rec.Body)
			}
		default:
			t.Fatalf("%q authenticated as %s", authz, rec.Body)
		}
	})
}

// UpgradePasswordHash accepts and forgets: the fuzz users are rebuilt on
// every lookup.
func (oneUser) UpgradePasswordHash(context.Context, string, string, string) error { return nil }
