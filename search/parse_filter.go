package search

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/twpayne/go-geom/encoding/wkb"

	"github.com/geoseek/geoseek/internal/geomrule"
	"github.com/geoseek/geoseek/internal/problem"
)

// Limits on filters, so one request cannot make an unbounded statement.
const (
	MaxFilterDepth  = 12
	MaxFilterNodes  = 200
	MaxFilterValues = 1000 // values in one tags/keys list
	MaxStringLen    = 1024 // one tag, key or string value, in bytes
	MaxPathDepth    = 16
	MaxGeoJSONBytes = 1 << 20
	MaxGeoVertices  = geomrule.MaxQueryVertices
)

// filterParser turns the JSON filter syntax into a Filter tree. A node is an
// object with exactly one member naming its operator:
//
//	{"and": [node, ...]}            {"or": [node, ...]}        {"not": node}
//	{"tags": {"all"|"any"|"within": ["a", "b"]}}
//	{"props": {"has": "k"}}  {"props": {"has_any"|"has_all": ["k1","k2"]}}
//	{"props": {"contains": {"brand": "acme"}}}
//	{"prop": {"path": "specs.memory", "op": ">=", "value": 16}}  (or "specs.memory >= 16")
//	{"period": {"op": "overlaps|contains|within|before|after|adjacent",
//	            "from": t|null, "to": t|null, "bounds": "[)"}}   ("at": t for contains an instant)
//	{"bbox": [minLon, minLat, maxLon, maxLat]}
//	{"near": {"lon": x, "lat": y, "metres": m}}
//	{"intersects": <GeoJSON geometry>}
//	{"created"|"updated": {"from": t, "to": t}}     (half-open [from, to))
type filterParser struct {
	nodes int
}

// ParseFilterJSON parses a filter tree from its JSON form. field names the
// input in errors ("filter").
func ParseFilterJSON(field string, data []byte) (Filter, error) {
	p := &filterParser{}
	return p.node(field, data, 0)
}

func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	// dec.More is false before a stray ']' or '}', so ask for the next
	// token: only the end of the input is fine.
	if _, err := dec.Token(); err != io.EOF {
		return errTrailing
	}
	return nil
}

var errTrailing = problem.Invalid("", "unexpected data after the JSON value")

func jsonProblem(field string, err error) error {
	if ve, ok := err.(*problem.ValidationError); ok {
		ve.Field = field
		return ve
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return problem.InvalidAt(field, int(se.Offset), "invalid JSON: %v", err)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		f := field
		if te.Field != "" {
			f += "." + te.Field
		}
		return problem.InvalidAt(f, int(te.Offset), "expected %s, got JSON %s", te.Type, te.Value)
	}
	return problem.Invalid(field, "invalid JSON: %v", err)
}

func (p *filterParser) node(field string, data []byte, depth int) (Filter, error) {
	if depth > MaxFilterDepth {
		return nil, problem.Invalid(field, "filter nested deeper than %d levels", MaxFilterDepth)
	}
	p.nodes++
	if p.nodes > MaxFilterNodes {
		return nil, problem.Invalid(field, "filter has more than %d conditions", MaxFilterNodes)
	}
	var obj map[string]json.RawMessage
	if err := decodeStrict(data, &obj); err != nil {
		return nil, jsonProblem(field, err)
	}
	if len(obj) != 1 {
		return nil, problem.Invalid(field, "a filter node is an object with exactly one operator member, got %d members", len(obj))
	}
	for op, raw := range obj {
		f := field + "." + op
		switch op {
		case "and", "or":
			var kids []json.RawMessage
			if err := decodeStrict(raw, &kids); err != nil {
				return nil, jsonProblem(f, err)
			}
			if len(kids) == 0 {
				return nil, problem.Invalid(f, "needs at least one condition")
			}
			out := make([]Filter, 0, len(kids))
			for i, k := range kids {
				c, err := p.node(f+"["+strconv.Itoa(i)+"]", k, depth+1)
				if err != nil {
					return nil, err
				}
				out = append(out, c)
			}
			if op == "and" {
				return And(out), nil
			}
			return Or(out), nil
		case "not":
			c, err := p.node(f, raw, depth+1)
			if err != nil {
				return nil, err
			}
			return Not{F: c}, nil
		case "tags":
			return parseTagsJSON(f, raw)
		case "props":
			return parsePropsJSON(f, raw)
		case "prop":
			return parsePropJSON(f, raw)
		case "period":
			return parsePeriodJSON(f, raw)
		case "bbox":
			var v []float64
			if err := decodeStrict(raw, &v); err != nil {
				return nil, jsonProblem(f, err)
			}
			return newBBox(f, v)
		case "near":
			var v struct {
				Lon, Lat *float64
				Metres   *float64 `json:"metres"`
			}
			if err := decodeStrict(raw, &v); err != nil {
				return nil, jsonProblem(f, err)
			}
			if v.Lon == nil || v.Lat == nil || v.Metres == nil {
				return nil, problem.Invalid(f, `needs "lon", "lat" and "metres"`)
			}
			return newNear(f, *v.Lon, *v.Lat, *v.Metres)
		case "intersects":
			return parseGeoJSON(f, raw)
		case "created", "updated":
			var v struct{ From, To *string }
			if err := decodeStrict(raw, &v); err != nil {
				return nil, jsonProblem(f, err)
			}
			return newWindow(f, op, v.From, v.To)
		default:
			return nil, problem.Invalid(field, "unknown filter operator %q (want and, or, not, tags, props, prop, period, bbox, near, intersects, created, updated)", op)
		}
	}
	panic("unreachable")
}

func parseTagsJSON(f string, raw json.RawMessage) (Filter, error) {
	var v map[string][]string
	if err := decodeStrict(raw, &v); err != nil {
		return nil, jsonProblem(f, err)
	}
	if len(v) != 1 {
		return nil, problem.Invalid(f, `needs exactly one of "all", "any", "within"`)
	}
	for op, vals := range v {
		return newTags(f+"."+op, op, vals)
	}
	panic("unreachable")
}

func newTags(f, op string, vals []string) (Filter, error) {
	switch TagsOp(op) {
	case TagsAll, TagsAny, TagsWithin:
	default:
		return nil, problem.Invalid(f, `unknown tags operator %q (want all, any or within)`, op)
	}
	if err := checkStrings(f, vals, false); err != nil {
		return nil, err
	}
	if vals == nil {
		vals = []string{}
	}
	return Tags{Op: TagsOp(op), Values: vals}, nil
}

// checkStrings validates a list of tags or keys: bounded, valid UTF-8, no NUL
// (PostgreSQL text cannot hold it).
func checkStrings(f string, vals []string, nonEmpty bool) error {
	if len(vals) > MaxFilterValues {
		return problem.Invalid(f, "more than %d values", MaxFilterValues)
	}
	if nonEmpty && len(vals) == 0 {
		return problem.Invalid(f, "needs at least one value")
	}
	for i, s := range vals {
		if err := checkString(f+"["+strconv.Itoa(i)+"]", s); err != nil {
			return err
		}
	}
	return nil
}

func checkString(f, s string) error {
	if len(s) > MaxStringLen {
		return problem.Invalid(f, "longer than %d bytes", MaxStringLen)
	}
	if !utf8.ValidString(s) {
		return problem.Invalid(f, "not valid UTF-8")
	}
	if i := strings.IndexByte(s, 0); i >= 0 {
		return problem.InvalidAt(f, i, "NUL character not allowed")
	}
	return nil
}

func parsePropsJSON(f string, raw json.RawMessage) (Filter, error) {
	var v map[string]json.RawMessage
	if err := decodeStrict(raw, &v); err != nil {
		return nil, jsonProblem(f, err)
	}
	if len(v) != 1 {
		return nil, problem.Invalid(f, `needs exactly one of "has", "has_any", "has_all", "contains"`)
	}
	for op, val := range v {
		ff := f + "." + op
		switch op {
		case "has":
			var k string
			if err := decodeStrict(val, &k); err != nil {
				return nil, jsonProblem(ff, err)
			}
			if err := checkString(ff, k); err != nil {
				return nil, err
			}
			return PropsKeys{Op: HasKey, Keys: []string{k}}, nil
		case "has_any", "has_all":
			var ks []string
			if err := decodeStrict(val, &ks); err != nil {
				return nil, jsonProblem(ff, err)
			}
			if err := checkStrings(ff, ks, true); err != nil {
				return nil, err
			}
			return PropsKeys{Op: KeysOp(op), Keys: ks}, nil
		case "contains":
			return newContains(ff, val)
		default:
			return nil, problem.Invalid(f, `unknown props operator %q (want has, has_any, has_all or contains)`, op)
		}
	}
	panic("unreachable")
}

// newContains validates a containment object: a JSON object whose strings
// hold no NUL (jsonb rejects \u0000), re-encoded compactly.
func newContains(f string, raw []byte) (Filter, error) {
	var v any
	if err := decodeStrict(raw, &v); err != nil {
		return nil, jsonProblem(f, err)
	}
	if _, ok := v.(map[string]any); !ok {
		return nil, problem.Invalid(f, "must be a JSON object")
	}
	if err := checkJSONValue(f, v, 0); err != nil {
		return nil, err
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, problem.Invalid(f, "invalid JSON value: %v", err)
	}
	return PropsContains{Value: b}, nil
}

func checkJSONValue(f string, v any, depth int) error {
	if depth > 32 {
		return problem.Invalid(f, "JSON nested too deeply")
	}
	switch x := v.(type) {
	case string:
		return checkString(f, x)
	case json.Number:
		if _, err := strconv.ParseFloat(x.String(), 64); err != nil {
			return problem.Invalid(f, "number %s out of range", x)
		}
	case map[string]any:
		for k, e := range x {
			if err := checkString(f, k); err != nil {
				return err
			}
			if err := checkJSONValue(f+"."+k, e, depth+1); err != nil {
				return err
			}
		}
	case []any:
		for i, e := range x {
			if err := checkJSONValue(f+"["+strconv.Itoa(i)+"]", e, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

func parsePropJSON(f string, raw json.RawMessage) (Filter, error) {
	// The compact string form: "specs.memory >= 16".
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return ParseCondition(f, s)
	}
	var v struct {
		Path  *string
		Op    *string
		Value json.RawMessage
	}
	if err := decodeStrict(raw, &v); err != nil {
		return nil, jsonProblem(f, err)
	}
	if v.Path == nil || v.Op == nil || v.Value == nil {
		return nil, problem.Invalid(f, `needs "path", "op" and "value"`)
	}
	path, err := ParsePath(f+".path", *v.Path)
	if err != nil {
		return nil, err
	}
	op, ok := cmpOps[*v.Op]
	if !ok {
		return nil, problem.Invalid(f+".op", "unknown comparison %q (want ==, !=, <, <=, >, >=)", *v.Op)
	}
	val, err := scalarJSON(f+".value", v.Value)
	if err != nil {
		return nil, err
	}
	return newCompare(f, path, op, val)
}

var cmpOps = map[string]CmpOp{"==": OpEq, "=": OpEq, "!=": OpNe, "<": OpLt, "<=": OpLe, ">": OpGt, ">=": OpGe}

func newCompare(f string, path []string, op CmpOp, val any) (Filter, error) {
	switch op {
	case OpLt, OpLe, OpGt, OpGe:
		switch val.(type) {
		case float64, string:
		default:
			return nil, problem.Invalid(f, "%s compares numbers or strings, not %v", op, val)
		}
	}
	return PropsCompare{Path: path, Op: op, Value: val}, nil
}

// scalarJSON decodes a JSON number, string, boolean or null.
func scalarJSON(f string, raw []byte) (any, error) {
	var v any
	if err := decodeStrict(raw, &v); err != nil {
		return nil, jsonProblem(f, err)
	}
	switch x := v.(type) {
	case nil, bool:
		return x, nil
	case string:
		return x, checkString(f, x)
	case json.Number:
		n, err := strconv.ParseFloat(x.String(), 64)
		if err != nil || math.IsInf(n, 0) {
			return nil, problem.Invalid(f, "number %s out of range", x)
		}
		return n, nil
	}
	return nil, problem.Invalid(f, "must be a number, string, boolean or null")
}

var bareValue = regexp.MustCompile(`^[\p{L}\p{N}_][\p{L}\p{N}_ .:/@+-]*$`)

var pathSegment = regexp.MustCompile(`^[\p{L}\p{N}_\-:@$]+$`)

// ParsePath parses a dotted props path such as "specs.memory". Segments are
// letters, digits and _ - : @ $; the path is bound as a parameter, so this
// alphabet is about clear error messages, not about safety.
func ParsePath(f, s string) ([]string, error) {
	if s == "" {
		return nil, problem.Invalid(f, "empty path")
	}
	if len(s) > MaxStringLen {
		return nil, problem.Invalid(f, "longer than %d bytes", MaxStringLen)
	}
	segs := strings.Split(s, ".")
	if len(segs) > MaxPathDepth {
		return nil, problem.Invalid(f, "path deeper than %d keys", MaxPathDepth)
	}
	pos := 0
	for _, seg := range segs {
		if !pathSegment.MatchString(seg) {
			return nil, problem.InvalidAt(f, pos, "path key %q must be letters, digits or _ - : @ $", seg)
		}
		pos += len(seg) + 1
	}
	return segs, nil
}

// ParseCondition parses the compact comparison syntax "path OP value", e.g.
// `specs.memory >= 16`, `color == "red"` or `color == red` (a value that is
// not a JSON literal is a string).
func ParseCondition(f, s string) (Filter, error) {
	i := strings.IndexAny(s, "=!<>")
	if i < 0 {
		return nil, problem.Invalid(f, "expected path, operator and value, e.g. specs.memory >= 16")
	}
	j := i
	for j < len(s) && j < i+2 && strings.IndexByte("=!<>", s[j]) >= 0 {
		j++
	}
	opText := s[i:j]
	op, ok := cmpOps[opText]
	if !ok {
		return nil, problem.InvalidAt(f, i, "unknown comparison %q (want ==, !=, <, <=, >, >=)", opText)
	}
	pathText := strings.TrimRightFunc(s[:i], unicode.IsSpace)
	lead := len(pathText) - len(strings.TrimLeftFunc(pathText, unicode.IsSpace))
	path, err := ParsePath(f, pathText[lead:])
	if err != nil {
		if ve, ok := err.(*problem.ValidationError); ok && ve.Pos >= 0 {
			ve.Pos += lead
		}
		return nil, err
	}
	valText := strings.TrimSpace(s[j:])
	if valText == "" {
		return nil, problem.InvalidAt(f, j, "missing value after %s", opText)
	}
	var val any
	if c := valText[0]; c == '"' || c == '-' || (c >= '0' && c <= '9') || valText == "true" || valText == "false" || valText == "null" {
		v, err := scalarJSON(f, []byte(valText))
		if err != nil {
			if ve, ok := err.(*problem.ValidationError); ok {
				ve.Pos = j
			}
			return nil, err
		}
		val = v
	} else {
		if !bareValue.MatchString(valText) {
			return nil, problem.InvalidAt(f, j, "value must be a JSON literal (16, \"red\", true, null) or a bare word")
		}
		val = valText
	}
	return newCompare(f, path, op, val)
}

func parsePeriodJSON(f string, raw json.RawMessage) (Filter, error) {
	var v struct {
		Op       *string
		From, To *string
		At       *string
		Bounds   *string
	}
	if err := refuseOldPeriodNames(f, raw); err != nil {
		return nil, err
	}
	if err := decodeStrict(raw, &v); err != nil {
		return nil, jsonProblem(f, err)
	}
	if v.Op == nil {
		return nil, problem.Invalid(f, `needs "op"`)
	}
	op := PeriodOp(*v.Op)
	if !validPeriodOp(op) {
		return nil, problem.Invalid(f+".op", "unknown period operator %q (want overlaps, contains, within, before, after, adjacent)", *v.Op)
	}
	if v.At != nil {
		if op != PeriodContains {
			return nil, problem.Invalid(f+".at", `"at" (an instant) goes with op "contains" only; give "from"/"to" for %s`, op)
		}
		if v.From != nil || v.To != nil || v.Bounds != nil {
			return nil, problem.Invalid(f, `give either "at" or "from"/"to", not both`)
		}
		t, err := ParseTime(f+".at", *v.At)
		if err != nil {
			return nil, err
		}
		return Period{Op: op, Instant: &t}, nil
	}
	bounds := "[)"
	if v.Bounds != nil {
		bounds = *v.Bounds
	}
	r, err := newRange(f, v.From, v.To, bounds)
	if err != nil {
		return nil, err
	}
	return Period{Op: op, Range: r}, nil
}

// refuseOldPeriodNames points a period written with the documents API's
// earlier member names at the one period vocabulary (from, to, bounds).
func refuseOldPeriodNames(f string, raw json.RawMessage) error {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return nil // decodeStrict says what is wrong
	}
	for _, k := range []string{"lower", "upper", "lower_inc", "upper_inc"} {
		if _, ok := m[k]; ok {
			return problem.Invalid(f+"."+k, `periods are written {"from", "to", "bounds"}: use "from", "to" and "bounds" ("[)", "[]", "()" or "(]")`)
		}
	}
	return nil
}

func validPeriodOp(op PeriodOp) bool {
	switch op {
	case PeriodOverlaps, PeriodContains, PeriodWithin, PeriodBefore, PeriodAfter, PeriodAdjacent:
		return true
	}
	return false
}

func newRange(f string, from, to *string, bounds string) (Range, error) {
	var r Range
	if len(bounds) != 2 || (bounds[0] != '[' && bounds[0] != '(') || (bounds[1] != ']' && bounds[1] != ')') {
		return r, problem.Invalid(f+".bounds", `bounds must be one of "[)", "[]", "()", "(]", got %q`, bounds)
	}
	r.LowerInc, r.UpperInc = bounds[0] == '[', bounds[1] == ']'
	if from != nil && *from != "" && *from != ".." {
		t, err := ParseTime(f+".from", *from)
		if err != nil {
			return r, err
		}
		r.Lower = &t
	}
	if to != nil && *to != "" && *to != ".." {
		t, err := ParseTime(f+".to", *to)
		if err != nil {
			return r, err
		}
		r.Upper = &t
	}
	if r.Lower != nil && r.Upper != nil && r.Lower.After(*r.Upper) {
		return r, problem.Invalid(f, "from (%s) is after to (%s)", r.Lower.Format(time.RFC3339), r.Upper.Format(time.RFC3339))
	}
	// Unbounded sides are exclusive in PostgreSQL; normalise so that Bounds
	// round-trips.
	if r.Lower == nil {
		r.LowerInc = false
	}
	if r.Upper == nil {
		r.UpperInc = false
	}
	return r, nil
}

// ParseTime accepts RFC 3339 timestamps (with a zone) and plain dates
// (midnight UTC). Years are limited to 1..9999, which PostgreSQL and Go both
// represent.
func ParseTime(f, s string) (time.Time, error) {
	var t time.Time
	var err error
	if len(s) == 10 {
		t, err = time.Parse(time.DateOnly, s)
	} else {
		t, err = time.Parse(time.RFC3339Nano, s)
	}
	if err != nil {
		return t, problem.Invalid(f, "%q is not an RFC 3339 timestamp (2024-05-01T12:00:00Z) or a date (2024-05-01)", clip(s))
	}
	if t.Year() < 1 || t.Year() > 9999 {
		return t, problem.Invalid(f, "year out of range 1..9999")
	}
	return t.UTC(), nil
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

func newWindow(f, field string, from, to *string) (Filter, error) {
	w := Window{Field: Created}
	if field == "updated" {
		w.Field = Updated
	}
	if from != nil && *from != "" && *from != ".." {
		t, err := ParseTime(f+".from", *from)
		if err != nil {
			return nil, err
		}
		w.From = &t
	}
	if to != nil && *to != "" && *to != ".." {
		t, err := ParseTime(f+".to", *to)
		if err != nil {
			return nil, err
		}
		w.To = &t
	}
	if w.From == nil && w.To == nil {
		return nil, problem.Invalid(f, `needs "from", "to" or both`)
	}
	if w.From != nil && w.To != nil && w.From.After(*w.To) {
		return nil, problem.Invalid(f, "from is after to")
	}
	return w, nil
}

func finite(v ...float64) bool {
	for _, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
	}
	return true
}

func newBBox(f string, v []float64) (Filter, error) {
	if len(v) != 4 {
		return nil, problem.Invalid(f, "bbox needs 4 numbers: minLon,minLat,maxLon,maxLat")
	}
	b := BBox{MinX: v[0], MinY: v[1], MaxX: v[2], MaxY: v[3]}
	if err := geomrule.BBox(b.MinX, b.MinY, b.MaxX, b.MaxY); err != nil {
		return nil, problem.Invalid(f, "%v", err)
	}
	return b, nil
}

// MaxNearMetres is the largest radius of a near filter (half the equator).
const MaxNearMetres = 20_037_508

func newNear(f string, lon, lat, m float64) (Filter, error) {
	if err := checkPoint(f, lon, lat); err != nil {
		return nil, err
	}
	if !finite(m) || m < 0 || m > MaxNearMetres {
		return nil, problem.Invalid(f+".metres", "metres must be within 0..%d", MaxNearMetres)
	}
	return Near{Lon: lon, Lat: lat, Metres: m}, nil
}

func checkPoint(f string, lon, lat float64) error {
	if !finite(lon, lat) || lon < -180 || lon > 180 || lat < -90 || lat > 90 {
		return problem.Invalid(f, "point must have lon within -180..180 and lat within -90..90")
	}
	return nil
}

// parseGeoJSON parses a GeoJSON geometry into WKB under geomrule's rule for
// query geometries.
func parseGeoJSON(f string, raw []byte) (Filter, error) {
	if len(raw) > MaxGeoJSONBytes {
		return nil, problem.Invalid(f, "GeoJSON geometry larger than %d bytes", MaxGeoJSONBytes)
	}
	if string(bytes.TrimSpace(raw)) == "null" {
		return nil, problem.Invalid(f, "GeoJSON geometry is null")
	}
	g, err := geomrule.DecodeGeoJSON(f, raw, geomrule.Query())
	if err != nil {
		return nil, err
	}
	b, err := wkb.Marshal(g, wkb.NDR)
	if err != nil {
		return nil, problem.Invalid(f, "unsupported GeoJSON geometry: %v", err)
	}
	return Intersects{WKB: b}, nil
}
