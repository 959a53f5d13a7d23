package keys

import (
	"errors"
	"strings"
	"testing"
)

func TestFormatRoundTrip(t *testing.T) {
	for _, prefix := range []string{"lk", "flr_pat", "a"} {
		f := NewFormat(prefix)
		for _, env := range []string{EnvLive, EnvTest} {
			k, err := f.New(env)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(k, prefix+"_"+env+"_") || !f.Looks(k) {
				t.Fatalf("key %q lacks its prefix", k)
			}
			p, err := f.Parse(k)
			if err != nil {
				t.Fatalf("Parse(%q): %v", k, err)
			}
			if p.Env != env || len(p.Random) != randomLen {
				t.Fatalf("parsed %+v", p)
			}
			if d := f.Display(p); d != prefix+"_"+env+"_"+p.Random[:4] {
				t.Fatalf("display %q", d)
			}
		}
	}
	if _, err := NewFormat("lk").New("prod"); err == nil {
		t.Fatal("unknown environment accepted")
	}
}

func TestParseRejects(t *testing.T) {
	f := NewFormat("lk")
	good, _ := f.New(EnvLive)
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	other, _ := NewFormat("flr_pat").New(EnvLive)
	tests := []struct {
		name string
		key  string
		want error
	}{
		{"empty", "", ErrMalformed},
		{"truncated", good[:len(good)-1], ErrMalformed},
		{"extended", good + "x", ErrMalformed},
		{"wrong checksum", flip(good, len(good)-1), ErrBadChecksum},
		{"changed random", flip(good, 10), ErrBadChecksum},
		{"wrong prefix", other, ErrMalformed},
		{"wrong env", strings.Replace(good, "_live_", "_prod_", 1), ErrMalformed},
		{"10 KB", strings.Repeat("a", 10<<10), ErrMalformed},
		{"unicode", "lk_live_" + strings.Repeat("é", randomLen/2) + "x_ABCDEF", ErrMalformed},
		{"non-base62", good[:20] + "-" + good[21:], ErrMalformed},
		{"missing separator", good[:8+randomLen] + "X" + good[9+randomLen:], ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := f.Parse(tc.key); !errors.Is(err, tc.want) {
				t.Fatalf("Parse = %v, want %v", err, tc.want)
			}
		})
	}
}

func BenchmarkParse(b *testing.B) {
	f := NewFormat("lk")
	k, _ := f.New(EnvLive)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.Parse(k); err != nil {
			b.Fatal(err)
		}
	}
}
