package e2e

import (
	"net/http"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/flowtest"
)

// TestSecurityVerifyKeyOnlyForResourceServers (black-box review of issue
// 10's fixes, medium): POST /v1/keys/verify tells another user's key's
// owner, id, scopes, tier, expiry and rate-limit state, so `latchkey serve`
// answers it only for a resource server — a client_credentials token of a
// client created with `latchkey client create --resource-server`. A
// user's read-write key (the preset includes keys:verify), HTTP Basic,
// the browser session, an app's token for the user and a client not
// flagged get 403 naming the flag, and nothing about the key.
func TestSecurityVerifyKeyOnlyForResourceServers(t *testing.T) {
	t.Parallel()
	in, e := securityServer(t, "sqlite")
	target, _ := ownerKey(t, in, map[string]any{"handle": "target", "scopes": []string{"users:read"}})
	rw, _ := ownerKey(t, in, map[string]any{"handle": "rw", "scopes": []string{"read-write"}})
	appTok, _ := appToken(t, in, e, "keys:verify")
	plainID, plainSecret := createClient(t, e, "--name", "Service", "--grant-types", "client_credentials", "--scopes", "keys:verify")
	rsID, rsSecret := createClient(t, e, "--name", "Resource server", "--grant-types", "client_credentials", "--scopes", "keys:verify", "--resource-server")
	body := map[string]any{"key": target}

	for _, tc := range []struct {
		name string
		auth func(*http.Request)
	}{
		{"read-write api key", bearer(rw)},
		{"api token of a read-write key", bearer(exchange(t, in, rw))},
		{"HTTP Basic", basic("alice", securityPass)},
		{"an app's token for the user", bearer(appTok)},
		{"client not flagged resource_server", bearer(flowtest.ClientToken(t, in.URL, plainID, plainSecret, "keys:verify"))},
	} {
		st, m, _ := api(t, http.MethodPost, in.URL+"/v1/keys/verify", tc.auth, body)
		msg, _ := m["message"].(string)
		if st != http.StatusForbidden || m["error"] != "forbidden" || !strings.Contains(msg, "latchkey client create --resource-server") || m["owner"] != nil {
			t.Errorf("%s: %d %v, want 403 forbidden naming --resource-server", tc.name, st, m)
		}
	}

	c := swBrowser(t)
	if resp, page := swLogin(t, in, c, "alice", securityPass, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d\n%s", resp.StatusCode, page)
	}
	csrf := swToken(t, in, c)
	cookies := []*http.Cookie{swCookie(t, in, c, "latchkey_session"), swCookie(t, in, c, "latchkey_csrf")}
	if cookies[0] == nil || cookies[1] == nil {
		t.Fatal("no session or CSRF cookie")
	}
	if code := swCall(t, http.MethodPost, in.URL+"/v1/keys/verify", cookies, csrf, `{"key":"`+target+`"}`); code != http.StatusForbidden {
		t.Errorf("the browser session: %d, want 403", code)
	}

	rs := bearer(flowtest.ClientToken(t, in.URL, rsID, rsSecret, "keys:verify"))
	st, m, _ := api(t, http.MethodPost, in.URL+"/v1/keys/verify", rs, body)
	if st != http.StatusOK || m["code"] != "VALID" || m["owner"] == nil {
		t.Fatalf("resource server: %d %v, want 200 VALID", st, m)
	}
}
