package geo

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/geoseek/geoseek/internal/geomrule"
	"github.com/geoseek/geoseek/internal/problem"
)

// Limits of the items endpoint.
const (
	DefaultLimit = 100
	MaxLimit     = 10000
)

// BBox is a WGS84 lon/lat box. MinX > MaxX means the box crosses the
// antimeridian (OGC API – Features, 7.15.3); Boxes splits it.
type BBox struct {
	MinX, MinY, MaxX, MaxY float64
}

// Crosses reports whether b spans the antimeridian.
func (b BBox) Crosses() bool { return b.MinX > b.MaxX }

// Boxes returns b as one or two boxes that do not cross the antimeridian.
func (b BBox) Boxes() []BBox {
	if !b.Crosses() {
		return []BBox{b}
	}
	return []BBox{
		{MinX: b.MinX, MinY: b.MinY, MaxX: 180, MaxY: b.MaxY},
		{MinX: -180, MinY: b.MinY, MaxX: b.MaxX, MaxY: b.MaxY},
	}
}

// ParseBBox parses "minx,miny,maxx,maxy" (or the 6-number 3D form, whose
// heights are ignored) in CRS84. Latitudes must be ordered; longitudes may be
// reversed to cross the antimeridian.
func ParseBBox(field, s string) (BBox, error) {
	parts := strings.Split(s, ",")
	if len(parts) != 4 && len(parts) != 6 {
		return BBox{}, problem.Invalid(field, "want 4 (or 6) comma-separated numbers, got %d", len(parts))
	}
	v := make([]float64, len(parts))
	pos := 0
	for i, p := range parts {
		f, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return BBox{}, problem.InvalidAt(field, pos, "%q is not a finite number", p)
		}
		v[i] = f
		pos += len(p) + 1
	}
	var b BBox
	if len(v) == 4 {
		b = BBox{v[0], v[1], v[2], v[3]}
	} else {
		b = BBox{v[0], v[1], v[3], v[4]}
		if v[2] > v[5] {
			return BBox{}, problem.Invalid(field, "minimum height %g is above maximum height %g", v[2], v[5])
		}
	}
	if err := geomrule.BBox(b.MinX, b.MinY, b.MaxX, b.MaxY); err != nil {
		return BBox{}, problem.Invalid(field, "%v", err)
	}
	return b, nil
}

// Interval is a closed time interval; a nil bound is open. An instant has
// Start == End.
type Interval struct {
	Start, End *time.Time
}

// ParseDatetime parses an RFC 3339 instant, a closed interval "a/b", or a
// half-open one "../b", "a/..", "a/" or "/b" (OGC API – Features, 7.15.4).
func ParseDatetime(field, s string) (Interval, error) {
	if s == "" {
		return Interval{}, problem.Invalid(field, "empty")
	}
	before, after, isInterval := strings.Cut(s, "/")
	if !isInterval {
		t, err := parseInstant(s)
		if err != nil {
			return Interval{}, problem.InvalidAt(field, 0, "%q is not an RFC 3339 date-time", s)
		}
		return Interval{Start: &t, End: &t}, nil
	}
	var iv Interval
	if before != "" && before != ".." {
		t, err := parseInstant(before)
		if err != nil {
			return Interval{}, problem.InvalidAt(field, 0, "%q is not an RFC 3339 date-time", before)
		}
		iv.Start = &t
	}
	if after != "" && after != ".." {
		t, err := parseInstant(after)
		if err != nil {
			return Interval{}, problem.InvalidAt(field, len(before)+1, "%q is not an RFC 3339 date-time", after)
		}
		iv.End = &t
	}
	if iv.Start == nil && iv.End == nil {
		return Interval{}, problem.Invalid(field, "an interval needs at least one bound")
	}
	if iv.Start != nil && iv.End != nil && iv.End.Before(*iv.Start) {
		return Interval{}, problem.Invalid(field, "interval ends before it starts")
	}
	return iv, nil
}

// parseInstant accepts RFC 3339 date-times and full dates (taken as UTC
// midnight). Years are limited to 0001–9999, which PostgreSQL and RFC 3339
// share.
func parseInstant(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	return time.Parse(time.DateOnly, s)
}

// ParseLimit parses limit: default DefaultLimit, 1..MaxLimit.
func ParseLimit(field, s string) (int, error) {
	if s == "" {
		return DefaultLimit, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, problem.Invalid(field, "must be a positive integer")
	}
	if n > MaxLimit {
		return 0, problem.Invalid(field, "at most %d", MaxLimit)
	}
	return n, nil
}

// SortKey is one sortable column.
type SortKey string

// Sortable keys. Each maps to a fixed SQL expression (sortExpr); nothing from
// the request reaches the SQL text.
const (
	SortID       SortKey = "id"
	SortTitle    SortKey = "title"
	SortCreated  SortKey = "created"
	SortUpdated  SortKey = "updated"
	SortDatetime SortKey = "datetime"
)

var sortKeys = map[string]SortKey{
	"id": SortID, "title": SortTitle, "created": SortCreated, "created_at": SortCreated,
	"updated": SortUpdated, "updated_at": SortUpdated, "datetime": SortDatetime, "start": SortDatetime,
}

// Sort is the parsed sortby: one key and direction (id breaks ties).
type Sort struct {
	Key  SortKey
	Desc bool
}

// ParseSortby parses "[+|-]key" from the allow-list above. One key only:
// keyset paging on more keys would need composite cursors nobody asked for.
func ParseSortby(field, s string) (Sort, error) {
	if s == "" {
		return Sort{Key: SortID}, nil
	}
	desc := false
	switch s[0] {
	case '-':
		desc, s = true, s[1:]
	case '+', ' ': // a "+" in a query string arrives as a space
		s = s[1:]
	}
	k, ok := sortKeys[strings.TrimSpace(s)]
	if !ok {
		return Sort{}, problem.Invalid(field, "cannot sort by %q (one of id, title, created, updated, datetime)", s)
	}
	return Sort{Key: k, Desc: desc}, nil
}

// ParseProperties parses properties=a,b,c: the feature properties to return.
// Names are checked later against what each feature has; here only shape.
func ParseProperties(field, s string) ([]string, error) {
	if s == "" {
		return nil, nil
	}
	var out []string
	pos := 0
	for p := range strings.SplitSeq(s, ",") {
		p = strings.TrimSpace(p)
		if !validPropName(p) {
			return nil, problem.InvalidAt(field, pos, "%q is not a property name", p)
		}
		out = append(out, p)
		pos += len(p) + 1
	}
	return out, nil
}

// validPropName allows the names props keys usually have; it keeps odd bytes
// out of links and logs (values never reach SQL text anyway).
func validPropName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for _, r := range s {
		if !(r == '_' || r == '-' || r == '.' || r == ':' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}

// ParsePrecision parses the number of decimal digits for coordinates (0..15).
func ParsePrecision(field, s string) (int, error) {
	if s == "" {
		return -1, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > 15 {
		return 0, problem.Invalid(field, "must be an integer from 0 to 15")
	}
	return n, nil
}
