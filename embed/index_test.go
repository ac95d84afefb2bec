package embed_test

import (
	"context"
	"testing"
	"time"

	embedder "github.com/geoseek/geoseek/embed"
	"github.com/geoseek/geoseek/internal/pgtest"
)

// TestIndexBuildLetsWritersThrough: the sweep builds a collection's HNSW
// index without holding off writers. A transaction that has written to
// documents is open when the build starts; the build waits for it (as any
// index build must), and meanwhile another client's insert goes through
// instead of queueing behind the build's lock.
func TestIndexBuildLetsWritersThrough(t *testing.T) {
	t.Parallel()
	pgtest.RequireVector(t)
	db, _, _, set := sweepFixture(t, 16)
	ctx := context.Background()
	if _, err := embedder.Sweep(ctx, db.Pool, set); err != nil {
		t.Fatal(err)
	}
	var cid int64
	var idx string
	if err := db.Pool.QueryRow(ctx, `SELECT id, geoseek_embedding_index_name(id, 16) FROM collections WHERE name = 'auto'`).Scan(&cid, &idx); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Pool.Exec(ctx, `DROP INDEX `+idx); err != nil {
		t.Fatal(err)
	}
	open, err := db.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer open.Rollback(ctx)
	if _, err := open.Exec(ctx, `INSERT INTO documents (collection_id, title) SELECT id, 'open' FROM collections WHERE name = 'client'`); err != nil {
		t.Fatal(err)
	}
	built := make(chan error, 1)
	go func() { built <- embedder.EnsureIndex(ctx, db.Pool, cid) }()
	// Wait (bounded) until the build waits for the open transaction.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var waiting bool
		if err := db.Pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity
			WHERE query LIKE 'CREATE INDEX%' AND wait_event_type = 'Lock')`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the index build never waited for the open transaction")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Another writer, bounded: behind a plain CREATE INDEX it would wait
	// for the open transaction too.
	conn, err := db.Pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SET lock_timeout = '2s'`); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `INSERT INTO documents (collection_id, title) SELECT id, 'meanwhile' FROM collections WHERE name = 'client'`); err != nil {
		t.Fatalf("a writer waited for the index build: %v", err)
	}
	if _, err := conn.Exec(ctx, `RESET lock_timeout`); err != nil {
		t.Fatal(err)
	}
	if err := open.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-built:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the index build did not finish")
	}
	var valid bool
	if err := db.Pool.QueryRow(ctx, `SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass($1)`, idx).Scan(&valid); err != nil || !valid {
		t.Fatalf("index %s valid %v: %v", idx, valid, err)
	}
}

// TestInvalidIndexBuiltAgain: an index left invalid (a concurrent build
// that failed) is dropped and built again by the next sweep.
func TestInvalidIndexBuiltAgain(t *testing.T) {
	t.Parallel()
	pgtest.RequireVector(t)
	db, _, _, set := sweepFixture(t, 16)
	ctx := context.Background()
	if _, err := embedder.Sweep(ctx, db.Pool, set); err != nil {
		t.Fatal(err)
	}
	var idx string
	if err := db.Pool.QueryRow(ctx, `SELECT geoseek_embedding_index_name(id, 16) FROM collections WHERE name = 'auto'`).Scan(&idx); err != nil {
		t.Fatal(err)
	}
	// What a failed CREATE INDEX CONCURRENTLY leaves.
	if _, err := db.Pool.Exec(ctx, `UPDATE pg_index SET indisvalid = false WHERE indexrelid = to_regclass($1)`, idx); err != nil {
		t.Skipf("cannot mark the index invalid (needs a superuser): %v", err)
	}
	if _, err := embedder.Sweep(ctx, db.Pool, set); err != nil {
		t.Fatal(err)
	}
	var valid bool
	if err := db.Pool.QueryRow(ctx, `SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass($1)`, idx).Scan(&valid); err != nil || !valid {
		t.Fatalf("index %s valid %v after a sweep: %v", idx, valid, err)
	}
}
