package search_test

import (
	"context"
	"testing"

	"github.com/geoseek/geoseek/internal/pgtest"
	"github.com/geoseek/geoseek/search"
)

// BenchmarkPrepare resolves a query's collection: keyword reads the row
// every time, semantic from the collections cache.
func BenchmarkPrepare(b *testing.B) {
	db := pgtest.New(b)
	ctx := context.Background()
	if _, err := db.Pool.Exec(ctx, `INSERT INTO collections (name, default_lang) VALUES ('t', 'english')`); err != nil {
		b.Fatal(err)
	}
	svc := search.NewService(db.Pool, search.Config{})
	for _, mode := range []search.Mode{search.ModeKeyword, search.ModeSemantic} {
		b.Run(string(mode), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := svc.Prepare(ctx, &search.Query{Collection: "t", Text: "berlin", Mode: mode}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
