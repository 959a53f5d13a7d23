package twofactor

import (
	"errors"
	"strings"
	"testing"
)

func TestNewPasskeysRelyingParty(t *testing.T) {
	tests := []struct {
		issuer string
		want   error
	}{
		{"https://auth.example.com", nil},
		{"http://localhost:8080", nil},
		{"http://127.0.0.1:8080", ErrNoRelyingParty},
		{"http://[::1]:8080", ErrNoRelyingParty},
	}
	for _, tc := range tests {
		t.Run(tc.issuer, func(t *testing.T) {
			_, err := NewPasskeys(tc.issuer, nil, nil, nil)
			if !errors.Is(err, tc.want) {
				t.Errorf("NewPasskeys(%q) = %v, want %v", tc.issuer, err, tc.want)
			}
		})
	}
}

// TestFinishWithoutValidState: a ceremony answer with damaged state or a
// response that is not a credential is refused as ErrPasskey.
func TestFinishWithoutValidState(t *testing.T) {
	p, err := NewPasskeys("https://auth.example.com", nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.FinishLogin(t.Context(), nil, []byte("not json"), []byte(`{}`)); !errors.Is(err, ErrPasskey) {
		t.Errorf("FinishLogin(bad state) = %v, want ErrPasskey", err)
	}
	if _, _, err := p.FinishLogin(t.Context(), nil, []byte(`{"challenge":"abc"}`), []byte(`{"id":"x"}`)); !errors.Is(err, ErrPasskey) {
		t.Errorf("FinishLogin(bad response) = %v, want ErrPasskey", err)
	}
}

func TestPasskeyName(t *testing.T) {
	if got := PasskeyName("  "); got != "Passkey" {
		t.Errorf("empty name = %q", got)
	}
	if got := PasskeyName(strings.Repeat("é", 150)); len([]rune(got)) != 100 {
		t.Errorf("long name kept %d runes, want 100", len([]rune(got)))
	}
}
