package bench

import (
	"context"
	"fmt"
	"net/url"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/geoseek/geoseek/geo"
)

// Tail latency at 8 connections: items of 1,000 features, a z10 tile
// rendered per request and a keyword search, each against the same SQL
// through pgx at the same concurrency, alternating as Paired does. The
// figure is p99 / p50 (target at most 3); the notes give p50, p95, p99 and
// max of both sides and how many garbage collections ran per 1,000 calls,
// to tell the server's tail from the database's.

func init() {
	Register(Scenario{Name: "tail", Run: runTail})
}

// tailConns is the concurrency of every tail measurement.
const tailConns = 8

type tailCase struct {
	name   string
	g, b   func(ctx context.Context) error
	detail string
}

func runTail(ctx context.Context, env *Env) ([]Result, error) {
	cases, err := tailGeoCases(ctx, env)
	if err != nil {
		return nil, err
	}
	sc, err := tailSearchCase(ctx, env)
	if err != nil {
		return nil, err
	}
	cases = append(cases, sc)
	n, d, rounds := 4000, 40*time.Second, 8
	if env.Quick {
		n, d, rounds = 200, 4*time.Second, 2
	}
	var out []Result
	for _, c := range cases {
		var gc0, gc1 debug.GCStats
		debug.ReadGCStats(&gc0)
		gs, bs := Paired(ctx, tailConns, n, rounds, d, c.g, c.b)
		debug.ReadGCStats(&gc1)
		if gs.N == 0 || bs.N == 0 {
			return nil, fmt.Errorf("tail bench: %s: no successful call (errors %d/%d)", c.name, gs.Errors, bs.Errors)
		}
		ratio := func(s Stats) float64 { return float64(s.P99) / float64(max(s.P50, 1)) }
		ms := func(t time.Duration) string { return fmt.Sprintf("%.1f", float64(t)/float64(time.Millisecond)) }
		gcs := float64(gc1.NumGC-gc0.NumGC) * 1000 / float64(gs.N+bs.N)
		out = append(out, Result{
			Scenario: "tail/" + c.name + " p99/p50", Geoseek: ratio(gs), Baseline: 3, Unit: "×", LowerIsBetter: true,
			Note: fmt.Sprintf("%s; %d connections; baseline: the target; geoseek p50/p95/p99/max %s/%s/%s/%s ms at %.0f req/s; "+
				"same SQL via pgx p50/p95/p99/max %s/%s/%s/%s ms at %.0f req/s (p99/p50 %.2f); errors %d/%d; %.1f GCs per 1,000 calls (GOMAXPROCS %d)",
				c.detail, tailConns, ms(gs.P50), ms(gs.P95), ms(gs.P99), ms(gs.Max), gs.PerSec,
				ms(bs.P50), ms(bs.P95), ms(bs.P99), ms(bs.Max), bs.PerSec, ratio(bs), gs.Errors, bs.Errors, gcs, runtime.GOMAXPROCS(0)),
		})
	}
	return out, nil
}

// tailGeoCases are the items page and the rendered tile of the geo scenarios.
func tailGeoCases(ctx context.Context, env *Env) ([]tailCase, error) {
	name, err := geoLoad(ctx, env)
	if err != nil {
		return nil, err
	}
	svc := geo.NewService(env.Pool, env.Logger, geo.Options{})
	b := geo.BBox{MinX: -125, MinY: -10, MaxX: -110, MaxY: 5}
	if env.Quick {
		b = geo.BBox{MinX: -180, MinY: -85, MaxX: 180, MaxY: 85}
	}
	q := &geo.ItemsQuery{Collection: name, BBox: &b, Limit: 1000, Precision: -1}
	isql, iargs, err := svc.ItemsSQL(ctx, q)
	if err != nil {
		return nil, err
	}
	iurl := fmt.Sprintf("%s/collections/%s/items?limit=1000&bbox=%g,%g,%g,%g", env.BaseURL, name, b.MinX, b.MinY, b.MaxX, b.MaxY)
	if err := geoCheckItems(ctx, env, iurl, 1000); err != nil {
		return nil, err
	}
	tc := tileAt(13.405, 52.52, 10)
	tsql, targs, err := svc.TileSQL(ctx, name, tc)
	if err != nil {
		return nil, err
	}
	turl := fmt.Sprintf("%s/tiles/%s/%d/%d/%d.mvt", env.BaseURL, name, tc.Z, tc.X, tc.Y)
	get := geoGet(env, false)
	tget := geoGet(env, false, "Cache-Control", "no-cache")
	return []tailCase{
		{name: "items-1000", detail: "GeoJSON items, 1,000 features a page, fixed bbox; same SQL via pgx, bytes discarded",
			g: func(ctx context.Context) error { return get(ctx, iurl) }, b: pgxDiscard(env, isql, iargs)},
		{name: "tiles-z10", detail: fmt.Sprintf("tile %d/%d/%d rendered per request (Cache-Control: no-cache); same ST_AsMVT SQL via pgx", tc.Z, tc.X, tc.Y),
			g: func(ctx context.Context) error { return tget(ctx, turl) }, b: pgxDiscard(env, tsql, targs)},
	}, nil
}

// tailSearchCase is the keyword search of a medium word, top 20.
func tailSearchCase(ctx context.Context, env *Env) (tailCase, error) {
	coll, err := srchSetup(ctx, env)
	if err != nil {
		return tailCase{}, err
	}
	v := url.Values{"collection": {coll}, "q": {"game"}, "limit": {"20"}}
	stmts, err := srchCapture(ctx, env.Pool, v)
	if err != nil {
		return tailCase{}, err
	}
	srchWarm(ctx, env, v, coll, stmts)
	return tailCase{name: "search", detail: `keyword "game", top 20 with highlights; the statements geoseek issued, replayed via pgx`,
		g: func(ctx context.Context) error { _, err := srchGet(ctx, env, v); return err },
		b: func(ctx context.Context) error { return srchReplay(ctx, env.Pool, coll, stmts) }}, nil
}
