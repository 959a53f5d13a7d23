package dpop

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v3"
)

const testURL = "https://as.example/oauth/token"

func newSigner(t *testing.T, now time.Time) *Signer {
	t.Helper()
	s, err := NewES256Signer()
	if err != nil {
		t.Fatal(err)
	}
	s.Now = func() time.Time { return now }
	return s
}

func b64(v any) string {
	raw, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(raw)
}

// TestCheckRefusals: every rule of RFC 9449 §4.3 refuses a proof that
// breaks it, with ErrInvalidProof (or ErrUseNonce), and a good proof passes.
func TestCheckRefusals(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	s := newSigner(t, now)
	other := newSigner(t, now)
	pubJWK := jose.JSONWebKey{Key: s.key.Public()}
	privJWK := jose.JSONWebKey{Key: s.key}
	token := "ory_at_abc.def"
	good := func(t *testing.T) string {
		p, err := s.Proof("POST", testURL, "", "")
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	claims := func(mod func(map[string]any)) map[string]any {
		c := map[string]any{"jti": "j-" + randomJTI(), "htm": "POST", "htu": testURL, "iat": now.Unix()}
		if mod != nil {
			mod(c)
		}
		return c
	}
	sign := func(t *testing.T, headers map[string]any, c map[string]any) string {
		p, err := s.Sign(headers, c)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	std := map[string]any{"typ": ProofType, "jwk": pubJWK}
	hs256 := func(t *testing.T) string {
		opts := (&jose.SignerOptions{}).WithType(ProofType).WithHeader("jwk", pubJWK)
		sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte("0123456789abcdef0123456789abcdef")}, opts)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := json.Marshal(claims(nil))
		obj, err := sig.Sign(raw)
		if err != nil {
			t.Fatal(err)
		}
		out, _ := obj.CompactSerialize()
		return out
	}
	smallRSA := func(t *testing.T) string {
		k, err := rsa.GenerateKey(rand.Reader, 1024)
		if err != nil {
			t.Fatal(err)
		}
		rs, err := NewSigner(k)
		if err != nil {
			t.Fatal(err)
		}
		rs.Now = s.Now
		p, _ := rs.Proof("POST", testURL, "", "")
		return p
	}
	nonces := NewNonces([]byte(strings.Repeat("k", 32)), time.Minute, func() time.Time { return now })
	cases := []struct {
		name    string
		proof   func(t *testing.T) []string
		req     Request
		nonce   bool
		wantErr error
	}{
		{"good", func(t *testing.T) []string { return []string{good(t)} }, Request{}, false, nil},
		{"htu query and fragment ignored, host case and default port normalised", func(t *testing.T) []string {
			return []string{sign(t, std, claims(func(c map[string]any) { c["htu"] = "HTTPS://AS.example:443/oauth/token?x=1#f" }))}
		}, Request{}, false, nil},
		{"no header", func(*testing.T) []string { return nil }, Request{}, false, ErrInvalidProof},
		{"two headers", func(t *testing.T) []string { return []string{good(t), good(t)} }, Request{}, false, ErrInvalidProof},
		{"garbage", func(*testing.T) []string { return []string{"not.a.jwt"} }, Request{}, false, ErrInvalidProof},
		{"JSON serialisation", func(*testing.T) []string { return []string{`{"payload":"e30","signatures":[]}`} }, Request{}, false, ErrInvalidProof},
		{"wrong htm", func(t *testing.T) []string {
			return []string{sign(t, std, claims(func(c map[string]any) { c["htm"] = "GET" }))}
		}, Request{}, false, ErrInvalidProof},
		{"lower-case htm", func(t *testing.T) []string {
			return []string{sign(t, std, claims(func(c map[string]any) { c["htm"] = "post" }))}
		}, Request{}, false, ErrInvalidProof},
		{"wrong htu path", func(t *testing.T) []string {
			return []string{sign(t, std, claims(func(c map[string]any) { c["htu"] = "https://as.example/oauth/revoke" }))}
		}, Request{}, false, ErrInvalidProof},
		{"wrong htu host", func(t *testing.T) []string {
			return []string{sign(t, std, claims(func(c map[string]any) { c["htu"] = "https://evil.example/oauth/token" }))}
		}, Request{}, false, ErrInvalidProof},
		{"htu http for https", func(t *testing.T) []string {
			return []string{sign(t, std, claims(func(c map[string]any) { c["htu"] = "http://as.example/oauth/token" }))}
		}, Request{}, false, ErrInvalidProof},
		{"iat too old", func(t *testing.T) []string {
			return []string{sign(t, std, claims(func(c map[string]any) { c["iat"] = now.Add(-2 * time.Minute).Unix() }))}
		}, Request{}, false, ErrInvalidProof},
		{"iat in the future", func(t *testing.T) []string {
			return []string{sign(t, std, claims(func(c map[string]any) { c["iat"] = now.Add(time.Minute).Unix() }))}
		}, Request{}, false, ErrInvalidProof},
		{"iat a string", func(t *testing.T) []string {
			return []string{sign(t, std, claims(func(c map[string]any) { c["iat"] = "soon" }))}
		}, Request{}, false, ErrInvalidProof},
		{"no jti", func(t *testing.T) []string {
			return []string{sign(t, std, claims(func(c map[string]any) { delete(c, "jti") }))}
		}, Request{}, false, ErrInvalidProof},
		{"wrong typ", func(t *testing.T) []string {
			return []string{sign(t, map[string]any{"typ": "JWT", "jwk": pubJWK}, claims(nil))}
		}, Request{}, false, ErrInvalidProof},
		{"no jwk", func(t *testing.T) []string {
			return []string{sign(t, map[string]any{"typ": ProofType}, claims(nil))}
		}, Request{}, false, ErrInvalidProof},
		{"jwk with the private key", func(t *testing.T) []string {
			return []string{sign(t, map[string]any{"typ": ProofType, "jwk": privJWK}, claims(nil))}
		}, Request{}, false, ErrInvalidProof},
		{"jwk of another key (signature does not verify)", func(t *testing.T) []string {
			return []string{sign(t, map[string]any{"typ": ProofType, "jwk": other.jwk}, claims(nil))}
		}, Request{}, false, ErrInvalidProof},
		{"tampered payload", func(t *testing.T) []string {
			parts := strings.Split(good(t), ".")
			parts[1] = b64(claims(func(c map[string]any) { c["htu"] = testURL }))
			return []string{strings.Join(parts, ".")}
		}, Request{}, false, ErrInvalidProof},
		{"alg none", func(t *testing.T) []string {
			h := map[string]any{"typ": ProofType, "alg": "none", "jwk": pubJWK}
			return []string{b64(h) + "." + b64(claims(nil)) + "."}
		}, Request{}, false, ErrInvalidProof},
		{"alg HS256", func(t *testing.T) []string { return []string{hs256(t)} }, Request{}, false, ErrInvalidProof},
		{"RSA key of 1024 bits", func(t *testing.T) []string { return []string{smallRSA(t)} }, Request{}, false, ErrInvalidProof},
		{"ath missing at a resource", func(t *testing.T) []string { return []string{good(t)} }, Request{AccessToken: token}, false, ErrInvalidProof},
		{"ath of another token", func(t *testing.T) []string {
			p, _ := s.Proof("POST", testURL, "ory_at_other", "")
			return []string{p}
		}, Request{AccessToken: token}, false, ErrInvalidProof},
		{"ath matches", func(t *testing.T) []string {
			p, _ := s.Proof("POST", testURL, token, "")
			return []string{p}
		}, Request{AccessToken: token}, false, nil},
		{"nonce required, none sent", func(t *testing.T) []string { return []string{good(t)} }, Request{}, true, ErrUseNonce},
		{"nonce required, a forged one sent", func(t *testing.T) []string {
			p, _ := s.Proof("POST", testURL, "", base64.RawURLEncoding.EncodeToString(make([]byte, 24)))
			return []string{p}
		}, Request{}, true, ErrUseNonce},
		{"nonce required and current", func(t *testing.T) []string {
			p, _ := s.Proof("POST", testURL, "", nonces.New())
			return []string{p}
		}, Request{}, true, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := &Checker{Nonces: nonces, RequireNonce: tc.nonce, Replay: NewMemoryReplay(0, func() time.Time { return now }),
				Now: func() time.Time { return now }}
			req := tc.req
			req.Method, req.URL = "POST", testURL
			p, err := c.Check(context.Background(), tc.proof(t), req)
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
				if p.JKT != s.JKT() {
					t.Fatalf("jkt %q, want %q", p.JKT, s.JKT())
				}
				return
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
		})
	}
}

// TestCheckReplay: the same proof is accepted once; another proof with
// the same jti from another key is not blocked by it.
func TestCheckReplay(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	c := &Checker{Replay: NewMemoryReplay(0, clock), Now: clock}
	s := newSigner(t, now)
	s.random = func() string { return "fixed" }
	other := newSigner(t, now)
	other.random = s.random
	p, _ := s.Proof("GET", testURL, "", "")
	req := Request{Method: "GET", URL: testURL}
	if _, err := c.Check(t.Context(), []string{p}, req); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Check(t.Context(), []string{p}, req); !errors.Is(err, ErrReplayed) || !errors.Is(err, ErrInvalidProof) {
		t.Fatalf("replay: %v", err)
	}
	q, _ := other.Proof("GET", testURL, "", "")
	if _, err := c.Check(t.Context(), []string{q}, req); err != nil {
		t.Fatalf("same jti, other key: %v", err)
	}
}

// TestNoncesRotate: a nonce is accepted in its period and the next, not
// after, and one made under another key never.
func TestNoncesRotate(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	key := []byte(strings.Repeat("n", 32))
	n := NewNonces(key, time.Minute, clock)
	v := n.New()
	if !n.Valid(v) {
		t.Fatal("a fresh nonce is invalid")
	}
	if NewNonces([]byte(strings.Repeat("m", 32)), time.Minute, clock).Valid(v) {
		t.Fatal("a nonce of another key is valid")
	}
	now = now.Add(time.Minute)
	if !n.Valid(v) {
		t.Fatal("a nonce of the previous period is invalid")
	}
	if n.New() == v {
		t.Fatal("the nonce did not rotate")
	}
	now = now.Add(time.Minute)
	if n.Valid(v) {
		t.Fatal("a nonce two periods old is valid")
	}
	for _, bad := range []string{"", "!!", base64.RawURLEncoding.EncodeToString(make([]byte, 24))} {
		if n.Valid(bad) {
			t.Fatalf("%q is valid", bad)
		}
	}
}

// TestSignerKeys: proofs of each accepted key type verify, and the
// thumbprint is RFC 7638's (the example of RFC 7638 §3.1).
func TestSignerKeys(t *testing.T) {
	now := time.Now()
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	for _, k := range []crypto.Signer{ec, rk, ed} {
		s, err := NewSigner(k)
		if err != nil {
			t.Fatal(err)
		}
		p, _ := s.Proof("GET", testURL, "", "")
		got, err := (&Checker{Now: func() time.Time { return now }}).Check(t.Context(), []string{p}, Request{Method: "GET", URL: testURL})
		if err != nil || got.JKT != s.JKT() {
			t.Fatalf("%T: %v", k, err)
		}
	}
	var rfc jose.JSONWebKey
	if err := json.Unmarshal([]byte(`{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB"}`), &rfc); err != nil {
		t.Fatal(err)
	}
	if jkt, _ := Thumbprint(&rfc); jkt != "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs" {
		t.Fatalf("thumbprint %s", jkt)
	}
}
