package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/geoseek/geoseek/internal/httpx"
	"github.com/geoseek/geoseek/internal/pg"
	"github.com/geoseek/geoseek/internal/pgcluster"
	"github.com/geoseek/geoseek/internal/pgtest"
	"github.com/geoseek/geoseek/internal/problem"
	"github.com/geoseek/geoseek/internal/server"
	"github.com/geoseek/geoseek/migrations"
)

func newServer(t *testing.T) *server.Server {
	t.Helper()
	db := pgtest.New(t)
	return server.New(server.Config{Addr: "127.0.0.1:0"}, db.Pool, &server.Readiness{Pool: db.Pool}, discard())
}

func TestPanicBecomesProblem(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	s.API.GET("/boom", func(c *gin.Context) { panic("secret internal detail") })
	w := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/boom", nil)
	req.Header.Set("X-Request-ID", "req-123")
	s.Engine().ServeHTTP(w, req)
	if w.Code != 500 || w.Header().Get("Content-Type") != problem.ContentType {
		t.Fatalf("%d %s", w.Code, w.Header().Get("Content-Type"))
	}
	if strings.Contains(w.Body.String(), "secret") {
		t.Fatalf("panic value leaked: %s", w.Body)
	}
	var d problem.Details
	json.Unmarshal(w.Body.Bytes(), &d)
	if d.Type != problem.ErrInternal.Type() || d.RequestID != "req-123" || w.Header().Get("X-Request-ID") != "req-123" {
		t.Fatalf("problem %+v", d)
	}
}

func TestRequestIDIsMadeWhenMissingOrUnsafe(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	for _, in := range []string{"", "bad id with spaces\n"} {
		w := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/healthz", nil)
		if in != "" {
			req.Header.Set("X-Request-ID", in)
		}
		s.Engine().ServeHTTP(w, req)
		if id := w.Header().Get("X-Request-ID"); len(id) != 24 {
			t.Fatalf("request id %q for input %q", id, in)
		}
	}
}

// TestAccessLog: one line per request with the request id, route, status
// and size; made ids differ from request to request.
func TestAccessLog(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	s := server.New(server.Config{Addr: "127.0.0.1:0"}, nil, nil, slog.New(slog.NewTextHandler(&buf, nil)))
	s.API.GET("/things/:id", func(c *gin.Context) { c.String(201, "hello") })
	var ids []string
	for range 2 {
		w := httptest.NewRecorder()
		s.Engine().ServeHTTP(w, httptest.NewRequest("GET", "/things/7", nil))
		ids = append(ids, w.Header().Get("X-Request-ID"))
	}
	if ids[0] == ids[1] {
		t.Errorf("two requests got the same id %s", ids[0])
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d log lines, want 2:\n%s", len(lines), buf.String())
	}
	for i, l := range lines {
		for _, want := range []string{"msg=request", "request_id=" + ids[i], "method=GET", "path=/things/7", "route=/things/:id", "status=201", "bytes=5", "duration_ms="} {
			if !strings.Contains(l, want) {
				t.Errorf("log line %q lacks %q", l, want)
			}
		}
	}
}

// TestAccessLogRemote: X-Forwarded-For names the client only when the peer
// is a configured proxy; otherwise the log shows the peer itself.
func TestAccessLogRemote(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		proxies []string
		want    string
	}{
		{nil, "remote=192.0.2.1"},
		{[]string{"192.0.2.0/24"}, "remote=203.0.113.9"},
		{[]string{"198.51.100.7"}, "remote=192.0.2.1"},
	} {
		var buf bytes.Buffer
		s := server.New(server.Config{Addr: "127.0.0.1:0", TrustedProxies: tc.proxies}, nil, nil, slog.New(slog.NewTextHandler(&buf, nil)))
		req := httptest.NewRequest("GET", "/no-such-route", nil)
		req.RemoteAddr = "192.0.2.1:4711"
		req.Header.Set("X-Forwarded-For", "203.0.113.9")
		s.Engine().ServeHTTP(httptest.NewRecorder(), req)
		if !strings.Contains(buf.String(), tc.want) {
			t.Errorf("proxies %v: log %q lacks %q", tc.proxies, buf.String(), tc.want)
		}
	}
}

func TestMetricsByRoute(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	s.API.GET("/things/:id", func(c *gin.Context) { c.String(200, "x") })
	for _, p := range []string{"/things/1", "/things/2", "/readyz"} {
		s.Engine().ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", p, nil))
	}
	w := httptest.NewRecorder()
	s.Engine().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	body := w.Body.String()
	for _, want := range []string{
		`geoseek_http_requests_total{code="200",method="GET",route="/things/:id"} 2`,
		`geoseek_http_request_duration_seconds_bucket{method="GET",route="/readyz"`,
		`geoseek_db_pool_max_connections`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestGracefulShutdownFinishesInFlight(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	entered := make(chan struct{})
	s.API.GET("/slow", func(c *gin.Context) {
		close(entered)
		time.Sleep(300 * time.Millisecond)
		c.String(200, "done")
	})
	addr, cancel, served := serveLoopback(t, s)
	type result struct {
		body string
		err  error
	}
	res := make(chan result, 1)
	go func() {
		resp, err := http.Get("http://" + addr + "/slow")
		if err != nil {
			res <- result{err: err}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		res <- result{body: string(b)}
	}()
	<-entered
	cancel() // SIGTERM arrives while /slow runs
	r := <-res
	if r.err != nil || r.body != "done" {
		t.Fatalf("in-flight request: %q %v", r.body, r.err)
	}
	if err := <-served; err != nil {
		t.Fatalf("serve: %v", err)
	}
	if _, err := http.Get("http://" + addr + "/healthz"); err == nil {
		t.Fatal("server still accepts after shutdown")
	}
}

// TestReadyzFollowsTheDatabase runs its own cluster, since it stops it.
func TestReadyzFollowsTheDatabase(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// The postgres user (when we are root) must reach the cluster dir.
	for p := dir; p != filepath.Dir(os.TempDir()) && p != "/"; p = filepath.Dir(p) {
		os.Chmod(p, 0o755)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port // a free port, not a fixed one another test run may hold
	ln.Close()
	cl := &pgcluster.Cluster{Dir: filepath.Join(dir, "pg"), Port: port}
	ctx := context.Background()
	u, err := cl.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Stop(context.Background()) })
	pool, err := pg.Open(ctx, pg.Config{URL: u, MaxConns: 4}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := migrations.Up(ctx, pool, nil); err != nil {
		t.Fatal(err)
	}
	s := server.New(server.Config{}, pool, &server.Readiness{Pool: pool, Timeout: 2 * time.Second}, discard())
	check := func() (int, server.Report) {
		w := httptest.NewRecorder()
		s.Engine().ServeHTTP(w, httptest.NewRequest("GET", "/readyz", nil))
		var r server.Report
		json.Unmarshal(w.Body.Bytes(), &r)
		return w.Code, r
	}
	if code, r := check(); code != 200 || r.Status != "ready" || r.Extensions["postgis"] == "" || !r.Schema.Current {
		t.Fatalf("ready: %d %+v", code, r)
	}
	if err := cl.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if code, r := check(); code != 503 || r.Status != "unready" || r.Database != "unreachable" {
		t.Fatalf("with the database stopped: %d %+v", code, r)
	}
	if _, err := cl.Start(ctx); err != nil {
		t.Fatal(err)
	}
	var code int
	for i := 0; i < 50; i++ {
		if code, _ = check(); code == 200 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code != 200 {
		t.Fatalf("not ready again after the database returned: %d", code)
	}
}

// serveQuery serves GET /sleep?s=N, which runs pg_sleep(N) with the
// request's context and reports the query's outcome on done once it has
// signalled started.
func serveQuery(t *testing.T, grace time.Duration) (base string, db *pgtest.DB, started chan struct{}, done chan error) {
	t.Helper()
	db = pgtest.New(t)
	s := server.New(server.Config{Addr: "127.0.0.1:0", DisconnectGrace: grace}, db.Pool, &server.Readiness{Pool: db.Pool}, discard())
	started, done = make(chan struct{}, 1), make(chan error, 1)
	s.API.GET("/sleep", func(c *gin.Context) {
		started <- struct{}{}
		_, err := db.Pool.Exec(c.Request.Context(), `SELECT pg_sleep($1::float8)`, c.Query("s"))
		done <- err
		c.Status(http.StatusNoContent)
	})
	addr, cancel, served := serveLoopback(t, s)
	t.Cleanup(func() { cancel(); <-served })
	return "http://" + addr, db, started, done
}

// serveLoopback serves s on a loopback port until cancel; served receives
// what Serve returned.
func serveLoopback(t *testing.T, s *server.Server) (addr string, cancel context.CancelFunc, served <-chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(ctx, ln, nil) }()
	return ln.Addr().String(), cancel, errc
}

// leave sends GET path and goes away (closes the connection) once the
// handler has started.
func leave(t *testing.T, url string, started chan struct{}) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	errc := make(chan error, 1)
	go func() {
		resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	select {
	case <-started:
	case <-time.After(30 * time.Second):
		t.Fatal("the handler did not start")
	}
	cancel()
	if err := <-errc; err == nil {
		t.Fatal("the request finished before the client left")
	}
}

// TestClientGoneQueryFinishesInGrace: a query whose client leaves finishes
// within the grace and keeps its connection (cancelling it would close the
// connection, and a new one costs a backend that loads PostGIS).
func TestClientGoneQueryFinishesInGrace(t *testing.T) {
	t.Parallel()
	base, db, started, done := serveQuery(t, time.Minute)
	// One connection made and idle before the request, so that the count
	// of new connections can only move if the query's is closed.
	if _, err := db.Pool.Exec(context.Background(), `SELECT 1`); err != nil {
		t.Fatal(err)
	}
	before := db.Pool.Stat().NewConnsCount()
	leave(t, base+"/sleep?s=0.3", started)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the query was cancelled inside the grace: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the query never returned")
	}
	if _, err := db.Pool.Exec(context.Background(), `SELECT 1`); err != nil {
		t.Fatal(err)
	}
	if n := db.Pool.Stat().NewConnsCount(); n != before {
		t.Fatalf("%d new connections: the query's connection was closed", n-before)
	}
}

// TestClientGoneQueryCancelledAfterGrace: a query that runs past the grace
// is stopped on the server, not left running for its client that is gone,
// and its connection stays in the pool (a cancel request, not a closed
// connection: a new backend's first statements are slow).
func TestClientGoneQueryCancelledAfterGrace(t *testing.T) {
	t.Parallel()
	base, db, started, done := serveQuery(t, 20*time.Millisecond)
	if _, err := db.Pool.Exec(context.Background(), `SELECT 1`); err != nil {
		t.Fatal(err)
	}
	before := db.Pool.Stat().NewConnsCount()
	leave(t, base+"/sleep?s=60", started)
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a 60 s query whose client left returned without error")
		}
		if !pg.Cancelled(err) {
			t.Fatalf("the query ended otherwise than by a cancel request: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the query was not cancelled after the grace")
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var n int
		if err := db.Pool.QueryRow(context.Background(),
			`SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE '%pg_sleep($1%' AND state = 'active'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("pg_sleep still runs on the server after its request was cancelled")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := db.Pool.Stat().NewConnsCount(); n != before {
		t.Fatalf("%d new connections: the cancelled query's connection was closed", n-before)
	}
}

// Every response forbids everything; an HTML handler that asks for a nonce
// gets the page policy with it, and the configured style origin.
func TestContentSecurityPolicy(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	s := server.New(server.Config{Addr: "127.0.0.1:0", CSPOrigins: []string{"https://tiles.example.org"}}, db.Pool, &server.Readiness{Pool: db.Pool}, discard())
	var nonce string
	s.API.GET("/page", func(c *gin.Context) {
		nonce = httpx.Nonce(c)
		if httpx.Nonce(c) != nonce {
			t.Error("a second call made another nonce")
		}
		c.Data(200, "text/html", []byte(`<script nonce="`+nonce+`"></script>`))
	})
	get := func(path string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		s.Engine().ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		return w
	}
	for _, p := range []string{"/healthz", "/no-such-route"} {
		if got := get(p).Header().Get("Content-Security-Policy"); got != httpx.BaseCSP {
			t.Errorf("%s: CSP %q", p, got)
		}
	}
	csp := get("/page").Header().Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self' 'nonce-" + nonce + "'", "style-src 'self' 'nonce-" + nonce + "'",
		"connect-src 'self' https://tiles.example.org", "img-src 'self' data: blob: https://tiles.example.org", "worker-src blob:", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("page CSP %q lacks %q", csp, want)
		}
	}
	if len(nonce) < 22 || strings.ContainsAny(nonce, "+/=") {
		t.Errorf("nonce %q", nonce)
	}
}

// blockingWriter holds every Write until released, as a log pipe whose
// reader stalls, or a write(2) whose thread lost its core, does.
type blockingWriter struct {
	entered chan struct{}
	release chan struct{}
}

func (w *blockingWriter) Write(p []byte) (int, error) {
	select {
	case w.entered <- struct{}{}:
	default:
	}
	<-w.release
	return len(p), nil
}

// TestProbesSkipTheAccessLog: while another request's log line is stuck in
// the log's writer (holding the logger's lock), /healthz is still answered.
// (/readyz is skipped alike when it answers 200; without a database it
// answers 503, which is logged.)
func TestProbesSkipTheAccessLog(t *testing.T) {
	t.Parallel()
	w := &blockingWriter{entered: make(chan struct{}, 1), release: make(chan struct{})}
	s := server.New(server.Config{Addr: "127.0.0.1:0"}, nil, &server.Readiness{}, slog.New(slog.NewTextHandler(w, nil)))
	s.API.GET("/things", func(c *gin.Context) { c.Status(204) })
	go s.Engine().ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/things", nil))
	<-w.entered // its line is being written, the handler's lock held
	for _, p := range []string{"/healthz", "/healthz"} {
		done := make(chan int, 1)
		go func() {
			rec := httptest.NewRecorder()
			s.Engine().ServeHTTP(rec, httptest.NewRequest("GET", p, nil))
			done <- rec.Code
		}()
		select {
		case code := <-done:
			if code != 200 {
				t.Errorf("%s: %d", p, code)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s waited behind another request's log line", p)
		}
	}
	close(w.release)
}

// TestShedAnswersAreLoggedAtInfo: a shed 503 is the bound at work; its line
// is Info (buffered), while other 5xx stay Warn.
func TestShedAnswersAreLoggedAtInfo(t *testing.T) {
	t.Parallel()
	var buf safeBuffer
	s := server.New(server.Config{Addr: "127.0.0.1:0", MaxInFlight: 1}, nil, &server.Readiness{}, slog.New(slog.NewTextHandler(&buf, nil)))
	release, entered := make(chan struct{}), make(chan struct{})
	s.API.GET("/slow", func(c *gin.Context) { close(entered); <-release; c.Status(204) })
	s.API.GET("/fail", func(c *gin.Context) { c.Status(500) })
	done := make(chan struct{})
	go func() {
		s.Engine().ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/slow", nil))
		close(done)
	}()
	<-entered
	rec := httptest.NewRecorder()
	s.Engine().ServeHTTP(rec, httptest.NewRequest("GET", "/fail", nil))
	if rec.Code != 503 {
		t.Fatalf("over the bound: %d", rec.Code)
	}
	close(release)
	<-done
	s.Engine().ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/fail", nil))
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	want := map[string]string{"status=503": "level=INFO", "status=500": "level=WARN"}
	for _, l := range lines {
		for status, level := range want {
			if strings.Contains(l, status) && !strings.Contains(l, level) {
				t.Errorf("%s logged as %q, want %s", status, l, level)
			}
		}
	}
	if len(lines) != 3 {
		t.Errorf("%d lines, want 3:\n%s", len(lines), buf.String())
	}
}

// safeBuffer is a bytes.Buffer for concurrent writers.
type safeBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *safeBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *safeBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
