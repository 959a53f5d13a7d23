package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/keys"
	"github.com/latchkey/latchkey/storage"
)

// fakeKeys is a KeyService whose Create fails with createErr.
type fakeKeys struct {
	mu        sync.Mutex
	createErr error
}

var _ KeyService = (*fakeKeys)(nil)

func (f *fakeKeys) Scopes() []string { return []string{"keys:read", "users:read"} }

func (f *fakeKeys) Create(context.Context, string, keys.Authority, keys.CreateRequest) (*storage.APIKey, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return nil, "", f.createErr
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
		{"scopes", &keys.FieldError{Field: "scopes", Message: `unknown scope "x"`}, `<p class="field-error">unknown scope &#34;x&#34;</p>`},
		{"a field the form lacks", &keys.FieldError{Field: "tier", Message: `unknown tier "gold"`}, `<p class="field-error">unknown tier &#34;gold&#34;</p>`},
		{"a scope named like a field", &keys.FieldError{Field: "scopes", Message: `unknown scope "handle"`}, `<p class="field-error">unknown scope &#34;handle&#34;</p>`},
		{"beyond the caller", fmt.Errorf("%w: %q", keys.ErrScopeExceeded, "keys:write"),
			`<p class="field-error">keys: scopes exceed the caller&#39;s rights: &#34;keys:write&#34;</p>`},
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
