package pg_test

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/geoseek/geoseek/internal/pg"
	"github.com/geoseek/geoseek/internal/pgtest"
)

// TestCancelledStatementKeepsItsConnection: a request's statement whose
// context ends (a client gone, a request timeout) is stopped by the server
// and its connection, with the same backend, serves the next statement; the
// caller sees the server's cancellation. Unmarked contexts keep pgx's
// default: the connection is closed.
func TestCancelledStatementKeepsItsConnection(t *testing.T) {
	t.Parallel()
	db := pgtest.NewEmpty(t, "")
	pool, err := pg.Open(context.Background(), pg.Config{URL: db.URL, MaxConns: 1}, nil)
	require.NoError(t, err)
	defer pool.Close()
	ctx := context.Background()
	var pid int
	require.NoError(t, pool.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pid))

	for _, end := range []string{"deadline", "cancel"} {
		qctx, cancel := context.WithTimeout(pg.WithCancelRequest(ctx), 200*time.Millisecond)
		if end == "cancel" {
			go func() { time.Sleep(200 * time.Millisecond); cancel() }()
		}
		start := time.Now()
		_, err := pool.Exec(qctx, `SELECT pg_sleep(30)`)
		cancel()
		took := time.Since(start)
		require.Error(t, err, end)
		require.True(t, pg.Cancelled(err), "%s: %v", end, err)
		require.Less(t, took, pg.CancelWait, end)

		var again int
		require.NoError(t, pool.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&again), end)
		require.Equal(t, pid, again, "%s: the connection was replaced", end)
	}
	require.EqualValues(t, 1, pool.Stat().TotalConns())

	qctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	_, err = pool.Exec(qctx, `SELECT pg_sleep(30)`)
	cancel()
	require.ErrorIs(t, err, context.DeadlineExceeded)
	var again int
	require.NoError(t, pool.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&again))
	require.NotEqual(t, pid, again, "an unmarked context's connection was kept")
}

// TestCancelIgnoredIsBounded: when the cancel request never reaches the
// server (here a proxy swallows every cancel request), the caller waits no
// longer than pg.CancelWait and the connection is closed, not reused: the
// next statement runs on a new backend.
func TestCancelIgnoredIsBounded(t *testing.T) {
	t.Parallel()
	db := pgtest.NewEmpty(t, "")
	u, err := url.Parse(db.URL)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var (
		mu      sync.Mutex
		conns   []net.Conn
		swallow int
	)
	closeProxy := func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	}
	target := u.Host
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			go func() {
				// A cancel request is 16 bytes: length 16, code 80877102.
				head := make([]byte, 8)
				if _, err := io.ReadFull(c, head); err != nil {
					return
				}
				if binary.BigEndian.Uint32(head) == 16 && binary.BigEndian.Uint32(head[4:]) == 80877102 {
					mu.Lock()
					swallow++
					mu.Unlock()
					return // read by nobody, never answered
				}
				s, err := net.Dial("tcp", target)
				if err != nil {
					c.Close()
					return
				}
				mu.Lock()
				conns = append(conns, s)
				mu.Unlock()
				if _, err := s.Write(head); err != nil {
					return
				}
				go func() { _, _ = io.Copy(s, c); s.Close() }()
				_, _ = io.Copy(c, s)
				c.Close()
			}()
		}
	}()
	u.Host = ln.Addr().String()
	q := u.Query()
	q.Set("sslmode", "disable")
	u.RawQuery = q.Encode()
	pool, err := pg.Open(context.Background(), pg.Config{URL: u.String(), MaxConns: 2}, nil)
	require.NoError(t, err)
	defer pool.Close()
	defer closeProxy() // first: the swallowed cancel requests end, so the pool closes at once
	ctx := context.Background()
	var pid int
	require.NoError(t, pool.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pid))

	qctx, cancel := context.WithTimeout(pg.WithCancelRequest(ctx), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = pool.Exec(qctx, `SELECT pg_sleep(30)`)
	took := time.Since(start)
	require.Error(t, err)
	require.False(t, pg.Cancelled(err), "the server stopped the statement although no cancel reached it: %v", err)
	require.GreaterOrEqual(t, took, pg.CancelWait, "the call ended before its bound: %v", err)
	require.Less(t, took, pg.CancelWait+3*time.Second)
	mu.Lock()
	require.GreaterOrEqual(t, swallow, 1, "no cancel request was sent")
	mu.Unlock()

	// Two connections: closing the first (pgx sends a cancel request of its
	// own, swallowed too) holds its slot for a while.
	var again int
	require.NoError(t, pool.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&again))
	require.NotEqual(t, pid, again, "a connection left mid-statement went back to the pool")
}
