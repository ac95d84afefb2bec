package app_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/geoseek/geoseek/document"
	"github.com/geoseek/geoseek/internal/auth"
)

// TestCollectionLifecycle runs the wired program: PATCH checks a new
// embedder with the configured embedders, and DELETE of a large collection
// answers 202 and its job, worked by the program's runner, removes it.
func TestCollectionLifecycle(t *testing.T) {
	t.Parallel()
	k := newKeyedApp(t, auth.Admin)
	db, a := k.db, k.app
	ctx, cancel := context.WithCancel(context.Background())
	do := func(method, path, body string) (int, map[string]any) {
		t.Helper()
		code, _, m := k.do(t, method, path, "application/json", body)
		return code, m
	}
	if code, m := do("POST", "/collections", `{"name":"notes"}`); code != 201 {
		t.Fatalf("%d %v", code, m)
	}
	if code, m := do("PATCH", "/collections/notes", `{"embedder":"magic"}`); code != 400 || m["field"] != "embedder" {
		t.Fatalf("unknown embedder: %d %v", code, m)
	}
	if code, m := do("PATCH", "/collections/notes", `{"title":"Notes"}`); code != 200 || m["title"] != "Notes" {
		t.Fatalf("title: %d %v", code, m)
	}
	var id int64
	if err := db.Pool.QueryRow(ctx, `SELECT id FROM collections WHERE name = 'notes'`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Pool.Exec(ctx, `INSERT INTO documents (collection_id, title) SELECT $1, 'n ' || g FROM generate_series(1, $2::int) g`,
		id, document.InlineDelete+1); err != nil {
		t.Fatal(err)
	}
	code, m := do("DELETE", "/collections/notes", "")
	if code != 202 || m["documents"] != float64(document.InlineDelete+1) {
		t.Fatalf("delete: %d %v", code, m)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, ln, nil) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		var left int
		if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM collections WHERE id = $1`, id).Scan(&left); err != nil {
			t.Fatal(err)
		}
		if left == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the delete job did not finish within a minute")
		}
	}
	var n int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM documents WHERE collection_id = $1`, id).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d documents left, %v", n, err)
	}
}

// TestSmallCollectionDeleteIsDone: with the program's job runner working,
// DELETE of a small collection purges it within the request (204) rather
// than racing its own safety-net job into a 202.
func TestSmallCollectionDeleteIsDone(t *testing.T) {
	t.Parallel()
	k := newKeyedApp(t, auth.Admin)
	db, a := k.db, k.app
	ctx, cancel := context.WithCancel(context.Background())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, ln, nil) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	do := func(method, path, body string) int {
		t.Helper()
		code, _, _ := k.do(t, method, path, "application/json", body)
		return code
	}
	for i := range 5 {
		if code := do("POST", "/collections", `{"name":"small"}`); code != 201 {
			t.Fatalf("round %d: create: %d", i, code)
		}
		for j := range 3 {
			if code := do("POST", "/collections/small/documents", `{"title":"note `+string(rune('a'+j))+`"}`); code != 201 {
				t.Fatalf("round %d: document: %d", i, code)
			}
		}
		if code := do("DELETE", "/collections/small", ""); code != 204 {
			t.Fatalf("round %d: delete of 3 documents answered %d, want 204", i, code)
		}
		var left int
		if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM documents d JOIN collections c ON c.id = d.collection_id WHERE c.deleted_at IS NOT NULL`).Scan(&left); err != nil || left != 0 {
			t.Fatalf("round %d: %d documents of deleted collections left (%v)", i, left, err)
		}
		// Its safety-net job waits, so it could not have raced the request.
		var early int
		if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = $1 AND scheduled_at < now() + interval '30 seconds'`,
			document.DeleteArgs{}.Kind()).Scan(&early); err != nil || early != 0 {
			t.Fatalf("round %d: %d delete jobs due at once (%v)", i, early, err)
		}
	}
}
