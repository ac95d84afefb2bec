package bench

// Geo scenarios: OGC API – Features items, vector tiles and
// clusters on a collection of 1,000,000 points (Quick: 20,000).
//
// Data: 70% of the points uniform over lon [-180, 180] × lat [-85, 85], 30%
// normally distributed around Berlin (σ = 2°), so tiles near Berlin are dense
// at every zoom and the uniform part gives bboxes of predictable size. Each
// point has a title, a props {"n": i} and an instant period. Generated in SQL
// with a fixed seed, loaded once (the bench database persists).
//
//   - geo/items/<n>: GET /collections/{c}/items?bbox=…&limit=n for n = 1,000
//     and 10,000 (bboxes in the uniform part holding more than n points):
//     requests/s over loopback against the same SQL through pgx with the
//     bytes discarded; p50/p95 in the note. A second row per size measures the
//     same request with Accept-Encoding: gzip (what compression costs).
//   - geo/items/encode-1000: the GeoJSON encoder choice: geoseek's Go-side
//     WKB → GeoJSON stream against a query building each feature with
//     ST_AsGeoJSON/json_build_object in PostgreSQL, both in process, 1,000
//     features per query.
//   - geo/tiles/z<z>: GET /tiles/{c}/{z}/{x}/{y}.mvt on the tile holding
//     Berlin at zooms 4, 10 and 16 with Cache-Control: no-cache (rendered
//     per request) against the same ST_AsMVT SQL via pgx;
//     geo/tiles/z<z>/gzip: rendered and gzipped per request (z4, z10);
//     geo/tiles/z<z>/cached: the same request served by the tile cache,
//     against the same baseline. z16 is the tile of the point nearest to
//     Berlin's centre (the centre's own is most likely empty).
//   - geo/clusters/world-z3: GET /collections/{c}/clusters for the whole world
//     at zoom 3 (target p95 < 100 ms), against the same SQL via pgx.
//
// Every pair is measured with bench.Paired: both sides warmed with the
// measuring concurrency, then alternating rounds, so neither side pays alone
// for cold connections or for another process's burst of load.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/geoseek/geoseek/geo"
)

func init() {
	Register(Scenario{Name: "geo/items", Run: runGeoItems})
	Register(Scenario{Name: "geo/tiles", Run: runGeoTiles})
	Register(Scenario{Name: "geo/clusters", Run: runGeoClusters})
}

func geoCollection(env *Env) (name string, n int) {
	if env.Quick {
		return "bench_geo_quick", 20_000
	}
	return "bench_geo_1m", 1_000_000
}

// geoLoad creates and fills the collection once.
func geoLoad(ctx context.Context, env *Env) (string, error) {
	name, n := geoCollection(env)
	var have int64
	err := env.Pool.QueryRow(ctx, `SELECT count(*) FROM documents d JOIN collections c ON c.id = d.collection_id WHERE c.name = $1`, name).Scan(&have)
	if err != nil {
		return "", fmt.Errorf("geo bench: count: %w", err)
	}
	if have == int64(n) {
		return name, nil
	}
	env.Logger.Info("geo bench: loading points", "collection", name, "n", n)
	conn, err := env.Pool.Acquire(ctx)
	if err != nil {
		return "", err
	}
	defer conn.Release()
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL statement_timeout = 0`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM collections WHERE name = $1`, name); err != nil {
			return err
		}
		var cid int64
		if err := tx.QueryRow(ctx, `INSERT INTO collections (name, title, description) VALUES ($1, 'Bench points', 'geo benchmark points') RETURNING id`, name).Scan(&cid); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `SELECT setseed(0.42)`); err != nil {
			return err
		}
		// Rows go in in geohash order: like photos, which arrive in trips
		// and so are stored near their neighbours, a bbox then reads a few
		// heap pages instead of one page per point.
		_, err := tx.Exec(ctx, `
			INSERT INTO documents (collection_id, title, props, period, geom)
			SELECT $1, 'point ' || g, jsonb_build_object('n', g), tstzrange(ts, ts, '[]'), p
			  FROM (SELECT g, ts,
			               CASE WHEN u < 0.7
			                    THEN ST_SetSRID(ST_MakePoint(random() * 360 - 180, random() * 170 - 85), 4326)
			                    ELSE ST_SetSRID(ST_MakePoint(
			                           greatest(-180, least(180, 13.405 + 2 * sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()))),
			                           greatest(-85, least(85, 52.52 + 2 * sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random())))), 4326)
			               END AS p
			          FROM generate_series(1, $2) g,
			               LATERAL (SELECT random() AS u, timestamptz '2020-01-01' + (g % 1500) * interval '1 day' AS ts) r) s
			 ORDER BY ST_GeoHash(p, 10)`, cid, n)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("geo bench: load: %w", err)
	}
	if _, err := env.Pool.Exec(ctx, `ANALYZE documents`); err != nil {
		return "", err
	}
	return name, nil
}

// geoGet fetches url with the header pairs hdr and discards the body.
func geoGet(env *Env, gzip bool, hdr ...string) func(ctx context.Context, url string) error {
	return func(ctx context.Context, url string) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		if gzip {
			// Set explicitly so Go's transport does not decompress: the
			// client gets the compressed bytes as a browser would.
			req.Header.Set("Accept-Encoding", "gzip")
		} else {
			req.Header.Set("Accept-Encoding", "identity")
		}
		resp, err := env.Client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNoContent {
			return fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		return nil
	}
}

// pgxDiscard runs sql and reads every byte of every row without decoding.
func pgxDiscard(env *Env, sql string, args []any) func(ctx context.Context) error {
	args = withMode(args)
	return func(ctx context.Context) error {
		rows, err := env.Pool.Query(ctx, sql, args...)
		if err != nil {
			return err
		}
		n := 0
		for rows.Next() {
			for _, v := range rows.RawValues() {
				n += len(v)
			}
		}
		rows.Close()
		return rows.Err()
	}
}

// withMode returns args led by the query mode to run them with: the one
// they name (geo.Service.TileSQL's do) or else the unnamed statement that
// geoseek's other queries use, so a baseline runs its SQL as geoseek does.
func withMode(args []any) []any {
	if len(args) > 0 {
		if _, ok := args[0].(pgx.QueryExecMode); ok {
			return args
		}
	}
	return append([]any{pgx.QueryExecModeCacheDescribe}, args...)
}

type geoRun struct {
	workers int
	n       int
	rounds  int
	d       time.Duration
}

// geoRunFor is the load of one comparison: heavy requests (items of
// 10,000 features) get fewer calls; d bounds each side's time either way.
func geoRunFor(env *Env, heavy bool) geoRun {
	switch {
	case env.Quick:
		return geoRun{workers: 2, n: 40, rounds: 2, d: 3 * time.Second}
	case heavy:
		return geoRun{workers: 4, n: 300, rounds: 6, d: 15 * time.Second}
	}
	return geoRun{workers: 4, n: 6000, rounds: 6, d: 15 * time.Second}
}

// paired measures geoseek (g) against its baseline (b) with bench.Paired.
func (r geoRun) paired(ctx context.Context, g, b func(context.Context) error) (Stats, Stats) {
	return Paired(ctx, r.workers, r.n, r.rounds, r.d, g, b)
}

func pair(name string, g, b Stats, note string) Result {
	return Result{Scenario: name, Geoseek: g.PerSec, Baseline: b.PerSec, Unit: "req/s",
		Note: fmt.Sprintf("%s; geoseek p50 %s p95 %s, pgx p50 %s p95 %s, errors %d/%d; %s", note,
			g.P50.Round(time.Microsecond), g.P95.Round(time.Microsecond), b.P50.Round(time.Microsecond), b.P95.Round(time.Microsecond), g.Errors, b.Errors, CPUNote(g, b))}
}

// geoBox is a bbox request of runGeoItems and its page size.
type geoBox struct {
	limit int
	bbox  geo.BBox
}

func runGeoItems(ctx context.Context, env *Env) ([]Result, error) {
	name, err := geoLoad(ctx, env)
	if err != nil {
		return nil, err
	}
	svc := geo.NewService(env.Pool, env.Logger, geo.Options{})
	boxes := []geoBox{
		{1000, geo.BBox{MinX: -125, MinY: -10, MaxX: -110, MaxY: 5}},
		{10000, geo.BBox{MinX: -150, MinY: -20, MaxX: -100, MaxY: 20}},
	}
	if env.Quick {
		boxes[0].bbox = geo.BBox{MinX: -180, MinY: -85, MaxX: 180, MaxY: 85}
		boxes[1] = boxes[0]
		boxes[0].limit, boxes[1].limit = 1000, 5000
	}
	out, err := geoItemsPages(ctx, env, svc, name, boxes)
	if err != nil {
		return nil, err
	}
	enc, err := geoItemsEncode(ctx, env, svc, name, boxes[0].bbox)
	if err != nil {
		return nil, err
	}
	out = append(out, enc)
	mem, err := geoMemory(ctx, svc, name, boxes[1].bbox)
	if err != nil {
		return nil, err
	}
	return append(out, mem), nil
}

// geoItemsPages compares each box's page over HTTP with the same SQL through
// pgx, and gzip against identity.
func geoItemsPages(ctx context.Context, env *Env, svc *geo.Service, name string, boxes []geoBox) ([]Result, error) {
	var out []Result
	for _, bx := range boxes {
		b := bx.bbox
		q := &geo.ItemsQuery{Collection: name, BBox: &b, Limit: bx.limit, Precision: -1}
		sql, args, err := svc.ItemsSQL(ctx, q)
		if err != nil {
			return nil, err
		}
		url := fmt.Sprintf("%s/collections/%s/items?limit=%d&bbox=%g,%g,%g,%g", env.BaseURL, name, bx.limit, b.MinX, b.MinY, b.MaxX, b.MaxY)
		// check the answer once: a full page
		if err := geoCheckItems(ctx, env, url, bx.limit); err != nil {
			return nil, err
		}
		run := geoRunFor(env, bx.limit > 1000)
		get := geoGet(env, false)
		gfn := func(ctx context.Context) error { return get(ctx, url) }
		bfn := pgxDiscard(env, sql, args)
		gs, bs := run.paired(ctx, gfn, bfn)
		out = append(out, pair(fmt.Sprintf("geo/items/%d", bx.limit), gs, bs, "same SQL via pgx, bytes discarded; geoseek also counts numberMatched"))
		gz := geoGet(env, true)
		zs, is := run.paired(ctx, func(ctx context.Context) error { return gz(ctx, url) }, gfn)
		out = append(out, Result{Scenario: fmt.Sprintf("geo/items/%d-gzip", bx.limit), Geoseek: zs.PerSec, Baseline: is.PerSec, Unit: "req/s",
			Note: fmt.Sprintf("gzip (BestSpeed) against identity; p50 %s p95 %s", zs.P50.Round(time.Microsecond), zs.P95.Round(time.Microsecond))})
	}

	return out, nil
}

// geoItemsEncode compares the encoder choice in process: Go-side WKB ->
// GeoJSON against ST_AsGeoJSON, for a page of 1,000 features in b.
func geoItemsEncode(ctx context.Context, env *Env, svc *geo.Service, name string, b geo.BBox) (Result, error) {
	q := &geo.ItemsQuery{Collection: name, BBox: &b, Limit: 1000, Precision: -1, NoCount: true}
	goSide := func(ctx context.Context) error {
		st, err := svc.Items(ctx, q)
		if err != nil {
			return err
		}
		defer st.Close()
		return st.WriteTo(io.Discard, func(geo.Page) []geo.Link { return nil })
	}
	col, err := svc.Collection(ctx, name)
	if err != nil {
		return Result{}, err
	}
	pgSQL := `SELECT json_build_object('type', 'Feature', 'id', d.id, 'geometry', ST_AsGeoJSON(d.geom)::json,
	                  'properties', jsonb_build_object('title', d.title, 'lang', d.lang, 'tags', d.tags,
	                                                   'datetime', lower(d.period), 'created', d.created_at, 'updated', d.updated_at) || d.props)::text
	            FROM documents d
	           WHERE d.collection_id = $1 AND ST_Intersects(d.geom, ST_MakeEnvelope($2, $3, $4, $5, 4326))
	           ORDER BY d.id LIMIT 1000`
	// The same plan as geoseek's page: its collection condition, whether
	// planItems made it a filter or not.
	if gsql, _, err := svc.ItemsSQL(ctx, q); err != nil {
		return Result{}, err
	} else if strings.Contains(gsql, "d.collection_id + 0 = $1") {
		pgSQL = strings.Replace(pgSQL, "d.collection_id = $1", "d.collection_id + 0 = $1", 1)
	}
	pgSide := func(ctx context.Context) error {
		rows, err := env.Pool.Query(ctx, pgSQL, pgx.QueryExecModeCacheDescribe, col.ID, b.MinX, b.MinY, b.MaxX, b.MaxY)
		if err != nil {
			return err
		}
		defer rows.Close()
		buf := make([]byte, 0, 64<<10)
		for rows.Next() {
			buf = append(buf[:0], rows.RawValues()[0]...)
		}
		return rows.Err()
	}
	run := geoRunFor(env, false)
	gs, ps := run.paired(ctx, goSide, pgSide)
	return Result{Scenario: "geo/items/encode-1000", Geoseek: gs.PerSec, Baseline: ps.PerSec, Unit: "queries/s",
		Note: fmt.Sprintf("in process: Go WKB->GeoJSON (p50 %s) against ST_AsGeoJSON+json_build_object in PostgreSQL (p50 %s)",
			gs.P50.Round(time.Microsecond), ps.P50.Round(time.Microsecond))}, nil
}

// geoMemory compares the peak heap growth while streaming 100 and 10,000
// features (in process, to io.Discard): flat means the stream holds a chunk,
// not the collection.
func geoMemory(ctx context.Context, svc *geo.Service, name string, b geo.BBox) (Result, error) {
	peak := func(limit int) (uint64, error) {
		runtime.GC()
		var base runtime.MemStats
		runtime.ReadMemStats(&base)
		var maxHeap atomic.Uint64
		done := make(chan struct{})
		go func() {
			t := time.NewTicker(time.Millisecond)
			defer t.Stop()
			var ms runtime.MemStats
			for {
				select {
				case <-done:
					return
				case <-t.C:
					runtime.ReadMemStats(&ms)
					if ms.HeapAlloc > maxHeap.Load() {
						maxHeap.Store(ms.HeapAlloc)
					}
				}
			}
		}()
		q := &geo.ItemsQuery{Collection: name, BBox: &b, Limit: limit, Precision: -1, NoCount: true}
		st, err := svc.Items(ctx, q)
		if err == nil {
			err = st.WriteTo(io.Discard, func(geo.Page) []geo.Link { return nil })
			st.Close()
		}
		close(done)
		if err != nil {
			return 0, err
		}
		if m := maxHeap.Load(); m > base.HeapAlloc {
			return m - base.HeapAlloc, nil
		}
		return 0, nil
	}
	var small, large uint64
	for range 3 { // the largest of three runs each
		s, err := peak(100)
		if err != nil {
			return Result{}, err
		}
		l, err := peak(geo.MaxLimit)
		if err != nil {
			return Result{}, err
		}
		small, large = max(small, s), max(large, l)
	}
	return Result{Scenario: "geo/items/memory", Geoseek: float64(large) / (1 << 20), Baseline: float64(small) / (1 << 20), Unit: "MiB",
		LowerIsBetter: true, Note: "peak heap growth streaming 10,000 features (geoseek column) against 100 (baseline column), in process; GC may run in between"}, nil
}

func geoCheckItems(ctx context.Context, env *Env, url string, want int) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := env.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var fc struct {
		NumberReturned int `json:"numberReturned"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&fc); err != nil {
		return fmt.Errorf("geo bench: %s: %w", url, err)
	}
	if fc.NumberReturned != want {
		return fmt.Errorf("geo bench: %s returned %d features, want %d", url, fc.NumberReturned, want)
	}
	return nil
}

// tileAt is the z/x/y tile holding lon/lat.
func tileAt(lon, lat float64, z int) geo.TileCoord {
	n := float64(int(1) << z)
	x := int((lon + 180) / 360 * n)
	r := lat * math.Pi / 180
	y := int((1 - math.Log(math.Tan(r)+1/math.Cos(r))/math.Pi) / 2 * n)
	return geo.TileCoord{Z: z, X: x, Y: y}
}

func runGeoTiles(ctx context.Context, env *Env) ([]Result, error) {
	name, err := geoLoad(ctx, env)
	if err != nil {
		return nil, err
	}
	svc := geo.NewService(env.Pool, env.Logger, geo.Options{})
	// A z16 tile is 600 m wide: the one holding Berlin's centre is most
	// likely empty, so z16 takes the tile of the point nearest to it.
	var nx, ny float64
	if err := env.Pool.QueryRow(ctx, `SELECT ST_X(d.geom), ST_Y(d.geom) FROM documents d JOIN collections c ON c.id = d.collection_id
		WHERE c.name = $1 ORDER BY d.geom <-> ST_SetSRID(ST_MakePoint(13.405, 52.52), 4326) LIMIT 1`, name).Scan(&nx, &ny); err != nil {
		return nil, fmt.Errorf("geo bench: nearest point: %w", err)
	}
	if err := waitTileCache(ctx, env); err != nil {
		return nil, err
	}
	var out []Result
	for _, z := range []int{4, 10, 16} {
		tc := tileAt(13.405, 52.52, z)
		if z == 16 {
			tc = tileAt(nx, ny, z)
		}
		sql, args, err := svc.TileSQL(ctx, name, tc)
		if err != nil {
			return nil, err
		}
		url := fmt.Sprintf("%s/tiles/%s/%d/%d/%d.mvt", env.BaseURL, name, tc.Z, tc.X, tc.Y)
		// Every zoom is a light request: z <= 7 reads the cluster pyramid,
		// deeper zooms a tile's worth of rows. "no-cache" has geoseek render
		// each tile, as the baseline does: the comparison of the issue.
		run := geoRunFor(env, false)
		get := geoGet(env, false, "Cache-Control", "no-cache")
		gfn := func(ctx context.Context) error { return get(ctx, url) }
		bfn := pgxDiscard(env, sql, args)
		gs, bs := run.paired(ctx, gfn, bfn)
		note := fmt.Sprintf("tile %d/%d/%d at Berlin, rendered per request (Cache-Control: no-cache); same ST_AsMVT SQL via pgx", tc.Z, tc.X, tc.Y)
		if z != 10 {
			// Small tiles: how much of the gap any Go HTTP server has.
			floor, err := bareFloor(ctx, env, run, sql, args)
			if err != nil {
				return nil, err
			}
			note += "; " + floor
		}
		out = append(out, pair(fmt.Sprintf("geo/tiles/z%d", z), gs, bs, note))

		// What gzip costs when the client takes it: compressed per render.
		if z != 16 { // a z16 tile is too small to be compressed
			zget := geoGet(env, true, "Cache-Control", "no-cache")
			gs, bs = run.paired(ctx, func(ctx context.Context) error { return zget(ctx, url) }, bfn)
			out = append(out, pair(fmt.Sprintf("geo/tiles/z%d/gzip", z), gs, bs,
				fmt.Sprintf("tile %d/%d/%d rendered and gzipped per request (Accept-Encoding: gzip, Cache-Control: no-cache); same SQL via pgx", tc.Z, tc.X, tc.Y)))
		}

		// The same tile from the tile cache: what a map that many people
		// view gets (every request after the first, until a write).
		cached := geoGet(env, false)
		gs, bs = run.paired(ctx, func(ctx context.Context) error { return cached(ctx, url) }, bfn)
		out = append(out, pair(fmt.Sprintf("geo/tiles/z%d/cached", z), gs, bs,
			fmt.Sprintf("tile %d/%d/%d from geoseek's tile cache against rendering it via pgx", tc.Z, tc.X, tc.Y)))
	}
	return out, nil
}

// waitTileCache waits until the server's tile cache serves (its change
// listener connects at start-up).
func waitTileCache(ctx context.Context, env *Env) error {
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, env.BaseURL+"/metrics", nil)
		if err != nil {
			return err
		}
		resp, err := env.Client.Do(req)
		if err != nil {
			return err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		if strings.Contains(string(body), "\ngeoseek_tile_cache_live 1\n") {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("geo bench: the tile cache did not go live (geoseek_tile_cache_live in /metrics)")
}

// bareFloor measures a bare net/http handler that runs sql through the same
// pool and writes the bytes (no Gin, middleware, auth, caching headers)
// against the pgx baseline, through the same load generator. Its ratio is
// the ceiling of any Go HTTP service for that query on this machine: the
// part of geoseek's gap that its own code could still close is the
// difference.
func bareFloor(ctx context.Context, env *Env, run geoRun, sql string, args []any) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var data []byte
		err := env.Pool.QueryRow(r.Context(), sql, withMode(args)...).Scan(&data)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/vnd.mapbox-vector-tile")
		_, _ = w.Write(data)
	})}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	get := geoGet(env, false)
	url := "http://" + ln.Addr().String() + "/tile"
	f, b := run.paired(ctx, func(ctx context.Context) error { return get(ctx, url) }, pgxDiscard(env, sql, args))
	if f.Errors > 0 || b.Errors > 0 {
		return "", fmt.Errorf("bare net/http floor: errors %d/%d", f.Errors, b.Errors)
	}
	return fmt.Sprintf("bare net/http handler with the same SQL: %.0f vs %.0f req/s, ratio %.2f, %d µs Go CPU per call",
		f.PerSec, b.PerSec, f.PerSec/b.PerSec, f.CPUSelf.Microseconds()), nil
}

func runGeoClusters(ctx context.Context, env *Env) ([]Result, error) {
	name, err := geoLoad(ctx, env)
	if err != nil {
		return nil, err
	}
	svc := geo.NewService(env.Pool, env.Logger, geo.Options{})
	world := geo.BBox{MinX: -180, MinY: -90, MaxX: 180, MaxY: 90}
	sqls, argss, err := svc.ClustersSQL(ctx, name, world, 3)
	if err != nil {
		return nil, err
	}
	url := fmt.Sprintf("%s/collections/%s/clusters?zoom=3&bbox=-180,-90,180,90", env.BaseURL, name)
	run := geoRunFor(env, false)
	get := geoGet(env, false)
	gfn := func(ctx context.Context) error { return get(ctx, url) }
	bfn := func(ctx context.Context) error {
		for i := range sqls {
			if err := pgxDiscard(env, sqls[i], argss[i])(ctx); err != nil {
				return err
			}
		}
		return nil
	}
	gs, bs := run.paired(ctx, gfn, bfn)
	r := pair("geo/clusters/world-z3", gs, bs, "target p95 < 100 ms; same SQL via pgx")
	lat := Result{Scenario: "geo/clusters/world-z3-p95", Geoseek: float64(gs.P95.Microseconds()) / 1000, Baseline: 100,
		Unit: "ms", LowerIsBetter: true, Note: "baseline column is the issue's target"}
	return []Result{r, lat}, nil
}
