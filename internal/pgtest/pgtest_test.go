package pgtest_test

import (
	"context"
	"testing"

	"github.com/geoseek/geoseek/internal/pgtest"
)

func TestNewGivesMigratedIsolatedDatabases(t *testing.T) {
	t.Parallel()
	a := pgtest.New(t)
	b := pgtest.New(t)
	ctx := context.Background()
	if _, err := a.Pool.Exec(ctx, `INSERT INTO collections (name) VALUES ('only-in-a')`); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := b.Pool.QueryRow(ctx, `SELECT count(*) FROM collections WHERE name = 'only-in-a'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("databases are not isolated: b sees %d rows of a", n)
	}
}
