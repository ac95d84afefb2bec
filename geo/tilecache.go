package geo

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/maypok86/otter/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/geoseek/geoseek/internal/pg"
)

// The tile cache keeps rendered tiles in memory, so a map that many people
// look at renders each of its tiles once per change instead of once per
// request (the low zooms are the same few tiles for every visitor).
//
// Coherence comes from the database: migration 00026 notifies
// 'geoseek_documents' with the ids of the collections each committed
// statement changed, WatchChanges LISTENs and bumps those collections'
// generations, and a rendering is stored under the generation read before
// its query ran. A write committed before the query started is in the
// rendering, or its notification arrives after the generation was read and
// retires the rendering; either way no rendering outlives a change it does
// not show. Older renderings are no longer reachable and age out.
//
// While the listener is not connected (at start, after a lost connection),
// and until a notification it sent itself has come back on the connection,
// the cache is bypassed; every (re)connection starts a new epoch, so
// nothing stored before a gap in the notifications is served after it.
// What the cache cannot see is the time a notification takes to arrive
// (well under a millisecond on one host): a tile read in that window, right
// after another process's write, can be the previous one. Clients are
// already allowed a minute's staleness by Cache-Control.
//
// A request with "Cache-Control: no-cache" renders the tile afresh,
// past the cache: how a client or a benchmark gets an uncached render.

const (
	// tileChangesChannel is the NOTIFY channel of migration 00026.
	tileChangesChannel = "geoseek_documents"
	// listenCheck is how long the listener waits for a notification before
	// it checks its connection with a probe (a notification of its own):
	// a connection that died without a TCP reset would otherwise leave the
	// cache serving unnoticed changes.
	listenCheck = 10 * time.Second
	// collectionChangePrefix marks the notification of a collection's
	// delete or change of settings: "collection:<id>".
	collectionChangePrefix = "collection:"
	// probePrefix marks the listener's own notifications; probeTimeout is
	// how long one may take to come back.
	probePrefix  = "probe:"
	probeTimeout = 5 * time.Second
	// tileEntryOverhead approximates a cache entry's bytes besides the tile.
	tileEntryOverhead = 128
)

// tileKey is one rendering of a tile: the layer name is part of it (a
// renamed collection's tiles carry the new name), and so are the epoch and
// the collection's generation when the rendering started.
type tileKey struct {
	col        int64
	name       string
	z, x, y    int
	epoch, gen uint64
}

type tileCache struct {
	cache *otter.Cache[tileKey, Tile]
	// maxTile is the largest tile stored: one dense tile must not evict a
	// map's worth of small ones.
	maxTile int

	mu    sync.Mutex
	live  bool
	epoch uint64
	gens  map[int64]uint64

	hits, renders, bypassed, changes atomic.Uint64

	// probeWait is probeTimeout (shorter in tests).
	probeWait time.Duration
}

func newTileCache(maxBytes int64) (*tileCache, error) {
	c, err := otter.New(&otter.Options[tileKey, Tile]{
		MaximumWeight: uint64(maxBytes),
		Weigher: func(k tileKey, t Tile) uint32 {
			return uint32(len(t.Data) + len(t.Gzip) + 2*len(t.ETag) + len(k.name) + tileEntryOverhead)
		},
	})
	if err != nil {
		return nil, fmt.Errorf("geo: tile cache: %w", err)
	}
	return &tileCache{cache: c, maxTile: int(maxBytes / 16), gens: map[int64]uint64{}, probeWait: probeTimeout}, nil
}

// version is the key fields a rendering of collection id made now gets;
// ok is false while the cache cannot be trusted.
func (c *tileCache) version(id int64) (epoch, gen uint64, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.epoch, c.gens[id], c.live
}

// isLive reports whether the cache serves.
func (c *tileCache) isLive() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.live
}

// changed retires the renderings of collection id.
func (c *tileCache) changed(id int64) {
	c.changes.Add(1)
	c.mu.Lock()
	c.gens[id]++
	c.mu.Unlock()
}

// setLive turns the cache on (a new epoch: nothing from before is served)
// or off.
func (c *tileCache) setLive(live bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if live {
		c.newEpoch()
	}
	c.live = live
}

// reset retires every rendering.
func (c *tileCache) reset() {
	c.changes.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.newEpoch()
}

func (c *tileCache) newEpoch() {
	c.epoch++
	clear(c.gens)
}

// Tile renders one vector tile of a collection with ST_AsMVT, or serves
// the current rendering from the cache; fresh skips the cache. The layer is
// named after the collection. An empty tile has no Data. A tile rendered
// for the cache or for a client that takes gzip (gz) comes gzipped too.
func (s *Service) Tile(ctx context.Context, collection string, tc TileCoord, fresh, gz bool) (Tile, error) {
	col, err := s.cachedCollection(ctx, collection)
	if err != nil {
		return Tile{}, err
	}
	c := s.tiles
	if c == nil || fresh {
		// A fresh rendering is not stored: the cached one, if any, is as
		// current (its key holds the generation), and a store per request
		// is not free.
		return s.renderTile(ctx, col, tc, gz)
	}
	epoch, gen, ok := c.version(col.ID)
	if !ok {
		c.bypassed.Add(1)
		return s.renderTile(ctx, col, tc, gz)
	}
	key := tileKey{col: col.ID, name: col.Name, z: tc.Z, x: tc.X, y: tc.Y, epoch: epoch, gen: gen}
	if t, ok := c.cache.GetIfPresent(key); ok {
		c.hits.Add(1)
		return t, nil
	}
	// Concurrent requests for a missing tile wait for one rendering. It
	// runs without the first requester's cancellation (the others still
	// want it) but within its deadline.
	t, err := c.cache.Get(ctx, key, otter.LoaderFunc[tileKey, Tile](func(ctx context.Context, _ tileKey) (Tile, error) {
		rctx := context.WithoutCancel(ctx)
		if dl, ok := ctx.Deadline(); ok {
			var cancel context.CancelFunc
			rctx, cancel = context.WithDeadline(rctx, dl)
			defer cancel()
		}
		return s.renderTile(rctx, col, tc, true)
	}))
	if err != nil {
		return Tile{}, err
	}
	if len(t.Data) > c.maxTile {
		c.cache.Invalidate(key)
	}
	return t, nil
}

func (s *Service) renderTile(ctx context.Context, col *Collection, tc TileCoord, gz bool) (Tile, error) {
	if s.tiles != nil {
		s.tiles.renders.Add(1)
	}
	var data []byte
	sql, args := tileSQL(col, tc)
	err := s.pool.QueryRow(ctx, sql, args...).Scan(&data)
	if err != nil {
		return Tile{}, fmt.Errorf("geo: tile %d/%d/%d: %w", tc.Z, tc.X, tc.Y, pg.Interpret(err))
	}
	if len(data) == 0 {
		return Tile{}, nil
	}
	t := Tile{Data: data, ETag: tileETag(data)}
	if gz {
		if t.Gzip = gzipTile(data); t.Gzip != nil {
			t.GzipETag = t.ETag[:len(t.ETag)-1] + `-gz"`
		}
	}
	return t, nil
}

// WatchChanges keeps the tile cache coherent until ctx is done: it LISTENs
// on its own connection for the collections changed (migration 00026) and
// reconnects, with a backoff, when that connection fails. It returns at
// once when the cache is off.
func (s *Service) WatchChanges(ctx context.Context) {
	if s.tiles == nil {
		return
	}
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		start := time.Now()
		err := s.listen(ctx)
		s.tiles.setLive(false)
		if ctx.Err() != nil {
			return
		}
		s.logger.Warn("tile cache off until the change listener reconnects", "error", err, "retry_in", backoff)
		if time.Since(start) > time.Minute {
			backoff = 100 * time.Millisecond
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

// listen runs one listening connection until it fails.
func (s *Service) listen(ctx context.Context) error {
	conn, err := s.dialListener(ctx)
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		_ = conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+tileChangesChannel); err != nil {
		return err
	}
	// The cache trusts the connection once a notification sent on it has
	// come back, and checks that again whenever it has been quiet for
	// listenCheck: behind a pooler in transaction mode LISTEN succeeds but
	// nothing is delivered, and a connection can die without a reset.
	var sent uint64
	probe := func() (time.Time, error) {
		sent++
		_, err := conn.Exec(ctx, "SELECT pg_notify($1, $2)", tileChangesChannel, probePrefix+strconv.FormatUint(sent, 10))
		return time.Now().Add(s.tiles.probeWait), err
	}
	due, err := probe()
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	pending := true
	for {
		wait := listenCheck
		if pending {
			wait = time.Until(due)
		}
		wctx, cancel := context.WithTimeout(ctx, wait)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if !pgconn.Timeout(err) && !errors.Is(err, context.DeadlineExceeded) {
				return err
			}
			if pending {
				return fmt.Errorf("a notification sent on the listening connection did not come back within %s (is the database behind a pooler in transaction mode?)", s.tiles.probeWait)
			}
			if due, err = probe(); err != nil {
				return fmt.Errorf("probe: %w", err)
			}
			pending = true
			continue
		}
		if s.notified(n.Payload, sent) {
			pending = false
		}
	}
}

// dialListener opens the connection that listens for tile changes, apart
// from the pool and named after it.
func (s *Service) dialListener(ctx context.Context) (*pgx.Conn, error) {
	cfg := s.pool.Config().ConnConfig.Copy()
	name := cfg.RuntimeParams["application_name"]
	if name == "" {
		name = "geoseek"
	}
	cfg.RuntimeParams["application_name"] = name + " listener"
	// A wait that times out only lifts the socket deadline; the default
	// handler would also send a cancel request each time.
	cfg.BuildContextWatcherHandler = func(pc *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.DeadlineContextWatcherHandler{Conn: pc.Conn()}
	}
	return pgx.ConnectConfig(ctx, cfg)
}

// notified acts on a notification's payload p: a probe, a collection's
// change, a collection's new data, or anything else (every collection). It
// reports whether p is the last probe sent.
func (s *Service) notified(p string, sent uint64) bool {
	if strings.HasPrefix(p, probePrefix) {
		if p != probePrefix+strconv.FormatUint(sent, 10) {
			return false
		}
		if !s.tiles.isLive() { // the first probe back: a new epoch
			s.tiles.setLive(true)
		}
		return true
	}
	if rest, ok := strings.CutPrefix(p, collectionChangePrefix); ok {
		// The collection was deleted or its settings changed
		// (document, lifecycle.go).
		if id, err := strconv.ParseInt(rest, 10, 64); err == nil {
			s.tiles.changed(id)
			s.collectionChanged(id)
			return false
		}
	}
	if id, err := strconv.ParseInt(p, 10, 64); err == nil {
		s.tiles.changed(id)
	} else {
		s.tiles.reset() // '*' or unknown: every collection
	}
	return false
}

// TileCacheLive reports whether the tile cache is serving (tests).
func (s *Service) TileCacheLive() bool {
	return s.tiles != nil && s.tiles.isLive()
}

// tileCacheCollector exports the cache's counters at scrape time.
type tileCacheCollector struct {
	c                                          *tileCache
	hits, renders, bypassed, changes, size, up *prometheus.Desc
}

// Collector returns the tile cache's Prometheus metrics, or nil when the
// cache is off.
func (s *Service) Collector() prometheus.Collector {
	if s.tiles == nil {
		return nil
	}
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("geoseek_tile_cache_"+name, help, nil, nil)
	}
	return &tileCacheCollector{c: s.tiles,
		hits:     d("hits_total", "Tiles served from the cache."),
		renders:  d("renders_total", "Tiles rendered by PostgreSQL (misses, fresh requests, bypasses)."),
		bypassed: d("bypassed_total", "Tile requests that skipped the cache because the change listener was not connected."),
		changes:  d("invalidations_total", "Collection change notifications received."),
		size:     d("bytes", "Approximate bytes of cached tiles."),
		up:       d("live", "1 when the change listener is connected and the cache serves."),
	}
}

func (t *tileCacheCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{t.hits, t.renders, t.bypassed, t.changes, t.size, t.up} {
		ch <- d
	}
}

func (t *tileCacheCollector) Collect(ch chan<- prometheus.Metric) {
	c := t.c
	ch <- prometheus.MustNewConstMetric(t.hits, prometheus.CounterValue, float64(c.hits.Load()))
	ch <- prometheus.MustNewConstMetric(t.renders, prometheus.CounterValue, float64(c.renders.Load()))
	ch <- prometheus.MustNewConstMetric(t.bypassed, prometheus.CounterValue, float64(c.bypassed.Load()))
	ch <- prometheus.MustNewConstMetric(t.changes, prometheus.CounterValue, float64(c.changes.Load()))
	ch <- prometheus.MustNewConstMetric(t.size, prometheus.GaugeValue, float64(c.cache.WeightedSize()))
	live := 0.0
	if c.isLive() {
		live = 1
	}
	ch <- prometheus.MustNewConstMetric(t.up, prometheus.GaugeValue, live)
}
