// Package app wires geoseek together: the HTTP server, every domain's
// handlers, and the background job runner. `geoseek serve` and the benchmark
// runner build the same App, so benchmarks measure what production runs.
package app

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/geoseek/geoseek/document"
	embedder "github.com/geoseek/geoseek/embed"
	"github.com/geoseek/geoseek/geo"
	"github.com/geoseek/geoseek/ingest"
	"github.com/geoseek/geoseek/internal/jobs"
	"github.com/geoseek/geoseek/internal/pg"
	"github.com/geoseek/geoseek/internal/server"
	"github.com/geoseek/geoseek/search"
	"github.com/geoseek/geoseek/web"
)

// Options are the settings the domains and server need.
type Options struct {
	// Version is the program's version, shown in /openapi.json.
	Version            string
	Addr               string
	DataDir            string
	RequestTimeout     time.Duration
	ShutdownGrace      time.Duration
	RequireKeyForReads bool
	// TrustedProxies name the reverse proxies whose X-Forwarded-For is
	// believed (server.Config).
	TrustedProxies []string
	// Edge holds the server's edge limits (in-flight bound, pool wait,
	// body pace, rate limits, CORS); its other fields are set from the
	// options above.
	Edge server.Config
	// SkipPlaces leaves the Natural Earth place names unloaded (tests).
	SkipPlaces bool
	// MaxStreamsPerKey caps the streaming writes (bulk loads, imports)
	// one API key runs at once; 0: no cap.
	MaxStreamsPerKey int

	// Each domain's own settings.
	Ingest    ingest.Config
	Documents document.HandlerConfig
	Search    search.Config
	Semantic  search.SemanticConfig
	Embed     embedder.Config
	Geo       geo.Options
	Map       web.Options
}

// App is a wired geoseek.
type App struct {
	Server *server.Server
	runner *jobs.Runner
	logger *slog.Logger
	grace  time.Duration
	// startup tasks run in the background while serving.
	startup []func(ctx context.Context)
	// periodic River jobs the domains schedule.
	periodic []*river.PeriodicJob
	// samplePool runs the sampled facet passes (search.Config.SamplePool);
	// Run closes it.
	samplePool *pgxpool.Pool
}

// sampleConns is how many sampled facet passes run at once: each keeps a
// core busy for tens of milliseconds, and the fewer backends read the
// sample's pages, the fewer pay for reading them the first time.
const sampleConns = 2

func (a *App) background(f func(ctx context.Context)) { a.startup = append(a.startup, f) }

// New wires the server, domain handlers and job runner on pool.
func New(ctx context.Context, opts Options, pool *pgxpool.Pool, logger *slog.Logger) (*App, error) {
	a := &App{logger: logger, grace: opts.ShutdownGrace}
	if a.grace == 0 {
		a.grace = 20 * time.Second
	}
	ready := &server.Readiness{Pool: pool, Timeout: 2 * time.Second}
	scfg := opts.Edge
	scfg.Addr, scfg.RequestTimeout, scfg.ShutdownGrace = opts.Addr, opts.RequestTimeout, opts.ShutdownGrace
	scfg.RequireKeyForReads, scfg.Untimed, scfg.TrustedProxies = opts.RequireKeyForReads, untimedRoutes, opts.TrustedProxies
	scfg.CSPOrigins = cspOrigins(opts.Map)
	srv := server.New(scfg, pool, ready, logger)
	a.Server = srv

	if opts.Search.SamplePool == nil {
		pc := pool.Config()
		pc.MaxConns, pc.MinConns = sampleConns, 0
		sp, err := pgxpool.NewWithConfig(ctx, pc)
		if err != nil {
			return nil, fmt.Errorf("app: facet sample pool: %w", err)
		}
		a.samplePool, opts.Search.SamplePool = sp, sp
	}
	workers := river.NewWorkers()
	kinds, err := a.wireDomains(ctx, opts, pool, srv, workers)
	if err != nil {
		a.close()
		return nil, err
	}
	ready.Embeddings = func(ctx context.Context) (any, error) {
		b, err := embedder.ReadBacklog(ctx, pool)
		if b == nil || err != nil {
			return nil, err
		}
		return b, nil
	}
	if kinds > 0 { // River refuses a runner without workers
		if a.runner, err = jobs.NewRunner(pool, workers, a.periodic, logger); err != nil {
			a.close()
			return nil, err
		}
	}
	return a, nil
}

// untimedRoutes stream large bodies and are bounded by size, not time.
var untimedRoutes = append([]string{
	"POST /photos",
	"POST /collections/:collection/documents/bulk",
	"POST /collections/:collection/items",
	"POST /collections/:collection/import",
}, ingest.UploadRoutes...)

// CloseWait bounds the closing of a pool on the way out (pg.CloseWithin):
// with the shutdown grace, it bounds how long a stopping server takes when
// the database no longer answers.
const CloseWait = 2 * time.Second

// close closes what New opened.
func (a *App) close() {
	if a.samplePool != nil {
		pg.CloseWithin(a.samplePool, CloseWait, a.logger)
	}
}

// Run starts the job runner and serves until ctx is done, then stops both
// and closes what New opened. The server's requests and the runner's jobs
// get the same shutdown grace, at the same time: it returns within the
// grace and a few seconds, the database answering or not.
func (a *App) Run(ctx context.Context, ln net.Listener, started func(addr string)) error {
	defer a.close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if a.runner != nil {
		// River cancels its jobs the moment its start context ends; they
		// get the grace through Stop instead.
		if err := a.runner.Start(context.WithoutCancel(ctx)); err != nil {
			return err
		}
		stopped := make(chan struct{})
		go func() {
			defer close(stopped)
			<-ctx.Done()
			a.runner.Stop(a.grace)
		}()
		defer func() { <-stopped }()
		defer cancel() // a server that fails to start stops the runner too
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, f := range a.startup {
		wg.Add(1)
		go func() { defer wg.Done(); f(ctx) }()
	}
	if err := a.Server.Serve(ctx, ln, started); err != nil {
		return fmt.Errorf("app: %w", err)
	}
	return nil
}

// cspOrigins are the origins the HTML pages may load from besides their
// own: the online map style's, when one is configured.
func cspOrigins(m web.Options) []string {
	if m.StyleURL == "" {
		return nil
	}
	o, err := web.StyleOrigin(m.StyleURL)
	if err != nil {
		return nil // refused when the page handler is built
	}
	return []string{o}
}
