package bench

// Keyword queries of several words and their facets on the search corpus
// (search.go): the shapes people type, not just one word.
//
//   - search/words/<shape>: top-20 p50/p95 of GET /search against the exact
//     SQL through pgx in the same run, alternating rounds (plain
//     PostgreSQL: GIN + ts_rank_cd over every match, ORDER BY score, id
//     LIMIT 20, the ranking geoseek documents). The note gives the matches,
//     geoseek's ranking strategy and whether its top 20 is identical (ids
//     and order) to the baseline's.
//   - search/words/facets/<shape>: tags and props.section facets of the same
//     queries, GET /search against exact GROUP BY counts over every match
//     through pgx. The note says whether geoseek answered from a sample
//     (approximate, with the sample's size) and whether its values come in
//     the exact counts' order.

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

func init() {
	Register(Scenario{Name: "search/words", Run: runSearchWords})
	Register(Scenario{Name: "search/words/facets", Run: runSearchWordsFacets})
}

// wordQueries are two- and three-word queries (AND, OR, phrase, negation)
// over rare, medium and very common words of the corpus. A phrase of two
// words is ranked through the pair tiers; one of three words, or with a
// stop word inside the quotes (a gap), is not.
var wordQueries = []struct{ shape, q string }{
	{"and2-rare", "sudoku puzzle"},
	{"and2-medium", "graphical editor"},
	{"and2-common", "python library"},
	{"and2-verycommon", "development files"},
	{"and3-medium", "command line tool"},
	{"and3-common", "free software library"},
	{"or2-rare", "sudoku or harmonica"},
	{"or2-medium", "game or puzzle"},
	{"or2-common", "library or files"},
	{"or3-common", "python library or module"},
	{"phrase2-medium", `"text editor"`},
	{"phrase2-common", `"shared library"`},
	{"phrase3-common", `"development files for"`},
	{"phrase3-medium", `"command line tool"`},
	{"phrase-gap", `"library for python"`},
	{"not-common", "library -python"},
	{"not-medium", "game -puzzle"},
}

// wordFacetQueries are the queries whose facets are measured.
var wordFacetQueries = []string{"graphical editor", "python library", "development files", "game or puzzle", "library or files", `"shared library"`, "library -python"}

func wordsLoad(env *Env) (n int, d time.Duration) {
	if env.Quick {
		return 6, 6 * time.Second
	}
	return 30, 40 * time.Second
}

// wordsCount is the number of matches of q in the collection.
func wordsCount(ctx context.Context, env *Env, coll, q string) (int64, error) {
	var n int64
	err := env.Pool.QueryRow(ctx, `SELECT count(*) FROM documents d WHERE d.collection_id = (SELECT id FROM collections WHERE name = $1)
		AND d.search @@ websearch_to_tsquery('english', $2)`, coll, q).Scan(&n)
	return n, err
}

func runSearchWords(ctx context.Context, env *Env) ([]Result, error) {
	coll, err := srchSetup(ctx, env)
	if err != nil {
		return nil, err
	}
	var out []Result
	for _, wq := range wordQueries {
		v := url.Values{"collection": {coll}, "q": {wq.q}, "limit": {"20"}}
		count, err := wordsCount(ctx, env, coll, wq.q)
		if err != nil {
			return nil, err
		}
		res, err := wordsGet(ctx, env, v)
		if err != nil {
			return nil, err
		}
		exact, err := srchExact(ctx, env.Pool, coll, wq.q)
		if err != nil {
			return nil, err
		}
		n, d := wordsLoad(env)
		g, b := Paired(ctx, 1, n, 4, d,
			func(ctx context.Context) error { _, err := wordsGet(ctx, env, v); return err },
			func(ctx context.Context) error { _, err := srchExact(ctx, env.Pool, coll, wq.q); return err })
		for _, st := range []Stats{g, b} {
			if err := srchErr(st, wq.q); err != nil {
				return nil, err
			}
		}
		out = append(out, Result{
			Scenario: "search/words/" + wq.shape + " top-20 p95", Geoseek: srchMS(g.P95), Baseline: srchMS(b.P95), Unit: "ms", LowerIsBetter: true,
			Note: fmt.Sprintf("%s: %d matches of %d docs, ranking %s; p50 %.1f vs %.1f ms (baseline: exact GIN + ts_rank_cd ORDER BY over every match via pgx); top 20 identical to exact: %t",
				wq.q, count, srchTarget(env), res.Ranking, srchMS(g.P50), srchMS(b.P50), slices.Equal(res.ids(), exact)),
		})
	}
	return out, nil
}

// wordsExactFacetSQL counts one facet (tags, or the props.section value)
// over every match, most frequent first, ties by value, as geoseek orders
// its facet values.
const wordsExactFacetSQL = `WITH m AS (SELECT d.tags, d.props FROM documents d
		WHERE d.collection_id = (SELECT id FROM collections WHERE name = $1) AND d.search @@ websearch_to_tsquery('english', $2))
	SELECT coalesce((SELECT json_agg(json_build_array(v, n) ORDER BY n DESC, v) FROM (SELECT to_json(x)::text AS v, count(*) AS n FROM m, unnest(m.tags) x GROUP BY x) t), '[]'),
	       coalesce((SELECT json_agg(json_build_array(v, n) ORDER BY n DESC, v) FROM (SELECT (m.props->'section')::text AS v, count(*) AS n FROM m WHERE m.props ? 'section' GROUP BY 1) t), '[]')`

// wordsCounts are exact facet counts, most frequent first.
type wordsCounts struct {
	values []string
	count  map[string]float64
}

func (c *wordsCounts) UnmarshalJSON(b []byte) error {
	var pairs [][2]any
	if err := json.Unmarshal(b, &pairs); err != nil {
		return err
	}
	c.count = map[string]float64{}
	for _, p := range pairs {
		v, _ := p[0].(string)
		n, _ := p[1].(float64)
		c.values = append(c.values, v)
		c.count[v] = n
	}
	return nil
}

// order compares the first k of got (an answer's values in its order)
// with the exact counts: whether they are the exact top k in the exact
// order, and the largest relative gap between the exact counts of two of
// them that got puts the wrong way round (0 when none is).
func (c *wordsCounts) order(got []string, k int) (same bool, worst float64) {
	k = min(k, len(c.values))
	got = got[:min(k, len(got))]
	same = slices.Equal(got, c.values[:k])
	for i := range got {
		for j := i + 1; j < len(got); j++ {
			a, b := c.count[got[i]], c.count[got[j]]
			if a < b {
				worst = max(worst, (b-a)/b)
			}
		}
	}
	return same, worst
}

// estimateError is the median and the largest relative error of got's
// counts (an answer's values and counts) for the exact top k values; a
// value the answer leaves out counts as 0.
func (c *wordsCounts) estimateError(got map[string]int64, k int) (median, worst float64) {
	k = min(k, len(c.values))
	if k == 0 {
		return 0, 0
	}
	errs := make([]float64, k)
	for i, v := range c.values[:k] {
		errs[i] = math.Abs(float64(got[v])-c.count[v]) / c.count[v]
	}
	slices.Sort(errs)
	return errs[k/2], errs[k-1]
}

func wordsExactFacets(ctx context.Context, env *Env, coll, q string) (tags, sections wordsCounts, err error) {
	var a, b []byte
	if err := env.Pool.QueryRow(ctx, wordsExactFacetSQL, pgx.QueryExecModeCacheDescribe, coll, q).Scan(&a, &b); err != nil {
		return tags, sections, err
	}
	if err := json.Unmarshal(a, &tags); err != nil {
		return tags, sections, err
	}
	return tags, sections, json.Unmarshal(b, &sections)
}

func runSearchWordsFacets(ctx context.Context, env *Env) ([]Result, error) {
	coll, err := srchSetup(ctx, env)
	if err != nil {
		return nil, err
	}
	var out []Result
	for _, q := range wordFacetQueries {
		v := url.Values{"collection": {coll}, "q": {q}, "limit": {"20"}, "facets": {"tags,props.section"}}
		count, err := wordsCount(ctx, env, coll, q)
		if err != nil {
			return nil, err
		}
		res, err := wordsGet(ctx, env, v)
		if err != nil {
			return nil, err
		}
		tags, sections, err := wordsExactFacets(ctx, env, coll, q)
		if err != nil {
			return nil, err
		}
		n, d := wordsLoad(env)
		g, b := Paired(ctx, 1, n/2, 2, d/2,
			func(ctx context.Context) error { _, err := wordsGet(ctx, env, v); return err },
			func(ctx context.Context) error { _, _, err := wordsExactFacets(ctx, env, coll, q); return err })
		for _, st := range []Stats{g, b} {
			if err := srchErr(st, q); err != nil {
				return nil, err
			}
		}
		gt, gs := res.Facets.values()
		tSame, tWorst := tags.order(gt, 10)
		sSame, sWorst := sections.order(gs, 10)
		tc, sc := res.Facets.counts()
		tMed, tMax := tags.estimateError(tc, 10)
		sMed, sMax := sections.estimateError(sc, 10)
		out = append(out, Result{
			Scenario: "search/words/facets/" + q + " p95", Geoseek: srchMS(g.P95), Baseline: srchMS(b.P95), Unit: "ms", LowerIsBetter: true,
			Note: fmt.Sprintf("%d matches of %d docs; approximate %t (sample %d matches, total %d); p50 %.1f vs %.1f ms (baseline: exact GROUP BY over every match via pgx); top-10 tags identical to exact: %t (largest exact-count gap of a swapped pair %.1f%%; counts of the exact top 10 off by %.0f%% median, %.0f%% at most); top-10 sections identical: %t (%.1f%%; off by %.0f%% median, %.0f%% at most)",
				count, srchTarget(env), res.Facets.Approximate, res.Facets.SampleSize, res.Total, srchMS(g.P50), srchMS(b.P50),
				tSame, 100*tWorst, 100*tMed, 100*tMax, sSame, 100*sWorst, 100*sMed, 100*sMax),
		})
	}
	return out, nil
}

// wordsResult is the part of a search answer these scenarios check.
type wordsResult struct {
	Ranking string `json:"ranking"`
	Total   int64  `json:"total"`
	Hits    []struct {
		ID int64 `json:"id"`
	} `json:"hits"`
	Facets wordsFacets `json:"facets"`
}

type wordsFacets struct {
	Tags        []wordsFacetValue            `json:"tags"`
	Props       map[string][]wordsFacetValue `json:"props"`
	Approximate bool                         `json:"approximate"`
	SampleSize  int64                        `json:"sample_size"`
}

func (r *wordsResult) ids() []int64 {
	out := make([]int64, len(r.Hits))
	for i, h := range r.Hits {
		out[i] = h.ID
	}
	return out
}

type wordsFacetValue struct {
	Value json.RawMessage `json:"value"`
	Count int64           `json:"count"`
}

// counts are the answer's tag and section counts by value, as JSON.
func (f wordsFacets) counts() (tags, sections map[string]int64) {
	tags, sections = map[string]int64{}, map[string]int64{}
	for _, t := range f.Tags {
		tags[string(t.Value)] = t.Count
	}
	for _, s := range f.Props["section"] {
		sections[string(s.Value)] = s.Count
	}
	return tags, sections
}

// values are the tag and section values in the answer's order, as JSON.
func (f wordsFacets) values() (tags, sections []string) {
	for _, t := range f.Tags {
		tags = append(tags, string(t.Value))
	}
	for _, s := range f.Props["section"] {
		sections = append(sections, string(s.Value))
	}
	return tags, sections
}

// wordsGet runs GET /search and decodes the answer.
func wordsGet(ctx context.Context, env *Env, v url.Values) (*wordsResult, error) {
	var res wordsResult
	if err := getSearch(ctx, env, v, &res); err != nil {
		return nil, err
	}
	return &res, nil
}
