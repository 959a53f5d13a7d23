package buildflags

import (
	"os"
	"regexp"
	"testing"
)

// TestMakefileAgrees: `make build` (and so `make run`) passes Tags, so the
// binary operators run is the one the benchmarks and e2e tests build.
func TestMakefileAgrees(t *testing.T) {
	mk, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^TAGS\s*\?=\s*(\S+)\s*$`).FindSubmatch(mk)
	if m == nil || string(m[1]) != Tags {
		t.Fatalf("the Makefile's TAGS is %q, want %q (package buildflags)", m, Tags)
	}
	if !regexp.MustCompile(`(?m)^\t\$\(GO\) build -tags \$\(TAGS\) -o \$\(BIN\) \./cmd/latchkey$`).Match(mk) {
		t.Fatal("the Makefile's build target does not pass -tags $(TAGS)")
	}
}

func TestBuildArgs(t *testing.T) {
	got := BuildArgs("/tmp/x", "./cmd/latchkey")
	want := []string{"build", "-tags", "nomsgpack", "-o", "/tmp/x", "./cmd/latchkey"}
	if len(got) != len(want) {
		t.Fatalf("BuildArgs = %q", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("BuildArgs = %q, want %q", got, want)
		}
	}
}
