package document_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/geoseek/geoseek/document"
	"github.com/geoseek/geoseek/internal/pgtest"
	"github.com/geoseek/geoseek/internal/problem"
)

// TestGetForUpdateLocksTheRow: a second writer cannot take the row until the
// first commits (the second waits; here lock_timeout bounds it).
func TestGetForUpdateLocksTheRow(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	id, err := document.Insert(ctx, db.Pool, &document.Doc{Collection: "photos", Title: "locked"})
	if err != nil {
		t.Fatal(err)
	}
	tx, err := db.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck
	d, err := document.GetForUpdate(ctx, tx, "photos", id)
	if err != nil || d.Title != "locked" {
		t.Fatalf("GetForUpdate: %+v %v", d, err)
	}
	err = pgx.BeginFunc(ctx, db.Pool, func(tx2 pgx.Tx) error {
		if _, err := tx2.Exec(ctx, `SET LOCAL lock_timeout = '50ms'`); err != nil {
			return err
		}
		_, err := document.GetForUpdate(ctx, tx2, "photos", id)
		return err
	})
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "55P03" {
		t.Fatalf("second GetForUpdate while the first holds the row: %v, want lock_not_available", err)
	}
	if _, err := document.GetForUpdate(ctx, tx, "photos", id+1000); !errors.Is(err, problem.ErrNotFound) {
		t.Fatalf("missing document: %v", err)
	}
}

// TestEmbeddingReads: the embedding jobs' reads of collections go through
// document and give each document its collection's settings.
func TestEmbeddingReads(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	if _, err := db.Pool.Exec(ctx, `INSERT INTO collections (name, default_lang, embedder, embedding_model, embedding_dim)
		VALUES ('emb', 'english', 'offline', 'm1', 8), ('plain', 'simple', 'none', '', 8)`); err != nil {
		t.Fatal(err)
	}
	a, err := document.Insert(ctx, db.Pool, &document.Doc{Collection: "emb", Title: "a", Body: "b"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := document.Insert(ctx, db.Pool, &document.Doc{Collection: "plain", Title: "p"})
	if err != nil {
		t.Fatal(err)
	}
	in, err := document.EmbeddingInputs(ctx, db.Pool, []int64{p, a, a + p + 1000})
	if err != nil {
		t.Fatal(err)
	}
	want := []document.EmbeddingInput{
		{ID: a, Title: "a", Body: "b", Embedder: "offline", Model: "m1", Lang: "english", Dim: 8},
		{ID: p, Title: "p", Embedder: "none", Lang: "simple", Dim: 8},
	}
	if len(in) != 2 || in[0] != want[0] || in[1] != want[1] {
		t.Fatalf("inputs %+v, want %+v", in, want)
	}
	var refs []document.CollectionRef
	b := &pgx.Batch{}
	document.QueueEmbeddingCollections(b, "none", &refs)
	if err := db.Pool.SendBatch(ctx, b).Close(); err != nil {
		t.Fatal(err)
	}
	ids, err := document.EmbeddingCollectionIDs(ctx, db.Pool, "none")
	if err != nil {
		t.Fatal(err)
	}
	if len(refs) != len(ids) {
		t.Fatalf("queued read %+v, direct read %v", refs, ids)
	}
	found := false
	for i, r := range refs {
		found = found || r.Name == "emb"
		if r.Name == "plain" || r.ID != ids[i] {
			t.Fatalf("embedding collections %+v (ids %v): want those with an embedder, by id", refs, ids)
		}
	}
	if !found {
		t.Fatalf("embedding collections %+v lack emb", refs)
	}
}
