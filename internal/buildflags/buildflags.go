// Package buildflags is the one home of how the latchkey binary is built,
// for the Go programs and tests that build it themselves (cmd/loadgen, the
// e2e and interop harnesses). The Makefile's build target passes the same
// tags; TestMakefileAgrees keeps the two equal.
package buildflags

// Tags are the build tags of the latchkey binary. nomsgpack leaves gin's
// MessagePack binding and renderer (and github.com/ugorji/go/codec with
// them) out: Latchkey never reads or writes MessagePack, and the tag takes
// 9 MB off the binary and ~6 MiB of resident text off a serving process
// (BENCHMARKS.md "Memory budget").
const Tags = "nomsgpack"

// BuildArgs are the arguments of `go build` that compile the latchkey
// command in pkg (a package path such as ./cmd/latchkey) into out.
func BuildArgs(out, pkg string) []string {
	return []string{"build", "-tags", Tags, "-o", out, pkg}
}
