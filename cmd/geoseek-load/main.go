// Command geoseek-load (`make load`) puts a bounded, mixed workload on a
// geoseek server over loopback: search, items by bbox, vector tiles and photo
// uploads, from 20 and then 200 closed-loop clients (flags change both and
// the duration). It starts the server itself, wired as `geoseek serve` is
// with its default limits, on a database of its own (geoseek_load on the
// private cluster, or -database-url) seeded on first use, and prints, per
// client count, requests per second, p50/p95/p99 of served requests per
// route family, the 5xx answers other than shedding, the shed 503s (with
// Retry-After), the 429s and the client timeouts, and the slowest /healthz
// answer measured throughout.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/geoseek/geoseek/cmd/geoseek/app"
	"github.com/geoseek/geoseek/internal/auth"
	"github.com/geoseek/geoseek/internal/pg"
	"github.com/geoseek/geoseek/internal/pgcluster"
	"github.com/geoseek/geoseek/internal/pgtest"
	"github.com/geoseek/geoseek/internal/ratelimit"
	"github.com/geoseek/geoseek/internal/server"
	"github.com/geoseek/geoseek/migrations"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "geoseek-load:", err)
		os.Exit(1)
	}
}

// options are the command line.
type options struct {
	clients   []int
	duration  time.Duration
	docs      int
	poolSize  int
	inFlight  int
	photos    string
	dataDir   string
	dbURL     string
	uploadPct int
}

func parse(args []string) (options, error) {
	fs := flag.NewFlagSet("geoseek-load", flag.ContinueOnError)
	var o options
	clients := fs.String("clients", "20,200", "comma-separated client counts, one phase each")
	fs.DurationVar(&o.duration, "duration", 60*time.Second, "length of each phase")
	fs.IntVar(&o.docs, "docs", 50_000, "documents seeded into the load collection (first run only)")
	fs.IntVar(&o.poolSize, "db-pool-size", 16, "server's database connections (as geoseek serve's default)")
	fs.IntVar(&o.inFlight, "max-in-flight", 64, "server's --max-in-flight")
	fs.IntVar(&o.uploadPct, "upload-percent", 3, "share of requests that upload a photo")
	fs.StringVar(&o.photos, "photos", "../shared/testdata/photos", "directory of JPEG photos to upload (each made unique per upload)")
	fs.StringVar(&o.dataDir, "data-dir", "data", "data dir (the private cluster lives in <data-dir>/pg)")
	fs.StringVar(&o.dbURL, "database-url", os.Getenv("GEOSEEK_LOAD_DATABASE_URL"), "server for the load database (default: the private cluster)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	for _, s := range strings.Split(*clients, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return o, fmt.Errorf("-clients %q: want positive numbers", *clients)
		}
		o.clients = append(o.clients, n)
	}
	if o.duration <= 0 || o.uploadPct < 0 || o.uploadPct > 100 {
		return o, fmt.Errorf("-duration must be positive and -upload-percent within 0-100")
	}
	return o, nil
}

func run(ctx context.Context, args []string, out io.Writer) error {
	o, err := parse(args)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	url, err := database(ctx, o, logger)
	if err != nil {
		return err
	}
	pool, err := pg.Open(ctx, pg.Config{URL: url, MaxConns: int32(o.poolSize), StatementTimeout: 30 * time.Second, AppName: "geoseek-load"}, logger)
	if err != nil {
		return err
	}
	defer pool.Close()
	base, stop, err := serve(ctx, o, pool)
	if err != nil {
		return err
	}
	defer stop()
	maxClients := 0
	for _, n := range o.clients {
		maxClients = max(maxClients, n)
	}
	keys, err := makeKeys(ctx, pool, maxClients)
	if err != nil {
		return err
	}
	w, err := newWorkload(base, keys, o)
	if err != nil {
		return err
	}
	if err := w.seed(ctx, o.docs); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	fmt.Fprintf(out, "geoseek load: %d documents, pool %d, max in flight %d, %s per phase, %d%% uploads; server and clients share this machine\n",
		o.docs, o.poolSize, o.inFlight, o.duration, o.uploadPct)
	for _, n := range o.clients {
		if ctx.Err() != nil {
			break
		}
		rep := w.phase(ctx, n, o.duration)
		rep.print(out)
	}
	return ctx.Err()
}

// database starts the private cluster unless a URL is given, makes sure the
// load database exists and migrates it.
func database(ctx context.Context, o options, logger *slog.Logger) (string, error) {
	base := o.dbURL
	if base == "" {
		u, err := (&pgcluster.Cluster{Dir: filepath.Join(o.dataDir, "pg"), Logger: logger}).Start(ctx)
		if err != nil {
			return "", err
		}
		base = u
	}
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		return "", fmt.Errorf("connect: %w", err)
	}
	var exists bool
	err = conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'geoseek_load')`).Scan(&exists)
	if err == nil && !exists {
		_, err = conn.Exec(ctx, `CREATE DATABASE geoseek_load`)
	}
	conn.Close(ctx)
	if err != nil {
		return "", fmt.Errorf("create the load database: %w", err)
	}
	url := pgtest.WithDatabase(base, "geoseek_load")
	mp, err := pg.Open(ctx, pg.Config{URL: url, MaxConns: 2}, logger)
	if err != nil {
		return "", err
	}
	defer mp.Close()
	if _, err := migrations.Up(ctx, mp, logger); err != nil {
		return "", err
	}
	return url, nil
}

// serve runs the wired server, with serve's default edge limits, on a
// loopback port; its access log is discarded.
func serve(ctx context.Context, o options, pool *pgxpool.Pool) (string, func(), error) {
	a, err := app.New(ctx, app.Options{
		Addr: "127.0.0.1:0", DataDir: filepath.Join(o.dataDir, "load"), RequestTimeout: 60 * time.Second,
		ShutdownGrace: 5 * time.Second, SkipPlaces: true,
		Edge: server.Config{
			MaxInFlight: o.inFlight, AcquireTimeout: 2 * time.Second,
			Body: server.BodyLimits{Timeout: 30 * time.Second, MinRate: 8192},
			RateLimits: server.RateLimits{
				PerKey:       ratelimit.Config{Rate: 200, Burst: 800},
				PerIP:        ratelimit.Config{Rate: 100, Burst: 400},
				AuthFailures: ratelimit.Config{Rate: 20.0 / 60, Burst: 20},
			},
		},
	}, pool, slog.New(slog.DiscardHandler))
	if err != nil {
		return "", nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	sctx, cancel := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- a.Run(sctx, ln, nil) }()
	return "http://" + ln.Addr().String(), func() { cancel(); <-served }, nil
}

// makeKeys gives every client a key of its own, as distinct API clients
// have (the per-key limit then applies per client).
func makeKeys(ctx context.Context, pool *pgxpool.Pool, n int) ([]string, error) {
	store := auth.NewStore(pool)
	keys := make([]string, n)
	for i := range keys {
		_, k, err := store.Create(ctx, "load-"+strconv.Itoa(i), []auth.Scope{auth.Write})
		if err != nil {
			return nil, err
		}
		keys[i] = k
	}
	return keys, nil
}
