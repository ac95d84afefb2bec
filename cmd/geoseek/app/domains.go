package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/geoseek/geoseek/document"
	embedder "github.com/geoseek/geoseek/embed"
	"github.com/geoseek/geoseek/geo"
	"github.com/geoseek/geoseek/ingest"
	"github.com/geoseek/geoseek/internal/jobs"
	"github.com/geoseek/geoseek/internal/server"
	"github.com/geoseek/geoseek/internal/textcheck"
	"github.com/geoseek/geoseek/search"
	"github.com/geoseek/geoseek/web"
)

// wireDomains builds each domain's service and registers its routes and
// workers, and returns how many worker kinds it added. Keep this the only
// place that knows every domain.
func (a *App) wireDomains(ctx context.Context, opts Options, pool *pgxpool.Pool, srv *server.Server, workers *river.Workers) (workerKinds int, err error) {
	inserter, err := jobs.NewInserter(pool, a.logger)
	if err != nil {
		return 0, err
	}
	// Text that is not UTF-8 (or holds NUL) is refused on every route, in
	// the path, the query and JSON bodies, before a handler reads it.
	srv.API.Use(textcheck.Middleware())

	// Embedders: one set shared by search (query vectors) and the
	// embedding jobs (document vectors).
	set, err := embedder.NewSet(opts.Embed)
	if err != nil {
		return 0, fmt.Errorf("app: embedder settings: %w", err)
	}
	embedder.AddWorkers(workers, pool, set, a.logger)
	embedder.AddSweepWorker(workers, pool, set, a.logger)
	a.periodic = append(a.periodic, embedder.PeriodicJobs(opts.Embed.SweepInterval)...)
	workerKinds += 2

	photos, err := a.wirePhotos(opts, pool, inserter, srv, workers)
	if err != nil {
		return 0, err
	}
	workerKinds++
	// Bulk loads and imports stage their bodies under the data dir, within
	// one per-key cap.
	streams := document.NewStreamLimit(opts.MaxStreamsPerKey)
	stageDir := ""
	if opts.DataDir != "" {
		stageDir = filepath.Join(opts.DataDir, "stage")
		if err := os.MkdirAll(stageDir, 0o700); err != nil {
			return 0, fmt.Errorf("app: stage dir: %w", err)
		}
	}
	a.wireDocuments(opts, pool, inserter, set, photos, streams, stageDir, srv, workers)
	workerKinds += 2
	// One collections cache for search and geo; geo's change listener
	// drops a deleted or changed collection from it.
	colls := document.NewCollections(pool)
	scfg := opts.Search
	scfg.Logger = a.logger
	scfg.Collections = colls
	semcfg := opts.Semantic
	semcfg.Collections = colls
	scfg.Semantic = search.NewSemantic(pool, set, semcfg)
	svc := search.NewService(pool, scfg)

	if err := a.wireMapAndGeo(opts, pool, colls, svc, streams, stageDir, srv); err != nil {
		return 0, err
	}
	srv.API.GET("/openapi.json", serveOpenAPI(opts.Version))
	return workerKinds, nil
}

// wirePhotos builds the photo service, its workers, routes and sweeps.
func (a *App) wirePhotos(opts Options, pool *pgxpool.Pool, inserter *river.Client[pgx.Tx], srv *server.Server, workers *river.Workers) (*ingest.Service, error) {
	photos, err := NewPhotos(opts, pool, inserter, a.logger)
	if err != nil {
		return nil, err
	}
	ingest.AddWorkers(workers, photos)
	ingest.NewHandler(photos).Register(srv.API)
	icfg := photos.Config()
	a.background(func(ctx context.Context) {
		// Repair the originals store of crash leftovers (stale temp files,
		// originals without a row), at start and then periodically.
		photos.RunSweeps(ctx, icfg.SweepInterval, icfg.OrphanAge, nil)
	})
	a.background(func(ctx context.Context) {
		// Expired resumable uploads; finished ones a crash left unstored.
		photos.Uploads().RunSweeps(ctx, icfg.UploadSweepInterval, nil)
	})
	if !opts.SkipPlaces {
		a.background(func(ctx context.Context) {
			// Natural Earth boundaries into PostGIS, once; then name earlier photos.
			if err := photos.LoadPlaces(ctx); err != nil && ctx.Err() == nil {
				a.logger.Warn("ingest: place names unavailable", "err", err)
			}
		})
	}

	return photos, nil
}

// wireDocuments wires documents and collections: writes, the embedder
// defaults of new collections, and collection deletes and changes.
func (a *App) wireDocuments(opts Options, pool *pgxpool.Pool, inserter *river.Client[pgx.Tx], set *embedder.Set, photos *ingest.Service,
	streams *document.StreamLimit, stageDir string, srv *server.Server, workers *river.Workers) {
	dcfg := opts.Documents
	dcfg.Streams, dcfg.StageDir = streams, stageDir
	dcfg.Embedders = func(in *document.CollectionInput) error {
		// A collection that names no embedder gets the configured default,
		// so semantic search works on it out of the box.
		def := set.Default()
		if in.Embedder == "" && in.EmbeddingDim == nil {
			in.Embedder, in.EmbeddingModel = def.Embedder, def.Model
			in.EmbeddingDim = &def.Dim
		}
		if in.EmbeddingDim == nil && in.Embedder == embedder.KindOffline {
			d := embedder.DefaultDim
			in.EmbeddingDim = &d
		}
		sp := embedder.Spec{Embedder: in.Embedder, Model: in.EmbeddingModel}
		if in.EmbeddingDim != nil {
			sp.Dim = *in.EmbeddingDim
		}
		return set.CheckSpec(sp)
	}
	// Collection deletes and setting changes: deletes run as jobs and take
	// photos' files with them; an embedder change queues re-embedding.
	dcfg.Lifecycle = document.NewLifecycle(pool, a.logger, document.LifecycleConfig{
		Files:    photos,
		Jobs:     inserter,
		Recreate: []string{ingest.Collection},
		Reembed: func(ctx context.Context, collection string) error {
			_, _, err := embedder.Reembed(ctx, pool, inserter, embedder.ReembedOptions{Collection: collection, OnlyMissing: true})
			return err
		},
	})
	document.AddWorkers(workers, dcfg.Lifecycle)
	a.background(func(ctx context.Context) {
		// Finish the collection deletes of a process that stopped midway.
		if n, err := dcfg.Lifecycle.ResumeDeletes(ctx); err != nil && ctx.Err() == nil {
			a.logger.Error("document: resuming collection deletes failed", "err", err)
		} else if n > 0 {
			a.logger.Info("document: collection deletes finished", "collections", n)
		}
	})
	document.NewHandler(pool, a.logger, dcfg).Register(srv.API)
}

// wireMapAndGeo wires the map page and OGC API – Features (clusters, tiles,
// HTML pages), and gives search geo's Feature encoder.
func (a *App) wireMapAndGeo(opts Options, pool *pgxpool.Pool, colls *document.Collections, svc *search.Service,
	streams *document.StreamLimit, stageDir string, srv *server.Server) error {
	// The map page; the OGC API HTML pages draw their features with its
	// features bundle.
	mopts := opts.Map
	if mopts.PhotosCollection == "" {
		mopts.PhotosCollection = opts.Geo.PhotosCollection
	}
	mh, err := web.NewHandler(mopts)
	if err != nil {
		return fmt.Errorf("app: map page: %w", err)
	}
	mh.Register(srv.API)
	if !mh.Built() {
		a.logger.Warn("the map page's assets were not built: /map explains how (make build)")
	}

	// OGC API – Features, clusters, tiles.
	gopts := opts.Geo
	gopts.Collections = colls
	gopts.PageMap = geo.PageMap{Script: mh.Asset("features.js"), Style: mh.Asset("features.css"), StyleURL: mopts.StyleURL}
	gopts.Streams, gopts.StageDir = streams, stageDir
	gh := geo.NewHandler(pool, a.logger, gopts)
	gh.Register(srv.API)
	sh := search.NewHandler(svc, a.logger)
	// One GeoJSON encoder: a search hit is the same Feature as the item.
	sh.UseFeatures(gh.Service())
	sh.Register(srv.API)
	if c := gh.Service().Collector(); c != nil {
		srv.Registry().MustRegister(c)
		a.background(gh.Service().WatchChanges)
	}
	return nil
}

// NewPhotos builds the photo service as serve runs it; `geoseek ingest`
// uses it too, so a local import is the same pipeline as an upload.
func NewPhotos(opts Options, pool *pgxpool.Pool, inserter *river.Client[pgx.Tx], logger *slog.Logger) (*ingest.Service, error) {
	icfg := opts.Ingest
	if icfg.DataDir == "" {
		icfg.DataDir = opts.DataDir
	}
	// A new photo's document is embedded by a job queued in its own
	// transaction, like any other document.
	icfg.AfterInsert = func(ctx context.Context, tx pgx.Tx, ids []int64) error {
		_, err := inserter.InsertManyTx(ctx, tx, embedder.Jobs(ids))
		return err
	}
	photos, err := ingest.New(icfg, pool, inserter, logger)
	if err != nil {
		return nil, fmt.Errorf("app: photo ingest: %w", err)
	}
	return photos, nil
}
