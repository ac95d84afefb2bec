// Package cql2 parses OGC CQL2 text filters (filter-lang=cql2-text) and
// compiles them to a parameterised SQL condition on geoseek's documents table.
//
// Supported: comparisons (= <> < > <= >=), AND/OR/NOT and parentheses, LIKE,
// IN, BETWEEN, IS [NOT] NULL, TRUE/FALSE, S_INTERSECTS, S_WITHIN, S_CONTAINS,
// S_DISJOINT and S_DWITHIN (distance in metres) with BBOX and WKT literals
// (POINT, LINESTRING, POLYGON and their MULTI forms), and T_INTERSECTS,
// T_DURING, T_BEFORE, T_AFTER on the document period with TIMESTAMP, DATE and
// INTERVAL literals.
//
// Why hand-written: the Go CQL2 code found (planetlabs/go-ogc: CQL2 JSON
// only; a one-person text parser built on it) neither reports the position of
// an error nor fits a compiler that must emit only $N placeholders. The
// grammar subset is small; this parser is a plain recursive descent over a
// lexer, fuzzed (FuzzCompile).
//
// Safety contract: no byte of the filter text ever reaches the SQL text.
// Property names resolve through a fixed allow-list to fixed column
// expressions; props keys and every literal travel as arguments.
package cql2

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/twpayne/go-geom"
	"github.com/twpayne/go-geom/encoding/wkt"

	"github.com/geoseek/geoseek/internal/geomrule"
	"github.com/geoseek/geoseek/internal/problem"
)

// Error is a syntax or semantic error at a byte offset of the filter.
type Error struct {
	Pos int
	Msg string
}

func (e *Error) Error() string { return fmt.Sprintf("at position %d: %s", e.Pos, e.Msg) }

func errAt(pos int, format string, args ...any) *Error {
	return &Error{Pos: pos, Msg: fmt.Sprintf(format, args...)}
}

// MaxLength bounds a filter; MaxDepth bounds nesting so a hostile filter
// cannot exhaust the stack.
const (
	MaxLength = 64 << 10
	MaxDepth  = 64
)

type tokKind int

const (
	tEOF tokKind = iota
	tIdent
	tQuoted // "double quoted" property name
	tString
	tNumber
	tLParen
	tRParen
	tComma
	tOp
)

type token struct {
	kind tokKind
	text string // identifier (as written), string value, number text, operator
	pos  int
}

func lex(src string) ([]token, error) {
	var out []token
	i := 0
	for i < len(src) {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(':
			out = append(out, token{tLParen, "(", i})
			i++
		case c == ')':
			out = append(out, token{tRParen, ")", i})
			i++
		case c == ',':
			out = append(out, token{tComma, ",", i})
			i++
		case c == '=':
			out = append(out, token{tOp, "=", i})
			i++
		case c == '<' || c == '>':
			op := string(c)
			if i+1 < len(src) && (src[i+1] == '=' || c == '<' && src[i+1] == '>') {
				op += string(src[i+1])
			}
			out = append(out, token{tOp, op, i})
			i += len(op)
		case c == '\'':
			start := i
			var sb strings.Builder
			i++
			for {
				if i >= len(src) {
					return nil, errAt(start, "unterminated string")
				}
				if src[i] == '\'' {
					if i+1 < len(src) && src[i+1] == '\'' {
						sb.WriteByte('\'')
						i += 2
						continue
					}
					i++
					break
				}
				sb.WriteByte(src[i])
				i++
			}
			out = append(out, token{tString, sb.String(), start})
		case c == '"':
			start := i
			end := strings.IndexByte(src[i+1:], '"')
			if end < 0 {
				return nil, errAt(start, "unterminated quoted name")
			}
			out = append(out, token{tQuoted, src[i+1 : i+1+end], start})
			i += end + 2
		case c >= '0' && c <= '9' || c == '.' || (c == '-' || c == '+') && i+1 < len(src) && (src[i+1] >= '0' && src[i+1] <= '9' || src[i+1] == '.'):
			start := i
			i++
			for i < len(src) && (src[i] >= '0' && src[i] <= '9' || src[i] == '.' || src[i] == 'e' || src[i] == 'E' ||
				(src[i] == '-' || src[i] == '+') && (src[i-1] == 'e' || src[i-1] == 'E')) {
				i++
			}
			out = append(out, token{tNumber, src[start:i], start})
		case isIdentStart(c):
			start := i
			for i < len(src) && isIdentPart(src[i]) {
				i++
			}
			out = append(out, token{tIdent, src[start:i], start})
		default:
			return nil, errAt(i, "unexpected character %q", c)
		}
	}
	out = append(out, token{tEOF, "", len(src)})
	return out, nil
}

func isIdentStart(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isIdentPart(c byte) bool {
	return isIdentStart(c) || c >= '0' && c <= '9' || c == ':' || c == '.'
}

// Node is a parsed filter expression.
type Node interface{ pos() int }

// Prop is a property reference.
type Prop struct {
	Name string
	Pos  int
}

// LitKind says what a literal holds.
type LitKind int

// Literal kinds.
const (
	LitString LitKind = iota
	LitNumber
	LitBool
	LitTime
)

// Literal is a scalar value.
type Literal struct {
	Kind LitKind
	Str  string
	Num  float64
	Bool bool
	Time time.Time
	Pos  int
}

type (
	// And, Or and Not combine conditions.
	And struct{ L, R Node }
	Or  struct{ L, R Node }
	Not struct {
		X   Node
		Pos int
	}
	// Bool is TRUE or FALSE as a whole condition.
	Bool struct {
		V   bool
		Pos int
	}
	// Compare is Prop Op Lit (a literal on the left is flipped).
	Compare struct {
		Op   string
		Prop Prop
		Lit  Literal
	}
	// Like is Prop [NOT] LIKE pattern.
	Like struct {
		Prop    Prop
		Pattern Literal
		Not     bool
	}
	// Between is Prop [NOT] BETWEEN Lo AND Hi.
	Between struct {
		Prop   Prop
		Lo, Hi Literal
		Not    bool
	}
	// In is Prop [NOT] IN (list).
	In struct {
		Prop Prop
		List []Literal
		Not  bool
	}
	// IsNull is Prop IS [NOT] NULL.
	IsNull struct {
		Prop Prop
		Not  bool
	}
	// Spatial is Op(Prop, Geom[, Dist]). Geom has SRID 4326.
	Spatial struct {
		Op   string // S_INTERSECTS, S_WITHIN, S_CONTAINS, S_DISJOINT, S_DWITHIN
		Prop Prop
		Geom geom.T
		// Dist is metres for S_DWITHIN.
		Dist float64
		At   int
	}
	// Temporal is Op(Prop, interval). An instant has Start == End; nil is open.
	Temporal struct {
		Op         string // T_INTERSECTS, T_DURING, T_BEFORE, T_AFTER
		Prop       Prop
		Start, End *time.Time
		At         int
	}
)

func (n *And) pos() int      { return n.L.pos() }
func (n *Or) pos() int       { return n.L.pos() }
func (n *Not) pos() int      { return n.Pos }
func (n *Bool) pos() int     { return n.Pos }
func (n *Compare) pos() int  { return n.Prop.Pos }
func (n *Like) pos() int     { return n.Prop.Pos }
func (n *Between) pos() int  { return n.Prop.Pos }
func (n *In) pos() int       { return n.Prop.Pos }
func (n *IsNull) pos() int   { return n.Prop.Pos }
func (n *Spatial) pos() int  { return n.At }
func (n *Temporal) pos() int { return n.At }

type parser struct {
	src   string
	toks  []token
	i     int
	depth int
}

// Parse parses a CQL2 text filter. Errors are *Error with the byte offset.
func Parse(src string) (Node, error) {
	if len(src) > MaxLength {
		return nil, errAt(MaxLength, "filter longer than %d bytes", MaxLength)
	}
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	p := &parser{src: src, toks: toks}
	n, err := p.or()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		return nil, errAt(t.pos, "unexpected %s", describe(t))
	}
	return n, nil
}

func describe(t token) string {
	if t.kind == tEOF {
		return "end of filter"
	}
	return strconv.Quote(t.text)
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

func (p *parser) isKeyword(t token, kw string) bool {
	return t.kind == tIdent && strings.EqualFold(t.text, kw)
}

func (p *parser) acceptKeyword(kw string) bool {
	if p.isKeyword(p.peek(), kw) {
		p.i++
		return true
	}
	return false
}

func (p *parser) expect(kind tokKind, what string) (token, error) {
	t := p.next()
	if t.kind != kind {
		return t, errAt(t.pos, "expected %s, found %s", what, describe(t))
	}
	return t, nil
}

func (p *parser) or() (Node, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > MaxDepth {
		return nil, errAt(p.peek().pos, "filter nested deeper than %d", MaxDepth)
	}
	l, err := p.and()
	if err != nil {
		return nil, err
	}
	for p.acceptKeyword("OR") {
		r, err := p.and()
		if err != nil {
			return nil, err
		}
		l = &Or{l, r}
	}
	return l, nil
}

func (p *parser) and() (Node, error) {
	l, err := p.not()
	if err != nil {
		return nil, err
	}
	for p.acceptKeyword("AND") {
		r, err := p.not()
		if err != nil {
			return nil, err
		}
		l = &And{l, r}
	}
	return l, nil
}

func (p *parser) not() (Node, error) {
	if t := p.peek(); p.isKeyword(t, "NOT") {
		p.i++
		p.depth++
		defer func() { p.depth-- }()
		if p.depth > MaxDepth {
			return nil, errAt(t.pos, "filter nested deeper than %d", MaxDepth)
		}
		x, err := p.not()
		if err != nil {
			return nil, err
		}
		return &Not{X: x, Pos: t.pos}, nil
	}
	return p.primary()
}

var spatialOps = map[string]bool{"S_INTERSECTS": true, "S_WITHIN": true, "S_CONTAINS": true, "S_DISJOINT": true, "S_DWITHIN": true}
var temporalOps = map[string]bool{"T_INTERSECTS": true, "T_DURING": true, "T_BEFORE": true, "T_AFTER": true}

func (p *parser) primary() (Node, error) {
	t := p.peek()
	if t.kind == tLParen {
		p.i++
		n, err := p.or()
		if err != nil {
			return nil, err
		}
		if _, err := p.expect(tRParen, `")"`); err != nil {
			return nil, err
		}
		return n, nil
	}
	if t.kind == tIdent {
		up := strings.ToUpper(t.text)
		if spatialOps[up] && p.toks[p.i+1].kind == tLParen {
			return p.spatial()
		}
		if temporalOps[up] && p.toks[p.i+1].kind == tLParen {
			return p.temporal()
		}
		if (up == "TRUE" || up == "FALSE") && !p.startsPredicateAfter() {
			p.i++
			return &Bool{V: up == "TRUE", Pos: t.pos}, nil
		}
	}
	return p.predicate()
}

// startsPredicateAfter reports whether the token after the current one makes
// it the left operand of a comparison (TRUE = flag).
func (p *parser) startsPredicateAfter() bool {
	n := p.toks[p.i+1]
	return n.kind == tOp || p.isKeyword(n, "IS") || p.isKeyword(n, "IN") || p.isKeyword(n, "LIKE") ||
		p.isKeyword(n, "BETWEEN") || p.isKeyword(n, "NOT")
}

// operand is a property or a literal.
type operand struct {
	prop  *Prop
	lit   *Literal
	start int
}

func (p *parser) operand() (operand, error) {
	t := p.peek()
	switch t.kind {
	case tQuoted:
		p.i++
		return operand{prop: &Prop{Name: t.text, Pos: t.pos}, start: t.pos}, nil
	case tIdent:
		up := strings.ToUpper(t.text)
		switch up {
		case "TRUE", "FALSE":
			p.i++
			return operand{lit: &Literal{Kind: LitBool, Bool: up == "TRUE", Pos: t.pos}, start: t.pos}, nil
		case "TIMESTAMP", "DATE":
			if p.toks[p.i+1].kind == tLParen {
				tm, err := p.timeLiteral()
				if err != nil {
					return operand{}, err
				}
				return operand{lit: &Literal{Kind: LitTime, Time: tm, Pos: t.pos}, start: t.pos}, nil
			}
		}
		if reserved[up] {
			return operand{}, errAt(t.pos, "expected a property or a value, found keyword %s", up)
		}
		p.i++
		return operand{prop: &Prop{Name: t.text, Pos: t.pos}, start: t.pos}, nil
	case tString:
		p.i++
		return operand{lit: &Literal{Kind: LitString, Str: t.text, Pos: t.pos}, start: t.pos}, nil
	case tNumber:
		p.i++
		f, err := strconv.ParseFloat(t.text, 64)
		if err != nil {
			return operand{}, errAt(t.pos, "%q is not a number", t.text)
		}
		return operand{lit: &Literal{Kind: LitNumber, Num: f, Pos: t.pos}, start: t.pos}, nil
	}
	return operand{}, errAt(t.pos, "expected a property or a value, found %s", describe(t))
}

var reserved = map[string]bool{"AND": true, "OR": true, "NOT": true, "LIKE": true, "IN": true, "BETWEEN": true, "IS": true, "NULL": true}

func (p *parser) literal() (Literal, error) {
	o, err := p.operand()
	if err != nil {
		return Literal{}, err
	}
	if o.lit == nil {
		return Literal{}, errAt(o.start, "expected a value, found property %q", o.prop.Name)
	}
	return *o.lit, nil
}

// predicate parses a comparison, LIKE, BETWEEN, IN or IS NULL: an operand,
// the operator (with NOT where CQL2 allows one) and what the operator takes.
func (p *parser) predicate() (Node, error) {
	left, err := p.operand()
	if err != nil {
		return nil, err
	}
	t := p.next()
	not := false
	if p.isKeyword(t, "NOT") {
		not = true
		t = p.next()
		if !p.isKeyword(t, "LIKE") && !p.isKeyword(t, "IN") && !p.isKeyword(t, "BETWEEN") {
			return nil, errAt(t.pos, "expected LIKE, IN or BETWEEN after NOT, found %s", describe(t))
		}
	}
	if t.kind == tOp {
		return p.comparison(left, t.text)
	}
	var rest func(Prop, bool) (Node, error)
	switch {
	case p.isKeyword(t, "LIKE"):
		rest = p.like
	case p.isKeyword(t, "BETWEEN"):
		rest = p.between
	case p.isKeyword(t, "IN"):
		rest = p.in
	case p.isKeyword(t, "IS"):
		rest = p.isNull
	default:
		return nil, errAt(t.pos, "expected an operator (=, <>, <, >, <=, >=, LIKE, IN, BETWEEN, IS), found %s", describe(t))
	}
	if left.prop == nil {
		return nil, errAt(left.start, "the left side of %s must be a property", strings.ToUpper(t.text))
	}
	return rest(*left.prop, not)
}

// comparison parses the right operand of op; one side must be a property,
// the other a literal (a literal on the left flips the operator).
func (p *parser) comparison(left operand, op string) (Node, error) {
	right, err := p.operand()
	if err != nil {
		return nil, err
	}
	switch {
	case left.prop != nil && right.lit != nil:
		return &Compare{Op: op, Prop: *left.prop, Lit: *right.lit}, nil
	case left.lit != nil && right.prop != nil:
		return &Compare{Op: flip[op], Prop: *right.prop, Lit: *left.lit}, nil
	case left.prop != nil:
		return nil, errAt(right.start, "comparing two properties is not supported")
	default:
		return nil, errAt(left.start, "a comparison needs a property on one side")
	}
}

// like parses the string pattern after LIKE.
func (p *parser) like(prop Prop, not bool) (Node, error) {
	pat, err := p.literal()
	if err != nil {
		return nil, err
	}
	if pat.Kind != LitString {
		return nil, errAt(pat.Pos, "LIKE needs a string pattern")
	}
	return &Like{Prop: prop, Pattern: pat, Not: not}, nil
}

// between parses "lo AND hi" after BETWEEN.
func (p *parser) between(prop Prop, not bool) (Node, error) {
	lo, err := p.literal()
	if err != nil {
		return nil, err
	}
	if a := p.next(); !p.isKeyword(a, "AND") {
		return nil, errAt(a.pos, "expected AND in BETWEEN, found %s", describe(a))
	}
	hi, err := p.literal()
	if err != nil {
		return nil, err
	}
	return &Between{Prop: prop, Lo: lo, Hi: hi, Not: not}, nil
}

// in parses the parenthesised list of at most 1000 literals after IN.
func (p *parser) in(prop Prop, not bool) (Node, error) {
	if _, err := p.expect(tLParen, `"(" after IN`); err != nil {
		return nil, err
	}
	var list []Literal
	for {
		l, err := p.literal()
		if err != nil {
			return nil, err
		}
		list = append(list, l)
		if len(list) > 1000 {
			return nil, errAt(l.Pos, "more than 1000 values in IN")
		}
		sep := p.next()
		if sep.kind == tRParen {
			break
		}
		if sep.kind != tComma {
			return nil, errAt(sep.pos, `expected "," or ")", found %s`, describe(sep))
		}
	}
	return &In{Prop: prop, List: list, Not: not}, nil
}

// isNull parses "[NOT] NULL" after IS.
func (p *parser) isNull(prop Prop, _ bool) (Node, error) {
	isNot := p.acceptKeyword("NOT")
	if n := p.next(); !p.isKeyword(n, "NULL") {
		return nil, errAt(n.pos, "expected NULL, found %s", describe(n))
	}
	return &IsNull{Prop: prop, Not: isNot}, nil
}

var flip = map[string]string{"=": "=", "<>": "<>", "<": ">", ">": "<", "<=": ">=", ">=": "<="}

func (p *parser) spatial() (Node, error) {
	fn := p.next()
	op := strings.ToUpper(fn.text)
	p.next() // (
	a, err := p.spatialArg()
	if err != nil {
		return nil, err
	}
	if _, err := p.expect(tComma, `","`); err != nil {
		return nil, err
	}
	b, err := p.spatialArg()
	if err != nil {
		return nil, err
	}
	n := &Spatial{Op: op, At: fn.pos}
	switch {
	case a.prop != nil && b.geom != nil:
		n.Prop, n.Geom = *a.prop, b.geom
	case a.geom != nil && b.prop != nil:
		n.Prop, n.Geom = *b.prop, a.geom
		// within(literal, prop) is contains(prop, literal) and vice versa.
		switch op {
		case "S_WITHIN":
			n.Op = "S_CONTAINS"
		case "S_CONTAINS":
			n.Op = "S_WITHIN"
		}
	default:
		return nil, errAt(fn.pos, "%s needs a geometry property and a geometry literal", op)
	}
	if op == "S_DWITHIN" {
		if _, err := p.expect(tComma, `"," and a distance in metres`); err != nil {
			return nil, err
		}
		d, err := p.literal()
		if err != nil {
			return nil, err
		}
		if d.Kind != LitNumber || d.Num < 0 || d.Num > 20_100_000 {
			return nil, errAt(d.Pos, "S_DWITHIN distance must be a number of metres from 0 to 20,100,000")
		}
		n.Dist = d.Num
		if p.peek().kind == tComma {
			p.i++
			u := p.next()
			if u.kind != tIdent && u.kind != tString || !(strings.EqualFold(u.text, "meters") || strings.EqualFold(u.text, "metres") || strings.EqualFold(u.text, "m")) {
				return nil, errAt(u.pos, "S_DWITHIN units must be meters")
			}
		}
	}
	if _, err := p.expect(tRParen, `")"`); err != nil {
		return nil, err
	}
	return n, nil
}

type spatialArg struct {
	prop *Prop
	geom geom.T
}

var wktTypes = map[string]bool{"POINT": true, "LINESTRING": true, "POLYGON": true, "MULTIPOINT": true,
	"MULTILINESTRING": true, "MULTIPOLYGON": true, "GEOMETRYCOLLECTION": true}

func (p *parser) spatialArg() (spatialArg, error) {
	t := p.peek()
	if t.kind == tIdent {
		up := strings.ToUpper(t.text)
		if up == "BBOX" || up == "ENVELOPE" {
			return p.bbox()
		}
		if wktTypes[up] {
			return p.wktLiteral()
		}
	}
	if t.kind == tIdent || t.kind == tQuoted {
		p.i++
		return spatialArg{prop: &Prop{Name: t.text, Pos: t.pos}}, nil
	}
	return spatialArg{}, errAt(t.pos, "expected a geometry property or literal, found %s", describe(t))
}

// wktLiteral takes the source text up to the matching parenthesis and hands
// it to go-geom's WKT decoder, then checks ranges.
func (p *parser) wktLiteral() (spatialArg, error) {
	start := p.next()
	if p.peek().kind != tLParen {
		return spatialArg{}, errAt(p.peek().pos, `expected "(" after %s`, strings.ToUpper(start.text))
	}
	depth := 0
	var end token
	for {
		t := p.next()
		switch t.kind {
		case tLParen:
			depth++
		case tRParen:
			depth--
		case tEOF:
			return spatialArg{}, errAt(start.pos, "unterminated %s literal", strings.ToUpper(start.text))
		case tNumber, tComma, tIdent:
		default:
			return spatialArg{}, errAt(t.pos, "unexpected %s in geometry literal", describe(t))
		}
		if depth == 0 {
			end = t
			break
		}
	}
	text := p.src[start.pos : end.pos+1]
	g, err := unmarshalWKT(text)
	if err != nil {
		return spatialArg{}, errAt(start.pos, "invalid %s literal: %v", strings.ToUpper(start.text), err)
	}
	if err := checkGeom(g); err != nil {
		return spatialArg{}, errAt(start.pos, "%v", err)
	}
	return spatialArg{geom: g}, nil
}

func unmarshalWKT(s string) (g geom.T, err error) {
	defer func() {
		if r := recover(); r != nil {
			g, err = nil, fmt.Errorf("malformed")
		}
	}()
	return wkt.Unmarshal(s)
}

// checkGeom applies geomrule's rule for query geometries and sets SRID 4326.
func checkGeom(g geom.T) error {
	if err := geomrule.Check("filter", g, geomrule.Query()); err != nil {
		var ve *problem.ValidationError
		if errors.As(err, &ve) {
			return errors.New(ve.Reason)
		}
		return err
	}
	_, err := geom.SetSRID(g, 4326)
	return err
}

// bbox parses BBOX(minx, miny, maxx, maxy); a box crossing the antimeridian
// (minx > maxx) becomes a MultiPolygon of its two halves.
func (p *parser) bbox() (spatialArg, error) {
	kw := p.next()
	if _, err := p.expect(tLParen, `"(" after BBOX`); err != nil {
		return spatialArg{}, err
	}
	var v []float64
	for {
		l, err := p.literal()
		if err != nil {
			return spatialArg{}, err
		}
		if l.Kind != LitNumber {
			return spatialArg{}, errAt(l.Pos, "BBOX takes numbers")
		}
		v = append(v, l.Num)
		sep := p.next()
		if sep.kind == tRParen {
			break
		}
		if sep.kind != tComma {
			return spatialArg{}, errAt(sep.pos, `expected "," or ")", found %s`, describe(sep))
		}
	}
	if len(v) == 6 {
		v = []float64{v[0], v[1], v[3], v[4]}
	}
	if len(v) != 4 {
		return spatialArg{}, errAt(kw.pos, "BBOX takes 4 (or 6) numbers")
	}
	minx, miny, maxx, maxy := v[0], v[1], v[2], v[3]
	if err := geomrule.BBox(minx, miny, maxx, maxy); err != nil {
		return spatialArg{}, errAt(kw.pos, "BBOX %v", err)
	}
	box := func(x0, x1 float64) *geom.Polygon {
		return geom.NewPolygonFlat(geom.XY, []float64{x0, miny, x1, miny, x1, maxy, x0, maxy, x0, miny}, []int{10}).SetSRID(4326)
	}
	if minx <= maxx {
		return spatialArg{geom: box(minx, maxx)}, nil
	}
	mp := geom.NewMultiPolygon(geom.XY).SetSRID(4326)
	if err := mp.Push(box(minx, 180)); err != nil {
		return spatialArg{}, errAt(kw.pos, "%v", err)
	}
	if err := mp.Push(box(-180, maxx)); err != nil {
		return spatialArg{}, errAt(kw.pos, "%v", err)
	}
	return spatialArg{geom: mp}, nil
}

func (p *parser) timeLiteral() (time.Time, error) {
	kw := p.next()
	p.next() // (
	s, err := p.expect(tString, "a quoted date or timestamp")
	if err != nil {
		return time.Time{}, err
	}
	if _, err := p.expect(tRParen, `")"`); err != nil {
		return time.Time{}, err
	}
	layout := time.RFC3339Nano
	if strings.EqualFold(kw.text, "DATE") {
		layout = time.DateOnly
	}
	tm, err := time.Parse(layout, s.text)
	if err != nil {
		return time.Time{}, errAt(s.pos, "%q is not a valid %s", s.text, strings.ToUpper(kw.text))
	}
	if tm.Year() < 1 || tm.Year() > 9999 {
		return time.Time{}, errAt(s.pos, "year out of range")
	}
	return tm, nil
}

func (p *parser) temporal() (Node, error) {
	fn := p.next()
	op := strings.ToUpper(fn.text)
	p.next() // (
	t := p.next()
	if t.kind != tIdent && t.kind != tQuoted {
		return nil, errAt(t.pos, "%s needs a temporal property first, found %s", op, describe(t))
	}
	n := &Temporal{Op: op, Prop: Prop{Name: t.text, Pos: t.pos}, At: fn.pos}
	if _, err := p.expect(tComma, `","`); err != nil {
		return nil, err
	}
	lt := p.peek()
	switch {
	case p.isKeyword(lt, "TIMESTAMP") || p.isKeyword(lt, "DATE"):
		tm, err := p.timeLiteral()
		if err != nil {
			return nil, err
		}
		n.Start, n.End = &tm, &tm
	case p.isKeyword(lt, "INTERVAL"):
		p.next()
		if _, err := p.expect(tLParen, `"(" after INTERVAL`); err != nil {
			return nil, err
		}
		var bounds [2]*time.Time
		for k := range 2 {
			if k == 1 {
				if _, err := p.expect(tComma, `","`); err != nil {
					return nil, err
				}
			}
			b := p.peek()
			switch {
			case b.kind == tString && b.text == "..":
				p.next()
			case b.kind == tString:
				p.next()
				tm, err := time.Parse(time.RFC3339Nano, b.text)
				if err != nil {
					tm, err = time.Parse(time.DateOnly, b.text)
				}
				if err != nil || tm.Year() < 1 || tm.Year() > 9999 {
					return nil, errAt(b.pos, "%q is not a date, timestamp or \"..\"", b.text)
				}
				bounds[k] = &tm
			case p.isKeyword(b, "TIMESTAMP") || p.isKeyword(b, "DATE"):
				tm, err := p.timeLiteral()
				if err != nil {
					return nil, err
				}
				bounds[k] = &tm
			default:
				return nil, errAt(b.pos, "expected an interval bound, found %s", describe(b))
			}
		}
		if _, err := p.expect(tRParen, `")"`); err != nil {
			return nil, err
		}
		n.Start, n.End = bounds[0], bounds[1]
		if n.Start != nil && n.End != nil && n.End.Before(*n.Start) {
			return nil, errAt(lt.pos, "interval ends before it starts")
		}
	default:
		return nil, errAt(lt.pos, "expected TIMESTAMP, DATE or INTERVAL, found %s", describe(lt))
	}
	if _, err := p.expect(tRParen, `")"`); err != nil {
		return nil, err
	}
	return n, nil
}
