package search_test

import (
	"context"
	"math/rand/v2"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/geoseek/geoseek/search"
)

// boundShapes are keyword queries of every shape over the words seedWords
// uses: AND of 2-4 words, OR, phrases, negation (of a word and of a
// phrase), mixed, a rare word and a word in no document.
var boundShapes = []string{
	"zinc quartz", "zinc quartz ember", "zinc quartz ember fjord",
	"zinc or quartz", "zinc or quartz or ember", "zinc or quartz or ember or fjord",
	`"zinc quartz"`, `"zinc quartz" ember`, `"quartz ember fjord"`,
	"zinc -quartz", "zinc quartz -ember", "zinc or quartz -fjord", `zinc -"quartz ember"`,
	"zinc or glyph", "glyph ember", "zinc nonesuch", "zinc or nonesuch",
	`"zinc zinc"`, `"zinc of the quartz"`, `"quartz zinc quartz"`,
}

// seedWords inserts n documents into collection "t" whose titles and
// bodies mix the words of boundShapes at skewed frequencies (some
// documents reach the high impact tiers for a word, most do not), with
// fillers between them so covers have noise, and a tag on every document.
func seedWords(t *testing.T, b bundle, n int) {
	t.Helper()
	r := rand.New(rand.NewPCG(7, 11))
	words := []string{"zinc", "quartz", "ember", "fjord", "zinc", "quartz", "zinc"}
	fill := []string{"stone", "river", "old", "bright", "deep", "cold", "long"}
	pick := func(k int) string {
		var out []string
		for i := 0; i < k; i++ {
			if r.IntN(3) == 0 {
				out = append(out, fill[r.IntN(len(fill))])
			} else {
				out = append(out, words[r.IntN(len(words))])
			}
		}
		return strings.Join(out, " ")
	}
	titles, bodies, tags := make([]string, n), make([]string, n), make([]string, n)
	for i := range n {
		titles[i] = pick(r.IntN(4))
		k := r.IntN(12)
		if r.IntN(8) == 0 {
			k = 20 + r.IntN(80) // a few long bodies reach high tiers
		}
		bodies[i] = pick(k)
		if i%37 == 0 {
			bodies[i] += " glyph"
		}
		tags[i] = []string{"a", "b", "c"}[i%3]
	}
	_, err := b.db.Pool.Exec(context.Background(), `INSERT INTO documents (collection_id, title, body, tags)
		SELECT (SELECT id FROM collections WHERE name = 't'), x.t, x.b, ARRAY[x.g]
		FROM unnest($1::text[], $2::text[], $3::text[]) AS x(t, b, g)`, titles, bodies, tags)
	require.NoError(t, err)
}

// TestBoundedEqualsExact checks that bounded ranking (several words
// through the impact tiers) returns exactly what ranking every match
// returns — ids, scores, order, first page and every later one — for every
// query shape, with and without a filter, and that it really answers from
// the tiers for some of them instead of always falling back.
func TestBoundedEqualsExact(t *testing.T) {
	t.Parallel()
	b := setup(t, search.Config{ForceStrategy: search.StrategyBounded})
	seedWords(t, b, 1500)
	ctx := context.Background()
	exact := search.NewService(b.db.Pool, search.Config{ForceStrategy: search.StrategyExact})
	run := func(svc *search.Service, v url.Values) *search.Result {
		v.Set("collection", "t")
		q, err := search.ParseValues(v)
		require.NoError(t, err)
		res, err := svc.Search(ctx, q)
		require.NoError(t, err, "%v", v)
		return res
	}
	type hit struct {
		id    int64
		score float64
	}
	hits := func(res *search.Result) []hit {
		out := []hit{}
		for _, h := range res.Hits {
			out = append(out, hit{h.ID, *h.Score})
		}
		return out
	}
	all := func(svc *search.Service, v url.Values, limit string) []hit {
		out := []hit{}
		cur := ""
		for pages := 0; pages < 300; pages++ {
			pv := cloneWith(v, "limit", limit)
			if cur != "" {
				pv.Set("cursor", cur)
			}
			res := run(svc, pv)
			out = append(out, hits(res)...)
			if cur = res.NextCursor; cur == "" {
				break
			}
		}
		return out
	}
	bounded := map[string]bool{}
	for _, q := range boundShapes {
		for _, v := range []url.Values{{"q": {q}}, {"q": {q}, "tags": {"b"}}} {
			want := all(exact, v, "500")
			for _, limit := range []string{"1", "3", "20"} {
				got := run(b.svc, cloneWith(v, "limit", limit))
				n := len(got.Hits)
				require.Equal(t, want[:n], hits(got), "%v limit %s", v, limit)
				require.Contains(t, []search.Strategy{search.StrategyBounded, search.StrategyExact, search.StrategyImpact, search.StrategyPair}, got.Ranking)
				if got.Ranking == search.StrategyBounded {
					bounded[q] = true
				}
			}
			require.Equal(t, want, all(b.svc, v, "40"), "%v", v)
		}
	}
	// More words than the tiers take: ranked exactly, the same answer.
	long := url.Values{"q": {"zinc or quartz or ember or fjord or glyph or stone or river or old or bright"}}
	got := run(b.svc, cloneWith(long, "limit", "20"))
	require.Equal(t, search.StrategyExact, got.Ranking)
	require.Equal(t, all(exact, long, "500")[:20], hits(got))
	// OR queries decompose exactly and reach high tiers: the tiers answer.
	for _, q := range []string{"zinc or quartz", "zinc or quartz or ember", "zinc or quartz -fjord"} {
		require.True(t, bounded[q], "%q was never answered from the tiers", q)
	}
	t.Logf("answered from the tiers: %v", bounded)
}

// TestBoundHolds checks the bound bounded ranking rests on against
// ts_rank_cd itself, on every matching document of every shape: the raw
// score never exceeds the sum of the one-lexeme scores of the query's
// lexemes, and equals it for an OR of lexemes.
func TestBoundHolds(t *testing.T) {
	t.Parallel()
	b := setup(t, search.Config{})
	seedWords(t, b, 800)
	ctx := context.Background()
	for _, q := range boundShapes {
		var n, over, orDiff, overPhrase int
		err := b.db.Pool.QueryRow(ctx, `
			WITH q AS (SELECT websearch_to_tsquery('english', $1) AS q),
			l AS (SELECT array_agg(DISTINCT m[1]) AS ls, count(*) AS k FROM q, regexp_matches(q.q::text, '''([^'']+)''', 'g') AS m),
			r AS (
				SELECT ts_rank_cd(`+search.RankWeights+`, d.search, q.q) AS raw,
				       (SELECT sum(ts_rank_cd(`+search.RankWeights+`, d.search, quote_literal(x)::tsquery)) FROM unnest(l.ls) x) AS bound,
				       l.k
				FROM documents d, q, l WHERE d.search @@ q.q)
			SELECT count(*), count(*) FILTER (WHERE raw > bound * (1 + 1e-6)),
			       count(*) FILTER (WHERE abs(raw - bound) > bound * 1e-6),
			       count(*) FILTER (WHERE raw > bound / k * (1 + 1e-6))
			FROM r`, q).Scan(&n, &over, &orDiff, &overPhrase)
		require.NoError(t, err, q)
		require.Zero(t, over, "%q: ts_rank_cd above the sum of its words' scores", q)
		// One phrase of distinct words: each occurrence is one cover of k
		// positions, so the bound divides by k (k counts the operands).
		if q[0] == '"' && q[len(q)-1] == '"' && strings.Count(q, `"`) == 2 && q != `"zinc zinc"` && q != `"quartz zinc quartz"` {
			require.Zero(t, overPhrase, "%q: a phrase scores above the sum of its words' scores over its length", q)
		}
		if !strings.ContainsAny(q, `"-`) && strings.Contains(q, " or ") && !strings.Contains(q, "nonesuch") {
			require.Zero(t, orDiff, "%q: an OR of words scores the sum of its words", q)
		}
		if !strings.Contains(q, "nonesuch") || strings.Contains(q, " or ") {
			require.Positive(t, n, q)
		}
	}
}
