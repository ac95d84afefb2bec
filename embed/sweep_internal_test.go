package embed

import (
	"context"
	"log/slog"
	"testing"

	"github.com/geoseek/geoseek/internal/pgtest"
)

// TestSweepWorkerOneAtATime: while another session holds the sweep's lock
// (a sweep of another process, or a long one of this process) a sweep job
// does nothing; once it is free, the next one embeds, and leaves the lock
// free behind it.
func TestSweepWorkerOneAtATime(t *testing.T) {
	t.Parallel()
	pgtest.RequireVector(t)
	db := pgtest.New(t)
	ctx := context.Background()
	var id int64
	if _, err := db.Pool.Exec(ctx, `INSERT INTO collections (name, embedder, embedding_dim) VALUES ('auto', 'offline', 16)`); err != nil {
		t.Fatal(err)
	}
	if err := db.Pool.QueryRow(ctx, `INSERT INTO documents (collection_id, title)
		SELECT id, 'harbour cranes' FROM collections WHERE name = 'auto' RETURNING id`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	set, err := NewSet(Config{})
	if err != nil {
		t.Fatal(err)
	}
	w := &SweepWorker{pool: db.Pool, set: set, logger: slog.New(slog.DiscardHandler)}
	embedded := func() bool {
		var ok bool
		if err := db.Pool.QueryRow(ctx, `SELECT embedding IS NOT NULL FROM documents WHERE id = $1`, id).Scan(&ok); err != nil {
			t.Fatal(err)
		}
		return ok
	}
	other, err := db.Pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	released := false
	defer func() {
		if !released {
			other.Release()
		}
	}()
	if _, err := other.Exec(ctx, `SELECT pg_advisory_lock($1)`, sweepLockKey); err != nil {
		t.Fatal(err)
	}
	if err := w.Work(ctx, nil); err != nil || embedded() {
		t.Fatalf("sweep while another holds the lock: embedded %v, %v", embedded(), err)
	}
	if _, err := other.Exec(ctx, `SELECT pg_advisory_unlock($1)`, sweepLockKey); err != nil {
		t.Fatal(err)
	}
	other.Release()
	released = true
	if err := w.Work(ctx, nil); err != nil || !embedded() {
		t.Fatalf("sweep with the lock free: embedded %v, %v", embedded(), err)
	}
	// pg_locks shows the whole cluster: parallel tests sweep in databases
	// of their own, so only this database's lock counts.
	var held int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = ($1::bigint & x'ffffffff'::bigint)::oid AND classid = ($1::bigint >> 32)::oid
		   AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`, sweepLockKey).Scan(&held); err != nil || held != 0 {
		t.Fatalf("lock still held after the sweep (%d): %v", held, err)
	}
}
