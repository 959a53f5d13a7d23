package oauth

import (
	"errors"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/ory/fosite"
)

// TestExchangeNarrows: Exchange (the one function behind the
// token-exchange grant and /tokens/generate) never issues wider than its
// subject — scopes within the subject's effective scopes, the audience
// within the subject's and the client's, the expiry no later than the
// subject's — and names each refusal with its RFC 8693 §2.2.2 code.
func TestExchangeNarrows(t *testing.T) {
	p, db := newTestProvider(t)
	rec := registerClient(t, p, db, ClientSpec{Name: "X", GrantTypes: []string{GrantTypeTokenExchange}, Scopes: []string{"users:read"}, Audience: []string{"https://a.example", "rs-client"}})
	c, err := p.store.GetClient(t.Context(), rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	soon := time.Now().Add(10 * time.Minute).Truncate(time.Second)
	subject := Subject{KeyID: "k1", UserID: "u1", Granted: []string{"users:read", "keys:read", "org:admin"}, Effective: []string{"users:read", "keys:read"}, ExpiresAt: soon}
	for _, tc := range []struct {
		name      string
		subject   Subject
		scopes    []string
		audience  string
		client    fosite.Client
		code      string
		wantScope []string
		wantAud   []string
	}{
		{name: "no scope named: granted, answered within effective", subject: subject, wantScope: []string{"users:read", "keys:read"}},
		{name: "narrower scope", subject: subject, scopes: []string{"keys:read"}, wantScope: []string{"keys:read"}},
		{name: "repeated scope once", subject: subject, scopes: []string{"keys:read", "keys:read"}, wantScope: []string{"keys:read"}},
		{name: "granted but not effective", subject: subject, scopes: []string{"org:admin"}, code: "invalid_scope"},
		{name: "wider scope", subject: subject, scopes: []string{"keys:write"}, code: "invalid_scope"},
		{name: "client's audience", subject: subject, client: c, audience: "rs-client", wantScope: []string{"users:read", "keys:read"}, wantAud: []string{"rs-client"}},
		{name: "issuer as audience", subject: subject, client: c, audience: p.cfg.Issuer, wantScope: []string{"users:read", "keys:read"}, wantAud: []string{p.cfg.Issuer}},
		{name: "unregistered audience", subject: subject, client: c, audience: "https://b.example", code: "invalid_target"},
		{name: "audience without a client", subject: subject, audience: "https://a.example", code: "invalid_target"},
		{name: "audience outside the subject's", subject: func() Subject { s := subject; s.Audience = []string{"rs-client"}; return s }(), client: c, audience: "https://a.example", code: "invalid_target"},
		{name: "subject's audience kept", subject: func() Subject { s := subject; s.Audience = []string{"rs-client"}; return s }(), client: c, wantScope: []string{"users:read", "keys:read"}, wantAud: []string{"rs-client"}},
		{name: "expired subject", subject: func() Subject { s := subject; s.ExpiresAt = time.Now().Add(-time.Second); return s }(), code: "invalid_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := p.Exchange(t.Context(), ExchangeRequest{Subject: tc.subject, Scopes: tc.scopes, Audience: tc.audience, Client: tc.client})
			if tc.code != "" {
				if got := fosite.ErrorToRFC6749Error(err).ErrorField; got != tc.code {
					t.Fatalf("error %v (%q), want %s", err, got, tc.code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(out.Scopes, tc.wantScope) || !slices.Equal(out.Audience, tc.wantAud) {
				t.Fatalf("scopes %v audience %v, want %v %v", out.Scopes, out.Audience, tc.wantScope, tc.wantAud)
			}
			if out.ExpiresAt.After(tc.subject.ExpiresAt) {
				t.Fatalf("expires %v, after the subject's %v", out.ExpiresAt, tc.subject.ExpiresAt)
			}
			info, err := p.ValidateAccessToken(t.Context(), out.AccessToken)
			if len(tc.wantAud) > 0 && !slices.Contains(tc.wantAud, p.cfg.Issuer) {
				// RFC 8707: a token for other resources is no credential
				// for Latchkey's own API.
				if !errors.Is(err, ErrInvalidToken) {
					t.Fatalf("own API accepted a token for %v: %+v %v", tc.wantAud, info, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if info.KeyID != "k1" || info.GrantID != "k1" || !slices.Equal(info.Audience, tc.wantAud) {
				t.Fatalf("stored token %+v", info)
			}
		})
	}
}

// TestParseExchange: the RFC 8693 §2.1 parameters.
func TestParseExchange(t *testing.T) {
	base := func(kv ...string) url.Values {
		v := url.Values{"subject_token": {"t"}, "subject_token_type": {TokenTypeAccessToken}}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	for _, tc := range []struct {
		name string
		v    url.Values
		code string
		aud  string
	}{
		{name: "minimal", v: base()},
		{name: "api key type", v: base("subject_token_type", TokenTypeAPIKey)},
		{name: "missing token", v: url.Values{"subject_token_type": {TokenTypeAPIKey}}, code: "invalid_request"},
		{name: "missing type", v: url.Values{"subject_token": {"t"}}, code: "invalid_request"},
		{name: "jwt type", v: base("subject_token_type", "urn:ietf:params:oauth:token-type:jwt"), code: "invalid_request"},
		{name: "actor token", v: base("actor_token", "a"), code: "invalid_request"},
		{name: "actor token type alone", v: base("actor_token_type", TokenTypeAccessToken), code: "invalid_request"},
		{name: "requested access token", v: base("requested_token_type", TokenTypeAccessToken)},
		{name: "requested jwt", v: base("requested_token_type", "urn:ietf:params:oauth:token-type:jwt"), code: "invalid_request"},
		{name: "audience", v: base("audience", "rs"), aud: "rs"},
		{name: "resource", v: base("resource", "https://a.example/api"), aud: "https://a.example/api"},
		{name: "same audience and resource", v: base("audience", "https://a.example", "resource", "https://a.example"), aud: "https://a.example"},
		{name: "different audience and resource", v: base("audience", "rs", "resource", "https://a.example"), code: "invalid_target"},
		{name: "two audiences in one value", v: base("audience", "a b"), code: "invalid_target"},
		{name: "relative resource", v: base("resource", "/api"), code: "invalid_target"},
		{name: "resource with fragment", v: base("resource", "https://a.example/#x"), code: "invalid_target"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x, err := parseExchange(tc.v)
			if tc.code != "" {
				var rfc *fosite.RFC6749Error
				if !errors.As(err, &rfc) || rfc.ErrorField != tc.code {
					t.Fatalf("error %v, want %s", err, tc.code)
				}
				return
			}
			if err != nil || x.audience != tc.aud {
				t.Fatalf("%+v %v, want audience %q", x, err, tc.aud)
			}
		})
	}
}
