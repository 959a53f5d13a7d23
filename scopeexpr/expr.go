package scopeexpr

import "strings"

// op is the kind of an Expr node.
type op uint8

const (
	opScope op = iota
	opAnd
	opOr
)

// Expr is a parsed permission expression: a scope name, or an AND or OR
// of two or more operands (never directly an operand of its own kind).
// Build one with [Parse]; an Expr is immutable and safe for concurrent
// use.
type Expr struct {
	op    op
	scope string  // opScope
	args  []*Expr // opAnd, opOr: at least two
}

// Result is the outcome of [Expr.Eval].
type Result struct {
	// Passed is true when the scopes satisfy the expression.
	Passed bool
	// Failed is, when Passed is false, the canonical text of the
	// smallest sub-expression that made the expression fail: the first
	// failing operand of an AND, followed down, or a whole OR none of
	// whose operands holds. For "a AND (b OR c)" with only a present it
	// is "b OR c"; with none present, "a". Empty when Passed.
	Failed string
}

// Eval evaluates e with has reporting whether a scope is present (for
// example an identity's HasScope). Operands are evaluated left to right
// and AND and OR stop at the first operand that decides them.
func (e *Expr) Eval(has func(scope string) bool) Result {
	if f := e.failing(has); f != nil {
		return Result{Failed: f.String()}
	}
	return Result{Passed: true}
}

// failing returns nil when e holds, else the smallest sub-expression
// that made it fail.
func (e *Expr) failing(has func(string) bool) *Expr {
	switch e.op {
	case opScope:
		if has(e.scope) {
			return nil
		}
		return e
	case opAnd:
		for _, a := range e.args {
			if f := a.failing(has); f != nil {
				return f
			}
		}
		return nil
	default: // opOr
		for _, a := range e.args {
			if a.failing(has) == nil {
				return nil
			}
		}
		return e
	}
}

// String returns the canonical text of e (see the package documentation),
// which [Parse] turns back into an equal Expr.
func (e *Expr) String() string {
	var b strings.Builder
	b.Grow(e.textLen())
	e.write(&b)
	return b.String()
}

func (e *Expr) write(b *strings.Builder) {
	if e.op == opScope {
		b.WriteString(e.scope)
		return
	}
	sep := " OR "
	if e.op == opAnd {
		sep = " AND "
	}
	for i, a := range e.args {
		if i > 0 {
			b.WriteString(sep)
		}
		// Only an OR inside an AND needs parentheses: operands are
		// never of their own operator, and AND binds tighter.
		paren := e.op == opAnd && a.op == opOr
		if paren {
			b.WriteByte('(')
		}
		a.write(b)
		if paren {
			b.WriteByte(')')
		}
	}
}

// textLen is len(e.String()) without building it.
func (e *Expr) textLen() int {
	if e.op == opScope {
		return len(e.scope)
	}
	sep := len(" OR ")
	if e.op == opAnd {
		sep = len(" AND ")
	}
	n := sep * (len(e.args) - 1)
	for _, a := range e.args {
		n += a.textLen()
		if e.op == opAnd && a.op == opOr {
			n += 2
		}
	}
	return n
}

// Scopes returns the scope names e mentions, each once, in the order of
// their first appearance.
func (e *Expr) Scopes() []string {
	var out []string
	seen := map[string]bool{}
	var walk func(*Expr)
	walk = func(x *Expr) {
		if x.op == opScope {
			if !seen[x.scope] {
				seen[x.scope] = true
				out = append(out, x.scope)
			}
			return
		}
		for _, a := range x.args {
			walk(a)
		}
	}
	walk(e)
	return out
}

// Equal reports whether e and other are the same expression (same
// operators, operands in the same order), which holds exactly when their
// canonical texts are equal.
func (e *Expr) Equal(other *Expr) bool {
	if e == nil || other == nil {
		return e == other
	}
	if e.op != other.op || e.scope != other.scope || len(e.args) != len(other.args) {
		return false
	}
	for i := range e.args {
		if !e.args[i].Equal(other.args[i]) {
			return false
		}
	}
	return true
}
