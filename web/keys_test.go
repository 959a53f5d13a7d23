package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/keys"
	"github.com/latchkey/latchkey/storage"
)

// fakeKeys is a KeyService whose Create fails with createErr, or records
// the request and returns a key.
type fakeKeys struct {
	mu        sync.Mutex
	createErr error
	created   []keys.CreateRequest
}

var _ KeyService = (*fakeKeys)(nil)

func (f *fakeKeys) Scopes() []string { return []string{"keys:read", "users:read"} }

func (f *fakeKeys) Create(_ context.Context, _ string, _ keys.Authority, req keys.CreateRequest) (*storage.APIKey, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.createErr != nil {
		return nil, "", f.createErr
	}
	f.created = append(f.created, req)
	return &storage.APIKey{Handle: req.Handle, Environment: keys.EnvLive, Scopes: req.Scopes, CreatedAt: time.Now()}, "lk_live_secret", nil
}

func (f *fakeKeys) List(context.Context, string) ([]storage.APIKey, error) { return nil, nil }

func (f *fakeKeys) Get(context.Context, string, string) (*storage.APIKey, error) {
	return nil, keys.ErrNotFound
}

func (f *fakeKeys) Rotate(context.Context, string, string, keys.Authority, time.Duration, string) (*storage.APIKey, string, error) {
	return nil, "", keys.ErrNotFound
}

func (f *fakeKeys) Revoke(context.Context, string, string, keys.Authority, string) (*storage.APIKey, error) {
	return nil, keys.ErrNotFound
}

func (f *fakeKeys) Delete(context.Context, string, string, keys.Authority, string) error {
	return keys.ErrNotFound
}

func (f *fakeKeys) Predecessors(context.Context, *storage.APIKey) ([]storage.APIKey, error) {
	return nil, nil
}

func (f *fakeKeys) Events(context.Context, string) ([]storage.KeyEvent, error) { return nil, nil }

// TestCreateKeyFormFieldErrors: the key service's refusals are shown beside
// the field they concern, chosen by keys.FieldError.Field, never by the
// error's text.
func TestCreateKeyFormFieldErrors(t *testing.T) {
	f := newPagesFixture(t)
	c := f.user(t, "u-1", "kim")
	tests := []struct {
		name string
		err  error
		want string // the field error on the page
	}{
		{"handle", &keys.FieldError{Field: "handle", Message: "handle must be 1-64 letters"},
			`<p class="field-error" id="handle-error">Use 1–64 letters, digits, &#39;.&#39;, &#39;_&#39; or &#39;-&#39;, starting with a letter or digit.</p>`},
		{"environment", &keys.FieldError{Field: "environment", Message: "environment must be live or test"},
			`<p class="field-error">Choose live or test.</p>`},
		{"scopes", &keys.FieldError{Field: "scopes", Message: `unknown scope "x"`}, `<p class="field-error" id="scopes-error">unknown scope &#34;x&#34;</p>`},
		{"a field the form lacks", &keys.FieldError{Field: "tier", Message: `unknown tier "gold"`}, `<p class="field-error" id="scopes-error">unknown tier &#34;gold&#34;</p>`},
		{"a scope named like a field", &keys.FieldError{Field: "scopes", Message: `unknown scope "handle"`}, `<p class="field-error" id="scopes-error">unknown scope &#34;handle&#34;</p>`},
		{"beyond the caller", fmt.Errorf("%w: %q", keys.ErrScopeExceeded, "keys:write"),
			`<p class="field-error" id="scopes-error">keys: scopes exceed the caller&#39;s rights: &#34;keys:write&#34;</p>`},
		{"taken", fmt.Errorf("%w: %q", keys.ErrConflict, "deploy"), `id="handle-error">You already have a key with this name.</p>`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f.keys.mu.Lock()
			f.keys.createErr = tc.err
			f.keys.mu.Unlock()
			resp, body := f.do(t, c, http.MethodPost, "/keys", url.Values{"handle": {"deploy"}, "preset": {"read-write"}, "environment": {"live"}, "expires": {"30d"}})
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, tc.want) || strings.Count(body, `class="field-error"`) != 1 {
				t.Fatalf("%d, want 400 with only %s:\n%s", resp.StatusCode, tc.want, body)
			}
		})
	}
	f.keys.createErr = errors.New("disk on fire")
	if resp, _ := f.do(t, c, http.MethodPost, "/keys", url.Values{"handle": {"deploy"}, "preset": {"read-write"}, "environment": {"live"}, "expires": {"30d"}}); resp.StatusCode != http.StatusInternalServerError {
		t.Fatalf("a failure: %d, want 500", resp.StatusCode)
	}
}

// TestCreateKeyFormScopes: the scopes a key gets from the form never
// exceed what the person saw ticked or chose by name. Ticked boxes decide
// whatever the preset radio says (a browser without JavaScript leaves the
// radio where it was); a preset counts only when no box is ticked; the
// empty form offers the least-privileged preset.
func TestCreateKeyFormScopes(t *testing.T) {
	f := newPagesFixture(t)
	c := f.user(t, "u-1", "kim")
	if _, body := f.do(t, c, http.MethodGet, "/keys", nil); !strings.Contains(body, `value="read-only" checked`) || strings.Contains(body, `value="read-write" checked`) {
		t.Fatalf("the empty form does not default to read-only:\n%s", body)
	}
	tests := []struct {
		name   string
		preset string
		ticked []string
		want   []string // the scopes asked of the key service; nil = refused
	}{
		{"read-write with one box ticked", "read-write", []string{"users:read"}, []string{"users:read"}},
		{"read-only with a write box ticked", "read-only", []string{"keys:read"}, []string{"keys:read"}},
		{"custom", "custom", []string{"users:read", "keys:read"}, []string{"users:read", "keys:read"}},
		{"no radio, boxes ticked", "", []string{"users:read"}, []string{"users:read"}},
		{"read-write, nothing ticked", "read-write", nil, []string{"read-write"}},
		{"read-only, nothing ticked", "read-only", nil, []string{"read-only"}},
		{"custom, nothing ticked", "custom", nil, nil},
		{"unknown preset, nothing ticked", "admin", nil, nil},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f.keys.mu.Lock()
			f.keys.created = nil
			f.keys.mu.Unlock()
			form := url.Values{"handle": {fmt.Sprintf("k%d", i)}, "environment": {"live"}, "expires": {"30d"}, "scopes": tc.ticked}
			if tc.preset != "" {
				form.Set("preset", tc.preset)
			}
			resp, body := f.do(t, c, http.MethodPost, "/keys", form)
			f.keys.mu.Lock()
			created := f.keys.created
			f.keys.mu.Unlock()
			if tc.want == nil {
				if resp.StatusCode != http.StatusBadRequest || len(created) != 0 || !strings.Contains(body, `id="scopes-error"`) {
					t.Fatalf("%d, created %v; want 400 with a scopes error", resp.StatusCode, created)
				}
				return
			}
			if resp.StatusCode != http.StatusCreated || len(created) != 1 {
				t.Fatalf("%d, created %v; want 201", resp.StatusCode, created)
			}
			if got := created[0].Scopes; !slices.Equal(got, tc.want) {
				t.Fatalf("scopes %v, want %v", got, tc.want)
			}
		})
	}
}
