package app

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	embedder "github.com/geoseek/geoseek/embed"
	"github.com/geoseek/geoseek/geo"
	"github.com/geoseek/geoseek/ingest"
	"github.com/geoseek/geoseek/internal/document"
	"github.com/geoseek/geoseek/internal/jobs"
	"github.com/geoseek/geoseek/internal/server"
	"github.com/geoseek/geoseek/search"
)

// wireDomains builds each domain's service and registers its routes and
// workers, and returns how many worker kinds it added. Keep this the only
// place that knows every domain.
func (a *App) wireDomains(ctx context.Context, opts Options, pool *pgxpool.Pool, srv *server.Server, workers *river.Workers) (workerKinds int, err error) {
	inserter, err := jobs.NewInserter(pool, a.logger)
	if err != nil {
		return 0, err
	}

	// Embedders: one set shared by search (query vectors) and the
	// embedding jobs (document vectors).
	set, err := embedder.NewSet(opts.Embed)
	if err != nil {
		return 0, fmt.Errorf("app: embedder settings: %w", err)
	}
	embedder.AddWorkers(workers, pool, set, a.logger)
	workerKinds++

	// Photos.
	icfg := opts.Ingest
	if icfg.DataDir == "" {
		icfg.DataDir = opts.DataDir
	}
	photos, err := ingest.New(icfg, pool, inserter, a.logger)
	if err != nil {
		return 0, fmt.Errorf("app: photo ingest: %w", err)
	}
	ingest.AddWorkers(workers, photos)
	workerKinds++
	ingest.NewHandler(photos).Register(srv.API)

	// Documents and collections (writes), search.
	document.NewHandler(pool, a.logger, opts.Documents).Register(srv.API)
	scfg := opts.Search
	scfg.Logger = a.logger
	svc := search.NewService(pool, scfg)
	svc.UseSemantic(search.NewSemantic(pool, set, opts.Semantic))
	search.NewHandler(svc, a.logger).Register(srv.API)

	// OGC API – Features, clusters, tiles.
	geo.NewHandler(pool, a.logger, opts.Geo).Register(srv.API)
	srv.API.GET("/openapi.json", serveOpenAPI(opts.Version))
	return workerKinds, nil
}
