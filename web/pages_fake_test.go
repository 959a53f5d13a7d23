package web

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/latchkey/latchkey/oauth"
	"github.com/latchkey/latchkey/storage"
)

// fakeStore is an in-memory Store for page tests.
type fakeStore struct {
	mu       sync.Mutex
	users    map[string]*storage.User
	clients  map[string]*storage.Client
	consents map[[2]string]*storage.Consent
	revoked  [][2]string // (subject, client) pairs passed to RevokeGrants
}

var _ Store = (*fakeStore)(nil)

func newFakeStore() *fakeStore {
	return &fakeStore{users: map[string]*storage.User{}, clients: map[string]*storage.Client{}, consents: map[[2]string]*storage.Consent{}}
}

func (f *fakeStore) GetUser(_ context.Context, id string) (*storage.User, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if u, ok := f.users[id]; ok {
		c := *u
		return &c, nil
	}
	return nil, storage.ErrNotFound
}

func (f *fakeStore) GetUserByUsername(_ context.Context, name string) (*storage.User, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, u := range f.users {
		if u.Username == name {
			c := *u
			return &c, nil
		}
	}
	return nil, storage.ErrNotFound
}

func (f *fakeStore) EndSessions(_ context.Context, userID string, at time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	u, ok := f.users[userID]
	if !ok {
		return storage.ErrNotFound
	}
	u.SessionsNotBefore = &at
	return nil
}

func (f *fakeStore) CreateUser(_ context.Context, u *storage.User) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, o := range f.users {
		if o.Username == u.Username {
			return fmt.Errorf("user: %w", storage.ErrConflict)
		}
	}
	c := *u
	f.users[u.ID] = &c
	return nil
}

func (f *fakeStore) GetClient(_ context.Context, id string) (*storage.Client, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := f.clients[id]; ok {
		cp := *c
		return &cp, nil
	}
	return nil, storage.ErrNotFound
}

func (f *fakeStore) CreateClient(_ context.Context, c *storage.Client) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.clients[c.ID]; ok {
		return storage.ErrConflict
	}
	cp := *c
	cp.CreatedAt, cp.UpdatedAt = time.Now(), time.Now()
	f.clients[c.ID] = &cp
	return nil
}

func (f *fakeStore) UpdateClient(_ context.Context, id string, fn func(*storage.Client) error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.clients[id]
	if !ok {
		return storage.ErrNotFound
	}
	cp := *c
	if err := fn(&cp); err != nil {
		return err
	}
	f.clients[id] = &cp
	return nil
}

func (f *fakeStore) DeleteClient(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.clients[id]; !ok {
		return storage.ErrNotFound
	}
	delete(f.clients, id)
	return nil
}

func (f *fakeStore) ListClientsByOwner(_ context.Context, owner string) ([]storage.Client, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []storage.Client
	for _, c := range f.clients {
		if c.OwnerID == owner {
			out = append(out, *c)
		}
	}
	slices.SortFunc(out, func(a, b storage.Client) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

func (f *fakeStore) GetConsent(_ context.Context, userID, clientID string) (*storage.Consent, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := f.consents[[2]string{userID, clientID}]; ok {
		cp := *c
		return &cp, nil
	}
	return nil, storage.ErrNotFound
}

func (f *fakeStore) SaveConsent(_ context.Context, c *storage.Consent) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	cp := *c
	f.consents[[2]string{c.UserID, c.ClientID}] = &cp
	return nil
}

func (f *fakeStore) ListConsents(_ context.Context, userID string) ([]storage.Consent, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []storage.Consent
	for k, c := range f.consents {
		if k[0] == userID {
			out = append(out, *c)
		}
	}
	slices.SortFunc(out, func(a, b storage.Consent) int { return strings.Compare(a.ClientID, b.ClientID) })
	return out, nil
}

func (f *fakeStore) DeleteConsent(_ context.Context, userID, clientID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := [2]string{userID, clientID}
	if _, ok := f.consents[k]; !ok {
		return storage.ErrNotFound
	}
	delete(f.consents, k)
	return nil
}

func (f *fakeStore) RevokeGrants(_ context.Context, subject, clientID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.revoked = append(f.revoked, [2]string{subject, clientID})
	return nil
}

func (f *fakeStore) InTx(ctx context.Context, fn func(context.Context) error) error { return fn(ctx) }

// fakeRegistrar stands in for the OAuth provider's client registration.
type fakeRegistrar struct{ n int }

func (r *fakeRegistrar) NewClientRecord(spec oauth.ClientSpec) (*storage.Client, string, error) {
	for _, u := range spec.RedirectURIs {
		if !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://localhost") {
			return nil, "", fmt.Errorf("%w: redirect URI %q: use https", oauth.ErrInvalidClientMetadata, u)
		}
	}
	r.n++
	rec := &storage.Client{
		ID: fmt.Sprintf("client-%d", r.n), Name: spec.Name, OwnerID: spec.OwnerID, RedirectURIs: spec.RedirectURIs,
		GrantTypes: spec.GrantTypes, Scopes: spec.Scopes, Public: spec.Public,
	}
	if spec.Public {
		return rec, "", nil
	}
	plain := fmt.Sprintf("secret-%d", r.n)
	rec.SecretDigest, rec.SecretVersion = r.HashSecret(plain)
	return rec, plain, nil
}

func (r *fakeRegistrar) SealClientSecret(id, s string) ([]byte, error) {
	return []byte("sealed:" + id + ":" + s), nil
}

func (r *fakeRegistrar) HashSecret(s string) ([]byte, int) {
	d := sha256.Sum256([]byte(s))
	return d[:], 1
}

// pagesFixture is a Handler over fakes, mounted without the CSRF
// middleware (CSRF is covered by the server's own tests).
type pagesFixture struct {
	h     *Handler
	store *fakeStore
	keys  *fakeKeys
	srv   *httptest.Server
}

func newPagesFixture(t *testing.T) *pagesFixture {
	t.Helper()
	key := func(b byte) []byte { return []byte(strings.Repeat(string(rune('a'+b)), 32)) }
	store := newFakeStore()
	keysFake := &fakeKeys{}
	h, err := New(Config{
		CookieHashKey: key(0), CookieBlockKey: key(1), CSRFKey: key(2),
		Clients: &fakeRegistrar{}, Scopes: []string{"openid", "profile", "email", "offline_access", "keys:read"},
		Keys:             keysFake,
		ScopeDescription: func(s string) (string, bool) { return "words for " + s, true },
		Logger:           slog.New(slog.DiscardHandler),
	}, nil, store)
	if err != nil {
		t.Fatal(err)
	}
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	e.POST("/login", h.Login)
	e.GET("/signup", h.SignupForm)
	e.POST("/signup", h.Signup)
	user := e.Group("/", h.RequireUser()) // as the server mounts them
	user.GET("/account", h.Account)
	user.GET("/apps", h.Apps)
	user.POST("/apps", h.CreateApp)
	user.GET("/apps/:id", h.App)
	user.POST("/apps/:id", h.UpdateApp)
	user.GET("/apps/:id/secret", h.AppSecret)
	user.POST("/apps/:id/rotate", h.RotateAppSecret)
	user.POST("/apps/:id/end-grace", h.EndAppSecretGrace)
	user.POST("/apps/:id/delete", h.DeleteApp)
	user.GET("/authorized", h.Authorized)
	user.POST("/authorized/:client_id/revoke", h.RevokeAuthorized)
	user.GET("/keys", h.KeysPage)
	user.POST("/keys", h.CreateKeyForm)
	// /test-login/{id} signs the browser in as a stored user.
	e.GET("/test-login/:id", func(c *gin.Context) {
		u, err := store.GetUser(c.Request.Context(), c.Param("id"))
		if err != nil {
			c.Status(http.StatusNotFound)
			return
		}
		if err := h.startSession(c.Writer, c.Request, u, ""); err != nil {
			t.Error(err)
		}
		c.Status(http.StatusNoContent)
	})
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return &pagesFixture{h: h, store: store, keys: keysFake, srv: srv}
}

// user stores a user and returns a cookie-keeping, non-redirecting client
// signed in as them.
func (f *pagesFixture) user(t *testing.T, id, username string) *http.Client {
	t.Helper()
	if err := f.store.CreateUser(context.Background(), &storage.User{ID: id, Username: username, Email: username + "@example.com", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	c := f.anon(t)
	if resp, _ := f.do(t, c, http.MethodGet, "/test-login/"+id, nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("test login: %d", resp.StatusCode)
	}
	return c
}

func (f *pagesFixture) anon(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func (f *pagesFixture) do(t *testing.T, c *http.Client, method, path string, form url.Values) (*http.Response, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, f.srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// follow fetches the page a 303 points at.
func (f *pagesFixture) follow(t *testing.T, c *http.Client, resp *http.Response) (*http.Response, string) {
	t.Helper()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("status %d, want 303", resp.StatusCode)
	}
	return f.do(t, c, http.MethodGet, resp.Header.Get("Location"), nil)
}

// UpgradePasswordHash swaps the hash while it is still oldHash, as the
// storage does.
func (f *fakeStore) UpgradePasswordHash(_ context.Context, userID, oldHash, newHash string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	u, ok := f.users[userID]
	if !ok {
		return storage.ErrNotFound
	}
	if u.PasswordHash != oldHash {
		return storage.ErrConflict
	}
	u.PasswordHash = newHash
	return nil
}
