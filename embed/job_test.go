package embed_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pgvector/pgvector-go"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/geoseek/geoseek/embed"
	"github.com/geoseek/geoseek/internal/pgtest"
	"github.com/geoseek/geoseek/internal/problem"
)

type bundle struct {
	db  *pgtest.DB
	set *embed.Set
	cid int64
}

// setup makes a collection "books" (english, offline, 64 dims) with the given
// documents (title, body pairs) and returns their ids.
func setup(t *testing.T, docs ...[2]string) (*bundle, []int64) {
	t.Helper()
	pgtest.RequireVector(t)
	b := &bundle{db: pgtest.New(t)}
	set, err := embed.NewSet(embed.Config{})
	if err != nil {
		t.Fatal(err)
	}
	b.set = set
	ctx := context.Background()
	if err := b.db.Pool.QueryRow(ctx, `INSERT INTO collections (name, default_lang, embedder, embedding_dim)
		VALUES ('books', 'english', 'offline', 64) RETURNING id`).Scan(&b.cid); err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, d := range docs {
		var id int64
		if err := b.db.Pool.QueryRow(ctx, `INSERT INTO documents (collection_id, title, body) VALUES ($1, $2, $3) RETURNING id`,
			b.cid, d[0], d[1]).Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return b, ids
}

func storedVector(t *testing.T, pool *pgxpool.Pool, id int64) []float32 {
	t.Helper()
	var v *pgvector.Vector
	if err := pool.QueryRow(context.Background(), `SELECT embedding FROM documents WHERE id = $1`, id).Scan(&v); err != nil {
		t.Fatal(err)
	}
	if v == nil {
		return nil
	}
	return v.Slice()
}

func TestEmbedDocuments(t *testing.T) {
	t.Parallel()
	b, ids := setup(t,
		[2]string{"PostgreSQL", "object-relational database server"},
		[2]string{"", ""},
		[2]string{"GIMP", "GNU image manipulation program"})
	ctx := context.Background()
	st, err := embed.EmbedDocuments(ctx, b.db.Pool, b.set, append(ids, 999999))
	if err != nil {
		t.Fatal(err)
	}
	if st.Updated != 2 || st.Skipped != 2 {
		t.Errorf("stats %+v, want 2 updated (empty text stays NULL), 2 skipped (empty, missing id)", st)
	}
	off, _ := embed.NewOffline(64, "english")
	want, _ := off.Embed(ctx, []string{embed.Text("PostgreSQL", "object-relational database server")})
	got := storedVector(t, b.db.Pool, ids[0])
	if len(got) != 64 {
		t.Fatalf("stored vector has %d dims", len(got))
	}
	for i := range got {
		if got[i] != want[0][i] {
			t.Fatalf("stored vector differs from the offline embedding at %d", i)
		}
	}
	if v := storedVector(t, b.db.Pool, ids[1]); v != nil {
		t.Error("a document with no text got an embedding")
	}
	// Unchanged text and model: a second run rewrites nothing.
	st, err = embed.EmbedDocuments(ctx, b.db.Pool, b.set, ids)
	if err != nil || st.Updated != 0 {
		t.Errorf("second run: %+v %v", st, err)
	}
	// A collection that takes user vectors only is skipped.
	if _, err := b.db.Pool.Exec(ctx, `UPDATE collections SET embedder = 'none' WHERE id = $1`, b.cid); err != nil {
		t.Fatal(err)
	}
	if _, err := b.db.Pool.Exec(ctx, `UPDATE documents SET embedding = NULL`); err != nil {
		t.Fatal(err)
	}
	st, err = embed.EmbedDocuments(ctx, b.db.Pool, b.set, ids)
	if err != nil || st.Updated != 0 || st.Skipped != 3 {
		t.Errorf("embedder none: %+v %v", st, err)
	}
}

func TestEmbedWithoutPgvector(t *testing.T) {
	t.Parallel()
	b, ids := setup(t, [2]string{"a", "b"})
	ctx := context.Background()
	// This test's own database loses the extension: what a server without
	// pgvector looks like.
	if _, err := b.db.Pool.Exec(ctx, `DROP EXTENSION vector CASCADE`); err != nil {
		t.Fatal(err)
	}
	if _, err := embed.EmbedDocuments(ctx, b.db.Pool, b.set, ids); !errors.Is(err, problem.ErrExtensionMissing) {
		t.Errorf("EmbedDocuments: want ErrExtensionMissing, got %v", err)
	}
	if _, _, err := embed.Reembed(ctx, b.db.Pool, nil, embed.ReembedOptions{}); !errors.Is(err, problem.ErrExtensionMissing) {
		t.Errorf("Reembed: want ErrExtensionMissing, got %v", err)
	}
}

func TestReembedRunsJobs(t *testing.T) {
	t.Parallel()
	docs := make([][2]string, 300)
	for i := range docs {
		docs[i] = [2]string{"package", "a tool for things"}
	}
	b, ids := setup(t, docs...)
	ctx := context.Background()

	workers := river.NewWorkers()
	embed.AddWorkers(workers, b.db.Pool, b.set, slog.New(slog.DiscardHandler))
	client, err := river.NewClient(riverpgxv5.New(b.db.Pool), &river.Config{
		Queues:            map[string]river.QueueConfig{embed.QueueName: {MaxWorkers: 2}},
		Workers:           workers,
		FetchCooldown:     20 * time.Millisecond,
		FetchPollInterval: 50 * time.Millisecond,
		TestOnly:          true,
		Logger:            slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}

	if _, _, err := embed.Reembed(ctx, b.db.Pool, client, embed.ReembedOptions{Collection: "nope"}); !errors.Is(err, problem.ErrNotFound) {
		t.Errorf("unknown collection: %v", err)
	}
	n, jobs, err := embed.Reembed(ctx, b.db.Pool, client, embed.ReembedOptions{Collection: "books", OnlyMissing: true})
	if err != nil {
		t.Fatal(err)
	}
	if n != len(ids) || jobs != 3 {
		t.Fatalf("enqueued %d docs in %d jobs, want %d in 3", n, jobs, len(ids))
	}

	if err := client.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Stop(context.WithoutCancel(ctx)) })
	// Wait (bounded) for the jobs to complete; River records completion
	// shortly after the work is done.
	deadline := time.Now().Add(60 * time.Second)
	for {
		var missing, open int
		if err := b.db.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM documents WHERE embedding IS NULL),
			(SELECT count(*) FROM river_job WHERE kind = $1 AND state <> 'completed')`, embed.EmbedArgs{}.Kind()).Scan(&missing, &open); err != nil {
			t.Fatal(err)
		}
		if missing == 0 && open == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d documents without embedding, %d jobs not completed", missing, open)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Nothing is missing now: OnlyMissing enqueues nothing.
	if n, _, err := embed.Reembed(ctx, b.db.Pool, client, embed.ReembedOptions{OnlyMissing: true}); err != nil || n != 0 {
		t.Errorf("second reembed: %d %v", n, err)
	}
}

func TestJobs(t *testing.T) {
	t.Parallel()
	ids := make([]int64, 2*embed.JobBatch+1)
	for i := range ids {
		ids[i] = int64(i + 1)
	}
	js := embed.Jobs(ids)
	if len(js) != 3 {
		t.Fatalf("%d jobs", len(js))
	}
	total := 0
	for _, j := range js {
		a := j.Args.(embed.EmbedArgs)
		if len(a.DocumentIDs) > embed.JobBatch {
			t.Errorf("job of %d ids", len(a.DocumentIDs))
		}
		total += len(a.DocumentIDs)
	}
	if total != len(ids) {
		t.Errorf("%d ids in jobs, want %d", total, len(ids))
	}
}

// TestEmbedDocumentsRefusedText: an OpenAI-compatible server refuses one
// text of a batch; the other documents still get their vectors.
func TestEmbedDocumentsRefusedText(t *testing.T) {
	t.Parallel()
	b, ids := setup(t, [2]string{"good one", ""}, [2]string{"REFUSE me", ""}, [2]string{"good two", ""})
	ctx := context.Background()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct{ Input []string }
		_ = json.NewDecoder(r.Body).Decode(&req)
		for _, in := range req.Input {
			if strings.Contains(in, "REFUSE") {
				w.WriteHeader(http.StatusBadRequest)
				_, _ = w.Write([]byte(`{"error":{"message":"input too long"}}`))
				return
			}
		}
		type item struct {
			Index     int       `json:"index"`
			Embedding []float32 `json:"embedding"`
		}
		var out struct {
			Data []item `json:"data"`
		}
		for i := range req.Input {
			v := make([]float32, 64)
			v[i%64] = 1
			out.Data = append(out.Data, item{i, v})
		}
		_ = json.NewEncoder(w).Encode(out)
	}))
	defer srv.Close()
	set, err := embed.NewSet(embed.Config{OpenAI: embed.OpenAIConfig{BaseURL: srv.URL + "/v1", Model: "m", Dim: 64, MaxRetries: -1}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.db.Pool.Exec(ctx, `UPDATE collections SET embedder = 'openai' WHERE id = $1`, b.cid); err != nil {
		t.Fatal(err)
	}
	st, err := embed.EmbedDocuments(ctx, b.db.Pool, set, ids)
	if err != nil {
		t.Fatal(err)
	}
	if st.Refused != 1 || st.Updated != 2 {
		t.Errorf("stats %+v, want 1 refused, 2 updated", st)
	}
	if storedVector(t, b.db.Pool, ids[0]) == nil || storedVector(t, b.db.Pool, ids[1]) != nil || storedVector(t, b.db.Pool, ids[2]) == nil {
		t.Error("want vectors for the good documents only")
	}
}

func TestEnqueueInTransaction(t *testing.T) {
	t.Parallel()
	b, ids := setup(t, [2]string{"a", "b"}, [2]string{"c", "d"})
	ctx := context.Background()
	client, err := river.NewClient(riverpgxv5.New(b.db.Pool), &river.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	count := func() int {
		var n int
		if err := b.db.Pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = $1 AND queue = $2`, embed.EmbedArgs{}.Kind(), embed.QueueName).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// Rolled back: no job.
	tx, err := b.db.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := embed.Enqueue(ctx, tx, client, ids...); err != nil {
		t.Fatal(err)
	}
	_ = tx.Rollback(ctx)
	if n := count(); n != 0 {
		t.Fatalf("%d jobs after rollback", n)
	}
	tx, err = b.db.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := embed.Enqueue(ctx, tx, client, ids...); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 1 {
		t.Fatalf("%d jobs after commit, want 1 for 2 documents", n)
	}
}
