package oauth

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestDiscoveryGolden pins the metadata document (RFC 8414 §2, OIDC
// Discovery §3) byte for byte; `go test ./oauth -run DiscoveryGolden
// -update` rewrites testdata/discovery.golden.json. Issue 12 items 5 and
// 6: the introspection endpoint lists client_secret_basic and
// client_secret_post, request_uri_parameter_supported is false (only PAR
// request_uris work) and claims_supported names jti, rat and
// email_verified.
func TestDiscoveryGolden(t *testing.T) {
	p, _ := newTestProviderWith(t, func(c *Config) { c.Scopes = []string{"openid", "profile", "email", "offline_access"} }, nil)
	w := httptest.NewRecorder()
	p.ServeDiscovery(w, httptest.NewRequest("GET", "/.well-known/openid-configuration", nil))
	// Compared indented, one member a line, so a change reads as a diff.
	var got bytes.Buffer
	if err := json.Indent(&got, w.Body.Bytes(), "", "  "); err != nil {
		t.Fatalf("discovery is not JSON: %v", err)
	}
	golden := filepath.Join("testdata", "discovery.golden.json")
	if *update {
		if err := os.WriteFile(golden, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("discovery document differs from %s (run with -update and review the diff):\n%s", golden, got.String())
	}
}
