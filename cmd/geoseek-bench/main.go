// Command geoseek-bench runs the benchmark scenarios registered in
// cmd/geoseek-bench/bench (`make bench`) and prints one table: scenario, geoseek
// figure, baseline figure, ratio.
//
// Data lives in a persistent database (geoseek_bench on the private cluster,
// or -database-url), so the large loads happen once; later runs reuse them. A
// geoseek server (the same wiring as `geoseek serve`) runs in-process on a
// loopback port for the scenarios that measure over HTTP.
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
	"regexp"
	"runtime/pprof"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/geoseek/geoseek/cmd/geoseek-bench/bench"
	"github.com/geoseek/geoseek/cmd/geoseek/app"
	"github.com/geoseek/geoseek/ingest"
	"github.com/geoseek/geoseek/internal/auth"
	"github.com/geoseek/geoseek/internal/logging"
	"github.com/geoseek/geoseek/internal/pg"
	"github.com/geoseek/geoseek/internal/pgcluster"
	"github.com/geoseek/geoseek/internal/pgtest"
	"github.com/geoseek/geoseek/migrations"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "geoseek-bench:", err)
		os.Exit(1)
	}
}

// options are geoseek-bench's flags.
type options struct {
	runRe, dbURL, dataDir, client, cpuProfile string
	traceDir                                  string
	quick, list, verbose                      bool
	searchDocs                                int
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("geoseek-bench", flag.ContinueOnError)
	fs.StringVar(&o.runRe, "run", "", "only scenarios whose name matches this regexp")
	fs.BoolVar(&o.quick, "quick", false, "small data and short runs: a smoke test of every scenario")
	fs.StringVar(&o.dbURL, "database-url", os.Getenv("GEOSEEK_BENCH_DATABASE_URL"), "server for the bench database (default: the private cluster)")
	fs.StringVar(&o.dataDir, "data-dir", "data", "data dir (the private cluster lives in <data-dir>/pg)")
	fs.BoolVar(&o.list, "list", false, "list the scenarios and exit")
	fs.BoolVar(&o.verbose, "v", false, "log progress")
	fs.StringVar(&o.client, "client", "lean", "load generator's HTTP client: lean (bench.Transport, one goroutine per request) or std (net/http's Transport)")
	fs.IntVar(&o.searchDocs, "search-docs", 0, "size of the search corpus (default 1,000,000, -quick 20,000); a larger collection is used as it is")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run (load client, server and baselines alike) to this file")
	fs.StringVar(&o.traceDir, "trace", "", "map scenario: record a browser trace of each visit's moves into this dir and log its longest tasks (the figures of a traced run are not comparable)")
	return o, fs.Parse(args)
}

func run(ctx context.Context, args []string, out io.Writer) error {
	o, err := parseFlags(args)
	if err != nil {
		return err
	}
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	scenarios, err := selectScenarios(o.runRe)
	if err != nil {
		return err
	}
	if o.list {
		for _, s := range scenarios {
			fmt.Fprintln(out, s.Name)
		}
		return nil
	}
	level := slog.LevelWarn
	if o.verbose {
		level = slog.LevelInfo
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	url, rep, err := prepareDatabase(ctx, o, logger)
	if err != nil {
		return err
	}
	pool, err := pg.Open(ctx, pg.Config{URL: url, MaxConns: 32, StatementTimeout: 10 * time.Minute, AppName: "geoseek-bench"}, logger)
	if err != nil {
		return err
	}
	defer pool.Close()
	env, stop, err := startServer(ctx, o, pool, url, logger)
	if err != nil {
		return err
	}
	defer stop()
	fmt.Fprintf(out, "geoseek benchmarks (%d scenarios%s); pgvector: %v\n", len(scenarios), map[bool]string{true: ", quick", false: ""}[o.quick], rep.Enabled["vector"] != "")
	return runScenarios(ctx, env, scenarios, out)
}

// selectScenarios returns the registered scenarios whose name matches runRe
// (all when it is empty).
func selectScenarios(runRe string) ([]bench.Scenario, error) {
	scenarios := bench.Scenarios()
	if runRe == "" {
		return scenarios, nil
	}
	re, err := regexp.Compile(runRe)
	if err != nil {
		return nil, fmt.Errorf("-run: %w", err)
	}
	var keep []bench.Scenario
	for _, s := range scenarios {
		if re.MatchString(s.Name) {
			keep = append(keep, s)
		}
	}
	return keep, nil
}

// prepareDatabase starts the private cluster unless -database-url names a
// server, creates the bench database if needed and migrates it; it returns
// the database's URL.
func prepareDatabase(ctx context.Context, o options, logger *slog.Logger) (string, migrations.Report, error) {
	base := o.dbURL
	if base == "" {
		u, err := (&pgcluster.Cluster{Dir: filepath.Join(o.dataDir, "pg"), Logger: logger}).Start(ctx)
		if err != nil {
			return "", migrations.Report{}, err
		}
		base = u
	}
	name := "geoseek_bench"
	if o.quick {
		name = "geoseek_bench_quick"
	}
	if err := ensureDB(ctx, base, name); err != nil {
		return "", migrations.Report{}, err
	}
	url := pgtest.WithDatabase(base, name)
	mp, err := pg.Open(ctx, pg.Config{URL: url, MaxConns: 2}, logger)
	if err != nil {
		return "", migrations.Report{}, err
	}
	defer mp.Close()
	rep, err := migrations.Up(ctx, mp, logger)
	return url, rep, err
}

// startServer runs geoseek on a loopback port over pool, logging as
// `geoseek serve` does, and returns the scenarios' environment (with an
// admin key) and the function that stops the server.
func startServer(ctx context.Context, o options, pool *pgxpool.Pool, url string, logger *slog.Logger) (*bench.Env, func(), error) {
	hc := &http.Client{Transport: &bench.Transport{}}
	switch o.client {
	case "lean":
	case "std":
		hc = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 5 * time.Minute}
	default:
		return nil, nil, fmt.Errorf("-client: %q is neither lean nor std", o.client)
	}
	benchData := filepath.Join(o.dataDir, "bench")
	// The server logs as `geoseek serve` does by default (text, info, lines
	// buffered for up to a second), into /dev/null: its access log costs
	// here what it costs in production, formatting and writes included.
	devNull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return nil, nil, err
	}
	serverLog, closeLog := logging.New(devNull, "text", slog.LevelInfo, time.Second)
	closeAll := func() { _ = closeLog(); devNull.Close() }
	a, err := app.New(ctx, app.Options{
		Addr: "127.0.0.1:0", DataDir: benchData, RequestTimeout: 5 * time.Minute,
		ShutdownGrace: 5 * time.Second,
		// Place names load for a minute or two in the background: not during a benchmark.
		SkipPlaces: true,
		// The upload scenario resumes a 1 GB file.
		Ingest: ingest.Config{MaxFileBytes: 2 << 30},
	}, pool, serverLog)
	if err != nil {
		closeAll()
		return nil, nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		closeAll()
		return nil, nil, err
	}
	sctx, cancel := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- a.Run(sctx, ln, nil) }()
	stop := func() { cancel(); <-served; closeAll() }
	// The server builds its time zone finder in the background at start
	// (most of a CPU second): let it finish before anything is measured.
	if err := ingest.LoadTimeZones(); err != nil {
		stop()
		return nil, nil, err
	}
	_, key, err := auth.NewStore(pool).Create(ctx, "bench", []auth.Scope{auth.Admin})
	if err != nil {
		stop()
		return nil, nil, err
	}
	return &bench.Env{
		Pool: pool, DatabaseURL: url, BaseURL: "http://" + ln.Addr().String(),
		Client:   hc,
		AdminKey: key, DataDir: benchData, Logger: logger, Quick: o.quick, SearchDocs: o.searchDocs,
		TraceDir: o.traceDir,
	}, stop, nil
}

// runScenarios runs each scenario in turn, prints the table of results and
// returns an error naming the scenarios that failed.
func runScenarios(ctx context.Context, env *bench.Env, scenarios []bench.Scenario, out io.Writer) error {
	var results []bench.Result
	var failed []string
	for _, s := range scenarios {
		if ctx.Err() != nil {
			break
		}
		t0 := time.Now()
		fmt.Fprintf(os.Stderr, "== %s\n", s.Name)
		rs, err := s.Run(ctx, env)
		if err != nil {
			failed = append(failed, fmt.Sprintf("%s: %v", s.Name, err))
			fmt.Fprintf(os.Stderr, "   FAILED after %s: %v\n", time.Since(t0).Round(time.Millisecond), err)
			continue
		}
		fmt.Fprintf(os.Stderr, "   done in %s\n", time.Since(t0).Round(time.Millisecond))
		results = append(results, rs...)
	}
	printTable(out, results)
	if len(failed) > 0 {
		return errors.New("scenarios failed:\n  " + strings.Join(failed, "\n  "))
	}
	return nil
}

func printTable(out io.Writer, results []bench.Result) {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', tabwriter.AlignRight)
	// The note is left out of the cells (no tab after it): a long note
	// would otherwise pad every line of the table to its width.
	fmt.Fprintln(tw, "scenario\tgeoseek\tbaseline\tunit\tratio\t  note")
	for _, r := range results {
		ratio := "n/a"
		if r.Ratio() != 0 {
			ratio = fmt.Sprintf("%.2f", r.Ratio())
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t  %s\n", r.Scenario, num(r.Geoseek), num(r.Baseline), r.Unit, ratio, r.Note)
	}
	tw.Flush()
	fmt.Fprintln(out, "ratio >= 1 means geoseek is at least as good as the baseline (throughput: geoseek/baseline; latency: baseline/geoseek)")
}

func num(v float64) string {
	switch {
	case v == 0:
		return "-"
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 1:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.3f", v)
	}
}

func ensureDB(ctx context.Context, base, name string) error {
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return err
	}
	if exists {
		return nil
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	return err
}
