package search_test

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/geoseek/geoseek/internal/pg"
	"github.com/geoseek/geoseek/search"
)

// TestFacetsSampledAboveThreshold checks facets of a large matched set:
// estimated from a sample of the table, flagged approximate with the
// sample's size, counts and total close to the exact ones and the values in
// the same order; and a small matched set still counted exactly.
func TestFacetsSampledAboveThreshold(t *testing.T) {
	t.Parallel()
	b := setup(t, search.Config{FacetExactMax: 1000, FacetScanRows: 2000})
	ctx := context.Background()
	// 8,000 documents: every one says kiwi, every 20th also mango; tags a
	// 60%, b 30%, c 10%; props.section x 70%, y 30%.
	_, err := b.db.Pool.Exec(ctx, `INSERT INTO documents (collection_id, title, body, tags, props)
		SELECT (SELECT id FROM collections WHERE name = 't'), 'kiwi ' || g, CASE WHEN g % 20 = 0 THEN 'mango' ELSE 'pear' END,
		       ARRAY[CASE WHEN g % 10 < 6 THEN 'a' WHEN g % 10 < 9 THEN 'b' ELSE 'c' END],
		       jsonb_build_object('section', CASE WHEN g % 10 < 7 THEN 'x' ELSE 'y' END)
		FROM generate_series(1, 8000) g;
		ANALYZE documents`)
	require.NoError(t, err)
	exact := search.NewService(b.db.Pool, search.Config{FacetExactMax: 1 << 30})
	run := func(svc *search.Service, q string) *search.Result {
		v := url.Values{"collection": {"t"}, "q": {q}, "facets": {"tags,props.section"}}
		pq, err := search.ParseValues(v)
		require.NoError(t, err)
		res, err := svc.Search(ctx, pq)
		require.NoError(t, err)
		return res
	}
	values := func(fv []search.FacetValue) []string {
		var out []string
		for _, v := range fv {
			out = append(out, string(v.Value))
		}
		return out
	}
	want := run(exact, "kiwi")
	require.False(t, want.Facets.Approximate)
	require.EqualValues(t, 8000, *want.Total)
	got := run(b.svc, "kiwi")
	require.True(t, got.Facets.Approximate)
	require.Positive(t, got.Facets.SampleSize)
	require.Less(t, got.Facets.SampleSize, int64(8000))
	require.InEpsilon(t, 8000, float64(*got.Total), 0.25)
	require.Equal(t, values(want.Facets.Tags), values(got.Facets.Tags))
	require.Equal(t, values(want.Facets.Props["section"]), values(got.Facets.Props["section"]))
	for i, v := range want.Facets.Tags {
		require.InEpsilon(t, float64(v.Count), float64(got.Facets.Tags[i].Count), 0.35, "%s", v.Value)
	}
	// The same sample for the same query: the answer is stable.
	again := run(b.svc, "kiwi")
	require.Equal(t, got.Facets, again.Facets)
	// 400 matches: below the threshold, exact.
	small := run(b.svc, "mango")
	require.False(t, small.Facets.Approximate)
	require.Zero(t, small.Facets.SampleSize)
	require.Equal(t, run(exact, "mango").Facets, small.Facets)
	require.EqualValues(t, 400, *small.Total)

	// A sampled pass runs on the sample pool when there is one; an exact
	// pass stays on the service's pool.
	pc := b.db.Pool.Config()
	pc.MaxConns = 1
	sp, err := pgxpool.NewWithConfig(ctx, pc)
	require.NoError(t, err)
	defer sp.Close()
	pooled := search.NewService(b.db.Pool, search.Config{FacetExactMax: 1000, FacetScanRows: 2000, SamplePool: sp})
	require.Equal(t, got.Facets, run(pooled, "kiwi").Facets)
	require.EqualValues(t, 1, sp.Stat().AcquireCount())
	require.Equal(t, small.Facets, run(pooled, "mango").Facets)
	require.EqualValues(t, 1, sp.Stat().AcquireCount(), "an exact pass took a sample connection")

	// A request waiting for a sample connection waits as long as for any
	// other connection (the server's acquire bound), then gives up.
	held, err := sp.Acquire(ctx)
	require.NoError(t, err)
	defer held.Release()
	rctx, cancel := context.WithTimeout(pg.WithAcquireTimeout(ctx, 300*time.Millisecond), time.Minute)
	defer cancel()
	pq, err := search.ParseValues(url.Values{"collection": {"t"}, "q": {"kiwi"}, "facets": {"tags"}})
	require.NoError(t, err)
	start := time.Now()
	_, err = pooled.Search(rctx, pq)
	require.Error(t, err)
	require.Less(t, time.Since(start), 10*time.Second)
	require.True(t, pg.AcquireTimedOut(rctx), "%v", err)
	require.ErrorIs(t, err, context.DeadlineExceeded, "the server answers it 503 with Retry-After")
}
