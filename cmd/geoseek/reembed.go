package main

import (
	"context"
	"flag"
	"fmt"

	embedder "github.com/geoseek/geoseek/embed"
	"github.com/geoseek/geoseek/internal/jobs"
)

// reembed queues embedding jobs for a collection (or all), for after a model
// change or once pgvector is installed; the running server's workers do them.
func (a *App) reembed(ctx context.Context, args []string) error {
	var collection string
	var missing bool
	s, err := a.open(ctx, spec{
		name:   "reembed",
		about:  "Queue embedding jobs for a collection (or every one), after a model change or once\npgvector is installed; a running geoseek serve works them.",
		groups: gDatabase | gPool,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&collection, "collection", "", "collection to re-embed (default: every collection with an embedder)")
			fs.BoolVar(&missing, "missing", false, "only documents without an embedding")
		},
	}, args)
	if err != nil {
		return err
	}
	defer s.pool.Close()
	inserter, err := jobs.NewInserter(s.pool, s.logger)
	if err != nil {
		return err
	}
	docs, n, err := embedder.Reembed(ctx, s.pool, inserter, embedder.ReembedOptions{Collection: collection, OnlyMissing: missing})
	if err != nil {
		return err
	}
	fmt.Fprintf(a.Stdout, "queued %d documents in %d embedding jobs; `geoseek serve` works them (queue depth on /readyz)\n", docs, n)
	return nil
}
