package scopeexpr

import (
	"errors"
	"strings"
	"testing"
)

func sc(name string) *Expr    { return &Expr{op: opScope, scope: name} }
func and(args ...*Expr) *Expr { return &Expr{op: opAnd, args: args} }
func or(args ...*Expr) *Expr  { return &Expr{op: opOr, args: args} }

func TestParse(t *testing.T) {
	a, b, c, d := sc("a"), sc("b"), sc("c"), sc("d")
	for _, tc := range []struct {
		name, in, canonical string
		want                *Expr
	}{
		{"one scope", "videos:read", "videos:read", sc("videos:read")},
		{"AND binds tighter than OR", "a AND b OR c", "a AND b OR c", or(and(a, b), c)},
		{"AND binds tighter than OR on the right", "a OR b AND c", "a OR b AND c", or(a, and(b, c))},
		{"OR between ANDs", "a AND b OR c AND d", "a AND b OR c AND d", or(and(a, b), and(c, d))},
		{"parentheses override", "(a OR b) AND c", "(a OR b) AND c", and(or(a, b), c)},
		{"the issue's example", "videos:read AND (billing:read OR org:admin)", "videos:read AND (billing:read OR org:admin)",
			and(sc("videos:read"), or(sc("billing:read"), sc("org:admin")))},
		{"keywords in any case", "a and b Or c aNd d", "a AND b OR c AND d", or(and(a, b), and(c, d))},
		{"redundant parentheses go", "((a))", "a", a},
		{"parentheses around an AND in an OR go", "(a AND b) OR c", "a AND b OR c", or(and(a, b), c)},
		{"same operator flattens right", "a AND (b AND c)", "a AND b AND c", and(a, b, c)},
		{"same operator flattens left", "(a OR b) OR (c OR d)", "a OR b OR c OR d", or(a, b, c, d)},
		{"nested groups", "a AND (b OR (c AND d))", "a AND (b OR c AND d)", and(a, or(b, and(c, d)))},
		{"double nesting keeps needed parentheses", "a AND (b OR (c AND (d OR a)))", "a AND (b OR c AND (d OR a))",
			and(a, or(b, and(c, or(d, a))))},
		{"no spaces around parentheses", "a AND(b OR c)AND d", "a AND (b OR c) AND d", and(a, or(b, c), d)},
		{"any whitespace", "\ta\nAND\r\n  b ", "a AND b", and(a, b)},
		{"keyword-like names are names", "android OR orange AND ANDOR", "android OR orange AND ANDOR",
			or(sc("android"), and(sc("orange"), sc("ANDOR")))},
		{"every scope-token character but parentheses", "!#$%&'*+,-./09:;<=>?@AZ[]^_`az{|}~", "!#$%&'*+,-./09:;<=>?@AZ[]^_`az{|}~",
			sc("!#$%&'*+,-./09:;<=>?@AZ[]^_`az{|}~")},
		{"a URL scope", "https://api.example.com/videos.read OR a", "https://api.example.com/videos.read OR a",
			or(sc("https://api.example.com/videos.read"), a)},
		{"repeats are kept", "a AND a", "a AND a", and(a, a)},
		{"depth 16", strings.Repeat("(", 16) + "a" + strings.Repeat(")", 16), "a", a},
		{"100 terms", strings.Repeat("a AND ", 99) + "a", strings.Repeat("a AND ", 99) + "a", and(repeat(a, 100)...)},
		{"1000 characters", strings.Repeat("x", 1000), strings.Repeat("x", 1000), sc(strings.Repeat("x", 1000))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := Parse(tc.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.in, err)
			}
			if !e.Equal(tc.want) {
				t.Errorf("Parse(%q) = %s, want %s (as a tree)", tc.in, e, tc.want)
			}
			if got := e.String(); got != tc.canonical {
				t.Errorf("String() = %q, want %q", got, tc.canonical)
			}
			again, err := Parse(e.String())
			if err != nil || !again.Equal(e) {
				t.Errorf("canonical text %q parses back to %v, %v", e.String(), again, err)
			}
		})
	}
}

func repeat(e *Expr, n int) []*Expr {
	out := make([]*Expr, n)
	for i := range out {
		out[i] = e
	}
	return out
}

// longCanonical is 947 characters whose canonical text has 1045: fifty
// "(aaaaa or bbbbb)" groups joined by "and" without spaces.
var longCanonical = strings.Repeat("(aaaaa or bbbbb)and", 49) + "(aaaaa or bbbbb)"

func TestParseErrors(t *testing.T) {
	deep := strings.Repeat("(", 17) + "a" + strings.Repeat(")", 17)
	for _, tc := range []struct {
		name, in string
		pos      int
		msg      string
	}{
		{"empty", "", 1, "empty expression"},
		{"only spaces", "   ", 4, "empty expression"},
		{"dangling AND", "a AND", 6, "expected a scope name or '(', found the end of the expression"},
		{"dangling OR after a space", "a AND b OR ", 12, "expected a scope name or '(', found the end of the expression"},
		{"leading AND", "AND a", 1, "expected a scope name or '(', found AND"},
		{"leading or in lower case", "or a", 1, "expected a scope name or '(', found OR"},
		{"two keywords", "a OR OR b", 6, "found OR"},
		{"AND OR", "a AND OR b", 7, "found OR"},
		{"two names", "a b", 3, `expected AND, OR or the end of the expression, found "b"`},
		{"keyword glued to a name", "a ANDb", 3, `found "ANDb"`},
		{"name after a group", "(a) b", 5, `expected AND, OR or the end of the expression, found "b"`},
		{"group after a name", "a (b)", 3, `expected AND, OR or the end of the expression, found '('`},
		{"unmatched close", "a)", 2, "unexpected ')' without a matching '('"},
		{"extra close", "(a OR b))", 9, "unexpected ')'"},
		{"close first", ")", 1, "expected a scope name or '(', found ')'"},
		{"unclosed", "(a", 3, "missing ')' to close the '(' at position 1"},
		{"unclosed inner", "a AND ((b OR c)", 16, "missing ')' to close the '(' at position 7"},
		{"two names in a group", "(a b)", 4, `expected AND, OR or ')', found "b"`},
		{"empty parentheses", "()", 2, "empty parentheses"},
		{"empty parentheses after AND", "a AND ( )", 9, "empty parentheses"},
		{"double quote", `a AND "b"`, 7, `invalid character '"'`},
		{"backslash in a name", `a\b`, 2, `invalid character '\\'`},
		{"NUL", "a\x00", 2, `invalid character '\x00'`},
		{"vertical tab", "a\vb", 2, `invalid character '\v'`},
		{"DEL", "a\x7f", 2, `invalid character '\x7f'`},
		{"non-ASCII", "a AND é", 7, "scope names are ASCII"},
		{"too deep", deep, 17, "parentheses nested deeper than 16"},
		{"too deep after a name", "a AND " + deep, 23, "nested deeper than 16"},
		{"too many terms", strings.Repeat("s AND ", 100) + "s", 601, "more than 100 scope names"},
		{"too many terms in groups", strings.Repeat("(s OR s) AND ", 50) + "s", 651, "more than 100 scope names"},
		{"too long", strings.Repeat("x", 1001), 1001, "longer than 1000 characters"},
		{"too long once canonical", longCanonical, 1, "longer than 1000 characters once written canonically (1045)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := Parse(tc.in)
			if err == nil {
				t.Fatalf("Parse(%q) = %s, want an error", tc.in, e)
			}
			var se *SyntaxError
			if !errors.As(err, &se) || !errors.Is(err, ErrSyntax) {
				t.Fatalf("Parse(%q) error %T %v is not a *SyntaxError matching ErrSyntax", tc.in, err, err)
			}
			if se.Pos != tc.pos || !strings.Contains(se.Msg, tc.msg) {
				t.Errorf("Parse(%q) = %q at %d, want %q at %d", tc.in, se.Msg, se.Pos, tc.msg, tc.pos)
			}
			if want := "at position "; !strings.Contains(err.Error(), want) {
				t.Errorf("Error() = %q, want it to name the position", err.Error())
			}
		})
	}
	if len(longCanonical) > MaxLen {
		t.Fatalf("longCanonical is %d characters, must be within the input limit", len(longCanonical))
	}
}

func TestValidName(t *testing.T) {
	for _, tc := range []struct {
		name string
		want bool
	}{
		{"users:read", true},
		{"https://api.example.com/x", true},
		{"!", true},
		{"android", true},
		{"", false},
		{"and", false},
		{"OR", false},
		{"a b", false},
		{"a(b", false},
		{"a)", false},
		{`a"`, false},
		{`a\`, false},
		{"é", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ValidName(tc.name); got != tc.want {
				t.Errorf("ValidName(%q) = %v, want %v", tc.name, got, tc.want)
			}
			// A valid name is exactly an expression of that one scope.
			e, err := Parse(tc.name)
			if parsed := err == nil && e.op == opScope && e.scope == tc.name; parsed != tc.want {
				t.Errorf("Parse(%q) as one scope = %v, want %v", tc.name, parsed, tc.want)
			}
		})
	}
}
