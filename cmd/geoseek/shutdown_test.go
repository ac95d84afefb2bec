package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/geoseek/geoseek/internal/pgtest"
)

// freezeProxy relays TCP to a database until frozen; then it passes no
// more bytes either way and answers no new connection, as a database host
// that hangs or a network cut without resets looks to a client.
type freezeProxy struct {
	addr   string
	frozen chan struct{}
	once   sync.Once
	mu     sync.Mutex
	conns  []net.Conn
}

func newFreezeProxy(t *testing.T, target string) *freezeProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &freezeProxy{addr: ln.Addr().String(), frozen: make(chan struct{})}
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, c := range p.conns {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.keep(c)
			go p.serve(c, target)
		}
	}()
	return p
}

func (p *freezeProxy) keep(c net.Conn) {
	p.mu.Lock()
	p.conns = append(p.conns, c)
	p.mu.Unlock()
}

func (p *freezeProxy) freeze() { p.once.Do(func() { close(p.frozen) }) }

func (p *freezeProxy) isFrozen() bool {
	select {
	case <-p.frozen:
		return true
	default:
		return false
	}
}

func (p *freezeProxy) serve(c net.Conn, target string) {
	if p.isFrozen() {
		return // held open, never answered
	}
	s, err := net.Dial("tcp", target)
	if err != nil {
		c.Close()
		return
	}
	p.keep(s)
	go p.relay(s, c)
	p.relay(c, s)
}

// relay copies from src to dst until frozen, then holds what it read.
func (p *freezeProxy) relay(src, dst net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if p.isFrozen() {
			return
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// TestShutdownWhenTheDatabaseHangs: the database stops answering (no
// reset, no refusal); /readyz turns 503, a search gets 503 when its time
// is up; another waits on it while the server is asked to stop. It returns within its shutdown grace and a few seconds, not
// after the connections' own timeouts (pgx gives each closing connection
// 15 s; River retries its goodbyes).
func TestShutdownWhenTheDatabaseHangs(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	if _, err := db.Pool.Exec(ctx, `INSERT INTO collections (name, default_lang) VALUES ('notes', 'english');
		INSERT INTO documents (collection_id, title, body) SELECT (SELECT id FROM collections WHERE name = 'notes'), 'harbour ' || g,
			repeat('quay ', 30) || md5(g::text)
		FROM generate_series(1, 2000) g`); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(db.URL)
	if err != nil {
		t.Fatal(err)
	}
	px := newFreezeProxy(t, u.Host)
	u.Host = px.addr
	const grace, requestTimeout = time.Second, 3 * time.Second
	vars := map[string]string{"DATABASE_URL": u.String(), "GEOSEEK_DATA_DIR": t.TempDir(), "GEOSEEK_PLACES": "false",
		"GEOSEEK_LOG_LEVEL": "warn", "GEOSEEK_SHUTDOWN_GRACE": grace.String(), "GEOSEEK_REQUEST_TIMEOUT": requestTimeout.String()}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	var stderr syncBuffer
	go func() {
		done <- (&App{Stdout: io.Discard, Stderr: &stderr, Getenv: env(vars), Listener: ln}).Run(sctx, []string{"serve"})
	}()
	base := "http://" + ln.Addr().String()
	waitReady(t, base, done, &stderr)
	client := &http.Client{Timeout: 2 * time.Minute}
	if resp, err := client.Get(base + "/search?q=quay&collection=notes"); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("search before the hang: %v %v", resp, err)
	}

	px.freeze()
	// The readiness probe turns 503 within its own bound, so a load
	// balancer stops sending traffic.
	asked := time.Now()
	resp, err := client.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	took := time.Since(asked)
	t.Logf("/readyz with the database hung: %s after %v", resp.Status, took.Round(time.Millisecond))
	// Its bound is 2 s; it took 4.1 s while its ping waited on a cancel
	// request to the hung server.
	if resp.StatusCode != http.StatusServiceUnavailable || took > 3500*time.Millisecond {
		t.Fatalf("/readyz with the database hung: %s after %v, want 503 within its 2 s bound", resp.Status, took)
	}
	// A request on the hung database is answered 503 with Retry-After
	// once its time is up, not left waiting and not a 500.
	asked = time.Now()
	resp, err = client.Get(base + "/search?q=harbour&collection=notes")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("search on the hung database: %s, Retry-After %q", resp.Status, resp.Header.Get("Retry-After"))
	}
	t.Logf("search on the hung database: %s after %v (request timeout %v)", resp.Status, time.Since(asked).Round(time.Millisecond), requestTimeout)

	answered := make(chan string, 1)
	go func() {
		resp, err := client.Get(base + "/search?q=harbour+quay&collection=notes")
		if err != nil {
			answered <- err.Error()
			return
		}
		resp.Body.Close()
		answered <- resp.Status
	}()
	time.Sleep(500 * time.Millisecond) // the search waits on the database
	select {
	case a := <-answered:
		t.Fatalf("the search was answered with the database hung: %s", a)
	default:
	}
	start := time.Now()
	stop()
	select {
	case err := <-done:
		took := time.Since(start)
		t.Logf("stopped in %v (grace %v): %v; the waiting search: %s", took.Round(time.Millisecond), grace, err, <-answered)
		// The grace, River's hard stop (2 s) and the two pools' closes (2 s
		// each) at most, plus slack for a loaded machine.
		if took > grace+10*time.Second {
			t.Errorf("stopping took %v with a %v grace\n%s", took, grace, stderr.String())
		}
		if !strings.Contains(stderr.String(), "did not close in time") {
			t.Errorf("no word of the connections left to the exit:\n%s", stderr.String())
		}
	case <-time.After(2 * time.Minute):
		t.Fatalf("the server did not stop\n%s", stderr.String())
	}
}
