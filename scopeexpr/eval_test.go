package scopeexpr

import (
	"slices"
	"strings"
	"testing"
)

// set returns a has function for the scopes in the space-separated list.
func set(list string) func(string) bool {
	m := map[string]bool{}
	for _, s := range strings.Fields(list) {
		m[s] = true
	}
	return func(s string) bool { return m[s] }
}

func TestEval(t *testing.T) {
	const issue = "videos:read AND (billing:read OR org:admin)"
	for _, tc := range []struct {
		name, expr, has string
		passed          bool
		failed          string
	}{
		{"one scope present", "a", "a", true, ""},
		{"one scope absent", "a", "b", false, "a"},
		{"issue example, billing", issue, "videos:read billing:read", true, ""},
		{"issue example, admin", issue, "videos:read org:admin", true, ""},
		{"issue example, no videos", issue, "billing:read org:admin", false, "videos:read"},
		{"issue example, neither alternative", issue, "videos:read", false, "billing:read OR org:admin"},
		{"issue example, nothing", issue, "", false, "videos:read"},
		{"AND fails at its first failing operand", "a AND b AND c", "a", false, "b"},
		{"AND passes with all", "a AND b AND c", "c b a", true, ""},
		{"OR passes with any", "a OR b OR c", "c", true, ""},
		{"OR fails as a whole", "a OR b OR c", "d", false, "a OR b OR c"},
		{"precedence: right AND satisfied", "a OR b AND c", "b c", true, ""},
		{"precedence: AND half missing", "a OR b AND c", "b", false, "a OR b AND c"},
		{"precedence: left alternative", "a AND b OR c", "c", true, ""},
		{"parentheses change the meaning", "a AND (b OR c)", "c", false, "a"},
		{"failing group inside a group", "a AND (b OR c AND (d OR e))", "a c", false, "b OR c AND (d OR e)"},
		{"deep failing AND operand", "(x OR y) AND (z AND (p OR q))", "y z", false, "p OR q"},
		{"failed text is canonical", "a and (B or c)", "a", false, "B OR c"},
		{"names are case-sensitive", "Users:Read", "users:read", false, "Users:Read"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := Parse(tc.expr)
			if err != nil {
				t.Fatal(err)
			}
			got := e.Eval(set(tc.has))
			if got != (Result{Passed: tc.passed, Failed: tc.failed}) {
				t.Errorf("Eval(%q with %q) = %+v, want passed=%v failed=%q", tc.expr, tc.has, got, tc.passed, tc.failed)
			}
			if !got.Passed {
				// The failing part, on its own, fails with the same scopes.
				part, err := Parse(got.Failed)
				if err != nil || part.Eval(set(tc.has)).Passed {
					t.Errorf("Failed %q does not fail on its own (%v)", got.Failed, err)
				}
			}
		})
	}
}

func TestEvalStopsEarly(t *testing.T) {
	e, err := Parse("a OR b AND c")
	if err != nil {
		t.Fatal(err)
	}
	var asked []string
	e.Eval(func(s string) bool { asked = append(asked, s); return s == "a" })
	if !slices.Equal(asked, []string{"a"}) {
		t.Errorf("asked %v, want only [a]", asked)
	}
}

func TestScopes(t *testing.T) {
	for _, tc := range []struct{ expr, want string }{
		{"a", "a"},
		{"b AND (a OR b) OR c AND a", "b a c"},
		{"videos:read AND (billing:read OR org:admin)", "videos:read billing:read org:admin"},
	} {
		t.Run(tc.expr, func(t *testing.T) {
			e, err := Parse(tc.expr)
			if err != nil {
				t.Fatal(err)
			}
			if got := e.Scopes(); !slices.Equal(got, strings.Fields(tc.want)) {
				t.Errorf("Scopes() = %v, want %s", got, tc.want)
			}
		})
	}
}

func TestEqual(t *testing.T) {
	x, _ := Parse("a AND (b OR c)")
	for _, tc := range []struct {
		other string
		want  bool
	}{
		{"a and (b or c)", true},
		{"(a) AND ((b) OR c)", true},
		{"a AND (c OR b)", false},
		{"a AND b OR c", false},
		{"a AND (b OR c OR d)", false},
		{"a", false},
	} {
		t.Run(tc.other, func(t *testing.T) {
			y, err := Parse(tc.other)
			if err != nil {
				t.Fatal(err)
			}
			if got := x.Equal(y); got != tc.want || y.Equal(x) != tc.want {
				t.Errorf("Equal(%q) = %v, want %v", tc.other, got, tc.want)
			}
			if (x.String() == y.String()) != tc.want {
				t.Errorf("canonical texts %q and %q disagree with Equal", x, y)
			}
		})
	}
	if !(*Expr)(nil).Equal(nil) || x.Equal(nil) {
		t.Error("Equal with nil")
	}
}

// BenchmarkParseEval parses and evaluates the issue's example against a
// credential with a few scopes, as a verify request with a permissions
// check does.
func BenchmarkParseEval(b *testing.B) {
	has := set("users:read keys:read videos:read org:admin")
	b.ReportAllocs()
	for b.Loop() {
		e, err := Parse("videos:read AND (billing:read OR org:admin)")
		if err != nil || !e.Eval(has).Passed {
			b.Fatal("unexpected result")
		}
	}
}

// BenchmarkEvalFailed evaluates a parsed expression that fails, which
// builds the failing text.
func BenchmarkEvalFailed(b *testing.B) {
	has := set("users:read keys:read videos:read")
	e, _ := Parse("videos:read AND (billing:read OR org:admin)")
	b.ReportAllocs()
	for b.Loop() {
		if e.Eval(has).Passed {
			b.Fatal("unexpected result")
		}
	}
}
