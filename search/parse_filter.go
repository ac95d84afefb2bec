package search

import (
	"bytes"
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

// The conditions of the filter model (filter.go) as both input forms build
// them: each constructor (newTags, newRange, newBBox, ...) and each text
// syntax both forms accept (ParsePath, ParseCondition, ParseTime) checks
// its values once, so the query string (parse_values.go) and the JSON form
// (parse_body.go) accept and refuse the same conditions.

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
