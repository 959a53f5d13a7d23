package oauth

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/ory/fosite"
)

func TestValidateRedirectURI(t *testing.T) {
	tests := []struct {
		uri string
		ok  bool
	}{
		{"https://app.example/cb", true},
		{"https://app.example/cb?x=1", true},
		{"http://localhost:3000/cb", true},
		{"http://127.0.0.1:9/cb", true},
		{"http://[::1]:9/cb", true},
		{"com.example.app:/oauth2redirect", true},
		{"http://app.example/cb", false},
		{"https://app.example/cb#frag", false},
		{"/relative/cb", false},
		{"javascript:alert(1)", false},
		{"data:text/html,hi", false},
		{"myapp:/cb", false},
		{"https:///nohost", false},
		{"", false},
	}
	for _, tc := range tests {
		t.Run(tc.uri, func(t *testing.T) {
			if err := validateRedirectURI(tc.uri); (err == nil) != tc.ok {
				t.Fatalf("validateRedirectURI(%q) = %v, want ok=%v", tc.uri, err, tc.ok)
			}
		})
	}
}

func TestNewClientRecordStoresOnlyDigest(t *testing.T) {
	p, _ := newTestProvider(t)
	rec, plain, err := p.NewClientRecord(ClientSpec{Name: "App", RedirectURIs: []string{"https://app.example/cb"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(plain) < 43 || len(rec.SecretDigest) != 32 || bytes.Contains(rec.SecretDigest, []byte(plain)) {
		t.Fatalf("secret %d chars, digest %d bytes", len(plain), len(rec.SecretDigest))
	}
	h := &secretHasher{h: p.cfg.Hasher}
	hashed := newClient(rec, h, time.Now()).GetHashedSecret()
	if err := h.Compare(context.Background(), hashed, []byte(plain)); err != nil {
		t.Fatalf("right secret refused: %v", err)
	}
	if err := h.Compare(context.Background(), hashed, []byte(plain+"x")); err == nil {
		t.Fatal("wrong secret accepted")
	}
	if err := h.Compare(context.Background(), []byte{1}, []byte(plain)); err == nil {
		t.Fatal("malformed digest accepted")
	}
	pub, plain2, err := p.NewClientRecord(ClientSpec{Name: "SPA", Public: true, RedirectURIs: []string{"http://localhost:3000/cb"}})
	if err != nil || plain2 != "" || pub.SecretDigest != nil || pub.TokenEndpointAuthMethod != AuthMethodNone {
		t.Fatalf("public client: %+v %q %v", pub, plain2, err)
	}
	if _, ok := newClient(pub, h, time.Now()).(fosite.OpenIDConnectClient); !ok {
		t.Fatal("public client must name its auth method (none)")
	}
	if _, ok := newClient(rec, h, time.Now()).(fosite.OpenIDConnectClient); ok {
		t.Fatal("a client without a named method must accept both basic and post")
	}
}
