package secret

import (
	"bytes"
	"errors"
	"testing"
)

func TestSealOpen(t *testing.T) {
	a, err := DeriveAEAD(bytes.Repeat([]byte{7}, 32), "test v1")
	if err != nil {
		t.Fatal(err)
	}
	other, _ := DeriveAEAD(bytes.Repeat([]byte{7}, 32), "other v1")
	sealed, err := Seal(a, []byte("JBSWY3DPEHPK3PXP"), []byte("user-1"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("JBSWY3DP")) {
		t.Fatal("sealed value contains the plain text")
	}
	if got, err := Open(a, sealed, []byte("user-1")); err != nil || string(got) != "JBSWY3DPEHPK3PXP" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	tests := []struct {
		name   string
		aead   bool
		sealed []byte
		ad     string
	}{
		{"OtherRecord", true, sealed, "user-2"},
		{"OtherPurpose", false, sealed, "user-1"},
		{"Truncated", true, sealed[:5], "user-1"},
		{"Flipped", true, append(append([]byte{}, sealed[:len(sealed)-1]...), sealed[len(sealed)-1]^1), "user-1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k := a
			if !tc.aead {
				k = other
			}
			if _, err := Open(k, tc.sealed, []byte(tc.ad)); !errors.Is(err, ErrUnseal) {
				t.Errorf("Open = %v, want ErrUnseal", err)
			}
		})
	}
}
