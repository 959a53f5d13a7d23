package argon2

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	upstream "golang.org/x/crypto/argon2"
)

// TestRFC9106Vector is RFC 9106 §5.3's Argon2id test vector (secret and
// associated data included), with the SSE4.1 code and with the generic
// code.
func TestRFC9106Vector(t *testing.T) {
	password := bytes.Repeat([]byte{0x01}, 32)
	salt := bytes.Repeat([]byte{0x02}, 16)
	secret := bytes.Repeat([]byte{0x03}, 8)
	ad := bytes.Repeat([]byte{0x04}, 12)
	want := "0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659"
	defer func(sse4 bool) { useSSE4 = sse4 }(useSSE4)
	for _, sse4 := range []bool{useSSE4, false} {
		useSSE4 = sse4
		for range 2 { // the second run uses pooled memory
			if got := hex.EncodeToString(deriveKey(argon2id, password, salt, secret, ad, 3, 32, 4, 32)); got != want {
				t.Fatalf("sse4=%v: got %s, want %s", sse4, got, want)
			}
		}
	}
}

// TestVectors are upstream's Argon2id vectors (from the reference CLI).
func TestVectors(t *testing.T) {
	for _, v := range []struct {
		time, memory uint32
		threads      uint8
		hash         string
	}{
		{1, 64, 1, "655ad15eac652dc59f7170a7332bf49b8469be1fdb9c28bb"},
		{2, 64, 1, "068d62b26455936aa6ebe60060b0a65870dbfa3ddf8d41f7"},
		{2, 64, 2, "350ac37222f436ccb5c0972f1ebd3bf6b958bf2071841362"},
		{3, 256, 2, "4668d30ac4187e6878eedeacf0fd83c5a0a30db2cc16ef0b"},
		{4, 4096, 4, "145db9733a9f4ee43edf33c509be96b934d505a4efb33c5a"},
		{4, 1024, 8, "8dafa8e004f8ea96bf7c0f93eecf67a6047476143d15577f"},
		{2, 64, 3, "4a15b31aec7c2590b87d1f520be7d96f56658172deaa3079"},
		{3, 1024, 6, "1640b932f4b60e272f5d2207b9a9c626ffa1bd88d2349016"},
	} {
		t.Run(fmt.Sprintf("t%d_m%d_p%d", v.time, v.memory, v.threads), func(t *testing.T) {
			want, _ := hex.DecodeString(v.hash)
			for range 2 {
				if got := IDKey([]byte("password"), []byte("somesalt"), v.time, v.memory, v.threads, uint32(len(want))); !bytes.Equal(got, want) {
					t.Fatalf("got %x, want %x", got, want)
				}
			}
		})
	}
}

// TestMatchesUpstream: for random inputs and parameters, run one after
// the other so that pooled memory is reused, IDKey equals
// golang.org/x/crypto/argon2.IDKey.
func TestMatchesUpstream(t *testing.T) {
	rng := rand.New(rand.NewPCG(16, 2026))
	for i := range 60 {
		pw := make([]byte, rng.IntN(40))
		salt := make([]byte, 8+rng.IntN(24))
		for j := range pw {
			pw[j] = byte(rng.Uint32())
		}
		for j := range salt {
			salt[j] = byte(rng.Uint32())
		}
		time := 1 + rng.Uint32N(4)
		threads := uint8(1 + rng.IntN(4))
		memory := []uint32{8, 64, 100, 1024, 4096}[rng.IntN(5)]
		keyLen := []uint32{4, 16, 32, 64, 100}[rng.IntN(5)]
		got := IDKey(pw, salt, time, memory, threads, keyLen)
		want := upstream.IDKey(pw, salt, time, memory, threads, keyLen)
		if !bytes.Equal(got, want) {
			t.Fatalf("case %d (t=%d m=%d p=%d len=%d): got %x, want %x", i, time, memory, threads, keyLen, got, want)
		}
	}
}

// TestConcurrentMatchesUpstream: hashes computed at once, sharing the
// pools, each equal upstream's (run with -race).
func TestConcurrentMatchesUpstream(t *testing.T) {
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			pw := []byte(fmt.Sprintf("password %d", i))
			for range 3 {
				if got, want := IDKey(pw, []byte("saltsaltsalt"), 2, 2048, 1, 32), upstream.IDKey(pw, []byte("saltsaltsalt"), 2, 2048, 1, 32); !bytes.Equal(got, want) {
					t.Errorf("goroutine %d: got %x, want %x", i, got, want)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestPutMemoryZeroes: memory goes back to the pool zeroed (the next hash
// XORs into it on its first pass, and a finished hash's state must not
// linger); a dirty buffer handed back out would change the next result.
func TestPutMemoryZeroes(t *testing.T) {
	m := getMemory(16)
	for i := range *m {
		for j := range (*m)[i] {
			(*m)[i][j] = 0xdeadbeef
		}
	}
	putMemory(m)
	for i := range *m {
		for j, w := range (*m)[i] {
			if w != 0 {
				t.Fatalf("block %d word %d = %#x after putMemory", i, j, w)
			}
		}
	}
}

// BenchmarkIDKey: today's password parameters (m = 12 MiB, t = 3, p = 1)
// pooled against upstream's fresh allocation. B/op is the garbage each
// check leaves for the collector (12 MiB upstream, ~0 pooled); the time
// difference inside a server under a soft memory limit is larger than
// here, where a loop reuses freed memory at once (BENCHMARKS.md).
func BenchmarkIDKey(b *testing.B) {
	pw, salt := []byte("password"), []byte("somesalt16bytes!")
	b.Run("pooled", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			IDKey(pw, salt, 3, 12*1024, 1, 32)
		}
	})
	b.Run("upstream", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			upstream.IDKey(pw, salt, 3, 12*1024, 1, 32)
		}
	})
}
