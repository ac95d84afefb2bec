// Command geoseek serves PostgreSQL documents and photos as search results,
// GeoJSON and vector tiles. Run `geoseek help` for the subcommands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/geoseek/geoseek/internal/pg"
	"github.com/geoseek/geoseek/internal/pgcluster"
	"github.com/geoseek/geoseek/migrations"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// main only handles signals and the exit code; App does the work, so tests
// run the real program in-process.
func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	app := &App{Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}
	if err := app.Run(ctx, os.Args[1:]); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "geoseek:", err)
		}
		os.Exit(exitCode(err))
	}
}

func exitCode(err error) int {
	var u usageError
	if errors.As(err, &u) || errors.Is(err, flag.ErrHelp) {
		return 2
	}
	var e exitError
	if errors.As(err, &e) {
		return e.code
	}
	return 1
}

type usageError struct{ error }

// App is the geoseek program.
type App struct {
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	// Listener, if set, is used by serve instead of listening on --addr.
	Listener net.Listener
	// Started, if set, is called by serve with the bound address.
	Started func(addr string)
	// ProgressEvery is how often ingest writes a progress line where its
	// stderr is no terminal (default 5s).
	ProgressEvery time.Duration
	// HTTPClient, if set, is the client upload uses (tests).
	HTTPClient *http.Client
}

const usage = `geoseek — search and map a PostgreSQL database

Usage: geoseek <command> [flags]

Commands:
  serve     migrate, then serve HTTP on --addr (default 127.0.0.1:8080)
  migrate   apply database migrations and optional features (pgvector) and exit
  upload    send photos to a server over HTTP: upload [--concurrency N] [--dry-run] [--json] PATH...
  ingest    import photos from local directories: ingest [--concurrency N] [--move] [--json] [--quiet] DIR...
  reembed   queue re-embedding: reembed [--collection C] [--missing]
  keys      manage API keys: keys create --name N --scopes read,write,admin | keys list | keys revoke NAME|ID|PREFIX
  db        the private PostgreSQL cluster: db start | db stop | db url
  version   print the version

Run 'geoseek <command> -h' for the flags of a command: each lists the flags it
uses, and the environment variable that sets each. Flags may come before or
after a command's arguments.
`

// Run runs one subcommand.
func (a *App) Run(ctx context.Context, args []string) error {
	if a.Getenv == nil {
		a.Getenv = os.Getenv
	}
	if len(args) == 0 {
		fmt.Fprint(a.Stderr, usage)
		return usageError{errors.New("no command given")}
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return a.serve(ctx, rest)
	case "migrate":
		return a.migrate(ctx, rest)
	case "keys":
		return a.keys(ctx, rest)
	case "ingest":
		return a.ingestDirs(ctx, rest)
	case "upload":
		return a.upload(ctx, rest)
	case "reembed":
		return a.reembed(ctx, rest)
	case "db":
		return a.db(ctx, rest)
	case "version", "--version", "-version":
		fmt.Fprintln(a.Stdout, "geoseek", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(a.Stdout, usage)
		return nil
	default:
		fmt.Fprint(a.Stderr, usage)
		return usageError{fmt.Errorf("unknown command %q", cmd)}
	}
}

// databaseURL returns the configured database URL, or starts the private
// cluster under the data dir and returns its URL. Only a command that may
// create the cluster (serve, db start) creates one where the data dir has
// none; the others say how to point them at a database instead.
func (a *App) databaseURL(ctx context.Context, c *Config, logger *slog.Logger, create bool) (string, error) {
	if c.DatabaseURL != "" {
		return c.DatabaseURL, nil
	}
	dir := filepath.Join(c.DataDir, "pg")
	cl := &pgcluster.Cluster{Dir: dir, Port: c.PGPort, Logger: logger, Existing: !create}
	u, err := cl.Start(ctx)
	if errors.Is(err, pgcluster.ErrNoCluster) {
		abs, _ := filepath.Abs(dir)
		hint := ""
		if c.groups&gDatabaseURL != 0 {
			hint = "name a database with --database-url or DATABASE_URL, or "
		}
		return "", usageError{fmt.Errorf("no private PostgreSQL cluster in %s: "+
			"%sthe data dir of your cluster (the one geoseek serve uses) with --data-dir or GEOSEEK_DATA_DIR, "+
			"or create a cluster there with 'geoseek db start --data-dir %s'", abs, hint, c.DataDir)}
	}
	if err != nil {
		return "", fmt.Errorf("private PostgreSQL cluster (set DATABASE_URL to use another server): %w", err)
	}
	return u, nil
}

// openMigrated migrates the database and opens the pool. Migrations run on a
// short-lived pool first: the main pool registers the PostGIS and pgvector
// types when each connection opens, so it must open after they exist.
func (a *App) openMigrated(ctx context.Context, c *Config, logger *slog.Logger, create bool) (*pgxpool.Pool, migrations.Report, error) {
	u, err := a.databaseURL(ctx, c, logger, create)
	if err != nil {
		return nil, migrations.Report{}, err
	}
	mp, err := pg.Open(ctx, pg.Config{URL: u, MaxConns: 2, AppName: "geoseek-migrate"}, logger)
	if err != nil {
		return nil, migrations.Report{}, err
	}
	rep, err := migrations.Up(ctx, mp, logger)
	mp.Close()
	if err != nil {
		return nil, rep, err
	}
	pool, err := pg.Open(ctx, pg.Config{URL: u, MaxConns: int32(c.PoolSize), StatementTimeout: c.StatementTimeout, AppName: "geoseek"}, logger)
	return pool, rep, err
}

// session is what a database subcommand starts with: its configuration and
// arguments parsed, a logger, and a pool on the migrated database.
type session struct {
	cfg    *Config
	args   []string
	logger *slog.Logger
	pool   *pgxpool.Pool
	rep    migrations.Report
	// closeLog writes out what the logger holds; call it last.
	closeLog func() error
}

// open parses a subcommand's command line and opens its migrated database;
// the caller closes s.pool, then calls s.closeLog. Its log writes each line
// at once: these commands are run by hand.
func (a *App) open(ctx context.Context, sp spec, args []string) (*session, error) {
	return a.openLogged(ctx, sp, args, false)
}

// openLogged is open with a choice of log: buffered holds lines below Warn
// for up to --log-flush (the server's access log is a line per request; see
// internal/logging).
func (a *App) openLogged(ctx context.Context, sp spec, args []string, buffered bool) (*session, error) {
	c, pos, err := a.parse(sp, args)
	if err != nil {
		return nil, err
	}
	var flush time.Duration
	if buffered {
		flush = c.LogFlush
	}
	s := &session{cfg: c, args: pos}
	s.logger, s.closeLog = c.bufferedLogger(a.Stderr, flush)
	if s.pool, s.rep, err = a.openMigrated(ctx, c, s.logger, sp.createCluster); err != nil {
		_ = s.closeLog()
		return nil, err
	}
	return s, nil
}

func (a *App) migrate(ctx context.Context, args []string) error {
	s, err := a.open(ctx, spec{
		name:   "migrate",
		about:  "Apply database migrations and optional features (pgvector), then exit. Safe to run\nfrom several processes at once.",
		groups: gDatabase,
	}, args)
	if err != nil {
		return err
	}
	s.pool.Close()
	rep := s.rep
	fmt.Fprintf(a.Stdout, "schema version %d (%d applied now)\n", rep.Version, len(rep.Applied))
	for name, v := range rep.Enabled {
		fmt.Fprintf(a.Stdout, "feature %s: enabled (extension %s)\n", name, v)
	}
	for _, name := range rep.Unavailable {
		fmt.Fprintf(a.Stdout, "feature %s: unavailable (extension not installed on the server)\n", name)
	}
	return nil
}

// dbSpecs are the db subcommands. Only start creates a cluster; url starts
// an existing one.
func dbSpecs() []spec {
	return []spec{
		{name: "db start", short: "create the cluster if needed, start it, print its URL", about: "Create the private PostgreSQL cluster under <data-dir>/pg if there is none,\nstart it unless it runs, and print its URL.", groups: gDataDir | gPGPort | gLog, createCluster: true},
		{name: "db stop", short: "stop the cluster", about: "Stop the private PostgreSQL cluster under <data-dir>/pg if it runs.", groups: gDataDir | gLog},
		{name: "db url", short: "start the existing cluster if needed, print its URL", about: "Print the URL of the private PostgreSQL cluster under <data-dir>/pg, starting it\nif it is stopped (it must exist: see db start).", groups: gDataDir | gLog},
	}
}

func (a *App) db(ctx context.Context, args []string) error {
	sp, rest, err := a.dispatch("db", dbSpecs(), args)
	if err != nil {
		return err
	}
	c, _, err := a.parse(sp, rest)
	if err != nil {
		return err
	}
	switch sp.name {
	case "db start", "db url":
		ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
		defer cancel()
		u, err := a.databaseURL(ctx, c, c.logger(a.Stderr), sp.createCluster)
		if err != nil {
			return err
		}
		fmt.Fprintln(a.Stdout, u)
		return nil
	default:
		cl := &pgcluster.Cluster{Dir: filepath.Join(c.DataDir, "pg"), Logger: c.logger(a.Stderr)}
		return cl.Stop(ctx)
	}
}
