package search

import (
	"strings"

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
