package search

import (
	"math"
	"net/url"
	"sort"
	"strconv"
	"strings"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/geoseek/geoseek/internal/problem"
)

// Mode selects the ranking.
type Mode string

// Search modes. Keyword is keyword.go; semantic and hybrid are
// semantic_mode.go, answered by the Service's Semantic (Config.Semantic).
const (
	ModeKeyword  Mode = "keyword"
	ModeSemantic Mode = "semantic"
	ModeHybrid   Mode = "hybrid"
)

// SortKey is what results are ordered by.
type SortKey string

// Sort keys. Every order ends with the document id, so it is total and
// keyset paging visits each hit once.
const (
	SortRelevance SortKey = "relevance" // score, highest first (needs q)
	SortDistance  SortKey = "distance"  // metres to Query.Point
	SortCreated   SortKey = "created"
	SortUpdated   SortKey = "updated"
	SortPeriod    SortKey = "period" // lower bound of period
	SortProp      SortKey = "prop"   // a props path, JSON order
	SortID        SortKey = "id"
)

// Sort is a sort key and direction.
type Sort struct {
	Key  SortKey
	Desc bool
	// Path is the props path for SortProp.
	Path []string
}

// String is the sort in request syntax ("-created", "props.price").
func (s Sort) String() string {
	k := string(s.Key)
	if s.Key == SortProp {
		k = "props." + strings.Join(s.Path, ".")
	}
	if s.Desc && s.Key != SortRelevance {
		return "-" + k
	}
	return k
}

// Format is the response encoding.
type Format string

// Response formats.
const (
	FormatJSON    Format = "json"
	FormatGeoJSON Format = "geojson"
)

// Facets says which facet counts to compute over the whole matched set.
type Facets struct {
	Tags bool
	// Props are props paths whose values are counted (array values count
	// once per element).
	Props [][]string
	// Limit caps the values listed per facet (most frequent first).
	Limit int
}

// Any reports whether any facet was requested.
func (f Facets) Any() bool { return f.Tags || len(f.Props) > 0 }

// Paging and size limits.
const (
	DefaultLimit     = 20
	MaxLimit         = 500
	DefaultFacetSize = 20
	MaxFacetSize     = 1000
	MaxFacetProps    = 10
	MaxTextLen       = 1000
	MaxVectorDim     = 16000
)

// Query is a validated search request.
type Query struct {
	Collection string
	Mode       Mode
	// Text is the user's query in websearch syntax; "" means no text.
	Text string
	// Lang is a text search configuration name ("english"); "" means the
	// collection's default. Checked against pg_ts_config by the Service.
	Lang string
	// Prefix matches the last term of Text as a prefix (as-you-type).
	Prefix bool
	// Filter is the filter tree; nil means none.
	Filter Filter
	Sort   Sort
	// Point is [lon, lat] for distance sorting (and the distance_m field).
	Point     *[2]float64
	Limit     int
	Cursor    string
	Facets    Facets
	Highlight bool
	Format    Format

	// Parameters of the semantic and hybrid modes, parsed and range-checked
	// here and used by semantic*.go / hybrid*.go.
	Vector        []float32
	SemanticRatio float64 // 0 keyword only .. 1 semantic only; default 0.5
	EfSearch      int     // 0 = server default
	MinSimilarity *float64
	Explain       bool
}

// defaults returns a Query with every default applied.
func defaults() Query {
	return Query{Mode: ModeKeyword, Limit: DefaultLimit, Highlight: true, Format: FormatJSON,
		SemanticRatio: 0.5, Facets: Facets{Limit: DefaultFacetSize}}
}

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
		if k != "prop" && len(vals) > 1 {
			return nil, problem.Invalid(k, "given %d times; give it once", len(vals))
		}
		s := vals[0]
		var err error
		var f Filter
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
		case "tags", "tags_any", "tags_within":
			op := strings.TrimPrefix(strings.TrimPrefix(k, "tags"), "_")
			if op == "" {
				op = "all"
			}
			f, err = newTags(k, op, splitList(s))
		case "has":
			if err = checkString(k, s); err == nil {
				f = PropsKeys{Op: HasKey, Keys: []string{s}}
			}
		case "has_any", "has_all":
			ks := splitList(s)
			if err = checkStrings(k, ks, true); err == nil {
				f = PropsKeys{Op: KeysOp(k), Keys: ks}
			}
		case "props":
			f, err = newContains(k, []byte(s))
		case "prop":
			for i, c := range vals {
				ff := k
				if len(vals) > 1 {
					ff = k + "[" + strconv.Itoa(i) + "]"
				}
				cf, cerr := ParseCondition(ff, c)
				if cerr != nil {
					return nil, cerr
				}
				filters = append(filters, cf)
			}
		case "period_overlaps", "period_contains", "period_within", "period_before", "period_after", "period_adjacent":
			f, err = ParsePeriodText(k, PeriodOp(strings.TrimPrefix(k, "period_")), s)
		case "bbox":
			var b []float64
			if b, err = parseFloats(k, s, 4); err == nil {
				f, err = newBBox(k, b)
			}
		case "near":
			var n []float64
			if n, err = parseFloats(k, s, 3); err == nil {
				f, err = newNear(k, n[0], n[1], n[2])
			}
		case "intersects":
			f, err = parseGeoJSON(k, []byte(s))
		case "created", "updated":
			from, to, ok := strings.Cut(s, "/")
			if !ok {
				err = problem.Invalid(k, `expected from/to (use ".." for an open end), e.g. 2024-01-01/..`)
			} else {
				f, err = newWindow(k, k, &from, &to)
			}
		case "filter":
			f, err = ParseFilterJSON(k, []byte(s))
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
			return nil, problem.Invalid(k, "unknown parameter")
		}
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

// Body is the POST /search JSON body.
type Body struct {
	Collection    string         `json:"collection"`
	Q             string         `json:"q"`
	Lang          string         `json:"lang"`
	Mode          string         `json:"mode"`
	Prefix        *bool          `json:"prefix"`
	Filter        jsontext.Value `json:"filter"`
	Sort          string         `json:"sort"`
	Point         []float64      `json:"point"`
	Limit         *int           `json:"limit"`
	Cursor        string         `json:"cursor"`
	Facets        *BodyFacets    `json:"facets"`
	Highlight     *bool          `json:"highlight"`
	Format        string         `json:"f"`
	Vector        jsontext.Value `json:"vector"`
	SemanticRatio *float64       `json:"semantic_ratio"`
	EfSearch      *int           `json:"ef_search"`
	MinSimilarity *float64       `json:"min_similarity"`
	Explain       bool           `json:"explain"`
}

// BodyFacets is the facets member of Body.
type BodyFacets struct {
	Tags  bool     `json:"tags"`
	Props []string `json:"props"`
	Limit *int     `json:"limit"`
}

// decodeBody decodes a POST /search body with json/v2 (one pass over the
// input, case-sensitive member names, duplicate and unknown members
// rejected), and when that fails, with encoding/json as before, which
// accepts member names in any case and gives the error with its position.
// Why: encoding/json reads every byte twice (once to find the value's end,
// once to decode it), which for a body carrying a 384-float query vector
// was 80 of the 150 µs ParseBody took (BenchmarkParseBodySemantic); json/v2
// takes 26. FuzzDecodeBody checks that whatever json/v2 accepts,
// encoding/json accepts too and decodes the same.
func decodeBody(data []byte) (Body, error) {
	var b Body
	if jsonv2.Unmarshal(data, &b, jsonv2.RejectUnknownMembers(true)) == nil {
		return b, nil
	}
	b = Body{}
	err := decodeStrict(data, &b)
	return b, err
}

// ParseBody parses and validates a POST /search JSON body. Unknown members are
// rejected, so a misspelt option is an error rather than silently ignored.
func ParseBody(data []byte) (*Query, error) {
	b, err := decodeBody(data)
	if err != nil {
		return nil, jsonProblem("body", err)
	}
	q := defaults()
	q.Collection, q.Text, q.Lang, q.Cursor, q.Explain = b.Collection, b.Q, b.Lang, b.Cursor, b.Explain
	if b.Mode != "" {
		q.Mode = Mode(b.Mode)
	}
	if b.Prefix != nil {
		q.Prefix = *b.Prefix
	}
	if b.Highlight != nil {
		q.Highlight = *b.Highlight
	}
	if b.Format != "" {
		q.Format = Format(b.Format)
	}
	if b.Limit != nil {
		q.Limit = *b.Limit
	}
	if b.Sort != "" {
		s, err := ParseSort("sort", b.Sort)
		if err != nil {
			return nil, err
		}
		q.Sort = s
	}
	if b.Point != nil {
		if len(b.Point) != 2 {
			return nil, problem.Invalid("point", "needs [lon, lat]")
		}
		q.Point = &[2]float64{b.Point[0], b.Point[1]}
	}
	if len(b.Filter) > 0 && string(b.Filter) != "null" {
		f, err := ParseFilterJSON("filter", b.Filter)
		if err != nil {
			return nil, err
		}
		q.Filter = f
	}
	if b.Facets != nil {
		q.Facets.Tags = b.Facets.Tags
		for i, p := range b.Facets.Props {
			path, err := ParsePath("facets.props["+strconv.Itoa(i)+"]", p)
			if err != nil {
				return nil, err
			}
			q.Facets.Props = append(q.Facets.Props, path)
		}
		if b.Facets.Limit != nil {
			q.Facets.Limit = *b.Facets.Limit
		}
	}
	if len(b.Vector) > 0 && string(b.Vector) != "null" {
		v, err := parseVector("vector", b.Vector)
		if err != nil {
			return nil, err
		}
		q.Vector = v
	}
	if b.SemanticRatio != nil {
		q.SemanticRatio = *b.SemanticRatio
	}
	if b.EfSearch != nil {
		q.EfSearch = *b.EfSearch
	}
	q.MinSimilarity = b.MinSimilarity
	if err := q.validate(b.Sort != ""); err != nil {
		return nil, err
	}
	return &q, nil
}

// validate checks the cross-field rules and fills the default sort.
func (q *Query) validate(sortGiven bool) error {
	if q.Collection == "" {
		return problem.Invalid("collection", "required")
	}
	if len(q.Collection) > 63 || !validName(q.Collection) {
		return problem.Invalid("collection", "not a collection name (lower-case letters, digits, _ and -)")
	}
	switch q.Mode {
	case ModeKeyword, ModeSemantic, ModeHybrid:
	default:
		return problem.Invalid("mode", "unknown mode %q (want keyword, semantic or hybrid)", q.Mode)
	}
	if err := checkString("q", q.Text); err != nil {
		return err
	}
	if n := len([]rune(q.Text)); n > MaxTextLen {
		return problem.Invalid("q", "longer than %d characters", MaxTextLen)
	}
	if q.Lang != "" && (len(q.Lang) > 63 || !validName(q.Lang)) {
		return problem.Invalid("lang", "not a text search configuration name")
	}
	if q.Limit < 1 || q.Limit > MaxLimit {
		return problem.Invalid("limit", "must be within 1..%d", MaxLimit)
	}
	if q.Facets.Limit < 1 || q.Facets.Limit > MaxFacetSize {
		return problem.Invalid("facet_limit", "must be within 1..%d", MaxFacetSize)
	}
	if len(q.Facets.Props) > MaxFacetProps {
		return problem.Invalid("facets", "at most %d props facets", MaxFacetProps)
	}
	switch q.Format {
	case FormatJSON, FormatGeoJSON:
	default:
		return problem.Invalid("f", "unknown format %q (want json or geojson)", q.Format)
	}
	if q.Point != nil {
		if err := checkPoint("point", q.Point[0], q.Point[1]); err != nil {
			return err
		}
	}
	if len(q.Cursor) > 4096 {
		return problem.Invalid("cursor", "too long")
	}
	hasText := strings.TrimSpace(q.Text) != ""
	if !sortGiven {
		switch {
		case hasText || q.Mode != ModeKeyword || q.Vector != nil:
			q.Sort = Sort{Key: SortRelevance, Desc: true}
		default:
			q.Sort = Sort{Key: SortID}
		}
	}
	switch {
	case q.Sort.Key == SortRelevance && !hasText && q.Mode == ModeKeyword:
		return problem.Invalid("sort", "relevance needs a text query q")
	case q.Sort.Key == SortDistance && q.Point == nil:
		return problem.Invalid("sort", "distance needs point=lon,lat")
	case q.Sort.Key != SortRelevance && q.Mode != ModeKeyword:
		return problem.Invalid("sort", "%s search is ordered by relevance only", q.Mode)
	}
	if !finite(q.SemanticRatio) || q.SemanticRatio < 0 || q.SemanticRatio > 1 {
		return problem.Invalid("semantic_ratio", "must be within 0..1")
	}
	if q.EfSearch < 0 || q.EfSearch > 1000 {
		return problem.Invalid("ef_search", "must be within 1..1000")
	}
	if q.MinSimilarity != nil && (!finite(*q.MinSimilarity) || *q.MinSimilarity < -1 || *q.MinSimilarity > 1) {
		return problem.Invalid("min_similarity", "must be within -1..1")
	}
	return nil
}

func validName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return s != ""
}

// ParseSort parses "relevance", "distance", "created", "updated", "period",
// "id" or "props.<path>", optionally prefixed with "-" for descending order.
func ParseSort(f, s string) (Sort, error) {
	var out Sort
	key := s
	if strings.HasPrefix(key, "-") {
		out.Desc = true
		key = key[1:]
	}
	switch SortKey(key) {
	case SortRelevance:
		if out.Desc {
			return out, problem.Invalid(f, "relevance is always highest first; drop the -")
		}
		out.Desc = true
		out.Key = SortRelevance
		return out, nil
	case SortDistance, SortCreated, SortUpdated, SortPeriod, SortID:
		out.Key = SortKey(key)
		return out, nil
	}
	if p, ok := strings.CutPrefix(key, "props."); ok {
		path, err := ParsePath(f, p)
		if err != nil {
			return out, err
		}
		out.Key, out.Path = SortProp, path
		return out, nil
	}
	return out, problem.Invalid(f, "unknown sort %q (want relevance, distance, created, updated, period, id or props.<path>, - for descending)", clip(s))
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

// parseVector parses a JSON array of finite numbers.
func parseVector(f string, data []byte) ([]float32, error) {
	if v, ok := parseVectorFast(data); ok {
		return v, nil
	}
	var raw []*float64
	if err := decodeStrict(data, &raw); err != nil {
		return nil, jsonProblem(f, err)
	}
	if len(raw) == 0 || len(raw) > MaxVectorDim {
		return nil, problem.Invalid(f, "vector needs 1..%d numbers", MaxVectorDim)
	}
	out := make([]float32, len(raw))
	for i, p := range raw {
		if p == nil {
			return nil, problem.Invalid(f+"["+strconv.Itoa(i)+"]", "not a number")
		}
		x := *p
		if !finite(x) || math.Abs(x) > math.MaxFloat32 {
			return nil, problem.Invalid(f+"["+strconv.Itoa(i)+"]", "not a finite float32")
		}
		out[i] = float32(x)
	}
	return out, nil
}
