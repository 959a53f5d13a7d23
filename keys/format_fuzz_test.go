package keys

import (
	"errors"
	"strings"
	"testing"
)

var fuzzPrefixes = []string{"lk", "flr_pat", "a"}

// FuzzParse checks the key format (SPEC §3.4) with any input, under a
// deployment prefix picked by the fuzzer:
//   - Parse never panics, and refuses with ErrMalformed or ErrBadChecksum;
//   - a key New generates parses back to its environment and random part;
//   - any accepted string re-serialises identically from what Parse
//     returned (prefix, env, random, checksum of the rest), and Looks
//     recognises it;
//   - a key built from the input's bytes parses, and changing any one
//     character of its random part or checksum is refused (CRC32 detects
//     every error burst of up to 32 bits, so every one-character change).
func FuzzParse(f *testing.F) {
	k, _ := NewFormat("lk").New(EnvTest)
	f.Add(k, uint8(0), uint16(0))
	k2, _ := NewFormat("flr_pat").New(EnvLive)
	f.Add(k2, uint8(1), uint16(50))
	for _, s := range []string{"", "lk_live_", "lk_live_" + strings.Repeat("A", randomLen) + "_000000", "lk_test_\x00", "lk_live_é", "flr_pat_live_x_y"} {
		f.Add(s, uint8(0), uint16(7))
	}
	f.Fuzz(func(t *testing.T, s string, pick uint8, pos uint16) {
		fm := NewFormat(fuzzPrefixes[int(pick)%len(fuzzPrefixes)])
		p, err := fm.Parse(s)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrBadChecksum) {
				t.Fatalf("Parse(%q) = %v", s, err)
			}
		} else {
			body := fm.Prefix() + "_" + p.Env + "_" + p.Random
			if again := body + "_" + checksum(body); again != s {
				t.Fatalf("Parse(%q) accepted %+v, which serialises as %q", s, p, again)
			}
			if !fm.Looks(s) || (p.Env != EnvLive && p.Env != EnvTest) || len(p.Random) != randomLen {
				t.Fatalf("Parse(%q) accepted %+v", s, p)
			}
		}

		env := EnvLive
		if pos%2 == 1 {
			env = EnvTest
		}
		gen, err := fm.New(env)
		if err != nil {
			t.Fatal(err)
		}
		if gp, err := fm.Parse(gen); err != nil || gp.Env != env || !strings.Contains(gen, gp.Random) {
			t.Fatalf("Parse(New()) = %+v, %v for %q", gp, err, gen)
		}

		// A well-formed key whose random part comes from the input.
		var rnd [randomLen]byte
		for i := range rnd {
			c := byte(i)
			if i < len(s) {
				c = s[i]
			}
			rnd[i] = base62[int(c)%len(base62)]
		}
		body := fm.Prefix() + "_" + env + "_" + string(rnd[:])
		key := body + "_" + checksum(body)
		if kp, err := fm.Parse(key); err != nil || kp.Random != string(rnd[:]) {
			t.Fatalf("Parse(%q) = %+v, %v", key, kp, err)
		}
		// Change one character of the random part or the checksum.
		start := len(fm.Prefix()) + 1 + len(env) + 1
		i := start + int(pos)%(randomLen+1+checksumLen)
		if key[i] == '_' {
			i++ // the separator: the next character is the checksum's first
		}
		b := []byte(key)
		b[i] = base62[(strings.IndexByte(base62, b[i])+1+int(pick)%(len(base62)-1))%len(base62)]
		if _, err := fm.Parse(string(b)); !errors.Is(err, ErrBadChecksum) {
			t.Fatalf("Parse(%q) (one character of %q changed) = %v, want ErrBadChecksum", b, key, err)
		}
	})
}
