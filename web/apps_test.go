package web

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/oauth"
	"github.com/latchkey/latchkey/storage"
)

func TestAppFormCheck(t *testing.T) {
	known := []string{"openid", "profile", "keys:read"}
	ok := appForm{Name: "App", RedirectURIs: []string{"https://app.example/cb"}, Scopes: []string{"openid"}, Grants: []string{"authorization_code", "refresh_token"}}
	tests := []struct {
		name  string
		edit  func(*appForm)
		field func(appErrors) string
		want  string
	}{
		{"valid", func(*appForm) {}, nil, ""},
		{"client credentials only, no redirect", func(f *appForm) {
			f.Grants, f.RedirectURIs = []string{"client_credentials"}, nil
		}, nil, ""},
		{"no name", func(f *appForm) { f.Name = "" }, func(e appErrors) string { return e.Name }, "name"},
		{"long name", func(f *appForm) { f.Name = strings.Repeat("n", 201) }, func(e appErrors) string { return e.Name }, "200"},
		{"no grants", func(f *appForm) { f.Grants = nil }, func(e appErrors) string { return e.Grants }, "at least one grant"},
		{"unknown grant", func(f *appForm) { f.Grants = []string{"password"} }, func(e appErrors) string { return e.Grants }, "from the list"},
		{"public with client credentials", func(f *appForm) {
			f.Public, f.Grants = true, []string{"client_credentials"}
		}, func(e appErrors) string { return e.Grants }, "public app"},
		{"token exchange only, no redirect", func(f *appForm) {
			f.Grants, f.RedirectURIs = []string{oauth.GrantTypeTokenExchange}, nil
		}, nil, ""},
		{"public with token exchange", func(f *appForm) {
			f.Public, f.Grants = true, []string{"authorization_code", oauth.GrantTypeTokenExchange}
		}, func(e appErrors) string { return e.Grants }, "token exchange"},
		{"refresh without code", func(f *appForm) { f.Grants = []string{"refresh_token"} }, func(e appErrors) string { return e.Grants }, "authorization code"},
		{"code without redirect", func(f *appForm) { f.RedirectURIs = nil }, func(e appErrors) string { return e.RedirectURIs }, "at least one redirect"},
		{"too many redirects", func(f *appForm) {
			f.RedirectURIs = nil
			for i := range 21 {
				f.RedirectURIs = append(f.RedirectURIs, "https://app.example/"+strings.Repeat("x", i))
			}
		}, func(e appErrors) string { return e.RedirectURIs }, "at most 20"},
		{"no scopes", func(f *appForm) { f.Scopes = nil }, func(e appErrors) string { return e.Scopes }, "at least one scope"},
		{"unregistered scope", func(f *appForm) { f.Scopes = []string{"admin"} }, func(e appErrors) string { return e.Scopes }, "from the list"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := ok
			f.RedirectURIs, f.Scopes, f.Grants = slices.Clone(ok.RedirectURIs), slices.Clone(ok.Scopes), slices.Clone(ok.Grants)
			tc.edit(&f)
			e := f.check(known)
			if tc.field == nil {
				if e.any() {
					t.Fatalf("unexpected errors %+v", e)
				}
				return
			}
			if got := tc.field(e); !strings.Contains(got, tc.want) {
				t.Fatalf("error %q, want one containing %q (all: %+v)", got, tc.want, e)
			}
		})
	}
}

func TestRegistrarProblem(t *testing.T) {
	var e appErrors
	registrarProblem(&e, errors.New(oauth.ErrInvalidClientMetadata.Error()+`: redirect URI "http://x/cb": use https`))
	if e.RedirectURIs != `Redirect URI "http://x/cb": use https.` || e.Form != "" {
		t.Fatalf("%+v", e)
	}
}

var secretRe = regexp.MustCompile(`id="client-secret"[^>]*>([^<]+)</textarea>`)

// TestAppsLifecycle registers, edits, rotates and deletes an app as its
// owner, checking the secret is shown exactly once.
func TestAppsLifecycle(t *testing.T) {
	f := newPagesFixture(t)
	c := f.user(t, "u-alice", "alice")

	resp, body := f.do(t, c, http.MethodGet, "/apps", nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `class="empty"`) {
		t.Fatalf("empty /apps: %d\n%s", resp.StatusCode, body)
	}

	// A bad redirect URI is refused next to the field, keeping the input.
	form := url.Values{"name": {"My App"}, "redirect_uris": {"http://evil.example/cb"}, "client_type": {"confidential"},
		"scopes": {"openid", "keys:read"}, "grant_types": {"authorization_code", "refresh_token", "client_credentials"}}
	resp, body = f.do(t, c, http.MethodPost, "/apps", form)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `id="redirect-error">Redirect URI &#34;http://evil.example/cb&#34;: use https.`) ||
		!strings.Contains(body, "http://evil.example/cb</textarea>") {
		t.Fatalf("bad redirect: %d\n%s", resp.StatusCode, body)
	}

	form.Set("redirect_uris", "https://app.example/cb\r\n\r\n  https://app.example/cb2 \nhttps://app.example/cb")
	resp, _ = f.do(t, c, http.MethodPost, "/apps", form)
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasSuffix(loc, "/secret") {
		t.Fatalf("register: %d → %q", resp.StatusCode, loc)
	}
	id := strings.TrimSuffix(strings.TrimPrefix(loc, "/apps/"), "/secret")
	cl, err := f.store.GetClient(context.Background(), id)
	if err != nil || cl.OwnerID != "u-alice" || !slices.Equal(cl.RedirectURIs, []string{"https://app.example/cb", "https://app.example/cb2"}) ||
		!slices.Equal(cl.Scopes, []string{"openid", "keys:read"}) || len(cl.GrantTypes) != 3 {
		t.Fatalf("stored %+v, %v", cl, err)
	}
	resp, body = f.follow(t, c, resp)
	m := secretRe.FindStringSubmatch(body)
	if resp.StatusCode != http.StatusOK || m == nil || !strings.Contains(body, "Registered “My App”") {
		t.Fatalf("secret page: %d\n%s", resp.StatusCode, body)
	}
	if d, _ := (&fakeRegistrar{}).HashSecret(m[1]); !bytes.Equal(d, cl.SecretDigest) {
		t.Fatal("the secret shown does not match the stored digest")
	}
	// Only once.
	resp, _ = f.do(t, c, http.MethodGet, "/apps/"+id+"/secret", nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/apps/"+id {
		t.Fatalf("second secret view: %d → %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, body = f.follow(t, c, resp)
	if !strings.Contains(body, "shown only once") || secretRe.MatchString(body) {
		t.Fatalf("second view shows a secret or no explanation:\n%s", body)
	}

	// The list shows it.
	_, body = f.do(t, c, http.MethodGet, "/apps", nil)
	if !strings.Contains(body, `href="/apps/`+id+`"`) || strings.Contains(body, `class="empty"`) {
		t.Fatalf("list:\n%s", body)
	}

	// Edit.
	resp, _ = f.do(t, c, http.MethodPost, "/apps/"+id, url.Values{"name": {"Renamed"}, "redirect_uris": {"https://app.example/new"}, "scopes": {"profile"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("edit: %d", resp.StatusCode)
	}
	_, body = f.follow(t, c, resp)
	if !strings.Contains(body, "Saved changes to “Renamed”") {
		t.Fatalf("edit flash missing:\n%s", body)
	}
	cl, _ = f.store.GetClient(context.Background(), id)
	if cl.Name != "Renamed" || !slices.Equal(cl.RedirectURIs, []string{"https://app.example/new"}) || !slices.Equal(cl.Scopes, []string{"profile"}) || len(cl.GrantTypes) != 3 {
		t.Fatalf("after edit %+v", cl)
	}
	resp, body = f.do(t, c, http.MethodPost, "/apps/"+id, url.Values{"name": {""}, "redirect_uris": {""}, "scopes": {"profile"}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `id="name-error"`) || !strings.Contains(body, `id="redirect-error"`) {
		t.Fatalf("bad edit: %d\n%s", resp.StatusCode, body)
	}

	// Rotate: a new digest, shown once.
	old := cl.SecretDigest
	resp, _ = f.do(t, c, http.MethodPost, "/apps/"+id+"/rotate", url.Values{"grace": {"0"}, "confirm": {"yes"}})
	_, body = f.follow(t, c, resp)
	m = secretRe.FindStringSubmatch(body)
	cl, _ = f.store.GetClient(context.Background(), id)
	if m == nil || bytes.Equal(cl.SecretDigest, old) || !strings.Contains(body, "old secret no longer works") {
		t.Fatalf("rotate:\n%s", body)
	}
	if d, _ := (&fakeRegistrar{}).HashSecret(m[1]); !bytes.Equal(d, cl.SecretDigest) {
		t.Fatal("the rotated secret shown does not match the stored digest")
	}

	// Delete.
	resp, _ = f.do(t, c, http.MethodPost, "/apps/"+id+"/delete", url.Values{"confirm_name": {"Renamed"}})
	if resp.Header.Get("Location") != "/apps" {
		t.Fatalf("delete → %q", resp.Header.Get("Location"))
	}
	_, body = f.follow(t, c, resp)
	if !strings.Contains(body, "Deleted “Renamed”") || !strings.Contains(body, `class="empty"`) {
		t.Fatalf("after delete:\n%s", body)
	}
	if _, err := f.store.GetClient(context.Background(), id); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("client still stored: %v", err)
	}
}

func TestAppsPublicClient(t *testing.T) {
	f := newPagesFixture(t)
	c := f.user(t, "u-alice", "alice")
	form := url.Values{"name": {"SPA"}, "redirect_uris": {"https://spa.example/cb"}, "client_type": {"public"},
		"scopes": {"openid"}, "grant_types": {"authorization_code", "client_credentials"}}
	resp, body := f.do(t, c, http.MethodPost, "/apps", form)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `id="grants-error"`) {
		t.Fatalf("public + client_credentials: %d\n%s", resp.StatusCode, body)
	}
	form["grant_types"] = []string{"authorization_code"}
	resp, _ = f.do(t, c, http.MethodPost, "/apps", form)
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || strings.HasSuffix(loc, "/secret") {
		t.Fatalf("public register: %d → %q", resp.StatusCode, loc)
	}
	_, body = f.follow(t, c, resp)
	if !strings.Contains(body, "no secret") || strings.Contains(body, `action="`+loc+`/rotate"`) {
		t.Fatalf("public app page:\n%s", body)
	}
}

// TestAppsOwnerOnly checks that nobody but the owner can see or change an
// app: every route answers 404, exactly as for a missing id, and nothing
// changes.
func TestAppsOwnerOnly(t *testing.T) {
	f := newPagesFixture(t)
	ctx := context.Background()
	alice := f.user(t, "u-alice", "alice")
	bob := f.user(t, "u-bob", "bob")
	digest, _ := (&fakeRegistrar{}).HashSecret("alice-secret")
	previous, _ := (&fakeRegistrar{}).HashSecret("alice-previous-secret")
	until := time.Now().Add(time.Hour)
	rec := &storage.Client{ID: "alice-app", Name: "Alice App", OwnerID: "u-alice", RedirectURIs: []string{"https://a.example/cb"},
		GrantTypes: []string{"authorization_code"}, Scopes: []string{"openid"}, SecretDigest: digest,
		PreviousSecretDigest: previous, PreviousSecretExpiresAt: &until}
	if err := f.store.CreateClient(ctx, rec); err != nil {
		t.Fatal(err)
	}
	// A client with no owner (made by the CLI) belongs to nobody's pages.
	if err := f.store.CreateClient(ctx, &storage.Client{ID: "cli-app", Name: "CLI App", GrantTypes: []string{"client_credentials"}, Scopes: []string{"openid"}}); err != nil {
		t.Fatal(err)
	}
	edit := url.Values{"name": {"Hijacked"}, "redirect_uris": {"https://evil.example/cb"}, "scopes": {"openid"}}
	routes := []struct {
		method, path string
		form         url.Values
	}{
		{http.MethodGet, "/apps/%s", nil},
		{http.MethodPost, "/apps/%s", edit},
		{http.MethodGet, "/apps/%s/secret", nil},
		{http.MethodPost, "/apps/%s/rotate", url.Values{"grace": {"0"}, "confirm": {"yes"}}},
		{http.MethodPost, "/apps/%s/end-grace", url.Values{"confirm": {"yes"}}},
		{http.MethodPost, "/apps/%s/delete", url.Values{"confirm_name": {"Alice App"}}},
	}
	for _, id := range []string{"alice-app", "cli-app", "missing"} {
		for _, rt := range routes {
			path := strings.Replace(rt.path, "%s", id, 1)
			t.Run(rt.method+" "+path, func(t *testing.T) {
				resp, body := f.do(t, bob, rt.method, path, rt.form)
				if resp.StatusCode != http.StatusNotFound {
					t.Fatalf("status %d, want 404", resp.StatusCode)
				}
				if strings.Contains(body, "Alice App") {
					t.Fatal("the 404 page names the app")
				}
			})
		}
	}
	got, err := f.store.GetClient(ctx, "alice-app")
	if err != nil || got.Name != "Alice App" || !bytes.Equal(got.SecretDigest, digest) || !bytes.Equal(got.PreviousSecretDigest, previous) || got.RedirectURIs[0] != "https://a.example/cb" {
		t.Fatalf("bob changed alice's app: %+v, %v", got, err)
	}
	_, body := f.do(t, bob, http.MethodGet, "/apps", nil)
	if strings.Contains(body, "Alice App") || strings.Contains(body, "CLI App") {
		t.Fatal("bob's list shows other apps")
	}
	// The owner still can.
	if resp, body := f.do(t, alice, http.MethodGet, "/apps/alice-app", nil); resp.StatusCode != http.StatusOK || !strings.Contains(body, "Alice App") {
		t.Fatalf("owner: %d", resp.StatusCode)
	}
	// Signed out: to the login page, coming back afterwards.
	resp, _ := f.do(t, f.anon(t), http.MethodGet, "/apps/alice-app", nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login?next=%2Fapps%2Falice-app" {
		t.Fatalf("anonymous: %d → %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, _ = f.do(t, f.anon(t), http.MethodPost, "/apps/alice-app/delete", url.Values{"confirm_name": {"Alice App"}})
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
		t.Fatalf("anonymous delete: %d", resp.StatusCode)
	}
	if _, err := f.store.GetClient(ctx, "alice-app"); err != nil {
		t.Fatal("anonymous delete removed the app")
	}
}

// TestAppsOwnerCheckedInsideUpdate covers an app that changed hands between
// the page's check and the write: the update refuses.
func TestAppsOwnerCheckedInsideUpdate(t *testing.T) {
	f := newPagesFixture(t)
	c := f.user(t, "u-alice", "alice")
	ctx := context.Background()
	if err := f.store.CreateClient(ctx, &storage.Client{ID: "app", Name: "App", OwnerID: "u-alice", GrantTypes: []string{"client_credentials"}, Scopes: []string{"openid"}, SecretDigest: []byte("d")}); err != nil {
		t.Fatal(err)
	}
	f.store.mu.Lock()
	orig := f.store.clients["app"]
	f.store.mu.Unlock()
	// Swap the owner in the stored row only, after GetClient has been answered.
	swapped := &swapStore{fakeStore: f.store, onUpdate: func(cl *storage.Client) { cl.OwnerID = "u-mallory" }}
	f.h.store = swapped
	resp, _ := f.do(t, c, http.MethodPost, "/apps/app/rotate", url.Values{"grace": {"0"}, "confirm": {"yes"}})
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("status %d, want 404", resp.StatusCode)
	}
	if got, _ := f.store.GetClient(ctx, "app"); !bytes.Equal(got.SecretDigest, orig.SecretDigest) {
		t.Fatal("secret rotated for an app the user no longer owns")
	}
}

type swapStore struct {
	*fakeStore
	onUpdate func(*storage.Client)
}

func (s *swapStore) UpdateClient(ctx context.Context, id string, fn func(*storage.Client) error) error {
	return s.fakeStore.UpdateClient(ctx, id, func(cl *storage.Client) error {
		s.onUpdate(cl)
		return fn(cl)
	})
}
