package embed_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/geoseek/geoseek/document"
	embedder "github.com/geoseek/geoseek/embed"
	"github.com/geoseek/geoseek/internal/pg"
	"github.com/geoseek/geoseek/internal/pgtest"
)

func TestSweepEmbedsMissingAndStaleVectors(t *testing.T) {
	t.Parallel()
	pgtest.RequireVector(t)
	db, auto, client, set := sweepFixture(t, 384)
	ctx := context.Background()
	hasVec := func(id int64) bool {
		var ok bool
		if err := db.Pool.QueryRow(ctx, `SELECT embedding IS NOT NULL FROM documents WHERE id = $1`, id).Scan(&ok); err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if hasVec(auto.ID) {
		t.Fatal("embedded before the sweep")
	}
	st, err := embedder.Sweep(ctx, db.Pool, set)
	if err != nil || st.Updated != 1 || !hasVec(auto.ID) {
		t.Fatalf("sweep: %+v %v", st, err)
	}
	// A text change clears the computed vector; the next sweep recomputes it.
	if _, err := db.Pool.Exec(ctx, `UPDATE documents SET body = 'blue boats' WHERE id = $1`, auto.ID); err != nil {
		t.Fatal(err)
	}
	if hasVec(auto.ID) {
		t.Fatal("stale vector kept after a text change")
	}
	if st, err := embedder.Sweep(ctx, db.Pool, set); err != nil || st.Updated != 1 || !hasVec(auto.ID) {
		t.Fatalf("second sweep: %+v %v", st, err)
	}
	// A props-only change keeps it; a client vector survives text changes.
	if _, err := db.Pool.Exec(ctx, `UPDATE documents SET props = '{"a":1}' WHERE id = $1`, auto.ID); err != nil || !hasVec(auto.ID) {
		t.Fatalf("props change cleared the vector: %v", err)
	}
	if _, err := db.Pool.Exec(ctx, `UPDATE documents SET title = 'renamed' WHERE id = $1`, client.ID); err != nil || !hasVec(client.ID) {
		t.Fatalf("client vector cleared: %v", err)
	}
	// Nothing left: a sweep does nothing.
	if st, err := embedder.Sweep(ctx, db.Pool, set); err != nil || st.Updated != 0 {
		t.Fatalf("idle sweep: %+v %v", st, err)
	}
}

// TestDimensionChange: computed vectors of the old dimension are cleared and
// recomputed by the sweep at the new one; client vectors block the change
// with a clear error instead of a failed index build.
func TestDimensionChange(t *testing.T) {
	t.Parallel()
	pgtest.RequireVector(t)
	db, auto, client, set := sweepFixture(t, 64)
	ctx := context.Background()
	if _, err := embedder.Sweep(ctx, db.Pool, set); err != nil {
		t.Fatal(err)
	}
	dims := func(id int64) int {
		var n *int
		if err := db.Pool.QueryRow(ctx, `SELECT vector_dims(embedding) FROM documents WHERE id = $1`, id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == nil {
			return 0
		}
		return *n
	}
	if dims(auto.ID) != 64 {
		t.Fatalf("dimension %d before the change", dims(auto.ID))
	}
	if _, err := db.Pool.Exec(ctx, `UPDATE collections SET embedding_dim = 32 WHERE name = 'auto'`); err != nil {
		t.Fatalf("changing the dimension of computed vectors: %v", err)
	}
	if dims(auto.ID) != 0 {
		t.Fatalf("vector of the old dimension kept")
	}
	if _, err := embedder.Sweep(ctx, db.Pool, set); err != nil || dims(auto.ID) != 32 {
		t.Fatalf("sweep after the change: dimension %d, %v", dims(auto.ID), err)
	}
	// The index for the new dimension follows once the cleared row versions
	// are vacuumed, which depends on every transaction of the server: not
	// asserted here.
	var idx bool
	if err := db.Pool.QueryRow(ctx, `SELECT to_regclass(geoseek_embedding_index_name((SELECT id FROM collections WHERE name = 'auto'), 32)) IS NOT NULL`).Scan(&idx); err != nil {
		t.Fatal(err)
	}
	t.Logf("index for the new dimension after one sweep: %v", idx)

	_, err := db.Pool.Exec(ctx, `UPDATE collections SET embedding_dim = 4 WHERE name = 'client'`)
	if pg.Code(err) != "55000" || !strings.Contains(err.Error(), `"client" holds 1 client-provided vectors`) {
		t.Fatalf("changing the dimension of client vectors: %v", err)
	}
	if dims(client.ID) != 3 {
		t.Fatal("client vector lost")
	}
}

// TestSweepBacksOff: a document the sweep leaves without a vector (here: no
// text) is not tried again at every sweep, but at once when its text changes.
func TestSweepBacksOff(t *testing.T) {
	t.Parallel()
	pgtest.RequireVector(t)
	db := pgtest.New(t)
	ctx := context.Background()
	if _, err := db.Pool.Exec(ctx, `INSERT INTO collections (name, embedder, embedding_dim) VALUES ('auto', 'offline', 64)`); err != nil {
		t.Fatal(err)
	}
	empty := &document.Doc{Collection: "auto"}
	if _, err := document.Insert(ctx, db.Pool, empty); err != nil {
		t.Fatal(err)
	}
	set, err := embedder.NewSet(embedder.Config{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := embedder.Sweep(ctx, db.Pool, set)
	if err != nil || st.Skipped != 1 {
		t.Fatalf("first sweep: %+v %v", st, err)
	}
	var attempts int
	var wait time.Duration
	if err := db.Pool.QueryRow(ctx, `SELECT attempts, retry_at - now() FROM embedding_attempts WHERE document_id = $1`, empty.ID).Scan(&attempts, &wait); err != nil {
		t.Fatal(err)
	}
	if attempts != 1 || wait <= 0 || wait > embedder.RetryBackoff {
		t.Fatalf("attempts %d, retry in %s", attempts, wait)
	}
	if st, err := embedder.Sweep(ctx, db.Pool, set); err != nil || st.Skipped != 0 || st.Updated != 0 {
		t.Fatalf("sweep within the backoff tried again: %+v %v", st, err)
	}
	// Once due, a failure doubles the backoff.
	if _, err := db.Pool.Exec(ctx, `UPDATE embedding_attempts SET retry_at = now() - interval '1 s'`); err != nil {
		t.Fatal(err)
	}
	if st, err := embedder.Sweep(ctx, db.Pool, set); err != nil || st.Skipped != 1 {
		t.Fatalf("sweep after the backoff: %+v %v", st, err)
	}
	if err := db.Pool.QueryRow(ctx, `SELECT attempts, retry_at - now() FROM embedding_attempts WHERE document_id = $1`, empty.ID).Scan(&attempts, &wait); err != nil {
		t.Fatal(err)
	}
	if attempts != 2 || wait <= embedder.RetryBackoff || wait > 2*embedder.RetryBackoff {
		t.Fatalf("second failure: attempts %d, retry in %s", attempts, wait)
	}
	// A new text is tried at once; the attempt is forgotten by the next sweep.
	if _, err := db.Pool.Exec(ctx, `UPDATE documents SET title = 'now with words' WHERE id = $1`, empty.ID); err != nil {
		t.Fatal(err)
	}
	if st, err := embedder.Sweep(ctx, db.Pool, set); err != nil || st.Updated != 1 {
		t.Fatalf("sweep after a text change: %+v %v", st, err)
	}
	if _, err := embedder.Sweep(ctx, db.Pool, set); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM embedding_attempts`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d attempts left: %v", n, err)
	}
}

// TestSweepGoesOnPastAFailingCollection: a collection whose embedding
// service is down does not keep the other collections from their vectors.
func TestSweepGoesOnPastAFailingCollection(t *testing.T) {
	t.Parallel()
	pgtest.RequireVector(t)
	db := pgtest.New(t)
	ctx := context.Background()
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer down.Close()
	set, err := embedder.NewSet(embedder.Config{OpenAI: embedder.OpenAIConfig{BaseURL: down.URL + "/v1", Model: "m", Dim: 16, MaxRetries: -1}})
	if err != nil {
		t.Fatal(err)
	}
	// The failing collection comes first in the sweep's order.
	if _, err := db.Pool.Exec(ctx, `INSERT INTO collections (name, embedder, embedding_dim) VALUES ('remote', 'openai', 16), ('local', 'offline', 16)`); err != nil {
		t.Fatal(err)
	}
	remote := &document.Doc{Collection: "remote", Title: "waits for its service"}
	local := &document.Doc{Collection: "local", Title: "embedded anyway"}
	for _, d := range []*document.Doc{remote, local} {
		if _, err := document.Insert(ctx, db.Pool, d); err != nil {
			t.Fatal(err)
		}
	}
	st, err := embedder.Sweep(ctx, db.Pool, set)
	if err == nil || st.Updated != 1 {
		t.Fatalf("sweep: %+v %v, want the local document embedded and the remote collection's error", st, err)
	}
	var n int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM documents WHERE id = $1 AND embedding IS NOT NULL`, local.ID).Scan(&n); err != nil || n != 1 {
		t.Fatalf("local document without a vector: %v", err)
	}
	// A service failure is not the document's: it is not backed off.
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM embedding_attempts`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d attempts recorded for a service failure: %v", n, err)
	}
}

// TestSweepRecordsWhatItTried: a refusal is recorded with the service's
// reason, but only for the text that was refused: a document whose text
// changed while it was being embedded is tried again at the next sweep.
func TestSweepRecordsWhatItTried(t *testing.T) {
	t.Parallel()
	pgtest.RequireVector(t)
	db := pgtest.New(t)
	ctx := context.Background()
	if _, err := db.Pool.Exec(ctx, `INSERT INTO collections (name, embedder, embedding_dim) VALUES ('remote', 'openai', 4)`); err != nil {
		t.Fatal(err)
	}
	refused := &document.Doc{Collection: "remote", Title: "REFUSE me"}
	changing := &document.Doc{Collection: "remote", Title: "REFUSE me too, then change"}
	for _, d := range []*document.Doc{refused, changing} {
		if _, err := document.Insert(ctx, db.Pool, d); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct{ Input []string }
		_ = json.NewDecoder(r.Body).Decode(&req)
		for _, in := range req.Input {
			if strings.Contains(in, "REFUSE") {
				if strings.Contains(in, "then change") {
					// The document is edited while its old text is refused.
					if _, err := db.Pool.Exec(r.Context(), `UPDATE documents SET title = 'fine now' WHERE id = $1`, changing.ID); err != nil {
						t.Error(err)
					}
				}
				w.WriteHeader(http.StatusBadRequest)
				_, _ = w.Write([]byte(`{"error":{"message":"input too long"}}`))
				return
			}
		}
		out := map[string]any{"data": []map[string]any{}}
		for i := range req.Input {
			out["data"] = append(out["data"].([]map[string]any), map[string]any{"index": i, "embedding": []float32{1, 0, 0, 0}})
		}
		_ = json.NewEncoder(w).Encode(out)
	}))
	defer srv.Close()
	set, err := embedder.NewSet(embedder.Config{OpenAI: embedder.OpenAIConfig{BaseURL: srv.URL + "/v1", Model: "m", Dim: 4, MaxRetries: -1}})
	if err != nil {
		t.Fatal(err)
	}
	if st, err := embedder.Sweep(ctx, db.Pool, set); err != nil || st.Refused != 2 {
		t.Fatalf("first sweep: %+v %v", st, err)
	}
	var reason string
	if err := db.Pool.QueryRow(ctx, `SELECT reason FROM embedding_attempts WHERE document_id = $1`, refused.ID).Scan(&reason); err != nil ||
		!strings.Contains(reason, "input too long") {
		t.Fatalf("refusal recorded as %q: %v", reason, err)
	}
	if st, err := embedder.Sweep(ctx, db.Pool, set); err != nil || st.Updated != 1 {
		t.Fatalf("second sweep: %+v %v, want the changed document embedded", st, err)
	}
	b, err := embedder.ReadBacklog(ctx, db.Pool)
	if err != nil || b.Waiting != 0 || b.Failing != 1 || b.LastFailure == nil || b.LastFailure.DocumentID != refused.ID {
		t.Fatalf("backlog %+v: %v", b, err)
	}
}

// sweepFixture makes a collection 'auto' (offline embedder of autoDim) and a
// collection 'client' (client vectors of 3 dimensions), with one document
// each.
func sweepFixture(t *testing.T, autoDim int) (db *pgtest.DB, auto, client *document.Doc, set *embedder.Set) {
	t.Helper()
	db = pgtest.New(t)
	ctx := context.Background()
	if _, err := db.Pool.Exec(ctx, `INSERT INTO collections (name, embedder, embedding_dim) VALUES ('auto', 'offline', $1), ('client', 'none', 3)`, autoDim); err != nil {
		t.Fatal(err)
	}
	auto = &document.Doc{Collection: "auto", Title: "Lisbon trams", Body: "yellow trams climb the hills"}
	if _, err := document.Insert(ctx, db.Pool, auto); err != nil {
		t.Fatal(err)
	}
	client = &document.Doc{Collection: "client", Title: "mine", Embedding: []float32{1, 0, 0}}
	if _, err := document.Insert(ctx, db.Pool, client); err != nil {
		t.Fatal(err)
	}
	set, err := embedder.NewSet(embedder.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return db, auto, client, set
}

// TestBacklogSkipsDeletedCollections: a collection being deleted (its name
// already freed) is not counted, and its refused documents are not the
// latest failure, so /readyz keeps answering during a delete.
func TestBacklogSkipsDeletedCollections(t *testing.T) {
	t.Parallel()
	pgtest.RequireVector(t)
	db, auto, _, _ := sweepFixture(t, 8)
	ctx := context.Background()
	if _, err := db.Pool.Exec(ctx, `INSERT INTO embedding_attempts (document_id, text_md5, attempts, retry_at, reason, tried_at)
		SELECT d.id, md5(row(d.lang::text, d.title, d.body)::text), 1, now() + interval '1 hour', 'refused', now()
		  FROM documents d WHERE d.id = $1`, auto.ID); err != nil {
		t.Fatal(err)
	}
	b, err := embedder.ReadBacklog(ctx, db.Pool)
	if err != nil || b.Failing != 1 || b.LastFailure == nil {
		t.Fatalf("before the delete: %+v %v", b, err)
	}
	if _, err := db.Pool.Exec(ctx, `UPDATE collections SET deleted_at = now(), name = NULL WHERE name = 'auto'`); err != nil {
		t.Fatal(err)
	}
	b, err = embedder.ReadBacklog(ctx, db.Pool)
	if err != nil || b.Failing != 0 || b.Waiting != 0 || b.LastFailure != nil {
		t.Fatalf("during the delete: %+v %v", b, err)
	}
}
