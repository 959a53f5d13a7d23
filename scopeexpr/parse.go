// Package scopeexpr parses and evaluates permission expressions over
// scopes, the query language of the "permissions" check of
// POST /v1/keys/verify (as Unkey's verify evaluates permission queries):
//
//	videos:read AND (billing:read OR org:admin)
//
// Grammar (keywords case-insensitive, AND binds tighter than OR):
//
//	expr    = and *( OR and )
//	and     = primary *( AND primary )
//	primary = scope / "(" expr ")"
//	scope   = 1*( %x21 / %x23-27 / %x2A-5B / %x5D-7E )
//
// A scope name is an RFC 6749 §3.3 scope-token without parentheses (which
// delimit groups here); the words AND and OR, in any case, are keywords and
// never scope names (see [ValidName]). Spaces, tabs and line breaks separate
// tokens; a parenthesis needs none around it.
//
// Limits: at most [MaxLen] characters (also for the canonical text of the
// result), parentheses nested at most [MaxDepth] deep, at most [MaxTerms]
// scope names. Input that breaks the grammar or a limit is refused with a
// [*SyntaxError] naming the position, which matches [ErrSyntax].
//
// [Expr.String] is the canonical text: keywords upper-case, one space
// around each keyword, parentheses only where precedence needs them, and
// nested groups of the same operator flattened ("a AND (b AND c)" is
// "a AND b AND c"), so equal expressions print equally and the text
// parses back to an equal Expr. [Expr.Eval] reports whether a set of
// scopes satisfies the expression and, if not, the smallest
// sub-expression that failed.
package scopeexpr

import (
	"errors"
	"fmt"
	"strings"
)

// Limits of an expression.
const (
	// MaxLen is the longest expression, in characters (bytes: every
	// valid character is ASCII).
	MaxLen = 1000
	// MaxDepth is how deep parentheses may nest.
	MaxDepth = 16
	// MaxTerms is how many scope names an expression may name (repeats
	// count).
	MaxTerms = 100
)

// ErrSyntax matches (errors.Is) every [*SyntaxError].
var ErrSyntax = errors.New("scopeexpr: syntax error")

// SyntaxError is a malformed expression or one over a limit.
type SyntaxError struct {
	// Pos is the 1-based position (in bytes, which are characters for
	// valid input) of the offending character; len(input)+1 means the
	// end of the input.
	Pos int
	// Msg says what is wrong, without the position.
	Msg string
}

// Error implements the error interface.
func (e *SyntaxError) Error() string {
	return fmt.Sprintf("scopeexpr: %s at position %d", e.Msg, e.Pos)
}

// Is makes errors.Is(err, ErrSyntax) true for every *SyntaxError.
func (e *SyntaxError) Is(target error) bool { return target == ErrSyntax }

// isNameChar reports whether c may appear in a scope name of an
// expression: an RFC 6749 §3.3 scope-token character (%x21 / %x23-5B /
// %x5D-7E) other than a parenthesis.
func isNameChar(c byte) bool {
	return c == 0x21 || (c >= 0x23 && c <= 0x7E && c != '\\' && c != '(' && c != ')')
}

// ValidName reports whether name can be written as a scope in an
// expression: a non-empty RFC 6749 §3.3 scope-token without parentheses
// that is not the word AND or OR (in any case).
func ValidName(name string) bool {
	if name == "" || keyword(name) != opScope {
		return false
	}
	for i := 0; i < len(name); i++ {
		if !isNameChar(name[i]) {
			return false
		}
	}
	return true
}

// keyword returns opAnd or opOr for the keywords, opScope otherwise.
func keyword(w string) op {
	switch {
	case strings.EqualFold(w, "AND"):
		return opAnd
	case strings.EqualFold(w, "OR"):
		return opOr
	}
	return opScope
}

// token kinds.
const (
	tokEOF = iota
	tokLParen
	tokRParen
	tokAnd
	tokOr
	tokName
)

// parser is a recursive-descent parser with one token of look-ahead.
type parser struct {
	src   string
	i     int // next byte to scan
	kind  int // current token
	text  string
	pos   int // 1-based position of the current token
	depth int
	terms int
}

// Parse parses s (see the package documentation for the grammar and
// limits). Its error is a *SyntaxError.
func Parse(s string) (*Expr, error) {
	if len(s) > MaxLen {
		return nil, &SyntaxError{Pos: MaxLen + 1, Msg: fmt.Sprintf("expression is longer than %d characters", MaxLen)}
	}
	p := &parser{src: s}
	if err := p.next(); err != nil {
		return nil, err
	}
	if p.kind == tokEOF {
		return nil, &SyntaxError{Pos: p.pos, Msg: "empty expression"}
	}
	e, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	switch p.kind {
	case tokEOF:
	case tokRParen:
		return nil, p.errorf("unexpected ')' without a matching '('")
	default:
		return nil, p.errorf("expected AND, OR or the end of the expression, found %s", p.describe())
	}
	// Canonical text may be longer than the input ("(a or b)and(c or d)"
	// gains the spaces around AND); keep the promise that it parses back.
	if n := e.textLen(); n > MaxLen {
		return nil, &SyntaxError{Pos: 1, Msg: fmt.Sprintf("expression is longer than %d characters once written canonically (%d)", MaxLen, n)}
	}
	return e, nil
}

func (p *parser) errorf(format string, args ...any) error {
	return &SyntaxError{Pos: p.pos, Msg: fmt.Sprintf(format, args...)}
}

// describe names the current token for an error message.
func (p *parser) describe() string {
	switch p.kind {
	case tokEOF:
		return "the end of the expression"
	case tokLParen:
		return "'('"
	case tokRParen:
		return "')'"
	case tokAnd:
		return "AND"
	case tokOr:
		return "OR"
	}
	return fmt.Sprintf("%q", p.text)
}

// next scans the next token.
func (p *parser) next() error {
	for p.i < len(p.src) {
		switch p.src[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
			continue
		}
		break
	}
	p.pos = p.i + 1
	if p.i == len(p.src) {
		p.kind, p.text = tokEOF, ""
		return nil
	}
	c := p.src[p.i]
	switch {
	case c == '(':
		p.kind, p.text = tokLParen, "("
		p.i++
		return nil
	case c == ')':
		p.kind, p.text = tokRParen, ")"
		p.i++
		return nil
	case !isNameChar(c):
		if c >= 0x80 {
			return p.errorf("invalid character: scope names are ASCII")
		}
		return p.errorf("invalid character %q", c)
	}
	start := p.i
	for p.i < len(p.src) && isNameChar(p.src[p.i]) {
		p.i++
	}
	p.text = p.src[start:p.i]
	switch keyword(p.text) {
	case opAnd:
		p.kind = tokAnd
	case opOr:
		p.kind = tokOr
	default:
		p.kind = tokName
	}
	return nil
}

// parseOr parses expr = and *( OR and ).
func (p *parser) parseOr() (*Expr, error) {
	return p.parseList(opOr, tokOr, p.parseAnd)
}

// parseAnd parses and = primary *( AND primary ).
func (p *parser) parseAnd() (*Expr, error) {
	return p.parseList(opAnd, tokAnd, p.parsePrimary)
}

// parseList parses operands separated by the keyword sep, flattening
// operands that are themselves (parenthesised) lists of the same operator.
func (p *parser) parseList(o op, sep int, operand func() (*Expr, error)) (*Expr, error) {
	first, err := operand()
	if err != nil {
		return nil, err
	}
	if p.kind != sep {
		return first, nil
	}
	list := &Expr{op: o}
	list.add(first)
	for p.kind == sep {
		if err := p.next(); err != nil {
			return nil, err
		}
		e, err := operand()
		if err != nil {
			return nil, err
		}
		list.add(e)
	}
	return list, nil
}

// add appends e to the operands of list, splicing e's operands in when it
// has the same operator (AND and OR are associative).
func (list *Expr) add(e *Expr) {
	if e.op == list.op {
		list.args = append(list.args, e.args...)
		return
	}
	list.args = append(list.args, e)
}

// parsePrimary parses primary = scope / "(" expr ")".
func (p *parser) parsePrimary() (*Expr, error) {
	switch p.kind {
	case tokName:
		p.terms++
		if p.terms > MaxTerms {
			return nil, p.errorf("more than %d scope names", MaxTerms)
		}
		e := &Expr{op: opScope, scope: p.text}
		return e, p.next()
	case tokLParen:
		open := p.pos
		p.depth++
		if p.depth > MaxDepth {
			return nil, p.errorf("parentheses nested deeper than %d", MaxDepth)
		}
		if err := p.next(); err != nil {
			return nil, err
		}
		if p.kind == tokRParen {
			return nil, p.errorf("empty parentheses")
		}
		e, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		if p.kind != tokRParen {
			if p.kind == tokEOF {
				return nil, p.errorf("missing ')' to close the '(' at position %d", open)
			}
			return nil, p.errorf("expected AND, OR or ')', found %s", p.describe())
		}
		p.depth--
		return e, p.next()
	}
	return nil, p.errorf("expected a scope name or '(', found %s", p.describe())
}
