package server_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/oauth2"

	"github.com/latchkey/latchkey/config"
	"github.com/latchkey/latchkey/internal/servertest"
	"github.com/latchkey/latchkey/oauth"
)

// inputRequest describes one HTTP request of the bad-input table. It is built
// afresh for every send, so a row can be fired many times concurrently.
type inputRequest struct {
	method string
	path   string // path and query, relative to the issuer
	ctype  string // Content-Type header; "" sends none
	body   string
	basic  []string // client_id, client_secret for HTTP Basic
	header map[string]string
}

func (q inputRequest) build(base string) (*http.Request, error) {
	var body io.Reader = http.NoBody
	if q.body != "" {
		body = strings.NewReader(q.body)
	}
	req, err := http.NewRequest(q.method, base+q.path, body)
	if err != nil {
		return nil, fmt.Errorf("build %s %s: %w", q.method, q.path, err)
	}
	if q.ctype != "" {
		req.Header.Set("Content-Type", q.ctype)
	}
	if q.basic != nil {
		req.SetBasicAuth(url.QueryEscape(q.basic[0]), url.QueryEscape(q.basic[1]))
	}
	for k, v := range q.header {
		req.Header.Set(k, v)
	}
	return req, nil
}

// How a row's error is delivered.
const (
	viaJSON     = "json"     // RFC 6749 §5.2 JSON body with "error"
	viaHTML     = "html"     // HTML error page naming the error code, never a redirect
	viaRedirect = "redirect" // RFC 6749 §4.1.2.1 redirect to the registered URI
	viaEmpty    = "empty"    // success without a body (RFC 7009 §2.2)
)

type inputRow struct {
	name    string
	session bool // send with the signed-in browser (cookies)
	req     inputRequest
	status  int
	kind    string
	errCode string // expected RFC 6749 error code; "" for the success controls
}

// formBody encodes pairs in order, keeping duplicates.
func formBody(kv ...string) string {
	var b strings.Builder
	for i := 0; i+1 < len(kv); i += 2 {
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(kv[i]) + "=" + url.QueryEscape(kv[i+1]))
	}
	return b.String()
}

func jsonBody(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func multipartBody(t testing.TB, kv ...string) (ctype, body string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for i := 0; i+1 < len(kv); i += 2 {
		_ = mw.WriteField(kv[i], kv[i+1])
	}
	_ = mw.Close()
	return mw.FormDataContentType(), buf.String()
}

func noRedirectClient() *http.Client {
	return &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// inputFixture is the server and credentials the table runs against.
type inputFixture struct {
	s                *testServer
	plain, sess      *http.Client
	cID, cSec        string // confidential: authorization_code, refresh_token, client_credentials
	c2ID, c2Sec      string // confidential: authorization_code only
	pID              string // public client
	code, verifier   string // an unredeemed code issued to cID
	csrf             string // a CSRF token valid for sess
	key              string // an API key of alice's (enterprise tier: the concurrent run stays under its burst)
	cRedirect        string
	c2Redirect       string
	pRedirect        string
	authorizeForCode func(client, redirect string, extra url.Values) string
}

const inputPassword = "alice-password-123"

// browserAccept is what a browser sends when it submits a form.
const browserAccept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"

func newInputFixture(t *testing.T, b servertest.Backend) *inputFixture {
	t.Helper()
	s := newTestServerWith(t, func(c *config.Config) { b.Configure(t, c) })
	s.CreateUser(t, "alice", inputPassword)
	f := &inputFixture{s: s, plain: noRedirectClient(), sess: browser(t),
		cRedirect: "http://127.0.0.1:9/cb", c2Redirect: "http://127.0.0.1:9/cb2", pRedirect: "http://127.0.0.1:9/pcb"}
	f.cID, f.cSec = s.CreateClient(t, oauth.ClientSpec{Name: "Confidential", RedirectURIs: []string{f.cRedirect},
		GrantTypes: []string{"authorization_code", "refresh_token", "client_credentials"}})
	f.c2ID, f.c2Sec = s.CreateClient(t, oauth.ClientSpec{Name: "Other", RedirectURIs: []string{f.c2Redirect},
		GrantTypes: []string{"authorization_code"}})
	f.pID, _ = s.CreateClient(t, oauth.ClientSpec{Name: "Public", RedirectURIs: []string{f.pRedirect}, Public: true})
	f.authorizeForCode = func(client, redirect string, extra url.Values) string {
		q := url.Values{"response_type": {"code"}, "client_id": {client}, "redirect_uri": {redirect},
			"scope": {"openid offline_access"}, "state": {"state-123456789"}}
		for k, v := range extra {
			q[k] = v
		}
		return s.URL + "/oauth/authorize?" + q.Encode()
	}
	// Sign in and consent for both the confidential and the public client, so
	// the session rows below reach the code-issuing step.
	f.verifier = oauth2.GenerateVerifier()
	u := s.Authorize(t, f.sess, f.authorizeForCode(f.cID, f.cRedirect, url.Values{
		"code_challenge": {oauth2.S256ChallengeFromVerifier(f.verifier)}, "code_challenge_method": {"S256"}}), "alice", inputPassword, "allow")
	f.code = u.Query().Get("code")
	if f.code == "" {
		t.Fatalf("setup: no code in %s", u)
	}
	pv := oauth2.GenerateVerifier()
	u = s.Authorize(t, f.sess, f.authorizeForCode(f.pID, f.pRedirect, url.Values{
		"code_challenge": {oauth2.S256ChallengeFromVerifier(pv)}, "code_challenge_method": {"S256"}}), "alice", inputPassword, "allow")
	if u.Query().Get("code") == "" {
		t.Fatalf("setup: no code for the public client in %s", u)
	}
	_, page := get(t, f.sess, s.URL+"/login")
	f.csrf = formValue(t, csrfRe, page)
	code, k, _ := apiCall(t, "POST", s.URL+"/user/keys", basicHeader("alice", inputPassword), `{"handle":"bi","tier":"enterprise"}`)
	if f.key, _ = k["key"].(string); code != http.StatusCreated || f.key == "" {
		t.Fatalf("setup: create key: %d %v", code, k)
	}
	return f
}

func (f *inputFixture) rows(t testing.TB) []inputRow {
	const tok, rev, intro = "/oauth/token", "/oauth/revoke", "/oauth/introspect"
	const formCT, jsonCT = "application/x-www-form-urlencoded", "application/json"
	post := func(path string, basic []string, kv ...string) inputRequest {
		return inputRequest{method: http.MethodPost, path: path, ctype: formCT, body: formBody(kv...), basic: basic}
	}
	postJSON := func(path string, body string) inputRequest {
		return inputRequest{method: http.MethodPost, path: path, ctype: jsonCT, body: body}
	}
	c := []string{f.cID, f.cSec}
	c2 := []string{f.c2ID, f.c2Sec}
	unknown := []string{"no-such-client", "whatever-secret"}
	wrong := []string{f.cID, f.cSec + "x"}
	mpCT, mpBody := multipartBody(t, "grant_type", "client_credentials", "client_id", f.cID, "client_secret", f.cSec)
	bigForm := "grant_type=client_credentials&pad=" + strings.Repeat("a", 1<<20)
	bigJSON := `{"grant_type":"client_credentials","pad":"` + strings.Repeat("a", 1<<20) + `"}`
	longHdr := strings.Repeat("A", 32<<10)
	authz := func(kv ...string) string {
		q := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			q.Set(kv[i], kv[i+1])
		}
		return "/oauth/authorize?" + q.Encode()
	}
	challenge := oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())
	form := func(path string, kv ...string) inputRequest { return post(path, nil, kv...) }
	// keyAPI calls the JSON API with alice's key.
	keyAPI := func(method, path, body string) inputRequest {
		q := inputRequest{method: method, path: path, body: body, header: map[string]string{"Authorization": "Bearer " + f.key}}
		if body != "" {
			q.ctype = jsonCT
		}
		return q
	}
	// page posts a form the way a browser does: asking for HTML.
	page := func(path string, kv ...string) inputRequest {
		q := post(path, nil, kv...)
		q.header = map[string]string{"Accept": browserAccept}
		return q
	}

	return []inputRow{
		// --- /oauth/token: grant type -------------------------------------
		{name: "token/missing_grant_type", req: post(tok, c, "code", "x"), status: 400, kind: viaJSON, errCode: "invalid_request"},
		{name: "token/empty_body", req: post(tok, c), status: 400, kind: viaJSON, errCode: "invalid_request"},
		{name: "token/grant_password", req: post(tok, c, "grant_type", "password", "username", "alice", "password", inputPassword), status: 400, kind: viaJSON, errCode: "unsupported_grant_type"},
		{name: "token/grant_implicit", req: post(tok, c, "grant_type", "implicit"), status: 400, kind: viaJSON, errCode: "unsupported_grant_type"},
		{name: "token/grant_token", req: post(tok, c, "grant_type", "token"), status: 400, kind: viaJSON, errCode: "unsupported_grant_type"},
		// The device grant is supported (RFC 8628) but this client is not registered for it.
		{name: "token/grant_device_code_unregistered", req: post(tok, c, "grant_type", "urn:ietf:params:oauth:grant-type:device_code", "device_code", "abc"), status: 400, kind: viaJSON, errCode: "unauthorized_client"},
		{name: "token/grant_jwt_bearer", req: post(tok, c, "grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion", "x.y.z"), status: 400, kind: viaJSON, errCode: "unsupported_grant_type"},
		{name: "token/grant_unicode_garbage", req: post(tok, c, "grant_type", "\u202e🔥\uffffﾠ"), status: 400, kind: viaJSON, errCode: "unsupported_grant_type"},
		{name: "token/grant_type_null_byte", req: post(tok, c, "grant_type", "client_credentials\x00"), status: 400, kind: viaJSON, errCode: "invalid_request"},
		{name: "token/grant_type_twice", req: post(tok, c, "grant_type", "client_credentials", "grant_type", "client_credentials"), status: 400, kind: viaJSON, errCode: "invalid_request"},
		{name: "token/client_id_twice", req: form(tok, "grant_type", "client_credentials", "client_id", f.cID, "client_id", f.c2ID, "client_secret", f.cSec), status: 400, kind: viaJSON, errCode: "invalid_request"},
		// --- /oauth/token: body encoding ----------------------------------
		{name: "token/text_plain", req: inputRequest{method: "POST", path: tok, ctype: "text/plain", body: formBody("grant_type", "client_credentials"), basic: c}, status: 400, kind: viaJSON, errCode: "invalid_request"},
		{name: "token/multipart", req: inputRequest{method: "POST", path: tok, ctype: mpCT, body: mpBody}, status: 400, kind: viaJSON, errCode: "invalid_request"},
		{name: "token/no_content_type", req: inputRequest{method: "POST", path: tok, body: formBody("grant_type", "client_credentials"), basic: c}, status: 400, kind: viaJSON, errCode: "invalid_request"},
		{name: "token/garbage_content_type", req: inputRequest{method: "POST", path: tok, ctype: "application/;;;x=", body: formBody("grant_type", "client_credentials"), basic: c}, status: 400, kind: viaJSON, errCode: "invalid_request"},
		{name: "token/json_broken", req: postJSON(tok, `{"grant_type":"client_credentials",`), status: 400, kind: viaJSON, errCode: "invalid_request"},
		{name: "token/json_array_body", req: postJSON(tok, `[{"grant_type":"client_credentials"}]`), status: 400, kind: viaJSON, errCode: "invalid_request"},
		{name: "token/json_null_body", req: postJSON(tok, `null`), status: 400, kind: viaJSON, errCode: "invalid_request"},
		{name: "token/json_two_objects", req: postJSON(tok, `{"grant_type":"client_credentials"}{"grant_type":"password"}`), status: 400, kind: viaJSON, errCode: "invalid_request"},
		{name: "token/json_nested_object", req: postJSON(tok, jsonBody(t, map[string]any{"grant_type": map[string]any{"a": 1}, "client_id": f.cID, "client_secret": f.cSec})), status: 400, kind: viaJSON, errCode: "invalid_request"},
		{name: "token/json_array_for_string", req: postJSON(tok, jsonBody(t, map[string]any{"grant_type": []string{"client_credentials"}, "client_id": f.cID, "client_secret": f.cSec})), status: 400, kind: viaJSON, errCode: "invalid_request"},
		{name: "token/json_number_for_code", req: postJSON(tok, jsonBody(t, map[string]any{"grant_type": "authorization_code", "code": 12345, "redirect_uri": f.cRedirect, "client_id": f.cID, "client_secret": f.cSec})), status: 400, kind: viaJSON, errCode: "invalid_grant"},
		{name: "token/json_number_accepted", req: postJSON(tok, jsonBody(t, map[string]any{"grant_type": "client_credentials", "client_id": f.cID, "client_secret": f.cSec, "max_age": 60})), status: 200, kind: viaJSON},
		{name: "token/form_1MB", req: inputRequest{method: "POST", path: tok, ctype: formCT, body: bigForm, basic: c}, status: 413, kind: viaJSON, errCode: "invalid_request"},
		{name: "token/json_1MB", req: inputRequest{method: "POST", path: tok, ctype: jsonCT, body: bigJSON, basic: c}, status: 413, kind: viaJSON, errCode: "invalid_request"},
		// --- /oauth/token: client authentication ---------------------------
		{name: "token/unknown_client_basic", req: post(tok, unknown, "grant_type", "client_credentials"), status: 401, kind: viaJSON, errCode: "invalid_client"},
		{name: "token/unknown_client_post", req: form(tok, "grant_type", "client_credentials", "client_id", "no-such-client", "client_secret", "x"), status: 401, kind: viaJSON, errCode: "invalid_client"},
		{name: "token/wrong_secret_basic", req: post(tok, wrong, "grant_type", "client_credentials"), status: 401, kind: viaJSON, errCode: "invalid_client"},
		{name: "token/wrong_secret_post", req: form(tok, "grant_type", "client_credentials", "client_id", f.cID, "client_secret", "not-the-secret"), status: 401, kind: viaJSON, errCode: "invalid_client"},
		{name: "token/empty_secret_confidential", req: form(tok, "grant_type", "client_credentials", "client_id", f.cID), status: 401, kind: viaJSON, errCode: "invalid_client"},
		{name: "token/no_client_auth", req: form(tok, "grant_type", "client_credentials"), status: 401, kind: viaJSON, errCode: "invalid_client"},
		{name: "token/secret_for_public_client_post", req: form(tok, "grant_type", "authorization_code", "code", "garbage", "redirect_uri", f.pRedirect, "client_id", f.pID, "client_secret", "made-up"), status: 401, kind: viaJSON, errCode: "invalid_client"},
		{name: "token/secret_for_public_client_basic", req: post(tok, []string{f.pID, "made-up"}, "grant_type", "authorization_code", "code", "garbage", "redirect_uri", f.pRedirect), status: 401, kind: viaJSON, errCode: "invalid_client"},
		{name: "token/null_byte_client_id", req: form(tok, "grant_type", "client_credentials", "client_id", f.cID+"\x00", "client_secret", f.cSec), status: 400, kind: viaJSON, errCode: "invalid_request"},
		{name: "token/null_byte_basic_client_id", req: post(tok, []string{f.cID + "\x00", f.cSec}, "grant_type", "client_credentials"), status: 400, kind: viaJSON, errCode: "invalid_request"},
		{name: "token/invalid_utf8_basic_secret", req: inputRequest{method: "POST", path: tok, ctype: formCT, body: formBody("grant_type", "client_credentials"), header: map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(f.cID+":\xff"))}}, status: 400, kind: viaJSON, errCode: "invalid_request"},
		{name: "token/json_null_byte_client_id", req: postJSON(tok, jsonBody(t, map[string]any{"grant_type": "client_credentials", "client_id": f.cID + "\x00", "client_secret": f.cSec})), status: 400, kind: viaJSON, errCode: "invalid_request"},
		{name: "token/json_invalid_utf8", req: postJSON(tok, `{"grant_type":"client_credentials","client_id":"`+f.cID+`","client_secret":"`+f.cSec+"\xff"+`"}`), status: 400, kind: viaJSON, errCode: "invalid_request"},
		{name: "token/null_byte_in_query", req: inputRequest{method: "POST", path: tok + "?client_id=%00", ctype: formCT, body: formBody("grant_type", "client_credentials"), basic: c}, status: 400, kind: viaJSON, errCode: "invalid_request"},
		{name: "token/long_authorization_header", req: inputRequest{method: "POST", path: tok, ctype: formCT, body: formBody("grant_type", "client_credentials"), header: map[string]string{"Authorization": "Basic " + longHdr}}, status: 401, kind: viaJSON, errCode: "invalid_client"},
		{name: "token/long_basic_credentials", req: post(tok, []string{longHdr, longHdr}, "grant_type", "client_credentials"), status: 401, kind: viaJSON, errCode: "invalid_client"},
		{name: "token/basic_not_base64", req: inputRequest{method: "POST", path: tok, ctype: formCT, body: formBody("grant_type", "client_credentials"), header: map[string]string{"Authorization": "Basic %%%not-base64%%%"}}, status: 401, kind: viaJSON, errCode: "invalid_client"},
		{name: "token/basic_bad_urlencoding", req: inputRequest{method: "POST", path: tok, ctype: formCT, body: formBody("grant_type", "client_credentials"), header: map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("%zz:%zz"))}}, status: 400, kind: viaJSON, errCode: "invalid_request"},
		{name: "token/unknown_client_assertion_type", req: form(tok, "grant_type", "client_credentials", "client_assertion_type", "urn:example:bogus", "client_assertion", "x"), status: 400, kind: viaJSON, errCode: "invalid_request"},
		// --- /oauth/token: authorization_code ------------------------------
		{name: "token/missing_code", req: post(tok, c, "grant_type", "authorization_code", "redirect_uri", f.cRedirect), status: 400, kind: viaJSON, errCode: "invalid_grant"},
		{name: "token/garbage_code", req: post(tok, c, "grant_type", "authorization_code", "code", "garbage.garbage", "redirect_uri", f.cRedirect, "code_verifier", f.verifier), status: 400, kind: viaJSON, errCode: "invalid_grant"},
		{name: "token/null_byte_code", req: post(tok, c, "grant_type", "authorization_code", "code", f.code+"\x00", "redirect_uri", f.cRedirect, "code_verifier", f.verifier), status: 400, kind: viaJSON, errCode: "invalid_request"},
		{name: "token/code_for_another_client", req: post(tok, c2, "grant_type", "authorization_code", "code", f.code, "redirect_uri", f.c2Redirect, "code_verifier", f.verifier), status: 400, kind: viaJSON, errCode: "invalid_grant"},
		{name: "token/code_mismatched_redirect_uri", req: post(tok, c, "grant_type", "authorization_code", "code", f.code, "redirect_uri", f.cRedirect+"/other", "code_verifier", f.verifier), status: 400, kind: viaJSON, errCode: "invalid_grant"},
		{name: "token/code_missing_redirect_uri", req: post(tok, c, "grant_type", "authorization_code", "code", f.code, "code_verifier", f.verifier), status: 400, kind: viaJSON, errCode: "invalid_grant"},
		{name: "token/code_for_public_client_without_pkce", req: form(tok, "grant_type", "authorization_code", "code", "garbage", "redirect_uri", f.pRedirect, "client_id", f.pID), status: 400, kind: viaJSON, errCode: "invalid_grant"},
		// --- /oauth/token: refresh_token and client_credentials -------------
		{name: "token/refresh_garbage", req: post(tok, c, "grant_type", "refresh_token", "refresh_token", "garbage.garbage"), status: 400, kind: viaJSON, errCode: "invalid_grant"},
		{name: "token/refresh_missing", req: post(tok, c, "grant_type", "refresh_token"), status: 400, kind: viaJSON, errCode: "invalid_grant"},
		{name: "token/refresh_unicode", req: post(tok, c, "grant_type", "refresh_token", "refresh_token", "ｒｅｆｒｅｓｈ\u200b\U0001F600.\u202e\uffff"), status: 400, kind: viaJSON, errCode: "invalid_grant"},
		{name: "token/refresh_invalid_utf8", req: post(tok, c, "grant_type", "refresh_token", "refresh_token", "refresh.\xff\xfe"), status: 400, kind: viaJSON, errCode: "invalid_request"},
		{name: "token/client_credentials_unknown_scope", req: post(tok, c, "grant_type", "client_credentials", "scope", "admin:everything"), status: 400, kind: viaJSON, errCode: "invalid_scope"},
		{name: "token/client_credentials_not_allowed", req: post(tok, c2, "grant_type", "client_credentials"), status: 400, kind: viaJSON, errCode: "unauthorized_client"},
		{name: "token/GET", req: inputRequest{method: "GET", path: tok + "?grant_type=client_credentials"}, status: 405, kind: viaJSON, errCode: "invalid_request"},
		{name: "token/PUT", req: inputRequest{method: "PUT", path: tok, ctype: formCT, body: "grant_type=client_credentials", basic: c}, status: 405, kind: viaJSON, errCode: "invalid_request"},
		// --- /oauth/revoke ----------------------------------------------------
		{name: "revoke/wrong_secret", req: post(rev, wrong, "token", "garbage"), status: 401, kind: viaJSON, errCode: "invalid_client"},
		{name: "revoke/unknown_client", req: post(rev, unknown, "token", "garbage"), status: 401, kind: viaJSON, errCode: "invalid_client"},
		{name: "revoke/no_client_auth", req: form(rev, "token", "garbage"), status: 401, kind: viaJSON, errCode: "invalid_client"},
		{name: "revoke/text_plain", req: inputRequest{method: "POST", path: rev, ctype: "text/plain", body: "token=garbage", basic: c}, status: 400, kind: viaJSON, errCode: "invalid_request"},
		{name: "revoke/token_twice", req: post(rev, c, "token", "a", "token", "b"), status: 400, kind: viaJSON, errCode: "invalid_request"},
		{name: "revoke/form_1MB", req: inputRequest{method: "POST", path: rev, ctype: formCT, body: "token=" + strings.Repeat("a", 1<<20), basic: c}, status: 413, kind: viaJSON, errCode: "invalid_request"},
		{name: "revoke/garbage_token_is_200", req: post(rev, c, "token", "garbage.\u202e🔥"), status: 200, kind: viaEmpty},
		{name: "revoke/null_byte_token", req: post(rev, c, "token", "garbage.\x00🔥"), status: 400, kind: viaJSON, errCode: "invalid_request"},
		{name: "revoke/GET", req: inputRequest{method: "GET", path: rev + "?token=x"}, status: 405, kind: viaJSON, errCode: "invalid_request"},
		// --- /oauth/introspect -------------------------------------------
		{name: "introspect/no_auth", req: form(intro, "token", "garbage"), status: 401, kind: viaJSON, errCode: "invalid_client"},
		{name: "introspect/wrong_basic_secret", req: post(intro, wrong, "token", "garbage"), status: 401, kind: viaJSON, errCode: "invalid_client"},
		{name: "introspect/unknown_client", req: post(intro, unknown, "token", "garbage"), status: 401, kind: viaJSON, errCode: "invalid_client"},
		{name: "introspect/bearer_instead_of_client", req: inputRequest{method: "POST", path: intro, ctype: formCT, body: "token=garbage", header: map[string]string{"Authorization": "Bearer garbage"}}, status: 401, kind: viaJSON, errCode: "invalid_client"},
		{name: "introspect/text_plain", req: inputRequest{method: "POST", path: intro, ctype: "text/plain", body: "token=garbage", basic: c}, status: 400, kind: viaJSON, errCode: "invalid_request"},
		{name: "introspect/json_nested_object", req: inputRequest{method: "POST", path: intro, ctype: jsonCT, body: `{"token":{"$ne":""}}`, basic: c}, status: 400, kind: viaJSON, errCode: "invalid_request"},
		{name: "introspect/form_1MB", req: inputRequest{method: "POST", path: intro, ctype: formCT, body: "token=" + strings.Repeat("a", 1<<20), basic: c}, status: 413, kind: viaJSON, errCode: "invalid_request"},
		{name: "introspect/empty_body", req: post(intro, c), status: 400, kind: viaJSON, errCode: "invalid_request"},
		{name: "introspect/garbage_token_inactive", req: post(intro, c, "token", "garbage.\u202e"), status: 200, kind: viaJSON},
		{name: "introspect/null_byte_token", req: post(intro, c, "token", "garbage.\x00"), status: 400, kind: viaJSON, errCode: "invalid_request"},
		// --- /oauth/authorize -------------------------------------------
		{name: "authorize/unregistered_redirect_uri", req: inputRequest{method: "GET", path: authz("response_type", "code", "client_id", f.cID, "redirect_uri", "https://evil.example/cb", "scope", "openid", "state", "state-123456789")}, status: 400, kind: viaHTML, errCode: "invalid_request"},
		{name: "authorize/redirect_uri_suffix", req: inputRequest{method: "GET", path: authz("response_type", "code", "client_id", f.cID, "redirect_uri", f.cRedirect+"/../evil", "scope", "openid", "state", "state-123456789")}, status: 400, kind: viaHTML, errCode: "invalid_request"},
		{name: "authorize/redirect_uri_null_byte", req: inputRequest{method: "GET", path: authz("response_type", "code", "client_id", f.cID, "redirect_uri", f.cRedirect+"\x00", "scope", "openid", "state", "state-123456789")}, status: 400, kind: viaHTML, errCode: "invalid_request"},
		{name: "authorize/unknown_client", req: inputRequest{method: "GET", path: authz("response_type", "code", "client_id", "no-such-client", "redirect_uri", f.cRedirect, "state", "state-123456789")}, status: 400, kind: viaHTML, errCode: "invalid_client"},
		{name: "authorize/missing_client_id", req: inputRequest{method: "GET", path: authz("response_type", "code", "redirect_uri", f.cRedirect)}, status: 400, kind: viaHTML, errCode: "invalid_client"},
		{name: "authorize/unicode_client_id", req: inputRequest{method: "GET", path: authz("response_type", "code", "client_id", "\u202e🔥\uffff", "redirect_uri", f.cRedirect)}, status: 400, kind: viaHTML, errCode: "invalid_client"},
		{name: "authorize/null_byte_client_id", req: inputRequest{method: "GET", path: authz("response_type", "code", "client_id", f.cID+"\x00", "redirect_uri", f.cRedirect)}, status: 400, kind: viaHTML, errCode: "invalid_request"},
		{name: "authorize/invalid_utf8_state", req: inputRequest{method: "GET", path: authz("response_type", "code", "client_id", f.cID, "redirect_uri", f.cRedirect, "scope", "openid", "state", "state-\xff")}, status: 400, kind: viaHTML, errCode: "invalid_request"},
		{name: "authorize/missing_response_type", req: inputRequest{method: "GET", path: authz("client_id", f.cID, "redirect_uri", f.cRedirect, "scope", "openid", "state", "state-123456789")}, status: 303, kind: viaRedirect, errCode: "unsupported_response_type"},
		{name: "authorize/response_type_token", req: inputRequest{method: "GET", path: authz("response_type", "token", "client_id", f.cID, "redirect_uri", f.cRedirect, "scope", "openid", "state", "state-123456789")}, status: 303, kind: viaRedirect, errCode: "unsupported_response_type"},
		{name: "authorize/response_type_garbage", req: inputRequest{method: "GET", path: authz("response_type", "code🔥", "client_id", f.cID, "redirect_uri", f.cRedirect, "scope", "openid", "state", "state-123456789")}, status: 303, kind: viaRedirect, errCode: "unsupported_response_type"},
		{name: "authorize/unknown_scope", req: inputRequest{method: "GET", path: authz("response_type", "code", "client_id", f.cID, "redirect_uri", f.cRedirect, "scope", "openid admin:everything", "state", "state-123456789")}, status: 303, kind: viaRedirect, errCode: "invalid_scope"},
		{name: "authorize/prompt_none_without_session", req: inputRequest{method: "GET", path: authz("response_type", "code", "client_id", f.cID, "redirect_uri", f.cRedirect, "scope", "openid", "state", "state-123456789", "prompt", "none", "code_challenge", challenge, "code_challenge_method", "S256")}, status: 303, kind: viaRedirect, errCode: "login_required"},
		{name: "authorize/pkce_plain_confidential", session: true, req: inputRequest{method: "GET", path: authz("response_type", "code", "client_id", f.cID, "redirect_uri", f.cRedirect, "scope", "openid", "state", "state-123456789", "code_challenge", challenge, "code_challenge_method", "plain")}, status: 303, kind: viaRedirect, errCode: "invalid_request"},
		{name: "authorize/pkce_plain_public", session: true, req: inputRequest{method: "GET", path: authz("response_type", "code", "client_id", f.pID, "redirect_uri", f.pRedirect, "scope", "openid", "state", "state-123456789", "code_challenge", challenge, "code_challenge_method", "plain")}, status: 303, kind: viaRedirect, errCode: "invalid_request"},
		{name: "authorize/pkce_missing_public", session: true, req: inputRequest{method: "GET", path: authz("response_type", "code", "client_id", f.pID, "redirect_uri", f.pRedirect, "scope", "openid", "state", "state-123456789")}, status: 303, kind: viaRedirect, errCode: "invalid_request"},
		{name: "authorize/pkce_unknown_method", session: true, req: inputRequest{method: "GET", path: authz("response_type", "code", "client_id", f.pID, "redirect_uri", f.pRedirect, "scope", "openid", "state", "state-123456789", "code_challenge", challenge, "code_challenge_method", "S512")}, status: 303, kind: viaRedirect, errCode: "invalid_request"},
		{name: "authorize/post_1MB", req: inputRequest{method: "POST", path: "/oauth/authorize", ctype: formCT, body: "client_id=" + strings.Repeat("a", 1<<20)}, status: 413, kind: viaHTML, errCode: "invalid_request"},
		// --- /oauth/userinfo ------------------------------------------------
		{name: "userinfo/no_token", req: inputRequest{method: "GET", path: "/oauth/userinfo"}, status: 401, kind: viaJSON, errCode: "invalid_request"},
		{name: "userinfo/garbage_token", req: inputRequest{method: "GET", path: "/oauth/userinfo", header: map[string]string{"Authorization": "Bearer garbage.garbage"}}, status: 401, kind: viaJSON, errCode: "invalid_token"},
		{name: "userinfo/long_token", req: inputRequest{method: "GET", path: "/oauth/userinfo", header: map[string]string{"Authorization": "Bearer " + longHdr}}, status: 401, kind: viaJSON, errCode: "invalid_token"},
		{name: "userinfo/unicode_token", req: inputRequest{method: "GET", path: "/oauth/userinfo", header: map[string]string{"Authorization": "Bearer \u202e🔥ｔｏｋｅｎ"}}, status: 401, kind: viaJSON, errCode: "invalid_token"},
		// Tokens are taken from the Authorization header only (issue 10).
		{name: "userinfo/post_form_garbage_token", req: form("/oauth/userinfo", "access_token", "garbage\x00"), status: 400, kind: viaJSON, errCode: "invalid_request"},
		// --- /login (a browser asks for HTML; a script gets the JSON error) ---
		{name: "login/no_csrf_token", req: page("/login", "username", "alice", "password", inputPassword), status: 403, kind: viaHTML, errCode: "invalid_request"},
		{name: "login/no_csrf_token_script", req: form("/login", "username", "alice", "password", inputPassword), status: 403, kind: viaJSON, errCode: "forbidden"},
		{name: "login/wrong_csrf_token", session: true, req: page("/login", "username", "alice", "password", inputPassword, "csrf_token", "AAAA"+f.csrf[4:]), status: 403, kind: viaHTML, errCode: "invalid_request"},
		{name: "login/json_without_csrf", req: postJSON("/login", `{"username":"alice","password":"x"}`), status: 403, kind: viaJSON, errCode: "forbidden"},
		{name: "login/null_bytes_without_csrf", req: page("/login", "username", "alice\x00admin", "password", "\x00", "next", "//evil.example"), status: 403, kind: viaHTML, errCode: "invalid_request"},
		{name: "login/long_header_without_csrf", req: inputRequest{method: "POST", path: "/login", ctype: formCT, body: "username=alice", header: map[string]string{"Accept": browserAccept, "X-Request-Id": longHdr, "Referer": "http://x/" + longHdr}}, status: 403, kind: viaHTML, errCode: "invalid_request"},
		// --- /oauth/consent -------------------------------------------------
		{name: "consent/no_csrf_token", session: true, req: page("/oauth/consent", "decision", "allow", "challenge", "x"), status: 403, kind: viaHTML, errCode: "invalid_request"},
		{name: "consent/no_csrf_token_script", session: true, req: form("/oauth/consent", "decision", "allow", "challenge", "x"), status: 403, kind: viaJSON, errCode: "forbidden"},
		{name: "consent/without_challenge", session: true, req: page("/oauth/consent", "decision", "allow", "csrf_token", f.csrf), status: 400, kind: viaHTML, errCode: "invalid_request"},
		{name: "consent/wrong_challenge", session: true, req: page("/oauth/consent", "decision", "allow", "csrf_token", f.csrf, "challenge", "\u202e🔥"), status: 400, kind: viaHTML, errCode: "invalid_request"},
		{name: "consent/GET", req: inputRequest{method: "GET", path: "/oauth/consent"}, status: 405, kind: viaJSON, errCode: "invalid_request"},
		// --- NUL bytes and invalid UTF-8 (PostgreSQL refuses both in text) ---
		{name: "api/null_byte_key_handle_path", req: keyAPI("GET", "/user/keys/ab%00c", ""), status: 400, kind: viaJSON, errCode: "invalid_request"},
		{name: "api/invalid_utf8_key_handle_path", req: keyAPI("DELETE", "/user/keys/ab%FFc", ""), status: 400, kind: viaJSON, errCode: "invalid_request"},
		{name: "api/null_byte_key_handle_rotate", req: keyAPI("POST", "/user/keys/%00/rotate", ""), status: 400, kind: viaJSON, errCode: "invalid_request"},
		{name: "api/null_byte_alias", req: keyAPI("POST", "/user/keys", `{"handle":"nul","alias":"a\u0000b"}`), status: 400, kind: viaJSON, errCode: "invalid_request"},
		{name: "api/null_byte_handle", req: keyAPI("POST", "/user/keys", `{"handle":"a\u0000b"}`), status: 400, kind: viaJSON, errCode: "invalid_request"},
		{name: "api/null_byte_scope", req: keyAPI("POST", "/user/keys", `{"handle":"nul2","scopes":["keys:read","\u0000"]}`), status: 400, kind: viaJSON, errCode: "invalid_request"},
		{name: "api/null_byte_json_key", req: keyAPI("POST", "/user/keys", `{"handle":"nul3","a\u0000":1}`), status: 400, kind: viaJSON, errCode: "invalid_request"},
		{name: "api/invalid_utf8_alias", req: keyAPI("POST", "/user/keys", "{\"handle\":\"bad\",\"alias\":\"a\xffb\"}"), status: 400, kind: viaJSON, errCode: "invalid_request"},
		{name: "api/null_byte_alias_patch", req: keyAPI("PATCH", "/user/keys/bi", `{"alias":"\u0000"}`), status: 400, kind: viaJSON, errCode: "invalid_request"},
		{name: "api/null_byte_query", req: keyAPI("GET", "/user/keys?x=%00", ""), status: 400, kind: viaJSON, errCode: "invalid_request"},
		{name: "api/invalid_utf8_bearer", req: inputRequest{method: "GET", path: "/user/keys", header: map[string]string{"Authorization": "Bearer " + f.key + "\xff"}}, status: 400, kind: viaJSON, errCode: "invalid_request"},
		{name: "api/null_byte_basic_username", req: inputRequest{method: "GET", path: "/user", header: map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("al\x00ice:"+inputPassword))}}, status: 400, kind: viaJSON, errCode: "invalid_request"},
		{name: "api/invalid_utf8_request_id", req: inputRequest{method: "GET", path: "/healthz", header: map[string]string{"X-Request-Id": "id-\xff"}}, status: 400, kind: viaJSON, errCode: "invalid_request"},
		{name: "api/key_still_works", req: keyAPI("GET", "/user/keys/bi", ""), status: 200, kind: viaJSON},
		{name: "userinfo/invalid_utf8_bearer", req: inputRequest{method: "GET", path: "/oauth/userinfo", header: map[string]string{"Authorization": "Bearer tok.\xff"}}, status: 400, kind: viaJSON, errCode: "invalid_request"},
		{name: "login/null_byte_username", session: true, req: page("/login", "username", "al\x00ice", "password", inputPassword, "csrf_token", f.csrf), status: 400, kind: viaHTML, errCode: "invalid_request"},
		{name: "login/invalid_utf8_password", session: true, req: page("/login", "username", "alice", "password", "\xff"+inputPassword, "csrf_token", f.csrf), status: 400, kind: viaHTML, errCode: "invalid_request"},
		{name: "login/null_byte_next_query", req: inputRequest{method: "GET", path: "/login?next=/keys%00", header: map[string]string{"Accept": browserAccept}}, status: 400, kind: viaHTML, errCode: "invalid_request"},
		{name: "signup/null_byte_username", session: true, req: page("/signup", "username", "bob\x00", "email", "bob@example.com", "password", inputPassword, "csrf_token", f.csrf), status: 400, kind: viaHTML, errCode: "invalid_request"},
		{name: "signup/invalid_utf8_email", session: true, req: page("/signup", "username", "bob", "email", "bob@\xff.example", "password", inputPassword, "csrf_token", f.csrf), status: 400, kind: viaHTML, errCode: "invalid_request"},
		{name: "apps/null_byte_client_name", session: true, req: page("/apps", "name", "App\x00", "client_type", "confidential", "redirect_uris", "https://app.example/cb", "csrf_token", f.csrf), status: 400, kind: viaHTML, errCode: "invalid_request"},
		{name: "apps/null_byte_redirect_uri", session: true, req: page("/apps", "name", "App", "client_type", "confidential", "redirect_uris", "https://app.example/cb\x00", "csrf_token", f.csrf), status: 400, kind: viaHTML, errCode: "invalid_request"},
		{name: "keys_page/null_byte_alias", session: true, req: page("/keys", "handle", "page-nul", "alias", "\x00", "preset", "read-only", "csrf_token", f.csrf), status: 400, kind: viaHTML, errCode: "invalid_request"},
		{name: "keys_page/null_byte_handle_path", session: true, req: inputRequest{method: "GET", path: "/keys/ab%00c", header: map[string]string{"Accept": browserAccept}}, status: 400, kind: viaHTML, errCode: "invalid_request"},
		{name: "apps/invalid_utf8_id_path", session: true, req: inputRequest{method: "GET", path: "/apps/%FF", header: map[string]string{"Accept": browserAccept}}, status: 400, kind: viaHTML, errCode: "invalid_request"},
	}
}

// send performs one row's request and returns the response with its body.
func (f *inputFixture) send(row inputRow) (*http.Response, string, error) {
	c := f.plain
	if row.session {
		c = f.sess
	}
	req, err := row.req.build(f.s.URL)
	if err != nil {
		return nil, "", err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, string(b), err
}

// isOAuthEndpoint reports whether path is a protocol endpoint whose errors
// RFC 6749 §5.1/§5.2 (and fosite) mark Cache-Control: no-store.
func isOAuthEndpoint(path string) bool {
	for _, p := range []string{"/oauth/token", "/oauth/revoke", "/oauth/introspect", "/oauth/userinfo"} {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}

// check asserts everything the table promises about one response.
func (f *inputFixture) check(t *testing.T, row inputRow, resp *http.Response, body string) {
	t.Helper()
	if resp.StatusCode >= 500 {
		t.Fatalf("status %d (5xx) for bad input\n%s", resp.StatusCode, body)
	}
	if resp.StatusCode != row.status {
		t.Errorf("status = %d, want %d\n%.600s", resp.StatusCode, row.status, body)
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	loc := resp.Header.Get("Location")
	switch row.kind {
	case viaJSON:
		if mt != "application/json" {
			t.Errorf("Content-Type = %q, want application/json", resp.Header.Get("Content-Type"))
		}
		if loc != "" {
			t.Errorf("unexpected Location %q", loc)
		}
		var obj map[string]any
		if err := json.Unmarshal([]byte(body), &obj); err != nil {
			t.Fatalf("body is not a JSON object: %v\n%.600s", err, body)
		}
		got, _ := obj["error"].(string)
		if got != row.errCode {
			t.Errorf("error = %q, want %q\n%.600s", got, row.errCode, body)
		}
		if row.errCode != "" && isOAuthEndpoint(row.req.path) {
			if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
				t.Errorf("Cache-Control = %q on an error, want no-store", cc)
			}
			if strings.HasPrefix(row.name, "userinfo/") && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("WWW-Authenticate = %q, want a Bearer challenge", resp.Header.Get("WWW-Authenticate"))
			}
		}
	case viaHTML:
		if mt != "text/html" {
			t.Errorf("Content-Type = %q, want text/html", resp.Header.Get("Content-Type"))
		}
		if loc != "" {
			t.Errorf("an error page must not redirect; Location = %q", loc)
		}
		if row.errCode != "" && !strings.Contains(body, "<code>"+row.errCode+"</code>") {
			t.Errorf("error page does not name %q\n%.600s", row.errCode, body)
		}
	case viaRedirect:
		if loc == "" {
			t.Fatalf("no Location header\n%.600s", body)
		}
		u, err := url.Parse(loc)
		if err != nil {
			t.Fatalf("Location %q: %v", loc, err)
		}
		reg := map[string]bool{f.cRedirect: true, f.c2Redirect: true, f.pRedirect: true}
		if base := u.Scheme + "://" + u.Host + u.Path; !reg[base] {
			t.Errorf("redirect to %q, which is not a registered redirect URI", base)
		}
		params := u.Query()
		if u.Fragment != "" {
			if fp, err := url.ParseQuery(u.Fragment); err == nil {
				for k, v := range fp {
					params[k] = append(params[k], v...)
				}
			}
		}
		if got := params.Get("error"); got != row.errCode {
			t.Errorf("redirect error = %q, want %q (Location %s)", got, row.errCode, loc)
		}
		for _, k := range []string{"code", "access_token", "id_token"} {
			if params.Get(k) != "" {
				t.Errorf("error redirect carries %s: %s", k, loc)
			}
		}
		if got := params.Get("state"); got != "state-123456789" {
			t.Errorf("state = %q, want it echoed", got)
		}
		if got := params.Get("iss"); got != f.s.URL {
			t.Errorf("iss = %q, want %q (RFC 9207)", got, f.s.URL)
		}
	case viaEmpty:
		if strings.TrimSpace(body) != "" {
			t.Errorf("want an empty body, got %.300q", body)
		}
	default:
		t.Fatalf("row kind %q", row.kind)
	}
	for _, s := range []string{f.cSec, f.c2Sec, inputPassword, f.key} {
		if strings.Contains(body, s) || strings.Contains(loc, s) {
			t.Errorf("response echoes a secret")
		}
	}
}

// TestBadInput runs the bad-input table against the whole server on every
// backend (testBackends): SQLite, and PostgreSQL when
// LATCHKEY_TEST_POSTGRES_DSN is set, which refuses text SQLite stores.
func TestBadInput(t *testing.T) {
	t.Parallel()
	for _, b := range testBackends(t) {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			runBadInput(t, newInputFixture(t, b))
		})
	}
}

func runBadInput(t *testing.T, f *inputFixture) {
	rows := f.rows(t)
	if len(rows) < 45 {
		t.Fatalf("only %d rows", len(rows))
	}
	seen := map[string]bool{}
	for _, row := range rows {
		if seen[row.name] {
			t.Fatalf("duplicate row name %q", row.name)
		}
		seen[row.name] = true
		t.Run(row.name, func(t *testing.T) {
			resp, body, err := f.send(row)
			if err != nil {
				t.Fatalf("request failed: %v", err)
			}
			f.check(t, row, resp, body)
		})
	}

	t.Run("concurrent", func(t *testing.T) {
		const copies = 4
		var wg sync.WaitGroup
		var mu sync.Mutex
		var failures []string
		for _, row := range rows {
			for i := 0; i < copies; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					resp, body, err := f.send(row)
					var msg string
					switch {
					case err != nil && row.status == http.StatusRequestEntityTooLarge &&
						(errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET)):
						// The server answered 413 and closed the connection
						// while this client was still writing the oversized
						// body (golang/go#11745); the sequential run above
						// reads the 413 itself.
					case err != nil:
						msg = fmt.Sprintf("%s: request failed: %v", row.name, err)
					case resp.StatusCode >= 500:
						msg = fmt.Sprintf("%s: status %d: %.300s", row.name, resp.StatusCode, body)
					case resp.StatusCode != row.status:
						msg = fmt.Sprintf("%s: status %d under load, want %d: %.300s", row.name, resp.StatusCode, row.status, body)
					}
					if msg != "" {
						mu.Lock()
						failures = append(failures, msg)
						mu.Unlock()
					}
				}()
			}
		}
		wg.Wait()
		for _, m := range failures {
			t.Error(m)
		}
	})
}
