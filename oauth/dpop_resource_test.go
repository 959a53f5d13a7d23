package oauth

import (
	"errors"
	"net/http/httptest"
	"testing"

	"github.com/latchkey/latchkey/dpop"
)

// TestResourceProofOfAnotherKeyCostsNoWrite: a proof signed with another
// key than the token's (someone holding a stolen token, not its key) is
// refused before it is remembered, so it writes nothing to the replay
// store; the right key's proof is remembered (a replay is refused).
func TestResourceProofOfAnotherKeyCostsNoWrite(t *testing.T) {
	p, db := newTestProvider(t)
	const u, tok = "https://latchkey.example/v1/users/me", "ory_at_token.sig"
	owner, _ := dpop.NewES256Signer()
	thief, _ := dpop.NewES256Signer()
	send := func(s *dpop.Signer) (string, error) {
		proof, err := s.Proof("GET", u, tok, "")
		if err != nil {
			t.Fatal(err)
		}
		parsed, err := dpop.Parse(proof, dpop.Request{Method: "GET", URL: u, AccessToken: tok})
		if err != nil {
			t.Fatal(err)
		}
		r := httptest.NewRequest("GET", u, nil)
		r.Header.Set(dpop.HeaderName, proof)
		err = p.ResourceProof(t.Context(), r, u, tok, owner.JKT())
		return dpop.ReplayKey(parsed), err
	}
	key, err := send(thief)
	if !errors.Is(err, ErrDPoPProof) {
		t.Fatalf("another key's proof: %v, want ErrDPoPProof", err)
	}
	if known, err := db.JTIKnown(t.Context(), key); err != nil || known {
		t.Fatalf("another key's proof was remembered (%v, %v): a write per request for anyone holding the token", known, err)
	}
	key, err = send(owner)
	if err != nil {
		t.Fatalf("the owner's proof: %v", err)
	}
	if known, err := db.JTIKnown(t.Context(), key); err != nil || !known {
		t.Fatalf("the owner's proof was not remembered (%v, %v)", known, err)
	}
}
