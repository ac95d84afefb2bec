package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/geoseek/geoseek/cmd/geoseek/app"
	embedder "github.com/geoseek/geoseek/embed"
	"github.com/geoseek/geoseek/internal/auth"
	"github.com/geoseek/geoseek/internal/pgtest"
)

// sweepPeriod is the embedding sweep's period in these tests.
const sweepPeriod = time.Second

// embedWait bounds every wait for the sweep. It is several periods because
// the machine running the tests may be busy; without a working sweep the
// documents would wait forever, so any bound catches that.
const embedWait = 10 * sweepPeriod

// liveServer is a wired geoseek serving on a loopback port, with its job
// runner, as `geoseek serve` runs it.
type liveServer struct {
	t      *testing.T
	url    string
	key    string
	cancel context.CancelFunc
	done   chan error
}

func startServer(t *testing.T, pool *pgxpool.Pool, key string, opts app.Options) *liveServer {
	t.Helper()
	opts.Addr = "127.0.0.1:0"
	opts.SkipPlaces = true
	opts.ShutdownGrace = 2 * time.Second
	if opts.DataDir == "" {
		opts.DataDir = t.TempDir()
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, opts, pool, slog.New(slog.DiscardHandler))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	s := &liveServer{t: t, url: "http://" + ln.Addr().String(), key: key, cancel: cancel, done: make(chan error, 1)}
	started := make(chan struct{})
	go func() { s.done <- a.Run(ctx, ln, func(string) { close(started) }) }()
	select {
	case <-started:
	case err := <-s.done:
		cancel()
		t.Fatalf("server stopped at start: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("server did not start within 30 s")
	}
	t.Cleanup(s.stop)
	return s
}

// stop shuts the server down and waits for it (its job runner included).
func (s *liveServer) stop() {
	if s.cancel == nil {
		return
	}
	s.cancel()
	s.cancel = nil
	select {
	case err := <-s.done:
		if err != nil && !errors.Is(err, context.Canceled) {
			s.t.Errorf("server: %v", err)
		}
	case <-time.After(30 * time.Second):
		s.t.Error("server did not stop within 30 s")
	}
}

// do sends a request with the write key and decodes a JSON answer.
func (s *liveServer) do(method, path string, body any) (int, map[string]any) {
	s.t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			s.t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, s.url+path, r)
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	var m map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &m); err != nil {
			s.t.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, raw, err)
		}
	}
	return resp.StatusCode, m
}

// postDoc creates a document and returns its id.
func (s *liveServer) postDoc(coll, title, body string) int64 {
	s.t.Helper()
	code, m := s.do("POST", "/collections/"+coll+"/documents", map[string]any{"title": title, "body": body})
	if code != 201 {
		s.t.Fatalf("post document: %d %v", code, m)
	}
	return int64(m["id"].(float64))
}

func writeKey(t *testing.T, pool *pgxpool.Pool) string {
	t.Helper()
	_, key, err := auth.NewStore(pool).Create(context.Background(), "t", []auth.Scope{auth.Write})
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// vectorText is a document's stored vector as text ("" when it has none).
func vectorText(t *testing.T, pool *pgxpool.Pool, id int64) string {
	t.Helper()
	var v *string
	if err := pool.QueryRow(context.Background(), `SELECT embedding::text FROM documents WHERE id = $1`, id).Scan(&v); err != nil {
		t.Fatal(err)
	}
	if v == nil {
		return ""
	}
	return *v
}

// waitVector waits until document id has a vector other than old, and
// returns how long that took.
func waitVector(t *testing.T, pool *pgxpool.Pool, id int64, old string) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < embedWait {
		if v := vectorText(t, pool, id); v != "" && v != old {
			return time.Since(start)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("document %d got no new vector within %s", id, embedWait)
	return 0
}

// TestEmbeddingSweepKeepsRunning runs a server with a one-second sweep for
// several periods: documents written at any time, also after a text change
// and after a restart on the same database, get their vectors.
func TestEmbeddingSweepKeepsRunning(t *testing.T) {
	t.Parallel()
	pgtest.RequireVector(t)
	db := pgtest.New(t)
	key := writeKey(t, db.Pool)
	opts := app.Options{Embed: embedder.Config{SweepInterval: sweepPeriod}, DataDir: t.TempDir()}
	s := startServer(t, db.Pool, key, opts)
	if code, m := s.do("POST", "/collections", map[string]any{"name": "notes"}); code != 201 {
		t.Fatalf("create collection: %d %v", code, m)
	}
	// One document per period, over four periods.
	var ids []int64
	for i := range 4 {
		id := s.postDoc("notes", fmt.Sprintf("note %d", i), fmt.Sprintf("harbour crane number %d", i))
		ids = append(ids, id)
		t.Logf("document %d embedded after %s", i, waitVector(t, db.Pool, id, ""))
		time.Sleep(sweepPeriod)
	}
	// A text change clears the vector; a later sweep computes the new one.
	old := vectorText(t, db.Pool, ids[0])
	if code, m := s.do("PATCH", fmt.Sprintf("/collections/notes/documents/%d", ids[0]), map[string]any{"body": "a tram climbing the hill"}); code != 200 {
		t.Fatalf("patch: %d %v", code, m)
	}
	t.Logf("changed text re-embedded after %s", waitVector(t, db.Pool, ids[0], old))

	// Stop, start again on the same database, write more. The process is
	// stopped as by a crash in the middle of a sweep: that sweep's job
	// stays running (River rescues such jobs only after half an hour).
	s.stop()
	if _, err := db.Pool.Exec(context.Background(), `UPDATE river_job SET state = 'running', finalized_at = NULL, attempted_at = now()
		WHERE id = (SELECT max(id) FROM river_job WHERE kind = $1)`, embedder.SweepArgs{}.Kind()); err != nil {
		t.Fatal(err)
	}
	s = startServer(t, db.Pool, key, opts)
	for i := range 3 {
		id := s.postDoc("notes", fmt.Sprintf("after restart %d", i), "lighthouse on the cliff")
		t.Logf("document %d after the restart embedded after %s", i, waitVector(t, db.Pool, id, ""))
		time.Sleep(sweepPeriod)
	}
	old = vectorText(t, db.Pool, ids[1])
	if code, m := s.do("PATCH", fmt.Sprintf("/collections/notes/documents/%d", ids[1]), map[string]any{"title": "renamed after the restart"}); code != 200 {
		t.Fatalf("patch: %d %v", code, m)
	}
	t.Logf("changed text after the restart re-embedded after %s", waitVector(t, db.Pool, ids[1], old))

	var sweeps int
	if err := db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM river_job WHERE kind = $1 AND state = 'completed'`,
		embedder.SweepArgs{}.Kind()).Scan(&sweeps); err != nil {
		t.Fatal(err)
	}
	if sweeps < 6 {
		t.Errorf("%d sweeps completed over more than 8 periods", sweeps)
	}
}

// fakeEmbeddingServer speaks the OpenAI embeddings API: while down it
// answers 503; it refuses (400) any batch holding a text with "REFUSE";
// otherwise it answers the offline embedder's vectors.
type fakeEmbeddingServer struct {
	dim  int
	down atomic.Bool
}

func (f *fakeEmbeddingServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if f.down.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"error":{"message":"model is loading"}}`))
		return
	}
	var req struct{ Input []string }
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	for _, in := range req.Input {
		if strings.Contains(in, "REFUSE") {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"error":{"message":"input too long for this model"}}`))
			return
		}
	}
	o, err := embedder.NewOffline(f.dim, "english")
	if err != nil {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	vecs, err := o.Embed(r.Context(), req.Input)
	if err != nil {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	type item struct {
		Index     int       `json:"index"`
		Embedding []float32 `json:"embedding"`
	}
	var out struct {
		Data []item `json:"data"`
	}
	for i, v := range vecs {
		out.Data = append(out.Data, item{i, v})
	}
	_ = json.NewEncoder(w).Encode(out)
}

// TestEmbeddingBacklogIsVisible: /readyz counts the documents waiting for
// and failing to get their vector, with the last reason, and semantic and
// hybrid answers say how many documents they cannot find by meaning.
func TestEmbeddingBacklogIsVisible(t *testing.T) {
	t.Parallel()
	pgtest.RequireVector(t)
	db := pgtest.New(t)
	key := writeKey(t, db.Pool)
	const dim = 16
	fake := &fakeEmbeddingServer{dim: dim}
	fake.down.Store(true)
	es := httptest.NewServer(fake)
	defer es.Close()
	s := startServer(t, db.Pool, key, app.Options{Embed: embedder.Config{
		OpenAI:        embedder.OpenAIConfig{BaseURL: es.URL + "/v1", Model: "m", Dim: dim, MaxRetries: -1},
		SweepInterval: sweepPeriod,
	}})
	if code, m := s.do("POST", "/collections", map[string]any{"name": "notes", "embedder": "openai", "embedding_dim": dim}); code != 201 {
		t.Fatalf("create collection: %d %v", code, m)
	}
	s.postDoc("notes", "harbour", "cranes unload ships in the harbour")
	s.postDoc("notes", "trams", "yellow trams climb the hill")
	refused := s.postDoc("notes", "REFUSE", "a text the service refuses")

	type backlog struct {
		Waiting     int64 `json:"waiting"`
		Failing     int64 `json:"failing"`
		LastFailure *struct {
			Collection string `json:"collection"`
			DocumentID int64  `json:"document_id"`
			Reason     string `json:"reason"`
		} `json:"last_failure"`
		SweepError *struct {
			Error string `json:"error"`
		} `json:"sweep_error"`
		Collections map[string]struct {
			Waiting int64 `json:"waiting"`
			Failing int64 `json:"failing"`
		} `json:"collections"`
	}
	ready := func() backlog {
		code, m := s.do("GET", "/readyz", nil)
		if code != 200 {
			t.Fatalf("/readyz: %d %v", code, m)
		}
		raw, _ := json.Marshal(m["embeddings"])
		var b backlog
		if err := json.Unmarshal(raw, &b); err != nil {
			t.Fatalf("/readyz embeddings %s: %v", raw, err)
		}
		return b
	}
	waitReady := func(what string, ok func(backlog) bool) backlog {
		t.Helper()
		var b backlog
		for start := time.Now(); time.Since(start) < embedWait; time.Sleep(100 * time.Millisecond) {
			if b = ready(); ok(b) {
				return b
			}
		}
		t.Fatalf("/readyz: no %s within %s: %+v", what, embedWait, b)
		return b
	}
	vec := make([]string, dim)
	for i := range vec {
		vec[i] = "0.25"
	}
	vector := "[" + strings.Join(vec, ",") + "]"
	unembedded := func(mode string) any {
		t.Helper()
		q := url.Values{"collection": {"notes"}, "mode": {mode}, "vector": {vector}}
		if mode != "semantic" {
			q.Set("q", "harbour")
		}
		code, m := s.do("GET", "/search?"+q.Encode(), nil)
		if code != 200 {
			t.Fatalf("%s search: %d %v", mode, code, m)
		}
		return m["unembedded_documents"]
	}

	// The embedding service is down: everything waits, and the sweep's
	// error says why.
	b := waitReady("sweep error", func(b backlog) bool { return b.SweepError != nil })
	if b.Waiting != 3 || b.Failing != 0 || b.Collections["notes"].Waiting != 3 || !strings.Contains(b.SweepError.Error, "model is loading") {
		t.Fatalf("service down: %+v %+v", b, b.SweepError)
	}
	for _, mode := range []string{"semantic", "hybrid"} {
		if n := unembedded(mode); n != 3.0 {
			t.Errorf("%s answer while nothing is embedded: unembedded_documents %v, want 3", mode, n)
		}
	}

	// Back up: two get vectors, one is refused, with the service's reason.
	fake.down.Store(false)
	// (River marks a job completed shortly after its work returns.)
	b = waitReady("refusal", func(b backlog) bool { return b.Waiting == 0 && b.Failing == 1 && b.SweepError == nil })
	if b.LastFailure == nil || b.LastFailure.DocumentID != refused || b.LastFailure.Collection != "notes" ||
		!strings.Contains(b.LastFailure.Reason, "input too long") || b.SweepError != nil || b.Collections["notes"].Failing != 1 {
		t.Fatalf("after the refusal: %+v %+v", b, b.LastFailure)
	}
	for _, mode := range []string{"semantic", "hybrid"} {
		if n := unembedded(mode); n != 1.0 {
			t.Errorf("%s answer with one refused document: unembedded_documents %v, want 1", mode, n)
		}
	}
	geo := url.Values{"collection": {"notes"}, "mode": {"semantic"}, "vector": {vector}, "f": {"geojson"}}
	if code, m := s.do("GET", "/search?"+geo.Encode(), nil); code != 200 || m["type"] != "FeatureCollection" || m["unembedded_documents"] != 1.0 {
		t.Errorf("GeoJSON answer: %d, type %v, unembedded_documents %v", code, m["type"], m["unembedded_documents"])
	}
	if code, m := s.do("GET", "/search?collection=notes&q=harbour", nil); code != 200 || m["unembedded_documents"] != nil {
		t.Errorf("keyword answer: %d, unembedded_documents %v", code, m["unembedded_documents"])
	}

	// A new text is tried at the next sweep: nothing left.
	if code, m := s.do("PATCH", fmt.Sprintf("/collections/notes/documents/%d", refused), map[string]any{"title": "accepted now"}); code != 200 {
		t.Fatalf("patch: %d %v", code, m)
	}
	b = waitReady("empty backlog", func(b backlog) bool { return b.Waiting == 0 && b.Failing == 0 })
	if b.LastFailure != nil || len(b.Collections) != 0 {
		t.Errorf("empty backlog: %+v", b)
	}
	for _, mode := range []string{"semantic", "hybrid"} {
		if n := unembedded(mode); n != 0.0 {
			t.Errorf("%s answer with every document embedded: unembedded_documents %v, want 0", mode, n)
		}
	}
}
