package cql2

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/twpayne/go-geom"
	"github.com/twpayne/go-geom/encoding/wkb"
)

// Env says what a filter may refer to.
type Env struct {
	// PropKeys reports whether a key of the documents' props is queryable;
	// any other name that is not a column is an unknown property. nil allows
	// every key (props keys travel as arguments, so this is about telling
	// users of typos, not about safety).
	PropKeys func(key string) bool
}

// colKind is the type of a column the filter can name.
type colKind int

const (
	kText colKind = iota
	kInt
	kTime
	kTags
	kPeriod
	kGeom
	kProps
)

type column struct {
	expr string // fixed SQL, never from the request
	kind colKind
}

// columns is the allow-list. The SQL refers to the documents table as "d".
var columns = map[string]column{
	"id":          {"d.id", kInt},
	"title":       {"d.title", kText},
	"body":        {"d.body", kText},
	"external_id": {"d.external_id", kText},
	"tags":        {"d.tags", kTags},
	"created":     {"d.created_at", kTime},
	"created_at":  {"d.created_at", kTime},
	"updated":     {"d.updated_at", kTime},
	"updated_at":  {"d.updated_at", kTime},
	"datetime":    {"d.period", kPeriod},
	"period":      {"d.period", kPeriod},
	"start":       {"lower(d.period)", kTime},
	"end":         {"upper(d.period)", kTime},
	"geometry":    {"d.geom", kGeom},
	"geom":        {"d.geom", kGeom},
}

// Queryables lists the fixed property names with a JSON Schema type, for
// /collections/{c}/queryables.
func Queryables() map[string]string {
	out := map[string]string{}
	for name, c := range columns {
		switch c.kind {
		case kText:
			out[name] = "string"
		case kInt:
			out[name] = "integer"
		case kTime, kPeriod:
			out[name] = "date-time"
		case kTags:
			out[name] = "array"
		case kGeom:
			out[name] = "geometry"
		}
	}
	return out
}

// Filter is a compiled filter.
type Filter struct {
	// SQL is a boolean expression over the documents table aliased "d".
	SQL string
	// Args are the values of its placeholders.
	Args []any
	// Spatial: a predicate on the geometry that can use its GiST index
	// (S_INTERSECTS, S_WITHIN, S_CONTAINS, S_DWITHIN) appears somewhere in
	// it. The caller's plan choices for a bbox then apply too.
	Spatial bool
}

// Compile parses src and returns it as SQL whose placeholders start at
// $firstArg. Errors are *Error carrying the byte offset.
func Compile(src string, env Env, firstArg int) (*Filter, error) {
	n, err := Parse(src)
	if err != nil {
		return nil, err
	}
	c := &compiler{env: env, first: firstArg}
	var sb strings.Builder
	if err := c.node(&sb, n); err != nil {
		return nil, err
	}
	return &Filter{SQL: sb.String(), Args: c.args, Spatial: c.spatialIndexed}, nil
}

type compiler struct {
	env            Env
	first          int
	args           []any
	spatialIndexed bool
}

func (c *compiler) arg(v any) string {
	c.args = append(c.args, v)
	return "$" + strconv.Itoa(c.first+len(c.args)-1)
}

func (c *compiler) resolve(p Prop) (column, string, error) {
	if col, ok := columns[strings.ToLower(p.Name)]; ok {
		return col, "", nil
	}
	key := p.Name
	if k, ok := strings.CutPrefix(key, "props."); ok {
		key = k
	}
	if key == "" || c.env.PropKeys != nil && !c.env.PropKeys(key) {
		return column{}, "", errAt(p.Pos, "unknown property %q", p.Name)
	}
	return column{kind: kProps}, key, nil
}

func (c *compiler) node(sb *strings.Builder, n Node) error {
	switch n := n.(type) {
	case *And:
		return c.binary(sb, n.L, n.R, " AND ")
	case *Or:
		return c.binary(sb, n.L, n.R, " OR ")
	case *Not:
		sb.WriteString("NOT (")
		if err := c.node(sb, n.X); err != nil {
			return err
		}
		sb.WriteString(")")
	case *Bool:
		if n.V {
			sb.WriteString("TRUE")
		} else {
			sb.WriteString("FALSE")
		}
	case *Compare:
		return c.compare(sb, n.Prop, n.Op, n.Lit)
	case *Between:
		if n.Not {
			sb.WriteString("NOT ")
		}
		sb.WriteString("(")
		if err := c.compare(sb, n.Prop, ">=", n.Lo); err != nil {
			return err
		}
		sb.WriteString(" AND ")
		if err := c.compare(sb, n.Prop, "<=", n.Hi); err != nil {
			return err
		}
		sb.WriteString(")")
	case *Like:
		return c.like(sb, n)
	case *In:
		return c.in(sb, n)
	case *IsNull:
		return c.isNull(sb, n)
	case *Spatial:
		return c.spatial(sb, n)
	case *Temporal:
		return c.temporal(sb, n)
	default:
		return errAt(n.pos(), "unsupported expression")
	}
	return nil
}

func (c *compiler) binary(sb *strings.Builder, l, r Node, op string) error {
	sb.WriteString("(")
	if err := c.node(sb, l); err != nil {
		return err
	}
	sb.WriteString(op)
	if err := c.node(sb, r); err != nil {
		return err
	}
	sb.WriteString(")")
	return nil
}

func kindName(k LitKind) string {
	return [...]string{"a string", "a number", "a boolean", "a timestamp"}[k]
}

// propsText is the props value as text; the key is an argument.
func (c *compiler) propsText(key string) string {
	return "(d.props->>" + c.arg(key) + "::text)"
}

// propsNumber is the props value as numeric when it is a JSON number and
// NULL otherwise, so a string in one row cannot make the query fail.
func (c *compiler) propsNumber(key string) string {
	k := c.arg(key)
	return "(CASE WHEN jsonb_typeof(d.props->" + k + "::text) = 'number' THEN (d.props->>" + k + "::text)::numeric END)"
}

func jsonContains(key string, v any) string {
	b, _ := json.Marshal(map[string]any{key: v}) // strings, floats and bools always marshal
	return string(b)
}

func (c *compiler) compare(sb *strings.Builder, p Prop, op string, lit Literal) error {
	col, key, err := c.resolve(p)
	if err != nil {
		return err
	}
	mismatch := func(want string) error {
		return errAt(lit.Pos, "%s is compared with %s; it needs %s", p.Name, kindName(lit.Kind), want)
	}
	switch col.kind {
	case kText:
		if lit.Kind != LitString {
			return mismatch("a string")
		}
		fmt.Fprintf(sb, "%s %s %s::text", col.expr, op, c.arg(lit.Str))
	case kInt:
		if lit.Kind != LitNumber || lit.Num != math.Trunc(lit.Num) || math.Abs(lit.Num) > 1<<53 {
			return mismatch("an integer")
		}
		fmt.Fprintf(sb, "%s %s %s::bigint", col.expr, op, c.arg(int64(lit.Num)))
	case kTime:
		t, err := asTime(lit)
		if err != nil {
			return mismatch("a TIMESTAMP or DATE")
		}
		fmt.Fprintf(sb, "%s %s %s::timestamptz", col.expr, op, c.arg(t))
	case kPeriod:
		t, err := asTime(lit)
		if err != nil {
			return mismatch("a TIMESTAMP or DATE")
		}
		// A comparison on the period compares its start, as "datetime"
		// does for instants.
		fmt.Fprintf(sb, "lower(d.period) %s %s::timestamptz", op, c.arg(t))
	case kTags:
		if lit.Kind != LitString || (op != "=" && op != "<>") {
			return errAt(lit.Pos, "tags supports = and <> with a string (tag membership), IN and IS NULL")
		}
		if op == "<>" {
			sb.WriteString("NOT ")
		}
		fmt.Fprintf(sb, "(d.tags @> ARRAY[%s::text])", c.arg(lit.Str))
	case kGeom:
		return errAt(p.Pos, "use a spatial function (S_INTERSECTS, ...) on %s", p.Name)
	case kProps:
		switch lit.Kind {
		case LitString, LitNumber, LitBool:
		default:
			return errAt(lit.Pos, "props values compare with strings, numbers or booleans")
		}
		if op == "=" {
			// Containment uses the GIN (jsonb_path_ops) index on props.
			var v any = lit.Str
			switch lit.Kind {
			case LitNumber:
				v = lit.Num
			case LitBool:
				v = lit.Bool
			}
			fmt.Fprintf(sb, "d.props @> %s::jsonb", c.arg(jsonContains(key, v)))
			return nil
		}
		switch lit.Kind {
		case LitString:
			fmt.Fprintf(sb, "%s %s %s::text", c.propsText(key), op, c.arg(lit.Str))
		case LitNumber:
			fmt.Fprintf(sb, "%s %s %s::numeric", c.propsNumber(key), op, c.arg(lit.Num))
		case LitBool:
			if op != "<>" {
				return errAt(lit.Pos, "booleans support = and <> only")
			}
			fmt.Fprintf(sb, "(d.props->%s::text) <> to_jsonb(%s::boolean)", c.arg(key), c.arg(lit.Bool))
		}
	}
	return nil
}

func asTime(l Literal) (time.Time, error) {
	switch l.Kind {
	case LitTime:
		return l.Time, nil
	case LitString:
		if t, err := time.Parse(time.RFC3339Nano, l.Str); err == nil {
			return t, nil
		}
		return time.Parse(time.DateOnly, l.Str)
	}
	return time.Time{}, fmt.Errorf("not a time")
}

func (c *compiler) like(sb *strings.Builder, n *Like) error {
	col, key, err := c.resolve(n.Prop)
	if err != nil {
		return err
	}
	var expr string
	switch col.kind {
	case kText:
		expr = col.expr
	case kProps:
		expr = c.propsText(key)
	default:
		return errAt(n.Prop.Pos, "LIKE applies to text properties; %s is not one", n.Prop.Name)
	}
	// Backslash escapes the wildcards % and _ (as in SQL); a pattern ending
	// in an unpaired backslash is malformed.
	trailing := len(n.Pattern.Str) - len(strings.TrimRight(n.Pattern.Str, `\`))
	if trailing%2 == 1 {
		return errAt(n.Pattern.Pos, "a LIKE pattern must not end with an escape character (\\)")
	}
	not := ""
	if n.Not {
		not = "NOT "
	}
	fmt.Fprintf(sb, "%s %sLIKE %s::text", expr, not, c.arg(n.Pattern.Str))
	return nil
}

func (c *compiler) in(sb *strings.Builder, n *In) error {
	col, key, err := c.resolve(n.Prop)
	if err != nil {
		return err
	}
	kind := n.List[0].Kind
	for _, l := range n.List {
		if l.Kind != kind {
			return errAt(l.Pos, "IN values must all be of one type")
		}
	}
	if n.Not {
		sb.WriteString("NOT ")
	}
	strs := func() []string {
		s := make([]string, len(n.List))
		for i, l := range n.List {
			s[i] = l.Str
		}
		return s
	}
	switch {
	case col.kind == kText && kind == LitString:
		fmt.Fprintf(sb, "(%s = ANY(%s::text[]))", col.expr, c.arg(strs()))
	case col.kind == kTags && kind == LitString:
		fmt.Fprintf(sb, "(d.tags && %s::text[])", c.arg(strs()))
	case col.kind == kInt && kind == LitNumber:
		ids := make([]int64, len(n.List))
		for i, l := range n.List {
			if l.Num != math.Trunc(l.Num) || math.Abs(l.Num) > 1<<53 {
				return errAt(l.Pos, "%s needs integers", n.Prop.Name)
			}
			ids[i] = int64(l.Num)
		}
		fmt.Fprintf(sb, "(%s = ANY(%s::bigint[]))", col.expr, c.arg(ids))
	case col.kind == kProps && kind == LitString:
		fmt.Fprintf(sb, "(%s = ANY(%s::text[]))", c.propsText(key), c.arg(strs()))
	case col.kind == kProps && kind == LitNumber:
		nums := make([]float64, len(n.List))
		for i, l := range n.List {
			nums[i] = l.Num
		}
		fmt.Fprintf(sb, "(%s = ANY(%s::numeric[]))", c.propsNumber(key), c.arg(nums))
	default:
		return errAt(n.List[0].Pos, "IN on %s does not take %s", n.Prop.Name, kindName(kind))
	}
	return nil
}

func (c *compiler) isNull(sb *strings.Builder, n *IsNull) error {
	col, key, err := c.resolve(n.Prop)
	if err != nil {
		return err
	}
	var expr string
	switch col.kind {
	case kTags:
		expr = "(cardinality(d.tags) = 0)"
	case kProps:
		k := c.arg(key)
		expr = "(d.props->" + k + "::text IS NULL OR d.props->" + k + "::text = 'null'::jsonb)"
	default:
		expr = "(" + col.expr + " IS NULL)"
	}
	if n.Not {
		sb.WriteString("NOT ")
	}
	sb.WriteString(expr)
	return nil
}

func (c *compiler) spatial(sb *strings.Builder, n *Spatial) error {
	col, _, err := c.resolve(n.Prop)
	if err != nil {
		return err
	}
	if col.kind != kGeom {
		return errAt(n.Prop.Pos, "%s is not a geometry property (use geometry)", n.Prop.Name)
	}
	b, err := wkb.Marshal(n.Geom, binary.LittleEndian)
	if err != nil {
		return errAt(n.At, "geometry literal: %v", err)
	}
	g := "ST_GeomFromWKB(" + c.arg(b) + "::bytea, 4326)"
	c.spatialIndexed = c.spatialIndexed || n.Op != "S_DISJOINT"
	switch n.Op {
	case "S_INTERSECTS":
		fmt.Fprintf(sb, "ST_Intersects(d.geom, %s)", g)
	case "S_WITHIN":
		fmt.Fprintf(sb, "ST_Within(d.geom, %s)", g)
	case "S_CONTAINS":
		fmt.Fprintf(sb, "ST_Contains(d.geom, %s)", g)
	case "S_DISJOINT":
		fmt.Fprintf(sb, "ST_Disjoint(d.geom, %s)", g)
	case "S_DWITHIN":
		// The planar test in degrees uses the GiST index and never drops a
		// match (its radius bounds the metres at the literal's highest
		// latitude); the geography test is exact.
		fmt.Fprintf(sb, "(ST_DWithin(d.geom, %s, %s::float8) AND ST_DWithin(d.geom::geography, %s::geography, %s::float8))",
			g, c.arg(degreesFor(n.Geom, n.Dist)), g, c.arg(n.Dist))
	default:
		return errAt(n.At, "unsupported spatial function %s", n.Op)
	}
	return nil
}

// degreesFor bounds dist metres in degrees around g.
func degreesFor(g geom.T, dist float64) float64 {
	maxLat := 0.0
	b := g.Bounds()
	maxLat = math.Max(math.Abs(b.Min(1)), math.Abs(b.Max(1)))
	latDeg := dist / 110_574
	lat := math.Min(89.9, maxLat+latDeg)
	d := dist / (111_320 * math.Cos(lat*math.Pi/180))
	return math.Min(360, math.Max(d, latDeg)*1.01)
}

func (c *compiler) temporal(sb *strings.Builder, n *Temporal) error {
	col, _, err := c.resolve(n.Prop)
	if err != nil {
		return err
	}
	var left string
	switch col.kind {
	case kPeriod:
		left = "d.period"
	case kTime:
		left = "tstzrange(" + col.expr + ", " + col.expr + ", '[]')"
	default:
		return errAt(n.Prop.Pos, "%s is not a temporal property (use datetime)", n.Prop.Name)
	}
	var lo, hi any
	if n.Start != nil {
		lo = *n.Start
	}
	if n.End != nil {
		hi = *n.End
	}
	r := "tstzrange(" + c.arg(lo) + "::timestamptz, " + c.arg(hi) + "::timestamptz, '[]')"
	op := map[string]string{"T_INTERSECTS": "&&", "T_DURING": "<@", "T_BEFORE": "<<", "T_AFTER": ">>"}[n.Op]
	fmt.Fprintf(sb, "(%s %s %s)", left, op, r)
	return nil
}
