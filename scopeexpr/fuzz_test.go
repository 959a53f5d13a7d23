package scopeexpr

import (
	"errors"
	"strings"
	"testing"
)

// FuzzParse checks the parser with any input:
//   - Parse never panics, and refuses only with a *SyntaxError matching
//     ErrSyntax whose position lies within the input or just after it;
//   - an accepted expression respects the limits, its canonical text
//     parses back to an equal Expr with the same text, and every scope it
//     names is a ValidName;
//   - Eval with every scope present passes, with none fails, and the
//     failing part it reports fails on its own.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"videos:read AND (billing:read OR org:admin)",
		"a OR b AND c", "(a OR b)and(c OR d)", "((((a))))", "a AND", ")(", "a\x00", "é",
		longCanonical, strings.Repeat("(", 17) + "a",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := Parse(s)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) || !errors.Is(err, ErrSyntax) {
				t.Fatalf("Parse(%q) error %T %v", s, err, err)
			}
			if se.Pos < 1 || se.Pos > min(len(s), MaxLen)+1 || se.Msg == "" {
				t.Fatalf("Parse(%q) error at %d: %q", s, se.Pos, se.Msg)
			}
			return
		}
		text := e.String()
		if len(text) > MaxLen || len(e.Scopes()) > MaxTerms {
			t.Fatalf("Parse(%q) accepted %q beyond the limits", s, text)
		}
		again, err := Parse(text)
		if err != nil {
			t.Fatalf("canonical %q of %q does not parse: %v", text, s, err)
		}
		if !again.Equal(e) || again.String() != text {
			t.Fatalf("canonical %q of %q parses to %q", text, s, again)
		}
		for _, name := range e.Scopes() {
			if !ValidName(name) {
				t.Fatalf("Parse(%q) names %q, not a valid name", s, name)
			}
		}
		if r := e.Eval(func(string) bool { return true }); !r.Passed || r.Failed != "" {
			t.Fatalf("%q with every scope = %+v", text, r)
		}
		none := func(string) bool { return false }
		r := e.Eval(none)
		if r.Passed {
			t.Fatalf("%q with no scope passed", text)
		}
		part, err := Parse(r.Failed)
		if err != nil || part.Eval(none).Passed {
			t.Fatalf("%q: failing part %q does not fail on its own (%v)", text, r.Failed, err)
		}
	})
}
