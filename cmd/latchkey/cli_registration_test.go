package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"testing"
)

// TestRegistrationTokenCommand: `latchkey registration token` prints a
// fresh token and the sha256 digest oauth.registration accepts for it.
func TestRegistrationTokenCommand(t *testing.T) {
	seen := map[string]bool{}
	for range 2 {
		code, out, errs := runCLI(t, "registration", "token")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errs)
		}
		var v struct{ Token, Digest string }
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Fatalf("output is not JSON: %v\n%s", err, out)
		}
		sum := sha256.Sum256([]byte(v.Token))
		if len(v.Token) < 40 || v.Digest != "sha256:"+hex.EncodeToString(sum[:]) {
			t.Fatalf("token %q digest %q", v.Token, v.Digest)
		}
		if seen[v.Token] {
			t.Fatal("the same token twice")
		}
		seen[v.Token] = true
	}
	if code, _, _ := runCLI(t, "registration", "token", "extra"); code == 0 {
		t.Error("an extra argument was accepted")
	}
}
