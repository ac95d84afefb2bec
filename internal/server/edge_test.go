package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/geoseek/geoseek/internal/auth"
	"github.com/geoseek/geoseek/internal/httpx"
	"github.com/geoseek/geoseek/internal/pg"
	"github.com/geoseek/geoseek/internal/pgtest"
	"github.com/geoseek/geoseek/internal/problem"
	"github.com/geoseek/geoseek/internal/ratelimit"
	"github.com/geoseek/geoseek/internal/server"
)

func send(s *server.Server, req *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	s.Engine().ServeHTTP(w, req)
	return w
}

func problemOf(t *testing.T, w *httptest.ResponseRecorder) problem.Details {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); ct != problem.ContentType {
		t.Fatalf("%d: content type %q: %s", w.Code, ct, w.Body)
	}
	var d problem.Details
	if err := json.Unmarshal(w.Body.Bytes(), &d); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestShedsOverMaxInFlight: past the bound a request gets 503 with
// Retry-After at once, probes are still answered, and once the load is
// gone requests are served again.
func TestShedsOverMaxInFlight(t *testing.T) {
	t.Parallel()
	s := server.New(server.Config{MaxInFlight: 2}, nil, &server.Readiness{}, discard())
	release, entered := make(chan struct{}), make(chan struct{}, 2)
	s.API.GET("/slow", func(c *gin.Context) { entered <- struct{}{}; <-release; c.Status(204) })
	s.API.GET("/fast", func(c *gin.Context) { c.Status(204) })
	done := make(chan int, 2)
	for range 2 {
		go func() { done <- send(s, httptest.NewRequest("GET", "/slow", nil)).Code }()
		<-entered
	}
	for range 3 { // several refusals: the count must not drift
		w := send(s, httptest.NewRequest("GET", "/fast", nil))
		if w.Code != 503 || w.Header().Get("Retry-After") == "" || problemOf(t, w).Type != problem.ErrUnavailable.Type() {
			t.Fatalf("over the bound: %d %v %s", w.Code, w.Header(), w.Body)
		}
	}
	if w := send(s, httptest.NewRequest("GET", "/healthz", nil)); w.Code != 200 {
		t.Fatalf("/healthz shed: %d", w.Code)
	}
	close(release)
	for range 2 {
		if code := <-done; code != 204 {
			t.Fatalf("in-flight request: %d", code)
		}
	}
	if w := send(s, httptest.NewRequest("GET", "/fast", nil)); w.Code != 204 {
		t.Fatalf("after the load: %d", w.Code)
	}
}

// TestRateLimitPerAddress: anonymous clients are limited per address, with
// the RateLimit headers; X-Forwarded-For counts only from a trusted proxy.
func TestRateLimitPerAddress(t *testing.T) {
	t.Parallel()
	s := server.New(server.Config{
		TrustedProxies: []string{"10.0.0.0/8"},
		RateLimits:     server.RateLimits{PerIP: ratelimit.Config{Rate: 0.001, Burst: 3}},
	}, nil, &server.Readiness{}, discard())
	s.API.GET("/r", func(c *gin.Context) { c.Status(204) })
	get := func(remote, xff string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", "/r", nil)
		req.RemoteAddr = remote + ":1234"
		if xff != "" {
			req.Header.Set("X-Forwarded-For", xff)
		}
		return send(s, req)
	}
	for i := range 3 {
		w := get("192.0.2.1", "")
		if w.Code != 204 || w.Header().Get("RateLimit-Limit") != "3" || w.Header().Get("RateLimit-Remaining") != strconv.Itoa(2-i) || w.Header().Get("RateLimit-Reset") == "" {
			t.Fatalf("request %d: %d %v", i, w.Code, w.Header())
		}
	}
	w := get("192.0.2.1", "203.0.113.5") // an untrusted peer cannot pose as another client
	if w.Code != 429 || w.Header().Get("Retry-After") == "" || problemOf(t, w).Type != problem.ErrRateLimited.Type() {
		t.Fatalf("over the limit: %d %v %s", w.Code, w.Header(), w.Body)
	}
	if w := get("192.0.2.2", ""); w.Code != 204 {
		t.Fatalf("another address limited: %d", w.Code)
	}
	// Behind a trusted proxy each forwarded client has its own bucket.
	for i := range 3 {
		if w := get("10.1.1.1", "203.0.113.7"); w.Code != 204 {
			t.Fatalf("forwarded client request %d: %d", i, w.Code)
		}
	}
	if w := get("10.1.1.1", "203.0.113.7"); w.Code != 429 {
		t.Fatalf("forwarded client over its limit: %d", w.Code)
	}
	if w := get("10.1.1.1", "203.0.113.8"); w.Code != 204 {
		t.Fatalf("another forwarded client limited: %d", w.Code)
	}
}

// TestRateLimitPerKeyAndFailedAuth: requests with a valid key count against
// the key, not the address; refused keys count against the address's much
// smaller failure budget, and past it credentials are not even looked at.
func TestRateLimitPerKeyAndFailedAuth(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	_, key, err := auth.NewStore(db.Pool).Create(context.Background(), "k", []auth.Scope{auth.Read})
	if err != nil {
		t.Fatal(err)
	}
	s := server.New(server.Config{RateLimits: server.RateLimits{
		PerIP:        ratelimit.Config{Rate: 0.001, Burst: 4},
		PerKey:       ratelimit.Config{Rate: 0.001, Burst: 5},
		AuthFailures: ratelimit.Config{Rate: 0.001, Burst: 3},
	}}, db.Pool, &server.Readiness{Pool: db.Pool}, discard())
	s.API.GET("/r", auth.Require(auth.Read), func(c *gin.Context) { c.Status(204) })
	var last *httptest.ResponseRecorder
	get := func(remote, authz string) int {
		req := httptest.NewRequest("GET", "/r", nil)
		req.RemoteAddr = remote + ":1"
		if authz != "" {
			req.Header.Set("Authorization", authz)
		}
		last = send(s, req)
		return last.Code
	}
	for i := range 5 { // more than the address's 4
		if code := get("192.0.2.1", "Bearer "+key); code != 204 {
			t.Fatalf("keyed request %d: %d", i, code)
		}
	}
	if code := get("192.0.2.9", "Bearer "+key); code != 429 {
		t.Fatalf("key over its limit from another address: %d", code)
	}
	for i := range 3 {
		if code := get("192.0.2.2", "Bearer gsk_wrong"+strconv.Itoa(i)); code != 401 {
			t.Fatalf("bad key %d: %d", i, code)
		}
	}
	if code := get("192.0.2.2", "Bearer "+key); code != 429 || !strings.Contains(problemOf(t, last).Detail, "failed authentication") {
		t.Fatalf("credentials past the failure budget: %d %s", code, last.Body)
	}
	if code := get("192.0.2.2", ""); code != 204 {
		t.Fatalf("anonymous read from the throttled address: %d", code)
	}
	if code := get("192.0.2.3", "Bearer gsk_wrong"); code != 401 {
		t.Fatalf("bad key from another address: %d", code)
	}
}

// TestKeyedAnswersArePrivate: when reads need a key, an answer a handler
// marked public becomes private and varies by Authorization; with open
// reads it stays public. /metrics needs the key too.
func TestKeyedAnswersArePrivate(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	_, key, err := auth.NewStore(db.Pool).Create(context.Background(), "k", []auth.Scope{auth.Read})
	if err != nil {
		t.Fatal(err)
	}
	for _, closed := range []bool{false, true} {
		s := server.New(server.Config{RequireKeyForReads: closed}, db.Pool, &server.Readiness{Pool: db.Pool}, discard())
		s.API.GET("/tile", auth.Require(auth.Read), func(c *gin.Context) {
			c.Header("Cache-Control", "public, max-age=60")
			c.Data(200, "application/vnd.mapbox-vector-tile", []byte{1})
		})
		s.API.GET("/empty", auth.Require(auth.Read), func(c *gin.Context) { c.Status(304) })
		req := httptest.NewRequest("GET", "/tile", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		w := send(s, req)
		cc, vary := w.Header().Get("Cache-Control"), strings.Join(w.Header().Values("Vary"), ",")
		if closed && (cc != "private, max-age=60" || !strings.Contains(vary, "Authorization")) {
			t.Fatalf("keyed tile: %d Cache-Control %q Vary %q", w.Code, cc, vary)
		}
		if !closed && (cc != "public, max-age=60" || strings.Contains(vary, "Authorization")) {
			t.Fatalf("public tile: Cache-Control %q Vary %q", cc, vary)
		}
		req = httptest.NewRequest("GET", "/empty", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		if w := send(s, req); closed && !strings.HasPrefix(w.Header().Get("Cache-Control"), "private") {
			t.Fatalf("keyed 304 without a body: Cache-Control %q", w.Header().Get("Cache-Control"))
		}
		if w := send(s, httptest.NewRequest("GET", "/metrics", nil)); (w.Code == 401) != closed {
			t.Fatalf("/metrics without a key (reads closed %v): %d", closed, w.Code)
		}
	}
}

// TestCORS: no CORS headers unless origins are configured; a configured
// origin's preflight is answered with the methods and headers, including
// Authorization, and the rate-limit headers are exposed.
func TestCORS(t *testing.T) {
	t.Parallel()
	preflight := func(s *server.Server, origin string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("OPTIONS", "/r", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "authorization")
		return send(s, req)
	}
	off := server.New(server.Config{}, nil, &server.Readiness{}, discard())
	off.API.POST("/r", func(c *gin.Context) { c.Status(204) })
	if w := preflight(off, "https://maps.example.org"); w.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("CORS without configuration: %v", w.Header())
	}
	on := server.New(server.Config{CORSOrigins: []string{"https://maps.example.org"}}, nil, &server.Readiness{}, discard())
	on.API.POST("/r", func(c *gin.Context) { c.Status(204) })
	w := preflight(on, "https://maps.example.org")
	h := w.Header()
	if w.Code != 204 || h.Get("Access-Control-Allow-Origin") != "https://maps.example.org" ||
		!strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") ||
		!strings.Contains(h.Get("Access-Control-Allow-Headers"), "Authorization") ||
		!strings.Contains(h.Get("Access-Control-Expose-Headers"), "RateLimit-Remaining") ||
		!strings.Contains(h.Get("Access-Control-Expose-Headers"), "Retry-After") {
		t.Fatalf("preflight: %d %v", w.Code, h)
	}
	if w := preflight(on, "https://evil.example"); w.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("another origin allowed: %v", w.Header())
	}
	req := httptest.NewRequest("POST", "/r", nil)
	req.Header.Set("Origin", "https://maps.example.org")
	if w := send(on, req); w.Code != 204 || w.Header().Get("Access-Control-Allow-Origin") != "https://maps.example.org" {
		t.Fatalf("actual request: %d %v", w.Code, w.Header())
	}
}

// TestInventedMethodsShareOneSeries: methods a client makes up are counted
// under one label, so they cannot add a series each.
func TestInventedMethodsShareOneSeries(t *testing.T) {
	t.Parallel()
	s := server.New(server.Config{}, nil, &server.Readiness{}, discard())
	s.API.GET("/r", func(c *gin.Context) { c.Status(204) })
	for i := range 20 {
		send(s, httptest.NewRequest("FOO"+strconv.Itoa(i), "/r", nil))
		send(s, httptest.NewRequest("GET", "/nothing/"+strconv.Itoa(i), nil))
	}
	body := send(s, httptest.NewRequest("GET", "/metrics", nil)).Body.String()
	if strings.Contains(body, "FOO") {
		t.Fatalf("invented methods became labels")
	}
	for _, want := range []string{`method="other",route="unmatched"} 20`, `code="404",method="GET",route="unmatched"} 20`} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestNotAcceptable: an Accept that admits nothing geoseek produces is a
// 406 problem; one that also admits */* is served.
func TestNotAcceptable(t *testing.T) {
	t.Parallel()
	s := server.New(server.Config{}, nil, &server.Readiness{}, discard())
	s.API.GET("/r", func(c *gin.Context) { c.JSON(200, gin.H{}) })
	s.API.GET("/narrow", httpx.Produces("application/geo+json"), func(c *gin.Context) { c.JSON(200, gin.H{}) })
	for _, tc := range []struct {
		path, accept string
		want         int
	}{
		{"/r", "application/xml", 406},
		{"/r", "application/json;q=0, application/xml", 406},
		{"/r", "application/xml, */*;q=0.1", 200},
		{"/r", "application/*", 200},
		{"/r", "", 200},
		{"/healthz", "application/xml", 200},
		{"/narrow", "application/json", 406},
		{"/narrow", "application/geo+json", 200},
		{"/nothing", "application/xml", 404},
	} {
		req := httptest.NewRequest("GET", tc.path, nil)
		if tc.accept != "" {
			req.Header.Set("Accept", tc.accept)
		}
		w := send(s, req)
		if w.Code != tc.want {
			t.Errorf("%s Accept %q: %d, want %d", tc.path, tc.accept, w.Code, tc.want)
		}
		if w.Code == 406 && problemOf(t, w).Type != problem.ErrNotAcceptable.Type() {
			t.Errorf("%s: %s", tc.path, w.Body)
		}
	}
}

// TestTrickledBodyIsCut: a body sent slower than the minimum rate is
// answered 408 (or the connection closed) within the bound, while a body
// sent at a normal pace is read whole.
func TestTrickledBodyIsCut(t *testing.T) {
	t.Parallel()
	s := server.New(server.Config{Body: server.BodyLimits{Timeout: 300 * time.Millisecond, MinRate: 1000}, Untimed: []string{"POST /stream"}},
		nil, &server.Readiness{}, discard())
	read := func(c *gin.Context) {
		b, err := io.ReadAll(c.Request.Body)
		if err != nil {
			httpx.Respond(c, err)
			return
		}
		c.String(200, "%d", len(b))
	}
	s.API.POST("/r", read)
	s.API.POST("/stream", read)
	addr, cancel, served := serveLoopback(t, s)
	t.Cleanup(func() { cancel(); <-served })

	for _, path := range []string{"/r", "/stream"} {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\nContent-Type: text/plain\r\n\r\n", path)
		// The bound: far past the 300 ms allowed, yet finite.
		deadline := time.Now().Add(20 * time.Second)
		conn.SetReadDeadline(deadline)
		go func() { // a byte every 50 ms: 20 B/s against the 1000 B/s minimum
			for time.Now().Before(deadline) {
				if _, err := conn.Write([]byte("x")); err != nil {
					return
				}
				time.Sleep(50 * time.Millisecond)
			}
		}()
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err == nil {
			if resp.StatusCode != 408 {
				t.Errorf("%s: trickled body answered %d", path, resp.StatusCode)
			}
			resp.Body.Close()
		} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Errorf("%s: trickled body held past the bound", path)
		}
		conn.Close()
	}
	// A body at a normal pace, larger than the rate allows in the timeout.
	body := strings.Repeat("y", 2_000_000)
	resp, err := http.Post("http://"+addr+"/stream", "text/plain", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "2000000" {
		t.Fatalf("normal body: %d %s", resp.StatusCode, b)
	}
}

// TestPoolWaitIsBounded: with every connection taken, a request waits
// AcquireTimeout for one, not its whole deadline, and gets 503 unavailable
// with Retry-After; once a connection is free it is served.
func TestPoolWaitIsBounded(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	pool, err := pg.Open(ctx, pg.Config{URL: db.URL, MaxConns: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	s := server.New(server.Config{RequestTimeout: 10 * time.Minute, AcquireTimeout: 200 * time.Millisecond}, pool, &server.Readiness{Pool: pool}, discard())
	s.API.GET("/q", func(c *gin.Context) {
		if _, err := pool.Exec(c.Request.Context(), `SELECT 1`); err != nil {
			httpx.Respond(c, err)
			return
		}
		c.Status(204)
	})
	held, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan *httptest.ResponseRecorder, 1)
	go func() { got <- send(s, httptest.NewRequest("GET", "/q", nil)) }()
	select {
	case w := <-got:
		if w.Code != 503 || w.Header().Get("Retry-After") == "" || problemOf(t, w).Type != problem.ErrUnavailable.Type() {
			t.Fatalf("with the pool exhausted: %d %v %s", w.Code, w.Header(), w.Body)
		}
	case <-time.After(time.Minute): // far below the request's 10 minutes
		t.Fatal("the request waited for a connection past its acquire bound")
	}
	held.Release()
	if w := send(s, httptest.NewRequest("GET", "/q", nil)); w.Code != 204 {
		t.Fatalf("with a free connection: %d %s", w.Code, w.Body)
	}
	// Work outside requests (jobs, migrations) is not bounded this way.
	held, _ = pool.Acquire(ctx)
	go func() { time.Sleep(500 * time.Millisecond); held.Release() }()
	if _, err := pool.Exec(ctx, `SELECT 1`); err != nil {
		t.Fatalf("a job's query waiting past the request bound: %v", err)
	}
}
