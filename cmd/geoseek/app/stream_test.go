package app_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/geoseek/geoseek/cmd/geoseek/app"
	"github.com/geoseek/geoseek/internal/pgtest"
)

// trickle posts lines to path over a raw connection, one chunk of the
// chunked body per line, every gap, so that each line reaches the server on
// its own (net/http's client would buffer them). It signals sent after the
// first line and returns the status and body of the answer.
func trickle(ctx context.Context, s *liveServer, path, ct string, lines []string, gap time.Duration, sent chan<- struct{}) (int, string, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", strings.TrimPrefix(s.url, "http://"))
	if err != nil {
		return 0, "", err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: geoseek\r\nAuthorization: Bearer %s\r\nContent-Type: %s\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n", path, s.key, ct)
	br := bufio.NewReader(conn)
	answered := make(chan struct{})
	var resp *http.Response
	var rerr error
	go func() {
		// The server may answer before the body ends (a refusal).
		resp, rerr = http.ReadResponse(br, nil)
		close(answered)
	}()
	for i, l := range lines {
		if _, err := fmt.Fprintf(conn, "%x\r\n%s\n\r\n", len(l)+1, l); err != nil {
			break
		}
		if i == 0 && sent != nil {
			sent <- struct{}{}
		}
		select {
		case <-time.After(gap):
		case <-answered:
		case <-ctx.Done():
			return 0, "", ctx.Err()
		}
	}
	_, _ = io.WriteString(conn, "0\r\n\r\n")
	<-answered
	if rerr != nil {
		return 0, "", rerr
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

// TestSlowStreamsDoNotStarveSearch: 16 clients trickling bulk loads and
// GeoJSON imports, one line at a time, hold no database connection while
// they send; searches keep being answered within a bound meanwhile, and
// every load is written whole at its end.
func TestSlowStreamsDoNotStarveSearch(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t) // a pool of 8 connections
	s := startServer(t, db.Pool, writeKey(t, db.Pool), app.Options{MaxStreamsPerKey: 16, RequireKeyForReads: false})
	if code, m := s.do("POST", "/collections", map[string]any{"name": "slow"}); code != 201 {
		t.Fatalf("create collection: %d %v", code, m)
	}
	s.postDoc("slow", "harbour crane", "a crane in the harbour")

	// Each client sends for lines*gap (6 s): longer than the bound on a
	// search below, so a search that waited for a connection a client
	// holds would miss it.
	const clients, lines = 16, 12
	const gap = 500 * time.Millisecond
	const searchBound = 2 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sent := make(chan struct{}, clients)
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := range clients {
		var path, ct string
		var body []string
		for j := range lines {
			if i%2 == 0 {
				path, ct = "/collections/slow/documents/bulk", "application/x-ndjson"
				body = append(body, fmt.Sprintf(`{"title":"bulk %d-%d"}`, i, j))
			} else {
				path, ct = "/collections/slow/items", "application/geo+json-seq"
				body = append(body, fmt.Sprintf(`{"type":"Feature","geometry":{"type":"Point","coordinates":[%d,%d]},"properties":{"title":"item %d-%d"}}`, i, j, i, j))
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, b, err := trickle(ctx, s, path, ct, body, gap, sent)
			if err == nil && code/100 != 2 {
				err = fmt.Errorf("%s: %d %s", path, code, b)
			}
			if err != nil {
				errs <- err
			}
		}()
	}
	for range clients {
		<-sent
	}
	// Every client is now sending. Searches must be answered while they
	// are, each within a bound below the clients' total time.
	for i := range 5 {
		// Clients that held a connection while they send would take all 8
		// for their whole 6 s; a moment's look may catch 8 short lookups
		// at once, so only a pool full for a second in a row fails.
		full := true
		for deadline := time.Now().Add(time.Second); full && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			st := db.Pool.Stat()
			full = st.AcquiredConns() >= st.MaxConns()
		}
		if full {
			t.Fatalf("every connection stayed taken for a second while clients send (pool of %d)", db.Pool.Stat().MaxConns())
		}
		qctx, qcancel := context.WithTimeout(ctx, searchBound)
		req, _ := http.NewRequestWithContext(qctx, "GET", s.url+"/search?collection=slow&q=crane", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			qcancel()
			t.Fatalf("search %d while 16 clients trickle: %v", i, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		qcancel()
		if resp.StatusCode != 200 || !strings.Contains(string(b), "harbour crane") {
			t.Fatalf("search %d while 16 clients trickle: %d %s", i, resp.StatusCode, b)
		}
		time.Sleep(gap / 2)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	var n int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM documents d JOIN collections c ON c.id = d.collection_id WHERE c.name = 'slow'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1+clients*lines {
		t.Fatalf("%d documents; want %d", n, 1+clients*lines)
	}
}

// TestStreamsPerKeyAreCapped: with --max-streams-per-key 2, of three
// streaming writes of one key held open together, one is answered 429
// problem+json at once, before the other two end with 200; once they
// have, the key may stream again.
func TestStreamsPerKeyAreCapped(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	s := startServer(t, db.Pool, writeKey(t, db.Pool), app.Options{MaxStreamsPerKey: 2})
	if code, m := s.do("POST", "/collections", map[string]any{"name": "cap"}); code != 201 {
		t.Fatalf("create collection: %d %v", code, m)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	type answer struct {
		code int
		body string
	}
	answers := make(chan answer, 3)
	for i := range 3 {
		go func() {
			// Two lines 4 s apart: the stream is held open meanwhile,
			// unless the server answers first.
			code, b, err := trickle(ctx, s, "/collections/cap/documents/bulk", "application/x-ndjson",
				[]string{fmt.Sprintf(`{"title":"held %d a"}`, i), fmt.Sprintf(`{"title":"held %d b"}`, i)}, 4*time.Second, nil)
			if err != nil {
				b = err.Error()
			}
			answers <- answer{code, b}
		}()
	}
	// Answers arrive in order: the refusal first, then the two loads.
	for i, want := range []int{429, 200, 200} {
		a := <-answers
		if a.code != want {
			t.Fatalf("answer %d: %d %s; want %d", i, a.code, a.body, want)
		}
		if want == 429 && (!strings.Contains(a.body, "rate-limited") || !strings.Contains(a.body, "streaming writes")) {
			t.Fatalf("refusal: %s; want problem+json naming the cap", a.body)
		}
	}
	code, body, err := trickle(ctx, s, "/collections/cap/documents/bulk", "application/x-ndjson", []string{`{"title":"after"}`}, 0, nil)
	if err != nil || code != 200 {
		t.Fatalf("stream after the others ended: %d %s %v", code, body, err)
	}
}
