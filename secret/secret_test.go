package secret

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestRandomLengthAndAlphabet(t *testing.T) {
	s, err := Random(256)
	if err != nil {
		t.Fatal(err)
	}
	if len(s) < 43 { // 43 × 5.954 ≥ 256
		t.Fatalf("len %d < 43", len(s))
	}
	for _, r := range s {
		if !strings.ContainsRune(base62, r) {
			t.Fatalf("rune %q outside base62", r)
		}
	}
	s2, _ := Random(256)
	if s == s2 {
		t.Fatal("two random secrets are equal")
	}
}

func TestHasher(t *testing.T) {
	p1 := bytes.Repeat([]byte{1}, 32)
	p2 := bytes.Repeat([]byte{2}, 32)
	old, err := NewHasher(1, map[int][]byte{1: p1})
	if err != nil {
		t.Fatal(err)
	}
	d1, v1 := old.Digest([]byte("s3cret"))
	h, err := NewHasher(2, map[int][]byte{1: p1, 2: p2})
	if err != nil {
		t.Fatal(err)
	}
	d2, v2 := h.Digest([]byte("s3cret"))
	if v1 != 1 || v2 != 2 || bytes.Equal(d1, d2) {
		t.Fatalf("versions %d %d; digests equal=%v", v1, v2, bytes.Equal(d1, d2))
	}
	tests := []struct {
		name   string
		secret string
		digest []byte
		v      int
		want   error
	}{
		{"current pepper", "s3cret", d2, 2, nil},
		{"rotated-out pepper still verifies", "s3cret", d1, 1, nil},
		{"wrong secret", "s3creT", d2, 2, ErrMismatch},
		{"wrong version", "s3cret", d1, 2, ErrMismatch},
		{"unknown version", "s3cret", d1, 9, ErrUnknownVersion},
		{"empty digest", "s3cret", nil, 2, ErrMismatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := h.Verify([]byte(tc.secret), tc.digest, tc.v); !errors.Is(err, tc.want) {
				t.Fatalf("Verify = %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := NewHasher(1, map[int][]byte{1: []byte("short")}); err == nil {
		t.Fatal("short pepper accepted")
	}
	if _, err := NewHasher(3, map[int][]byte{1: p1}); !errors.Is(err, ErrUnknownVersion) {
		t.Fatalf("missing current version: %v", err)
	}
}

func BenchmarkVerify(b *testing.B) {
	h, _ := NewHasher(1, map[int][]byte{1: bytes.Repeat([]byte{7}, 32)})
	s := []byte("Qx1o1nS0Hh4m3yq8GfJb0TqkzP9o9J8yQm2E3l5Z9aB")
	d, v := h.Digest(s)
	b.ReportAllocs()
	for b.Loop() {
		if err := h.Verify(s, d, v); err != nil {
			b.Fatal(err)
		}
	}
}
