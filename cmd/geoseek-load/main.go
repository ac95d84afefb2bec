// Command geoseek-load (`make load`) puts a bounded, mixed workload on a
// geoseek server over loopback: search, items by bbox, vector tiles and photo
// uploads, from 20 and then 200 closed-loop clients (flags change both and
// the duration). It builds cmd/geoseek and runs `geoseek serve` as a child
// process with serve's default limits, as the service is deployed, on a
// database of its own (geoseek_load on the private cluster, or
// -database-url) that it migrates, seeds on first use and makes the
// clients' keys in; -in-process runs the server inside geoseek-load
// instead, -server-url aims at one started elsewhere. It prints, per client
// count, requests per second, p50/p95/p99 of served requests per route
// family, the 5xx answers other than shedding, the shed 503s (with
// Retry-After), the 429s and the client timeouts.
//
// Beside the load, a prober process (geoseek-load re-executed as `probe`)
// asks /healthz every 50 ms on a new connection each time, as a load
// balancer does, of geoseek and of a bare net/http server in a process of
// its own (`bare`, the control): the control's figures are how long any
// process on the machine waits for a core while the load runs, and
// geoseek's excess over them is geoseek's own. Every child process is
// stopped (SIGTERM, then SIGKILL after -stop-grace) when the run ends, on
// Ctrl-C and on error, and is killed by the kernel if geoseek-load dies.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
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
	clients      []int
	duration     time.Duration
	idle         time.Duration
	docs         int
	poolSize     int
	inFlight     int
	photos       string
	dataDir      string
	dbURL        string
	dbName       string
	uploadPct    int
	inProcess    bool
	serverURL    string
	geoseekBin   string
	serveArgs    []string
	serveEnv     []string
	startTimeout time.Duration
	stopGrace    time.Duration
	probeEvery   time.Duration
	probeTimeout time.Duration
}

func parse(args []string) (options, error) {
	fs := flag.NewFlagSet("geoseek-load", flag.ContinueOnError)
	var o options
	clients := fs.String("clients", "20,200", "comma-separated client counts, one phase each")
	fs.DurationVar(&o.duration, "duration", 60*time.Second, "length of each phase")
	fs.DurationVar(&o.idle, "idle", 5*time.Second, "time /healthz is probed with no load, before the first phase")
	fs.IntVar(&o.docs, "docs", 50_000, "documents seeded into the load collection (first run only)")
	fs.IntVar(&o.poolSize, "db-pool-size", 16, "server's --db-pool-size (serve's default)")
	fs.IntVar(&o.inFlight, "max-in-flight", 64, "server's --max-in-flight (serve's default)")
	fs.IntVar(&o.uploadPct, "upload-percent", 3, "share of requests that upload a photo")
	fs.StringVar(&o.photos, "photos", "../shared/testdata/photos", "directory of JPEG photos to upload (each made unique per upload)")
	fs.StringVar(&o.dataDir, "data-dir", "data", "data dir (the private cluster lives in <data-dir>/pg, the server's originals and log in <data-dir>/load)")
	fs.StringVar(&o.dbURL, "database-url", os.Getenv("GEOSEEK_LOAD_DATABASE_URL"), "server for the load database (default: the private cluster)")
	fs.StringVar(&o.dbName, "database-name", "geoseek_load", "the load database, created, migrated and seeded on first use")
	fs.BoolVar(&o.inProcess, "in-process", false, "run the server inside geoseek-load, beside the clients (the old way; its /healthz then waits behind the clients)")
	fs.StringVar(&o.serverURL, "server-url", "", "aim at a server someone else started (it must serve the load database: geoseek-load makes the clients' keys there)")
	fs.StringVar(&o.geoseekBin, "geoseek-bin", "", "geoseek binary to run as the server (default: built from this module into a temporary dir)")
	serveArgs := fs.String("serve-args", "", "more flags for geoseek serve, space-separated (they win over geoseek-load's)")
	serveEnv := fs.String("serve-env", "", "environment variables for geoseek serve alone, space-separated NAME=VALUE (GOMAXPROCS=4)")
	fs.DurationVar(&o.startTimeout, "start-timeout", time.Minute, "longest the server may take to answer /readyz")
	fs.DurationVar(&o.stopGrace, "stop-grace", 10*time.Second, "time a child process gets after SIGTERM before it is killed")
	fs.DurationVar(&o.probeEvery, "probe-every", 50*time.Millisecond, "time between /healthz probes")
	fs.DurationVar(&o.probeTimeout, "probe-timeout", 2*time.Second, "longest a /healthz probe may take before it counts as failed")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q (modes: probe, bare)", fs.Arg(0))
	}
	for _, s := range strings.Split(*clients, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return o, fmt.Errorf("-clients %q: want positive numbers", *clients)
		}
		o.clients = append(o.clients, n)
	}
	o.serveArgs = strings.Fields(*serveArgs)
	for _, kv := range strings.Fields(*serveEnv) {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return o, fmt.Errorf("-serve-env %q: want NAME=VALUE", kv)
		}
		o.serveEnv = append(o.serveEnv, kv)
	}
	switch {
	case o.duration <= 0 || o.uploadPct < 0 || o.uploadPct > 100:
		return o, fmt.Errorf("-duration must be positive and -upload-percent within 0-100")
	case o.idle < 0 || o.startTimeout <= 0 || o.stopGrace <= 0 || o.probeEvery <= 0 || o.probeTimeout <= 0:
		return o, fmt.Errorf("-idle must be 0 or more; -start-timeout, -stop-grace, -probe-every and -probe-timeout positive")
	case o.inProcess && o.serverURL != "":
		return o, fmt.Errorf("-in-process and -server-url exclude each other")
	case !validName.MatchString(o.dbName):
		return o, fmt.Errorf("-database-name %q: want lowercase letters, digits and _", o.dbName)
	}
	if o.serverURL != "" {
		o.serverURL = strings.TrimRight(o.serverURL, "/")
		if u, err := url.Parse(o.serverURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return o, fmt.Errorf("-server-url %q: want http://host:port", o.serverURL)
		}
	}
	return o, nil
}

var validName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// run is geoseek-load: the load run, or one of the modes it re-executes
// itself in (the prober, the bare control server).
func run(ctx context.Context, args []string, out io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "probe":
			return runProbe(ctx, args[1:], out)
		case "bare":
			return runBare(ctx, args[1:], out)
		}
	}
	o, err := parse(args)
	if err != nil {
		return err
	}
	return load(ctx, o, out)
}

// load runs the phases against the server, with the prober and the control
// beside it, and stops every process it started before it returns.
func load(ctx context.Context, o options, out io.Writer) (err error) {
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	dbURL, err := database(ctx, o, logger)
	if err != nil {
		return err
	}
	pool, err := pg.Open(ctx, pg.Config{URL: dbURL, MaxConns: 4, StatementTimeout: 30 * time.Second, AppName: "geoseek-load"}, logger)
	if err != nil {
		return err
	}
	defer pool.Close()
	var stops []func() error
	// Stopped in reverse: the prober, the control, then the server.
	defer func() {
		for i := len(stops) - 1; i >= 0; i-- {
			err = errors.Join(err, stops[i]())
		}
	}()
	base, mode, stop, err := target(ctx, o, dbURL)
	if err != nil {
		return err
	}
	stops = append(stops, stop)
	probes, pstops, err := startProbes(ctx, o, base)
	stops = append(stops, pstops...)
	if err != nil {
		return err
	}
	maxClients := slices.Max(o.clients)
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
	fmt.Fprintf(out, "geoseek load: %d documents, pool %d, max in flight %d, %s per phase, %d%% uploads; %s\n",
		o.docs, o.poolSize, o.inFlight, o.duration, o.uploadPct, mode)
	fmt.Fprintf(out, "/healthz probes: every %s from a process of their own, a new connection each (as a load balancer's health check), to geoseek and to a bare net/http server (the control)\n", o.probeEvery)
	if o.idle > 0 {
		t0 := time.Now()
		if !sleep(ctx, o.idle+o.probeTimeout) {
			return ctx.Err()
		}
		printProbes(out, "no load", o.idle, probes, t0, t0.Add(o.idle))
	}
	for _, n := range o.clients {
		if ctx.Err() != nil {
			break
		}
		t0 := time.Now()
		rep := w.phase(ctx, n, o.duration)
		t1 := time.Now()
		rep.print(out)
		// Probes still out when the phase ended belong to it.
		sleep(ctx, o.probeTimeout)
		printProbes(out, fmt.Sprintf("%d clients", n), t1.Sub(t0), probes, t0, t1)
	}
	return ctx.Err()
}

// sleep waits d, or less if ctx ends first (then it returns false).
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// target makes the server the clients load: a geoseek serve child process
// (the default), the wired server in this process (-in-process), or one
// someone else runs (-server-url). It returns its base URL, a description
// for the report and how to stop it.
func target(ctx context.Context, o options, dbURL string) (string, string, func() error, error) {
	switch {
	case o.serverURL != "":
		return o.serverURL, "server at " + o.serverURL + " (started elsewhere)", func() error { return nil }, nil
	case o.inProcess:
		base, stop, err := serveInProcess(ctx, o, dbURL)
		return base, "server inside geoseek-load, beside the clients (-in-process)", func() error { stop(); return nil }, err
	}
	base, c, err := serveChild(ctx, o, dbURL)
	if err != nil {
		return "", "", nil, err
	}
	env := ""
	if len(o.serveEnv) > 0 {
		env = " with " + strings.Join(o.serveEnv, " ")
	}
	return base, fmt.Sprintf("geoseek serve in its own process (pid %d%s), clients in geoseek-load; all on this machine", c.pid(), env),
		func() error { return c.stop(o.stopGrace) }, nil
}

// serveChild builds geoseek (unless -geoseek-bin) and runs `geoseek serve`
// on the load database with serve's defaults, on a free loopback port, its
// log in <data-dir>/load/serve.log (the run before's in serve.log.1); it returns once /readyz answers 200.
func serveChild(ctx context.Context, o options, dbURL string) (string, *child, error) {
	bin := o.geoseekBin
	if bin == "" {
		tmp, err := os.MkdirTemp("", "geoseek-load-")
		if err != nil {
			return "", nil, fmt.Errorf("build dir: %w", err)
		}
		// The binary is open while it runs; removing its directory at
		// once leaves the running file intact on Linux.
		defer os.RemoveAll(tmp)
		if bin, err = buildGeoseek(ctx, tmp, os.Stderr); err != nil {
			return "", nil, err
		}
	}
	dir := filepath.Join(o.dataDir, "load")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", nil, fmt.Errorf("server dir: %w", err)
	}
	logPath := filepath.Join(dir, "serve.log")
	// The run before's log is kept beside it, for comparing two runs.
	if err := os.Rename(logPath, logPath+".1"); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", nil, fmt.Errorf("server log: %w", err)
	}
	logf, err := os.Create(logPath)
	if err != nil {
		return "", nil, fmt.Errorf("server log: %w", err)
	}
	// The child holds its own descriptor for the file.
	defer logf.Close()
	args := append([]string{"serve", "--addr", "127.0.0.1:0", "--database-url", dbURL, "--data-dir", dir,
		"--db-pool-size", strconv.Itoa(o.poolSize), "--max-in-flight", strconv.Itoa(o.inFlight),
		// As in the runs before: place names are not loaded (-serve-args
		// --places turns them on), and a stop takes seconds, not 20.
		"--places=false", "--shutdown-grace", "5s"}, o.serveArgs...)
	c, line, err := startAnnounced(ctx, bin, args, logf, "serving on http://", o.startTimeout, o.stopGrace, o.serveEnv...)
	if err != nil {
		return "", nil, fmt.Errorf("geoseek serve (log: %s): %w", logPath, err)
	}
	base, err := addrIn(line)
	if err == nil {
		err = waitReady(ctx, base+"/readyz", c, o.startTimeout)
	}
	if err != nil {
		return "", nil, errors.Join(fmt.Errorf("geoseek serve (log: %s): %w", logPath, err), c.stop(o.stopGrace))
	}
	return base, c, nil
}

// startProbes starts the bare control server and the prober, and the
// collection of the prober's figures.
func startProbes(ctx context.Context, o options, base string) (*samples, []func() error, error) {
	exe, err := selfExe()
	if err != nil {
		return nil, nil, err
	}
	var stops []func() error
	bare, line, err := startAnnounced(ctx, exe, []string{"bare"}, os.Stderr, "serving on http://", o.startTimeout, o.stopGrace)
	if err != nil {
		return nil, nil, fmt.Errorf("bare control server: %w", err)
	}
	stops = append(stops, func() error { return bare.stop(o.stopGrace) })
	bareURL, err := addrIn(line)
	if err != nil {
		return nil, stops, err
	}
	pr, pw := io.Pipe()
	p, err := startChild(exe, []string{"probe", "-every", o.probeEvery.String(), "-timeout", o.probeTimeout.String(),
		"geoseek=" + base + "/healthz", "bare=" + bareURL + "/healthz"}, pw, os.Stderr)
	if err != nil {
		return nil, stops, fmt.Errorf("prober: %w", err)
	}
	s := &samples{}
	read := make(chan struct{})
	go func() { defer close(read); s.read(pr) }()
	go func() { <-p.done; pw.Close() }()
	stops = append(stops, func() error { err := p.stop(o.stopGrace); <-read; return err })
	return s, stops, nil
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
	err = conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, o.dbName).Scan(&exists)
	if err == nil && !exists {
		_, err = conn.Exec(ctx, `CREATE DATABASE `+pgx.Identifier{o.dbName}.Sanitize())
	}
	conn.Close(ctx)
	if err != nil {
		return "", fmt.Errorf("create the load database: %w", err)
	}
	dbURL := pgtest.WithDatabase(base, o.dbName)
	mp, err := pg.Open(ctx, pg.Config{URL: dbURL, MaxConns: 2}, logger)
	if err != nil {
		return "", err
	}
	defer mp.Close()
	if _, err := migrations.Up(ctx, mp, logger); err != nil {
		return "", err
	}
	return dbURL, nil
}

// serveInProcess runs the wired server inside geoseek-load, with serve's
// default edge limits, on a loopback port; its access log is discarded.
func serveInProcess(ctx context.Context, o options, dbURL string) (string, func(), error) {
	pool, err := pg.Open(ctx, pg.Config{URL: dbURL, MaxConns: int32(o.poolSize), StatementTimeout: 30 * time.Second, AppName: "geoseek"}, slog.New(slog.DiscardHandler))
	if err != nil {
		return "", nil, err
	}
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
		pool.Close()
		return "", nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		pool.Close()
		return "", nil, err
	}
	sctx, cancel := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- a.Run(sctx, ln, nil) }()
	return "http://" + ln.Addr().String(), func() { cancel(); <-served; pool.Close() }, nil
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
