package search

import (
	"encoding/json"
	"math"
	"strings"
	"time"
)

// Filter is one node of a filter tree. Compile returns a boolean SQL
// expression over the documents table aliased "d", binding every value in a.
// Implementations are the types of this file; they are built only by the
// parsers (or by code in this package), which validate them first.
type Filter interface {
	Compile(a *Args) string
}

// And is true when every child is (true when empty).
type And []Filter

// Or is true when any child is (false when empty).
type Or []Filter

// Not negates its child.
type Not struct{ F Filter }

// Compile implements Filter.
func (f And) Compile(a *Args) string { return join(f, a, " AND ", "TRUE") }

// Compile implements Filter.
func (f Or) Compile(a *Args) string { return join(f, a, " OR ", "FALSE") }

// Compile implements Filter.
func (f Not) Compile(a *Args) string { return "NOT (" + f.F.Compile(a) + ")" }

func join(fs []Filter, a *Args, sep, empty string) string {
	switch len(fs) {
	case 0:
		return empty
	case 1:
		return fs[0].Compile(a)
	}
	parts := make([]string, len(fs))
	for i, f := range fs {
		parts[i] = "(" + f.Compile(a) + ")"
	}
	return strings.Join(parts, sep)
}

// TagsOp is how a tags filter compares the document's tags with its values.
type TagsOp string

// Tags operators; all three are answered by the GIN index on tags.
const (
	TagsAll    TagsOp = "all"    // the document has every value (@>)
	TagsAny    TagsOp = "any"    // the document has at least one value (&&)
	TagsWithin TagsOp = "within" // every tag of the document is among the values (<@)
)

// Tags filters on the tags array.
type Tags struct {
	Op     TagsOp
	Values []string
}

// Compile implements Filter.
func (f Tags) Compile(a *Args) string {
	p := a.Add(f.Values)
	switch f.Op {
	case TagsAny:
		return "d.tags && " + p + "::text[]"
	case TagsWithin:
		return "d.tags <@ " + p + "::text[]"
	default:
		return "d.tags @> " + p + "::text[]"
	}
}

// KeysOp is a props key-existence test.
type KeysOp string

// Key-existence operators on the top level of props.
const (
	HasKey KeysOp = "has"
	HasAny KeysOp = "has_any"
	HasAll KeysOp = "has_all"
)

// PropsKeys tests which top-level keys props has.
type PropsKeys struct {
	Op   KeysOp
	Keys []string
}

// Compile implements Filter.
func (f PropsKeys) Compile(a *Args) string {
	switch f.Op {
	case HasAny:
		return "d.props ?| " + a.Add(f.Keys) + "::text[]"
	case HasAll:
		return "d.props ?& " + a.Add(f.Keys) + "::text[]"
	default:
		return "d.props ? " + a.Add(f.Keys[0]) + "::text"
	}
}

// PropsContains is JSON containment: props @> Value (GIN jsonb_path_ops).
type PropsContains struct {
	// Value is a JSON object, already validated.
	Value json.RawMessage
}

// Compile implements Filter.
func (f PropsContains) Compile(a *Args) string {
	return "d.props @> " + a.Add(string(f.Value)) + "::jsonb"
}

// CmpOp is a comparison operator of a props path condition.
type CmpOp string

// Comparison operators.
const (
	OpEq CmpOp = "=="
	OpNe CmpOp = "!="
	OpLt CmpOp = "<"
	OpLe CmpOp = "<="
	OpGt CmpOp = ">"
	OpGe CmpOp = ">="
)

// PropsCompare compares the JSON value at Path inside props with Value.
//
// == and != compile to JSON containment (props @> {"a":{"b":v}}), which the
// GIN index answers; != is its negation, so it also matches documents without
// the key. Ordering comparisons compile to jsonb_path_match with the value
// passed as a jsonpath variable: they are true only when the path exists and
// holds a value of the same JSON type (numbers with numbers, strings with
// strings); in lax mode an array at the path matches when any element does.
type PropsCompare struct {
	Path  []string
	Op    CmpOp
	Value any // float64, string, bool or nil (JSON null), validated
}

// Compile implements Filter.
func (f PropsCompare) Compile(a *Args) string {
	switch f.Op {
	case OpEq, OpNe:
		var v any = f.Value
		for i := len(f.Path) - 1; i >= 0; i-- {
			v = map[string]any{f.Path[i]: v}
		}
		b, _ := json.Marshal(v) // maps of strings and JSON scalars always marshal
		s := "d.props @> " + a.Add(string(b)) + "::jsonb"
		if f.Op == OpNe {
			return "NOT (" + s + ")"
		}
		return s
	}
	vars, _ := json.Marshal(map[string]any{"v": f.Value})
	return "coalesce(jsonb_path_match(d.props, " + a.Add(JSONPath(f.Path)+" "+string(f.Op)+" $v") + "::jsonpath, " +
		a.Add(string(vars)) + "::jsonb, true), false)"
}

// JSONPath renders a validated props path as a strict-syntax jsonpath whose
// keys are quoted JSON strings: $."specs"."memory". The path text is always
// bound as a parameter, never spliced into SQL.
func JSONPath(path []string) string {
	var b strings.Builder
	b.WriteString("$")
	for _, k := range path {
		q, _ := json.Marshal(k)
		b.WriteString(".")
		b.Write(q)
	}
	return b.String()
}

// Range is a time range with explicit bounds. A nil Lower or Upper is
// unbounded on that side.
type Range struct {
	Lower, Upper       *time.Time
	LowerInc, UpperInc bool
}

// Bounds is the range's bounds in PostgreSQL's notation, e.g. "[)".
func (r Range) Bounds() string {
	s := "("
	if r.LowerInc {
		s = "["
	}
	if r.UpperInc {
		return s + "]"
	}
	return s + ")"
}

func (r Range) compile(a *Args) string {
	return "tstzrange(" + a.Add(r.Lower) + "::timestamptz, " + a.Add(r.Upper) + "::timestamptz, " + a.Add(r.Bounds()) + "::text)"
}

// PeriodOp is how the document's period relates to the filter's range.
type PeriodOp string

// Period operators; every one is answered by the GiST index on period.
// Documents without a period never match.
const (
	PeriodOverlaps PeriodOp = "overlaps" // &&
	PeriodContains PeriodOp = "contains" // @> (an instant or a range)
	PeriodWithin   PeriodOp = "within"   // <@ (contained by)
	PeriodBefore   PeriodOp = "before"   // << (strictly before)
	PeriodAfter    PeriodOp = "after"    // >> (strictly after)
	PeriodAdjacent PeriodOp = "adjacent" // -|-
)

// Period filters on the period column.
type Period struct {
	Op PeriodOp
	// Instant is set (and Range ignored) for "contains an instant".
	Instant *time.Time
	Range   Range
}

// Compile implements Filter.
func (f Period) Compile(a *Args) string {
	if f.Op == PeriodContains && f.Instant != nil {
		return "d.period @> " + a.Add(*f.Instant) + "::timestamptz"
	}
	op := map[PeriodOp]string{
		PeriodOverlaps: "&&", PeriodContains: "@>", PeriodWithin: "<@",
		PeriodBefore: "<<", PeriodAfter: ">>", PeriodAdjacent: "-|-",
	}[f.Op]
	return "d.period " + op + " " + f.Range.compile(a)
}

// TimeField is a timestamp column a Window may restrict.
type TimeField string

// The timestamp columns.
const (
	Created TimeField = "created_at"
	Updated TimeField = "updated_at"
)

// Window restricts created_at or updated_at to the half-open interval
// [From, To), written as two plain comparisons so the (collection_id,
// created_at) and (collection_id, updated_at) btrees answer it.
type Window struct {
	Field    TimeField
	From, To *time.Time
}

// Compile implements Filter.
func (f Window) Compile(a *Args) string {
	col := "d.created_at"
	if f.Field == Updated {
		col = "d.updated_at"
	}
	var parts []string
	if f.From != nil {
		parts = append(parts, col+" >= "+a.Add(*f.From)+"::timestamptz")
	}
	if f.To != nil {
		parts = append(parts, col+" < "+a.Add(*f.To)+"::timestamptz")
	}
	if len(parts) == 0 {
		return "TRUE"
	}
	return strings.Join(parts, " AND ")
}

// BBox is a lon/lat box. MinX > MaxX means the box crosses the antimeridian.
type BBox struct {
	MinX, MinY, MaxX, MaxY float64
}

// Compile implements Filter.
func (f BBox) Compile(a *Args) string {
	env := func(x0, x1 float64) string {
		return "ST_MakeEnvelope(" + a.Add(x0) + "::float8, " + a.Add(f.MinY) + "::float8, " + a.Add(x1) + "::float8, " + a.Add(f.MaxY) + "::float8, 4326)"
	}
	if f.MinX <= f.MaxX {
		return "ST_Intersects(d.geom, " + env(f.MinX, f.MaxX) + ")"
	}
	return "(ST_Intersects(d.geom, " + env(f.MinX, 180) + ") OR ST_Intersects(d.geom, " + env(-180, f.MaxX) + "))"
}

// Near is true for documents whose geometry lies within Metres of the point,
// measured on the spheroid (geography ST_DWithin).
type Near struct {
	Lon, Lat, Metres float64
}

// Compile implements Filter. The geography test alone cannot use the
// geometry GiST index, so it is preceded by a conservative lon/lat box around
// the point (a geometry within Metres of the point has a vertex or edge point
// inside that box, so the box test never drops a true hit).
func (f Near) Compile(a *Args) string {
	pre := "d.geom IS NOT NULL"
	if box, ok := f.box(); ok {
		pre = box.Compile(a)
	}
	pt := "ST_SetSRID(ST_MakePoint(" + a.Add(f.Lon) + "::float8, " + a.Add(f.Lat) + "::float8), 4326)"
	return pre + " AND ST_DWithin(d.geom::geography, " + pt + "::geography, " + a.Add(f.Metres) + "::float8)"
}

// box returns the prefilter box, or false when it would cover (nearly) the
// whole globe or wrap a pole, where it would not help.
func (f Near) box() (BBox, bool) {
	// 110,574 m is the shortest degree of latitude (at the equator); pad 1%.
	dLat := f.Metres / 110574 * 1.01
	maxLat := math.Abs(f.Lat) + dLat
	if maxLat >= 89 {
		return BBox{}, false
	}
	dLon := f.Metres / (111320 * math.Cos(maxLat*math.Pi/180)) * 1.01
	if dLon >= 179 {
		return BBox{}, false
	}
	b := BBox{MinX: f.Lon - dLon, MaxX: f.Lon + dLon, MinY: f.Lat - dLat, MaxY: f.Lat + dLat}
	if b.MinX < -180 {
		b.MinX += 360
	}
	if b.MaxX > 180 {
		b.MaxX -= 360
	}
	return b, true
}

// Intersects is true for documents whose geometry intersects a GeoJSON
// geometry, given as WKB (lon/lat, SRID 4326 is applied). ST_MakeValid keeps
// a self-intersecting polygon from raising a topology error.
type Intersects struct {
	WKB []byte
}

// Compile implements Filter.
func (f Intersects) Compile(a *Args) string {
	return "ST_Intersects(d.geom, ST_MakeValid(ST_GeomFromWKB(" + a.Add(f.WKB) + "::bytea, 4326)))"
}
