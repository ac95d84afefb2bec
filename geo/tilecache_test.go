package geo

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/mvt"
	"github.com/paulmach/orb/maptile"
	"github.com/stretchr/testify/require"
)

// TestTileCache: tiles are served from the cache until a committed write
// to their collection is notified, whatever path made it (the HTTP API or
// plain SQL); writes that change nothing a tile shows keep the cache; a
// lost listener connection bypasses the cache and a reconnection starts
// over; concurrent misses render once.
func TestTileCache(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.importSeq(t, "places", []string{
		point(13.4050, 52.5200, `"title":"Berlin"`),
		point(13.4500, 52.5400, `"title":"Berlin 2"`),
	})
	c := b.watch(t).tiles
	eventually := func(what string, f func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !f(); time.Sleep(5 * time.Millisecond) {
			require.True(t, time.Now().Before(deadline), "timed out waiting for %s", what)
		}
	}

	get := func(tile maptile.Tile, hdr ...string) (mvt.Layers, string) {
		t.Helper()
		resp, body := b.get(t, placesTile(tile), hdr...)
		require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
		return decodeMVT(t, body), resp.Header.Get("ETag")
	}
	total := func(l mvt.Layers) (n float64) {
		for _, f := range l[0].Features {
			n += f.Properties["count"].(float64)
		}
		return n
	}
	z4 := maptile.At(orb.Point{13.405, 52.52}, 4)
	z16 := maptile.At(orb.Point{13.405, 52.52}, 16)

	// a miss renders, a second read is a hit with the same bytes
	r0, h0 := c.renders.Load(), c.hits.Load()
	l, etag := get(z4)
	require.Equal(t, 2.0, total(l))
	l, etag2 := get(z4)
	require.Equal(t, 2.0, total(l))
	require.Equal(t, etag, etag2)
	require.Equal(t, r0+1, c.renders.Load())
	require.Equal(t, h0+1, c.hits.Load())

	// a write through the API: once its notification is in, the next read
	// renders and shows it
	n0 := c.changes.Load()
	b.importSeq(t, "places", []string{point(13.4100, 52.5300, `"title":"Berlin 3"`)})
	eventually("the insert's notification", func() bool { return c.changes.Load() > n0 })
	l, etag3 := get(z4)
	require.Equal(t, 3.0, total(l))
	require.NotEqual(t, etag, etag3)

	// plain SQL: a props-only update notifies nothing, a title update does;
	// notifications arrive in commit order, so once the title's has been
	// counted a props one would have been too
	l, _ = get(z16)
	require.Equal(t, "Berlin", l[0].Features[0].Properties["title"])
	n1 := c.changes.Load()
	_, err := b.db.Pool.Exec(ctx, `UPDATE documents SET props = props || '{"x": 1}' WHERE title = 'Berlin'`)
	require.NoError(t, err)
	_, err = b.db.Pool.Exec(ctx, `UPDATE documents SET title = 'Berlin Mitte' WHERE title = 'Berlin'`)
	require.NoError(t, err)
	eventually("the title update's notification", func() bool { return c.changes.Load() > n1 })
	l, _ = get(z16)
	require.Equal(t, "Berlin Mitte", l[0].Features[0].Properties["title"])
	require.Equal(t, n1+1, c.changes.Load())

	// a rolled-back write notifies nothing
	tx, err := b.db.Pool.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, `DELETE FROM documents`)
	require.NoError(t, err)
	require.NoError(t, tx.Rollback(ctx))

	// no-cache renders afresh
	r1 := c.renders.Load()
	l, _ = get(z4, "Cache-Control", "no-cache")
	require.Equal(t, 3.0, total(l))
	require.Equal(t, r1+1, c.renders.Load())

	// the listener's connection is killed: the cache is bypassed until it
	// reconnects, then starts over (a new epoch: the next read renders)
	c.mu.Lock()
	e0 := c.epoch
	c.mu.Unlock()
	var killed int
	require.NoError(t, b.db.Pool.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND application_name LIKE '% listener'`).Scan(&killed))
	require.Equal(t, 1, killed)
	eventually("the reconnection", func() bool {
		epoch, _, live := c.version(0)
		return live && epoch > e0
	})
	r2 := c.renders.Load()
	l, _ = get(z4)
	require.Equal(t, 3.0, total(l))
	require.Equal(t, r2+1, c.renders.Load())
	require.Equal(t, n1+1, c.changes.Load(), "the rolled-back delete was notified")

	// '*' (a TRUNCATE) retires everything; another session's probe-like
	// payload is not the listener's and changes nothing
	n3 := c.changes.Load()
	_, err = b.db.Pool.Exec(ctx, `SELECT pg_notify('geoseek_documents', 'probe:424242'), pg_notify('geoseek_documents', '*')`)
	require.NoError(t, err)
	eventually("the reset", func() bool {
		epoch, _, live := c.version(0)
		return live && epoch > e0+1
	})
	require.Equal(t, n3+1, c.changes.Load())

	// concurrent misses of one tile render it once
	z10 := maptile.At(orb.Point{13.405, 52.52}, 10)
	r3 := c.renders.Load()
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodGet, b.srv.URL+placesTile(z10), nil)
			resp, err := http.DefaultClient.Do(req)
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
	require.Equal(t, r3+1, c.renders.Load())

	// deleting the collection's documents (as a collection delete cascades)
	// notifies too: the z4 tile becomes empty
	n2 := c.changes.Load()
	_, err = b.db.Pool.Exec(ctx, `DELETE FROM documents`)
	require.NoError(t, err)
	eventually("the delete's notification", func() bool { return c.changes.Load() > n2 })
	resp, err := http.Get(b.srv.URL + placesTile(z4))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
}

// watch runs the service's change listener until the test ends and waits
// until the tile cache serves.
func (b *testBundle) watch(t *testing.T) *Service {
	t.Helper()
	svc := b.h.Service()
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); svc.WatchChanges(ctx) }()
	t.Cleanup(func() { stop(); <-done })
	for deadline := time.Now().Add(10 * time.Second); !svc.TileCacheLive(); time.Sleep(5 * time.Millisecond) {
		require.True(t, time.Now().Before(deadline), "the listener did not connect")
	}
	return svc
}

// TestTileCacheOffWithoutListener: a service whose WatchChanges is not
// running never serves from its cache.
func TestTileCacheOffWithoutListener(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.importSeq(t, "places", []string{point(13.4050, 52.5200, `"title":"Berlin"`)})
	c := b.h.Service().tiles
	z4 := maptile.At(orb.Point{13.405, 52.52}, 4)
	url := b.srv.URL + placesTile(z4)
	for range 3 {
		resp, err := http.Get(url)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
	}
	require.Equal(t, uint64(0), c.hits.Load())
	require.Equal(t, uint64(3), c.renders.Load())
	require.Equal(t, uint64(3), c.bypassed.Load())
}

// TestTilesGzip: a client that takes gzip gets the tile gzipped, with its
// own validator, whether the tile was rendered for it or comes from the
// cache; either validator answers 304; small tiles are sent as they are.
func TestTilesGzip(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var feats []string
	for i := range 100 {
		feats = append(feats, point(13.4050+float64(i)*0.00002, 52.5200+float64(i)*0.00001, fmt.Sprintf(`"title":"Café number %d on Unter den Linden"`, i)))
	}
	b.importSeq(t, "places", feats)
	z16 := maptile.At(orb.Point{13.4055, 52.5203}, 16)
	path := placesTile(z16)
	get := func(hdr ...string) (*http.Response, []byte) { return b.get(t, path, hdr...) }
	check := func() {
		t.Helper()
		resp, plain := get("Accept-Encoding", "identity")
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Empty(t, resp.Header.Get("Content-Encoding"))
		etag := resp.Header.Get("ETag")
		require.Len(t, decodeMVT(t, plain)[0].Features, 100)

		resp, zipped := get("Accept-Encoding", "gzip")
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Equal(t, "gzip", resp.Header.Get("Content-Encoding"))
		require.Equal(t, "Accept-Encoding", resp.Header.Get("Vary"))
		require.Equal(t, int64(len(zipped)), resp.ContentLength)
		require.Less(t, len(zipped), len(plain))
		gzEtag := resp.Header.Get("ETag")
		require.NotEqual(t, etag, gzEtag)
		zr, err := gzip.NewReader(bytes.NewReader(zipped))
		require.NoError(t, err)
		unzipped, err := io.ReadAll(zr)
		require.NoError(t, err)
		require.Equal(t, plain, unzipped)

		for _, tc := range [][]string{{"gzip", gzEtag}, {"identity", etag}, {"gzip", etag}} {
			resp, _ = get("Accept-Encoding", tc[0], "If-None-Match", tc[1])
			require.Equal(t, http.StatusNotModified, resp.StatusCode, "%v", tc)
		}
	}
	check() // rendered per request (no listener: the cache is bypassed)

	svc := b.watch(t)
	h0 := svc.tiles.hits.Load()
	check() // a miss, then hits
	require.Greater(t, svc.tiles.hits.Load(), h0+2)

	// small tiles are sent as they are
	far := maptile.At(orb.Point{-74.0060, 40.7128}, 16)
	b.importSeq(t, "places", []string{point(-74.0060, 40.7128, `"title":"New York"`)})
	resp, _ := b.get(t, placesTile(far), "Accept-Encoding", "gzip")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Empty(t, resp.Header.Get("Content-Encoding"))
}

// TestTileCacheNeedsDelivery: a listener whose connection does not deliver
// notifications (here a proxy drops them, as a pooler in transaction mode
// would) never turns the cache on and keeps reconnecting; once they are
// delivered it does.
func TestTileCacheNeedsDelivery(t *testing.T) {
	t.Parallel()
	b := setup(t)
	cfg, err := pgxpool.ParseConfig(b.db.URL)
	require.NoError(t, err)
	upstream := net.JoinHostPort(cfg.ConnConfig.Host, strconv.Itoa(int(cfg.ConnConfig.Port)))
	if strings.HasPrefix(cfg.ConnConfig.Host, "/") {
		upstream = filepath.Join(cfg.ConnConfig.Host, fmt.Sprintf(".s.PGSQL.%d", cfg.ConnConfig.Port))
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	var conns atomic.Int32
	var deliver atomic.Bool
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			network := "tcp"
			if strings.HasPrefix(upstream, "/") {
				network = "unix"
			}
			u, err := net.Dial(network, upstream)
			if err != nil {
				c.Close()
				continue
			}
			go func() { _, _ = io.Copy(u, c); u.Close() }()
			go func() { // server to client, message by message, without 'A' (NotificationResponse)
				defer c.Close()
				r := bufio.NewReader(u)
				hdr := make([]byte, 5)
				for {
					if _, err := io.ReadFull(r, hdr); err != nil {
						return
					}
					body := make([]byte, int(binary.BigEndian.Uint32(hdr[1:]))-4)
					if _, err := io.ReadFull(r, body); err != nil {
						return
					}
					if hdr[0] == 'A' && !deliver.Load() {
						continue
					}
					if _, err := c.Write(append(hdr, body...)); err != nil {
						return
					}
				}
			}()
		}
	}()
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	p, _ := strconv.Atoi(port)
	cfg.ConnConfig.Host, cfg.ConnConfig.Port = host, uint16(p)
	cfg.ConnConfig.TLSConfig, cfg.ConnConfig.Fallbacks = nil, nil // no SSLRequest: every server byte is a message
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)

	svc := NewService(pool, nil, Options{})
	svc.tiles.probeWait = 200 * time.Millisecond
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); svc.WatchChanges(ctx) }()
	t.Cleanup(func() { stop(); <-done })
	for deadline := time.Now().Add(15 * time.Second); conns.Load() < 3; time.Sleep(10 * time.Millisecond) {
		require.False(t, svc.TileCacheLive(), "the cache went live without a delivered notification")
		require.True(t, time.Now().Before(deadline), "the listener did not retry")
	}
	require.False(t, svc.TileCacheLive())

	deliver.Store(true)
	for deadline := time.Now().Add(15 * time.Second); !svc.TileCacheLive(); time.Sleep(10 * time.Millisecond) {
		require.True(t, time.Now().Before(deadline), "the cache did not go live once notifications were delivered")
	}
}
