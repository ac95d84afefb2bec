package search_test

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/geoseek/geoseek/document"
	"github.com/geoseek/geoseek/search"
)

// TestImpactEqualsExact checks that impact ranking returns exactly what
// ranking every match returns — ids, scores and order, first page and every
// later one — across tier boundaries, ties, filters and the rest below the
// lowest tier.
func TestImpactEqualsExact(t *testing.T) {
	t.Parallel()
	b := setup(t, search.Config{ForceStrategy: search.StrategyImpact})
	ctx := context.Background()
	_, err := b.db.Pool.Exec(ctx, `INSERT INTO collections (name, default_lang) VALUES ('other', 'english')`)
	require.NoError(t, err)
	for i := 0; i < 160; i++ {
		// Title 0-2 times "tea", body 0-39 times: scores from 0.4 to 17.6
		// on the 0.1 grid, many ties, every tier up to 16.0 populated.
		title := strings.Repeat("tea ", i%3) + "leaves"
		body := strings.Repeat("tea cup ", (i*7)%40) + "kettle"
		d := document.Doc{Collection: "t", Title: title, Body: body, Tags: []string{[]string{"green", "black"}[i%2]}}
		if i%5 == 0 {
			d.Collection = "other" // same tokens in another collection
		}
		_, err := document.Insert(ctx, b.db.Pool, &d)
		require.NoError(t, err)
	}
	exact := search.NewService(b.db.Pool, search.Config{ForceStrategy: search.StrategyExact})
	run := func(svc *search.Service, v url.Values) *search.Result {
		v.Set("collection", "t")
		q, err := search.ParseValues(v)
		require.NoError(t, err)
		res, err := svc.Search(ctx, q)
		require.NoError(t, err)
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
	for _, v := range []url.Values{
		{"q": {"tea"}},
		{"q": {"Teas"}},
		{"q": {"tea"}, "tags": {"black"}},
		{"q": {"tea"}, "tags": {"none-such"}},
		{"q": {"kettle"}}, // every score below the lowest tier
		{"q": {"tea cup"}},
		{"q": {"tea -cup"}},
		{"q": {"tea"}, "prefix": {"true"}},
	} {
		want := run(exact, cloneWith(v, "limit", "500"))
		for _, limit := range []string{"1", "3", "20", "500"} {
			got := run(b.svc, cloneWith(v, "limit", limit))
			n := len(got.Hits)
			require.Equal(t, hits(want)[:n], hits(got), "%v limit %s", v, limit)
			if got.NextCursor == "" {
				require.Len(t, want.Hits, n)
			}
			single := v.Get("prefix") == "" && !strings.ContainsAny(v.Get("q"), " -")
			switch {
			case single:
				require.Equal(t, search.StrategyImpact, got.Ranking, "%v", v)
			case v.Get("prefix") != "":
				require.Equal(t, search.StrategyExact, got.Ranking, "%v", v)
			default: // several words: bounded, or exact when the bound cannot prove the page
				require.Contains(t, []search.Strategy{search.StrategyBounded, search.StrategyExact}, got.Ranking, "%v", v)
			}
		}
		// Paging through cursors visits the exact order once.
		paged := []hit{}
		cur := ""
		for pages := 0; pages < 200; pages++ {
			pv := cloneWith(v, "limit", "7")
			if cur != "" {
				pv.Set("cursor", cur)
			}
			res := run(b.svc, pv)
			paged = append(paged, hits(res)...)
			if cur = res.NextCursor; cur == "" {
				break
			}
		}
		require.Equal(t, hits(want), paged, "%v", v)
	}
	// The tiers really are used: "tea" reaches the top tiers.
	res := run(b.svc, url.Values{"q": {"tea"}, "limit": {"1"}})
	require.Greater(t, *res.Hits[0].Score, 16.0/17)
}

// TestSearchImpactsMatchesRank checks migration 00031's function against
// ts_rank_cd itself: every lexeme of every document scoring at least 2.0
// has exactly one token, whose tier is the highest not above its score.
func TestSearchImpactsMatchesRank(t *testing.T) {
	t.Parallel()
	b := setup(t, search.Config{})
	ctx := context.Background()
	for i := 0; i < 30; i++ {
		d := document.Doc{Collection: "t", Title: strings.Repeat("Tea ", i%4) + "it's",
			Body: strings.Repeat("tea leaves ", i) + strings.Repeat("o'brien ", i%6)}
		_, err := document.Insert(ctx, b.db.Pool, &d)
		require.NoError(t, err)
	}
	var bad []string
	rows, err := b.db.Pool.Query(ctx, `
		WITH l AS (
			SELECT d.id, u.lexeme,
			       ts_rank_cd(`+search.RankWeights+`, d.search, quote_literal(u.lexeme)::tsquery) AS r,
			       search_impacts(d.search) AS toks
			FROM documents d, unnest(d.search) u)
		SELECT l.id || ' ' || l.lexeme || ' ' || l.r || ' ' || coalesce(array_to_string(
		           ARRAY(SELECT x FROM unnest(l.toks) x WHERE x LIKE replace(l.lexeme, '_', '\_') || '#%'), ','), '')
		FROM l`)
	require.NoError(t, err)
	n := 0
	for rows.Next() {
		var line string
		require.NoError(t, rows.Scan(&line))
		f := strings.Fields(line)
		var r float64
		_, err := fmt.Sscan(f[2], &r)
		require.NoError(t, err)
		want := ""
		for _, tier := range search.ImpactTiers() {
			if r*10 >= float64(tier)-0.01 {
				want = f[1] + "#" + strconv.Itoa(tier)
				break
			}
		}
		got := ""
		if len(f) > 3 {
			got = f[3]
		}
		if got != want {
			bad = append(bad, line+" want "+want)
		}
		n++
	}
	require.NoError(t, rows.Err())
	require.Greater(t, n, 100)
	require.Empty(t, bad)
}

// TestImpactNeedsIndex checks that without the impact index a one-lexeme
// query is ranked exactly (not through rounds that would compute
// search_impacts for every row).
func TestImpactNeedsIndex(t *testing.T) {
	t.Parallel()
	b := setup(t, search.Config{ForceStrategy: search.StrategyImpact})
	ctx := context.Background()
	res := b.search(t, url.Values{"q": {"apple"}})
	require.Equal(t, search.StrategyImpact, res.Ranking)
	_, err := b.db.Pool.Exec(ctx, `DROP INDEX documents_search_impacts_idx`)
	require.NoError(t, err)
	res2 := b.search(t, url.Values{"q": {"apple"}})
	require.Equal(t, search.StrategyExact, res2.Ranking)
	require.Equal(t, res.Hits[0].ID, res2.Hits[0].ID)
}

// TestLastRoundUsesFullTextIndex: when the tiers hold less than a page, the
// last round (every match below them) finds its rows through the full-text
// index. Tier rounds hide the match from that index; the last round, which
// has no token to look up, once did too and read every document of the
// collection (0.9 s for a 735-match phrase at 1,000,000 documents).
func TestLastRoundUsesFullTextIndex(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	type stmt struct {
		sql  string
		args []any
	}
	var stmts []stmt
	// The last round: a ranking statement with no token condition.
	trace := func(sql string, args []any) {
		if strings.HasPrefix(sql, "SELECT d.id, ts_rank_cd") && !strings.Contains(sql, "&&") {
			stmts = append(stmts, stmt{sql, args})
		}
	}
	b := setup(t, search.Config{})
	// 20,000 documents; 40 say "zebra crossing" once in their body: no
	// word or pair reaches a tier.
	_, err := b.db.Pool.Exec(ctx, `INSERT INTO documents (collection_id, lang, title, body)
		SELECT (SELECT id FROM collections WHERE name = 't'), 'english', 'road ' || g,
		       CASE WHEN g % 500 = 0 THEN 'a zebra crossing here' ELSE 'a plain street ' || g END
		FROM generate_series(1, 20000) g;
		ANALYZE documents`)
	require.NoError(t, err)
	for _, c := range []struct {
		q     string
		strat search.Strategy
	}{{"zebra", search.StrategyImpact}, {`"zebra crossing"`, search.StrategyPair}} {
		stmts = nil
		svc := search.NewService(b.db.Pool, search.Config{ForceStrategy: c.strat, Trace: trace})
		q, err := search.ParseValues(url.Values{"collection": {"t"}, "q": {c.q}})
		require.NoError(t, err)
		res, err := svc.Search(ctx, q)
		require.NoError(t, err)
		require.Equal(t, c.strat, res.Ranking)
		require.Len(t, res.Hits, 20)
		require.Len(t, stmts, 1, "one last round for %s", c.q)
		// The traced statement with its values, explained.
		var plan string
		rows, err := b.db.Pool.Query(ctx, "EXPLAIN "+stmts[0].sql, stmts[0].args...)
		require.NoError(t, err)
		for rows.Next() {
			var line string
			require.NoError(t, rows.Scan(&line))
			plan += line + "\n"
		}
		require.NoError(t, rows.Err())
		require.Contains(t, plan, "documents_search_idx", "%s:\n%s", c.q, plan)
		require.NotContains(t, plan, "Seq Scan", "%s:\n%s", c.q, plan)
	}
}
