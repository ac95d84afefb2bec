package search

import (
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/geoseek/geoseek/internal/problem"
)

// The query-string form of a search request (GET /search): one parameter
// per option or simple filter, ANDed. Parameters that carry JSON (filter,
// props, intersects, vector) go through the JSON form's parsers
// (parse_body.go); both forms build their conditions with the constructors
// of parse_filter.go, so a condition means the same in either.

// ParseValues parses the GET /search query string. Simple filters given as
// separate parameters are ANDed; `filter` takes the full JSON filter tree.
//
//	collection, q, lang, mode, prefix, limit, cursor, sort, point=lon,lat,
//	highlight, f=json|geojson, facets=tags,props.color, facet_limit,
//	tags, tags_any, tags_within (comma lists), has, has_any, has_all,
//	props (a JSON object for containment), prop (repeatable "path OP value"),
//	period_overlaps|period_contains|period_within|period_before|
//	period_after|period_adjacent ([from,to) range or, for contains, an instant),
//	bbox=minLon,minLat,maxLon,maxLat, near=lon,lat,metres, intersects (GeoJSON),
//	created, updated (from/to, ".." for open), filter (JSON tree),
//	vector (JSON array), semantic_ratio, ef_search, min_similarity, explain.
func ParseValues(v url.Values) (*Query, error) {
	q := defaults()
	var filters And
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	sort.Strings(keys) // deterministic errors and filter order
	for _, k := range keys {
		vals := v[k]
		if k == "prop" {
			var err error
			if filters, err = appendConditions(filters, k, vals); err != nil {
				return nil, err
			}
			continue
		}
		if len(vals) > 1 {
			return nil, problem.Invalid(k, "given %d times; give it once", len(vals))
		}
		ok, err := setOption(&q, k, vals[0])
		if err != nil {
			return nil, err
		}
		if ok {
			continue
		}
		f, err := valuesFilter(k, vals[0])
		if err != nil {
			return nil, err
		}
		if f != nil {
			filters = append(filters, f)
		}
	}
	if len(filters) == 1 {
		q.Filter = filters[0]
	} else if len(filters) > 1 {
		q.Filter = filters
	}
	if err := q.validate(v.Has("sort")); err != nil {
		return nil, err
	}
	return &q, nil
}

// setOption sets the option parameter k of q to s. It reports false when
// k names no option (it may name a filter, see valuesFilter).
func setOption(q *Query, k, s string) (bool, error) {
	var err error
	switch k {
	case "collection":
		q.Collection = s
	case "q":
		q.Text = s
	case "lang":
		q.Lang = s
	case "mode":
		q.Mode = Mode(s)
	case "prefix":
		q.Prefix, err = parseBool(k, s)
	case "highlight":
		q.Highlight, err = parseBool(k, s)
	case "explain":
		q.Explain, err = parseBool(k, s)
	case "limit":
		q.Limit, err = parseInt(k, s)
	case "cursor":
		q.Cursor = s
	case "sort":
		q.Sort, err = ParseSort(k, s)
	case "point":
		var p []float64
		if p, err = parseFloats(k, s, 2); err == nil {
			q.Point = &[2]float64{p[0], p[1]}
		}
	case "f":
		q.Format = Format(s)
	case "facets":
		err = parseFacetList(&q.Facets, k, s)
	case "facet_limit":
		q.Facets.Limit, err = parseInt(k, s)
	case "vector":
		q.Vector, err = parseVector(k, []byte(s))
	case "semantic_ratio":
		q.SemanticRatio, err = parseFloat(k, s)
	case "ef_search":
		q.EfSearch, err = parseInt(k, s)
	case "min_similarity":
		var m float64
		if m, err = parseFloat(k, s); err == nil {
			q.MinSimilarity = &m
		}
	default:
		return false, nil
	}
	return true, err
}

// valuesFilter is the condition of the filter parameter k with value s;
// an unknown k is an error.
func valuesFilter(k, s string) (Filter, error) {
	switch k {
	case "tags", "tags_any", "tags_within":
		op := strings.TrimPrefix(strings.TrimPrefix(k, "tags"), "_")
		if op == "" {
			op = "all"
		}
		return newTags(k, op, splitList(s))
	case "has":
		if err := checkString(k, s); err != nil {
			return nil, err
		}
		return PropsKeys{Op: HasKey, Keys: []string{s}}, nil
	case "has_any", "has_all":
		ks := splitList(s)
		if err := checkStrings(k, ks, true); err != nil {
			return nil, err
		}
		return PropsKeys{Op: KeysOp(k), Keys: ks}, nil
	case "props":
		return newContains(k, []byte(s))
	case "period_overlaps", "period_contains", "period_within", "period_before", "period_after", "period_adjacent":
		return ParsePeriodText(k, PeriodOp(strings.TrimPrefix(k, "period_")), s)
	case "bbox":
		b, err := parseFloats(k, s, 4)
		if err != nil {
			return nil, err
		}
		return newBBox(k, b)
	case "near":
		n, err := parseFloats(k, s, 3)
		if err != nil {
			return nil, err
		}
		return newNear(k, n[0], n[1], n[2])
	case "intersects":
		return parseGeoJSON(k, []byte(s))
	case "created", "updated":
		from, to, ok := strings.Cut(s, "/")
		if !ok {
			return nil, problem.Invalid(k, `expected from/to (use ".." for an open end), e.g. 2024-01-01/..`)
		}
		return newWindow(k, k, &from, &to)
	case "filter":
		return ParseFilterJSON(k, []byte(s))
	}
	return nil, problem.Invalid(k, "unknown parameter")
}

// appendConditions appends to out the values of the repeatable prop
// parameter k ("path OP value"); with several, each error names its index.
func appendConditions(out And, k string, vals []string) (And, error) {
	for i, c := range vals {
		f := k
		if len(vals) > 1 {
			f = k + "[" + strconv.Itoa(i) + "]"
		}
		cf, err := ParseCondition(f, c)
		if err != nil {
			return nil, err
		}
		out = append(out, cf)
	}
	return out, nil
}

// ParsePeriodText parses the GET form of a period condition: a range
// literal "[from,to)" with any of [ ( ] ) and empty ends for unbounded, an
// interval "from/to" (closed, ".." for open), or, for contains, an instant.
func ParsePeriodText(f string, op PeriodOp, s string) (Filter, error) {
	if s == "" {
		return nil, problem.Invalid(f, "empty period")
	}
	if c := s[0]; c == '[' || c == '(' {
		last := s[len(s)-1]
		if last != ']' && last != ')' {
			return nil, problem.InvalidAt(f, len(s)-1, "range must end with ] or )")
		}
		inner := s[1 : len(s)-1]
		from, to, ok := strings.Cut(inner, ",")
		if !ok {
			return nil, problem.InvalidAt(f, 1, "range needs from,to")
		}
		r, err := newRange(f, &from, &to, string([]byte{c, last}))
		if err != nil {
			return nil, err
		}
		return Period{Op: op, Range: r}, nil
	}
	if from, to, ok := strings.Cut(s, "/"); ok {
		r, err := newRange(f, &from, &to, "[]")
		if err != nil {
			return nil, err
		}
		return Period{Op: op, Range: r}, nil
	}
	t, err := ParseTime(f, s)
	if err != nil {
		return nil, err
	}
	if op == PeriodContains {
		return Period{Op: op, Instant: &t}, nil
	}
	return Period{Op: op, Range: Range{Lower: &t, Upper: &t, LowerInc: true, UpperInc: true}}, nil
}

func parseFacetList(fc *Facets, f, s string) error {
	for _, item := range splitList(s) {
		if item == "tags" {
			fc.Tags = true
			continue
		}
		p, ok := strings.CutPrefix(item, "props.")
		if !ok {
			return problem.Invalid(f, "unknown facet %q (want tags or props.<path>)", clip(item))
		}
		path, err := ParsePath(f, p)
		if err != nil {
			return err
		}
		fc.Props = append(fc.Props, path)
	}
	return nil
}

func splitList(s string) []string {
	if s == "" {
		return []string{}
	}
	parts := strings.Split(s, ",")
	out := parts[:0]
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func parseBool(f, s string) (bool, error) {
	b, err := strconv.ParseBool(s)
	if err != nil {
		return false, problem.Invalid(f, "expected true or false")
	}
	return b, nil
}

func parseInt(f, s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, problem.Invalid(f, "expected an integer")
	}
	return n, nil
}

func parseFloat(f, s string) (float64, error) {
	x, err := strconv.ParseFloat(s, 64)
	if err != nil || !finite(x) {
		return 0, problem.Invalid(f, "expected a finite number")
	}
	return x, nil
}

func parseFloats(f, s string, n int) ([]float64, error) {
	parts := strings.Split(s, ",")
	if len(parts) != n {
		return nil, problem.Invalid(f, "expected %d comma-separated numbers", n)
	}
	out := make([]float64, n)
	pos := 0
	for i, p := range parts {
		x, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || !finite(x) {
			return nil, problem.InvalidAt(f, pos, "expected a finite number, got %q", clip(p))
		}
		out[i] = x
		pos += len(p) + 1
	}
	return out, nil
}
