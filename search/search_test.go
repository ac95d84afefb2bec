package search_test

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"github.com/twpayne/go-geom"

	"github.com/geoseek/geoseek/document"
	"github.com/geoseek/geoseek/internal/pgtest"
	"github.com/geoseek/geoseek/search"
)

type bundle struct {
	db  *pgtest.DB
	svc *search.Service
	ids map[string]int64 // external id -> id
}

func ptr[T any](v T) *T { return &v }

func day(d int) time.Time { return time.Date(2024, 1, d, 0, 0, 0, 0, time.UTC) }

// fixture is a small collection whose every attribute the tests check by
// hand. External ids name the documents.
var fixture = []document.Doc{
	{ExternalID: ptr("apple-title"), Title: "Apple pie recipe", Body: "Bake with butter and sugar.",
		Tags: []string{"food", "dessert"}, Props: map[string]any{"color": "red", "specs": map[string]any{"memory": 4}, "price": 3},
		Period: &document.Period{Lower: ptr(day(1)), Upper: ptr(day(10)), LowerInc: true}, Geometry: pt(13.40, 52.52)},
	{ExternalID: ptr("apple-body"), Title: "Dessert ideas", Body: "A classic is the apple crumble, served warm.",
		Tags: []string{"food"}, Props: map[string]any{"color": "green", "specs": map[string]any{"memory": 16}, "price": 7},
		Period: &document.Period{Lower: ptr(day(10)), Upper: ptr(day(20)), LowerInc: true}, Geometry: pt(13.41, 52.52)},
	{ExternalID: ptr("fox"), Title: "Animals", Body: "The quick brown fox jumps over the lazy dog.",
		Tags: []string{"animals", "classic"}, Props: map[string]any{"color": "brown", "specs": map[string]any{"memory": 32}, "price": 12, "legs": 4},
		Period: &document.Period{Lower: ptr(day(20)), Upper: ptr(day(25)), LowerInc: true, UpperInc: true}, Geometry: pt(2.35, 48.86)},
	{ExternalID: ptr("fox-rev"), Title: "Dogs", Body: "A lazy dog and a fox that is quick and brown.",
		Tags: []string{"animals"}, Props: map[string]any{"color": []any{"brown", "white"}, "price": 5},
		Geometry: pt(-0.13, 51.51)},
	{ExternalID: ptr("running"), Title: "Marathon training", Body: "She runs every morning; running builds endurance.",
		Tags: []string{"sport"}, Props: map[string]any{"price": 0, "specs": map[string]any{"memory": 8}},
		Period: &document.Period{Lower: ptr(day(26)), UpperInc: false}},
	{ExternalID: ptr("german"), Title: "Häuser", Body: "Die Häuser am Fluss sind alt.", Lang: "german",
		Tags: []string{"travel"}, Props: map[string]any{"color": "red"}, Geometry: pt(179.5, 0)},
	{ExternalID: ptr("polygon"), Title: "Park area", Body: "A green park with apple trees.", Tags: []string{"travel", "food"},
		Props:    map[string]any{"color": "green"},
		Geometry: geom.NewPolygonFlat(geom.XY, []float64{13.0, 52.0, 13.5, 52.0, 13.5, 52.4, 13.0, 52.4, 13.0, 52.0}, []int{10})},
}

func pt(lon, lat float64) geom.T { return geom.NewPointFlat(geom.XY, []float64{lon, lat}) }

func setup(t *testing.T, cfg search.Config) bundle {
	t.Helper()
	db := pgtest.New(t)
	ctx := context.Background()
	_, err := db.Pool.Exec(ctx, `INSERT INTO collections (name, default_lang) VALUES ('t', 'english')`)
	require.NoError(t, err)
	if cfg.ForceStrategy == search.StrategyRUM {
		// RUM is opt-in (migration 00034); the tests of its strategy build it.
		_, err := db.Pool.Exec(ctx, `CREATE EXTENSION IF NOT EXISTS rum;
			CREATE INDEX documents_search_rum_idx ON documents USING rum (search rum_tsvector_ops)`)
		if err != nil {
			t.Skipf("SKIP: the rum extension is not installed (%v)", err)
		}
	}
	b := bundle{db: db, svc: search.NewService(db.Pool, cfg), ids: map[string]int64{}}
	for _, d := range fixture {
		d.Collection = "t"
		id, err := document.Insert(ctx, db.Pool, &d)
		require.NoError(t, err)
		b.ids[*d.ExternalID] = id
	}
	return b
}

func (b bundle) search(t *testing.T, v url.Values) *search.Result {
	t.Helper()
	if v.Get("collection") == "" {
		v.Set("collection", "t")
	}
	q, err := search.ParseValues(v)
	require.NoError(t, err)
	res, err := b.svc.Search(context.Background(), q)
	require.NoError(t, err, "%v", v)
	return res
}

func (b bundle) names(res *search.Result) []string {
	rev := map[int64]string{}
	for k, v := range b.ids {
		rev[v] = k
	}
	out := []string{}
	for _, h := range res.Hits {
		out = append(out, rev[h.ID])
	}
	return out
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	sort.Strings(s)
	return s
}

func TestFiltersAgainstHandCheckedRows(t *testing.T) {
	t.Parallel()
	b := setup(t, search.Config{})
	cases := []struct {
		name string
		v    url.Values
		want []string
	}{
		{"tags all", url.Values{"tags": {"food,dessert"}}, []string{"apple-title"}},
		{"tags any", url.Values{"tags_any": {"sport,travel"}}, []string{"german", "polygon", "running"}},
		{"tags within", url.Values{"tags_within": {"food,dessert,animals"}}, []string{"apple-body", "apple-title", "fox-rev"}},
		{"has", url.Values{"has": {"legs"}}, []string{"fox"}},
		{"has any", url.Values{"has_any": {"legs,specs"}}, []string{"apple-body", "apple-title", "fox", "running"}},
		{"has all", url.Values{"has_all": {"color,specs"}}, []string{"apple-body", "apple-title", "fox"}},
		{"contains", url.Values{"props": {`{"specs":{"memory":16}}`}}, []string{"apple-body"}},
		{"path >=", url.Values{"prop": {"specs.memory >= 16"}}, []string{"apple-body", "fox"}},
		{"path <", url.Values{"prop": {"price < 5"}}, []string{"apple-title", "running"}},
		{"path == string", url.Values{"prop": {`color == "red"`}}, []string{"apple-title", "german"}},
		{"path != ", url.Values{"prop": {"color != red"}}, []string{"apple-body", "fox", "fox-rev", "polygon", "running"}},
		{"two conditions", url.Values{"prop": {"price >= 3", "price <= 7"}}, []string{"apple-body", "apple-title", "fox-rev"}},
		{"period overlaps", url.Values{"period_overlaps": {"[2024-01-09,2024-01-11)"}}, []string{"apple-body", "apple-title"}},
		{"period overlaps exclusive", url.Values{"period_overlaps": {"(2024-01-05,2024-01-10)"}}, []string{"apple-title"}},
		{"period contains instant", url.Values{"period_contains": {"2024-01-10"}}, []string{"apple-body"}},
		{"period contains instant inclusive upper", url.Values{"period_contains": {"2024-01-25"}}, []string{"fox"}},
		{"period contains range", url.Values{"period_contains": {"[2024-01-02,2024-01-05]"}}, []string{"apple-title"}},
		{"period within", url.Values{"period_within": {"[2024-01-01,2024-01-20]"}}, []string{"apple-body", "apple-title"}},
		{"period before", url.Values{"period_before": {"[2024-01-10,2024-01-12)"}}, []string{"apple-title"}},
		{"period after", url.Values{"period_after": {"[2024-01-01,2024-01-20)"}}, []string{"fox", "running"}},
		{"period adjacent", url.Values{"period_adjacent": {"[2024-01-20,2024-01-21)"}}, []string{"apple-body"}},
		{"bbox", url.Values{"bbox": {"13.3,52.45,13.5,52.6"}}, []string{"apple-body", "apple-title"}},
		{"bbox antimeridian", url.Values{"bbox": {"179,-1,-179,1"}}, []string{"german"}},
		{"near 1km", url.Values{"near": {"13.405,52.52,500"}}, []string{"apple-body", "apple-title"}},
		{"near 400km", url.Values{"near": {"2.35,48.86,400000"}}, []string{"fox", "fox-rev"}},
		{"near polygon edge", url.Values{"near": {"13.25,52.41,2000"}}, []string{"polygon"}},
		{"intersects", url.Values{"intersects": {`{"type":"Polygon","coordinates":[[[13.2,52.1],[13.405,52.1],[13.405,52.6],[13.2,52.6],[13.2,52.1]]]}`}},
			[]string{"apple-title", "polygon"}},
		{"or/not tree", url.Values{"filter": {`{"or":[{"tags":{"all":["sport"]}},{"not":{"has_any_typo_guard":1}}]}`}}, nil},
		{"not", url.Values{"filter": {`{"and":[{"tags":{"any":["animals","food"]}},{"not":{"prop":"color == brown"}}]}`}},
			[]string{"apple-body", "apple-title", "fox-rev", "polygon"}},
		{"created window", url.Values{"created": {"2000-01-01/.."}}, []string{"apple-body", "apple-title", "fox", "fox-rev", "german", "polygon", "running"}},
		{"created window empty", url.Values{"created": {"../2000-01-01"}}, []string{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.want == nil {
				_, err := search.ParseValues(url.Values{"collection": {"t"}, "filter": tc.v["filter"]})
				require.Error(t, err)
				return
			}
			v := tc.v
			v.Set("limit", "100")
			res := b.search(t, v)
			require.Equal(t, tc.want, sorted(b.names(res)))
		})
	}
}

func TestKeywordRanking(t *testing.T) {
	t.Parallel()
	for _, cfg := range []search.Config{
		{DisableRUM: true}, {}, {ForceStrategy: search.StrategyRUM}, {ForceStrategy: search.StrategyRecent},
	} {
		b := setup(t, cfg)
		if cfg.ForceStrategy == search.StrategyRUM {
			ok, err := b.svc.HasRUM(context.Background())
			require.NoError(t, err)
			require.True(t, ok, "setup creates the opt-in RUM index where the extension is installed (make setup installs it)")
		}
		// Title hit above body hit.
		res := b.search(t, url.Values{"q": {"apple"}})
		require.Equal(t, []string{"apple-title", "apple-body", "polygon"}[:2], b.names(res)[:2])
		if cfg.ForceStrategy != "" {
			require.Equal(t, cfg.ForceStrategy, res.Ranking)
		} else {
			require.Equal(t, search.StrategyExact, res.Ranking)
		}
		require.Greater(t, *res.Hits[0].Score, *res.Hits[1].Score)
		require.Contains(t, res.Hits[0].Highlights.Title, "<mark>Apple</mark>")
		require.Contains(t, res.Hits[1].Highlights.Body, "<mark>apple</mark>")
		// Phrase: only the document with the words adjacent and in order.
		res = b.search(t, url.Values{"q": {`"quick brown fox"`}})
		require.Equal(t, []string{"fox"}, b.names(res))
		// Without quotes both match; the ordered, dense one ranks first.
		res = b.search(t, url.Values{"q": {"quick brown fox"}})
		require.Equal(t, []string{"fox", "fox-rev"}, b.names(res))
		// Negation.
		res = b.search(t, url.Values{"q": {"fox -lazy"}})
		require.Empty(t, res.Hits)
		res = b.search(t, url.Values{"q": {"apple -crumble"}})
		require.Equal(t, []string{"apple-title", "polygon"}, sorted(b.names(res)))
		// OR.
		res = b.search(t, url.Values{"q": {"marathon or crumble"}})
		require.Equal(t, []string{"apple-body", "running"}, sorted(b.names(res)))
		// Prefix, as you type.
		res = b.search(t, url.Values{"q": {"apple cru"}, "prefix": {"true"}})
		require.Equal(t, []string{"apple-body"}, b.names(res))
		res = b.search(t, url.Values{"q": {"apple cru"}})
		require.NotEqual(t, []string{"apple-body"}, b.names(res)) // without prefix, "cru" is a whole word
		res = b.search(t, url.Values{"q": {"endur"}, "prefix": {"true"}})
		require.Equal(t, []string{"running"}, b.names(res))
		// English stemming: "run" finds "runs"/"running".
		res = b.search(t, url.Values{"q": {"run"}})
		require.Equal(t, []string{"running"}, b.names(res))
		// German stemming with the requested language: Haus ~ Häuser.
		res = b.search(t, url.Values{"q": {"Häuser"}, "lang": {"german"}})
		require.Equal(t, []string{"german"}, b.names(res))
		// Unknown language is a 400, not a server error.
		q, err := search.ParseValues(url.Values{"collection": {"t"}, "q": {"x"}, "lang": {"klingon"}})
		require.NoError(t, err)
		_, err = b.svc.Search(context.Background(), q)
		require.ErrorContains(t, err, "unknown text search configuration")
		// Typo tolerance on titles when the text finds nothing.
		res = b.search(t, url.Values{"q": {"marathin"}})
		require.True(t, res.Fuzzy)
		require.Equal(t, []string{"running"}, b.names(res))
	}
}

func TestPagingVisitsEveryHitOnce(t *testing.T) {
	t.Parallel()
	for _, strat := range []search.Strategy{"", search.StrategyRUM, search.StrategyRecent} {
		t.Run(string(strat), func(t *testing.T) {
			t.Parallel()
			testPaging(t, search.Config{ForceStrategy: strat})
		})
	}
}

func testPaging(t *testing.T, cfg search.Config) {
	b := setup(t, cfg)
	ctx := context.Background()
	// More rows with ties, so keyset paging must break them by id.
	for i := 0; i < 40; i++ {
		d := document.Doc{Collection: "t", Title: "tea", Body: "green tea leaves", Tags: []string{"tea"},
			Props: map[string]any{"n": i % 3}, Geometry: pt(float64(i%5), 0)}
		if i%4 == 0 {
			d.Props = map[string]any{}
			d.Geometry = nil
		}
		_, err := document.Insert(ctx, b.db.Pool, &d)
		require.NoError(t, err)
	}
	for _, v := range []url.Values{
		{"q": {"tea"}},
		{"q": {"green"}},
		{"tags": {"tea"}, "sort": {"props.n"}},
		{"tags": {"tea"}, "sort": {"-props.n"}},
		{"tags": {"tea"}, "sort": {"distance"}, "point": {"1,0"}},
		{"tags": {"tea"}, "sort": {"-distance"}, "point": {"1,0"}},
		{"sort": {"-created"}},
		{"sort": {"updated"}},
		{"sort": {"period"}},
		{"sort": {"-id"}},
		{},
	} {
		all := b.search(t, cloneWith(v, "limit", "500"))
		var got []int64
		cur := ""
		for pages := 0; pages < 100; pages++ {
			pv := cloneWith(v, "limit", "7")
			if cur != "" {
				pv.Set("cursor", cur)
			}
			res := b.search(t, pv)
			for _, h := range res.Hits {
				got = append(got, h.ID)
			}
			cur = res.NextCursor
			if cur == "" {
				break
			}
		}
		want := []int64{}
		for _, h := range all.Hits {
			want = append(want, h.ID)
		}
		require.Equal(t, want, got, "%v", v)
		require.NotEmpty(t, want)
	}
	// A cursor from one query is refused by another.
	res := b.search(t, url.Values{"q": {"tea"}, "limit": {"2"}})
	q, err := search.ParseValues(url.Values{"collection": {"t"}, "q": {"green"}, "cursor": {res.NextCursor}})
	require.NoError(t, err)
	_, err = b.svc.Search(ctx, q)
	require.ErrorContains(t, err, "different query")
}

func TestCandidateStrategiesTruncate(t *testing.T) {
	t.Parallel()
	for _, strat := range []search.Strategy{search.StrategyRUM, search.StrategyRecent} {
		b := setup(t, search.Config{ForceStrategy: strat, CandidateWindow: 5, SampleSize: 5})
		for i := 0; i < 9; i++ {
			_, err := document.Insert(context.Background(), b.db.Pool, &document.Doc{Collection: "t", Title: "tea", Body: "tea"})
			require.NoError(t, err)
		}
		res := b.search(t, url.Values{"q": {"tea"}, "limit": {"3"}})
		require.Len(t, res.Hits, 3)
		require.False(t, res.Truncated)
		res = b.search(t, url.Values{"q": {"tea"}, "limit": {"3"}, "cursor": {res.NextCursor}})
		require.Len(t, res.Hits, 2)
		require.True(t, res.Truncated, strat)
		require.Empty(t, res.NextCursor)
	}
}

func TestEstimateDrivesStrategy(t *testing.T) {
	t.Parallel()
	b := setup(t, search.Config{})
	q, err := search.ParseValues(url.Values{"collection": {"t"}, "q": {"apple"}})
	require.NoError(t, err)
	p, err := b.svc.Prepare(context.Background(), q)
	require.NoError(t, err)
	est, err := b.svc.Estimate(context.Background(), p)
	require.NoError(t, err)
	require.GreaterOrEqual(t, est, 1.0)
	require.Less(t, est, float64(search.ExactMaxWithRUM))
}

func cloneWith(v url.Values, k, val string) url.Values {
	out := url.Values{}
	for kk, vv := range v {
		out[kk] = slices.Clone(vv)
	}
	out.Set(k, val)
	return out
}

func TestFacetsEqualGroupByCounts(t *testing.T) {
	t.Parallel()
	b := setup(t, search.Config{})
	ctx := context.Background()
	for _, v := range []url.Values{
		{"facets": {"tags,props.color,props.specs.memory"}, "facet_limit": {"1000"}},
		{"q": {"apple"}, "facets": {"tags,props.color"}},
		{"tags_any": {"food,animals"}, "facets": {"tags,props.color"}},
	} {
		res := b.search(t, v)
		require.NotNil(t, res.Facets)
		// Reference: plain GROUP BY over the same matched ids.
		ids := matchedIDs(t, b, v)
		require.Equal(t, int64(len(ids)), *res.Total)
		rows, err := b.db.Pool.Query(ctx, `SELECT t, count(*) FROM documents, unnest(tags) t WHERE id = ANY($1) GROUP BY t`, ids)
		require.NoError(t, err)
		want := valueCounts(t, rows)
		got := map[string]int64{}
		for _, fv := range res.Facets.Tags {
			var s string
			require.NoError(t, json.Unmarshal(fv.Value, &s))
			got[s] = fv.Count
		}
		require.Equal(t, want, got, "%v", v)
		// props.color: arrays count per element.
		rows, err = b.db.Pool.Query(ctx, `SELECT v::text, count(*) FROM documents,
			jsonb_array_elements(CASE jsonb_typeof(props->'color') WHEN 'array' THEN props->'color' ELSE jsonb_build_array(props->'color') END) v
			WHERE id = ANY($1) AND props ? 'color' GROUP BY v`, ids)
		require.NoError(t, err)
		want = valueCounts(t, rows)
		got = map[string]int64{}
		for _, fv := range res.Facets.Props["color"] {
			got[string(fv.Value)] = fv.Count
		}
		require.Equal(t, want, got, "%v", v)
	}
}

// valueCounts reads (value, count) rows into a map.
func valueCounts(t *testing.T, rows pgx.Rows) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for rows.Next() {
		var k string
		var n int64
		require.NoError(t, rows.Scan(&k, &n))
		out[k] = n
	}
	require.NoError(t, rows.Err())
	return out
}

func matchedIDs(t *testing.T, b bundle, v url.Values) []int64 {
	t.Helper()
	v = cloneWith(v, "limit", "500")
	v.Del("facets")
	res := b.search(t, v)
	var ids []int64
	for _, h := range res.Hits {
		ids = append(ids, h.ID)
	}
	return ids
}

func TestInjectionAttemptsAreInert(t *testing.T) {
	t.Parallel()
	b := setup(t, search.Config{})
	evil := []string{`'; DROP TABLE documents; --`, `") OR 1=1 --`, `\'; SELECT pg_sleep(5); --`, `a'::text) OR (TRUE`, `$1`, "x\\'y", `%' OR '%'='`}
	for _, e := range evil {
		for _, v := range []url.Values{
			{"q": {e}}, {"q": {e}, "prefix": {"true"}}, {"tags": {e}}, {"tags_any": {e}}, {"has": {e}},
			{"has_any": {e}}, {"prop": {"color == " + jsonString(e)}}, {"prop": {"price < " + jsonString(e)}},
			{"props": {`{"k":` + jsonString(e) + `}`}}, {"facets": {"props.a"}, "q": {e}},
		} {
			res := b.search(t, v)
			for _, h := range res.Hits {
				// Only a text query may match (e.g. "1" or "true" words); no filter above does.
				require.NotEmpty(t, v.Get("q"), "%v matched %d", v, h.ID)
			}
		}
	}
	var n int
	require.NoError(t, b.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM documents`).Scan(&n))
	require.Equal(t, len(fixture), n)
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestUnknownCollectionAndModes(t *testing.T) {
	t.Parallel()
	b := setup(t, search.Config{})
	q, err := search.ParseValues(url.Values{"collection": {"nope"}})
	require.NoError(t, err)
	_, err = b.svc.Search(context.Background(), q)
	require.ErrorContains(t, err, "Not found")
}

// Search statements must never become generic plans: they run as unnamed
// statements (QueryExecModeCacheDescribe), planned with the actual values on
// every execution. A named prepared statement on the connection would mean
// PostgreSQL could switch to a generic plan after five runs.
func TestSearchStatementsAreNeverPrepared(t *testing.T) {
	t.Parallel()
	b := setup(t, search.Config{})
	ctx := context.Background()
	pc, err := pgxpool.ParseConfig(b.db.URL)
	require.NoError(t, err)
	pc.MaxConns = 1 // one connection, so the check sees every statement
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	svc := search.NewService(pool, search.Config{})
	for i := 0; i < 8; i++ {
		q, err := search.ParseValues(url.Values{"collection": {"t"}, "q": {"apple"}, "facets": {"tags"}, "tags_any": {"food"}})
		require.NoError(t, err)
		_, err = svc.Search(ctx, q)
		require.NoError(t, err)
	}
	var n int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM pg_prepared_statements
		WHERE (statement LIKE '%ts_rank_cd%' OR statement LIKE '%unnest(m.tags)%') AND statement NOT LIKE '%pg_prepared_statements%'`).Scan(&n))
	require.Zero(t, n)
	// Control: the default exec mode does prepare (so the check can fail).
	_, err = pool.Exec(ctx, `SELECT ts_rank_cd(to_tsvector('a'), to_tsquery('a')) WHERE $1::int = 1`, 1)
	require.NoError(t, err)
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM pg_prepared_statements
		WHERE statement LIKE '%ts_rank_cd%' AND statement NOT LIKE '%pg_prepared_statements%'`).Scan(&n))
	require.Equal(t, 1, n)
}

// A long body is highlighted from its start when a match is there, and
// through the whole text when the only match is further on: found by the
// search for the word's start (also among multi-byte characters, cut at
// whole ones), or, when the word is written otherwise or its start is
// another word's, by the stretches.
func TestHighlightsOfLongBodies(t *testing.T) {
	t.Parallel()
	b := setup(t, search.Config{})
	ctx := context.Background()
	filler := strings.Repeat("lorem ipsum dolor sit amet ", 800) // 21,600 characters
	wide := strings.Repeat("façade ŝ 😀 ", 2000)                  // 24,000 characters, 38,000 bytes
	for name, body := range map[string]string{
		"early":     "A zeppelin manual. " + filler + " More on the zeppelin.",
		"late":      filler + " At last a zeppelin.",
		"wide":      wide + " At last a zeppelin. " + wide,
		"capital":   filler + " ZEPPELIN, at last.",
		"lookalike": filler + " zeppelinesque " + filler + " a zeppelin.",
	} {
		id, err := document.Insert(ctx, b.db.Pool, &document.Doc{Collection: "t", ExternalID: ptr(name), Title: name, Body: body})
		require.NoError(t, err)
		b.ids[name] = id
	}
	res := b.search(t, url.Values{"q": {"zeppelin"}})
	require.ElementsMatch(t, []string{"early", "late", "wide", "capital", "lookalike"}, b.names(res))
	for _, h := range res.Hits {
		require.Regexp(t, `<mark>(zeppelin|ZEPPELIN)</mark>`, h.Highlights.Body, "hit %d", h.ID)
		require.Less(t, len(h.Highlights.Body), 1000, "a headline, not the body")
		require.True(t, utf8.ValidString(h.Highlights.Body))
	}
}

// search_headline on long bodies of characters of every UTF-8 width, the
// word at random places, once or twice and in other cases: never an error,
// always valid text, and a match highlighted whenever the body holds one
// as written.
func TestSearchHeadlineCutsAtWholeCharacters(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(7, 21))
	chars := []string{"a", "é", "ŝ", "€", "語", "😀", " ", " ", "\n"}
	for i := range 150 {
		var sb strings.Builder
		n := 10_000 + rng.IntN(30_000)
		for sb.Len() < n {
			sb.WriteString(chars[rng.IntN(len(chars))])
		}
		body := []rune(sb.String())
		word := []string{"zeppelin", "zeppelins", "Zeppelin", "ZEPPELIN"}[i%4]
		at := rng.IntN(len(body))
		text := string(body[:at]) + " " + word + " " + string(body[at:])
		var h string
		err := db.Pool.QueryRow(ctx, `SELECT search_headline('english', $1, websearch_to_tsquery('english', 'zeppelin'),
			'MaxFragments=2, MaxWords=30, MinWords=12, StartSel=' || chr(2) || ', StopSel=' || chr(3))`, text).Scan(&h)
		require.NoError(t, err, "case %d", i)
		require.True(t, utf8.ValidString(h), "case %d", i)
		require.Contains(t, h, "\x02", "case %d: %s at %d of %d", i, word, at, len(body))
	}
}

// A facet of one props key is read with -> rather than jsonb_path_query;
// for every kind of JSON value it counts what lax $."k"[*] gives, and a
// path of two keys still goes through jsonb_path_query.
func TestFacetOfOneKeyAgreesWithJSONPath(t *testing.T) {
	t.Parallel()
	b := setup(t, search.Config{})
	ctx := context.Background()
	_, err := b.db.Pool.Exec(ctx, `INSERT INTO collections (name, default_lang) VALUES ('kinds', 'english')`)
	require.NoError(t, err)
	values := []string{`"a"`, `["a", "b", "a"]`, `[["x"], "y", null, {"o": 1}]`, `{"o": 1}`, `null`, `3`, `3.0`, `true`, `[]`, `""`, `"a"`}
	for i, v := range values {
		props := `{"k": ` + v + `, "n": {"k": ` + v + `}, "m": [{"k": ` + v + `}, {"k": "z"}]}`
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(props), &m))
		_, err := document.Insert(ctx, b.db.Pool, &document.Doc{Collection: "kinds", ExternalID: ptr("kind-" + strconv.Itoa(i)), Title: "kinds", Props: m})
		require.NoError(t, err)
	}
	_, err = document.Insert(ctx, b.db.Pool, &document.Doc{Collection: "kinds", ExternalID: ptr("no-key"), Title: "kinds", Props: map[string]any{"other": 1}})
	require.NoError(t, err)
	for _, path := range []string{"k", "n.k", "m.k"} {
		res := b.search(t, url.Values{"collection": {"kinds"}, "facets": {"props." + path}, "facet_limit": {"1000"}})
		require.NotNil(t, res.Facets)
		got := map[string]int64{}
		for _, fv := range res.Facets.Props[path] {
			got[string(fv.Value)] = fv.Count
		}
		rows, err := b.db.Pool.Query(ctx, `SELECT x::text, count(*) FROM documents d JOIN collections c ON c.id = d.collection_id,
			jsonb_path_query(d.props, $1::jsonpath) x WHERE c.name = 'kinds' GROUP BY 1`, "lax "+search.JSONPath(strings.Split(path, "."))+"[*]")
		require.NoError(t, err)
		want := valueCounts(t, rows)
		require.NotEmpty(t, want)
		// Values come back as JSON text; compare them parsed and printed alike.
		norm := func(m map[string]int64) map[string]int64 {
			out := map[string]int64{}
			for k, n := range m {
				var v any
				require.NoError(t, json.Unmarshal([]byte(k), &v))
				b, _ := json.Marshal(v)
				out[string(b)] += n
			}
			return out
		}
		require.Equal(t, norm(want), norm(got), "props.%s", path)
	}
}
