// Package bench holds geoseek's benchmark scenarios for `make bench`.
//
// Each domain registers scenarios (in this package, one file per domain) that
// load real data sizes once into the bench database, then measure geoseek and a
// baseline in the same run (for example the same SQL through pgx, discarding
// the bytes). `make bench` runs cmd/geoseek-bench, which prints one table:
// scenario, geoseek figure, baseline figure, ratio. Timings here are noisy;
// only ratios within one run are compared, never absolute times in tests.
package bench

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Env is what a scenario gets.
type Env struct {
	// Pool is on the bench database: migrated, persistent across runs, so a
	// scenario loads its data once (check before loading).
	Pool *pgxpool.Pool
	// DatabaseURL is the bench database's URL.
	DatabaseURL string
	// BaseURL is a geoseek server on loopback serving that database, e.g.
	// "http://127.0.0.1:41234"; Client talks to it.
	BaseURL string
	Client  *http.Client
	// AdminKey is an API key with read, write and admin scopes.
	AdminKey string
	// DataDir is the bench server's data dir (originals etc.).
	DataDir string
	Logger  *slog.Logger
	// Quick asks for small data and short runs (a smoke test of the scenario).
	Quick bool
	// SearchDocs, when set, is the size of the search corpus instead of
	// 1,000,000 (Quick: 20,000), for a machine that cannot load it all.
	SearchDocs int
	// TraceDir, when set, asks the map scenario for a browser trace of each
	// visit's moves, written there, and a log of its longest tasks.
	TraceDir string
}

// Result is one row of the table. For throughput figures higher is better and
// Ratio = Geoseek / Baseline; for latency figures (LowerIsBetter) Ratio =
// Baseline / Geoseek, so a ratio >= 1 always means geoseek is at least as good.
type Result struct {
	Scenario      string
	Geoseek       float64
	Baseline      float64
	Unit          string
	LowerIsBetter bool
	// Note says what the baseline is, or other context ("n=1,000,000").
	Note string
}

// Ratio is the figure of merit, see Result.
func (r Result) Ratio() float64 {
	if r.Geoseek == 0 || r.Baseline == 0 {
		return 0
	}
	if r.LowerIsBetter {
		return r.Baseline / r.Geoseek
	}
	return r.Geoseek / r.Baseline
}

// Scenario is a named benchmark.
type Scenario struct {
	// Name is area/what ("geo/items"), so sorting by name groups an area.
	Name string
	Run  func(ctx context.Context, env *Env) ([]Result, error)
}

var (
	mu       sync.Mutex
	registry []Scenario
)

// Register adds a scenario; call it from an init function.
func Register(s Scenario) {
	mu.Lock()
	defer mu.Unlock()
	registry = append(registry, s)
}

// Scenarios returns the registered scenarios sorted by name.
func Scenarios() []Scenario {
	mu.Lock()
	defer mu.Unlock()
	out := append([]Scenario(nil), registry...)
	sort.SliceStable(out, func(i, j int) bool {
		return out[i].Name < out[j].Name
	})
	return out
}

// Stats summarises a load run.
type Stats struct {
	N        int
	Errors   int
	Elapsed  time.Duration
	PerSec   float64
	P50, P95 time.Duration
	P99, Max time.Duration
	// CPUSelf and CPUPG are CPU time per successful call: of this process
	// (load generator, in-process server and pgx baselines) and of the
	// machine's PostgreSQL processes. Other processes' work on the machine
	// lands in them too, so they are for comparing sides of one run.
	CPUSelf, CPUPG time.Duration
}

// CPUNote says where a call's CPU went for geoseek (g) and its baseline (b).
func CPUNote(g, b Stats) string {
	us := func(d time.Duration) int64 { return d.Microseconds() }
	return fmt.Sprintf("CPU per call: geoseek %d µs in Go (client+server) + %d µs in PostgreSQL, baseline %d + %d µs",
		us(g.CPUSelf), us(g.CPUPG), us(b.CPUSelf), us(b.CPUPG))
}

// Load calls fn from `workers` goroutines until n calls are done or d has
// passed, whichever comes first (both bounds always apply, so a load run always
// stops by itself), and reports throughput and latency percentiles.
func Load(ctx context.Context, workers, n int, d time.Duration, fn func(ctx context.Context) error) Stats {
	return load(ctx, workers, n, d, fn).stats()
}

// Paired measures a (geoseek) and b (its baseline) alike, for scenarios that
// report their ratio. Each side is first warmed with the measuring
// concurrency for a tenth of the budget (so both find warm HTTP and database
// connections, PostgreSQL backends with their caches loaded, and server
// caches filled: a sequential warm-up leaves all but one of them cold, and
// whichever side ran first paid for it). Then they run in alternating rounds,
// a b b a a b …, each round with n/rounds calls and d/rounds time per side,
// so that load from other processes on the machine, which changes over
// seconds, falls on both sides alike. Throughput is over all rounds and the
// percentiles are those of every call of a side.
func Paired(ctx context.Context, workers, n, rounds int, d time.Duration, a, b func(ctx context.Context) error) (Stats, Stats) {
	rounds = max(rounds, 1)
	warm := max(workers*10, n/10)
	load(ctx, workers, warm, d/10, a)
	load(ctx, workers, warm, d/10, b)
	var ra, rb loadRun
	for i := range rounds {
		first, second := a, b
		if i%2 == 1 {
			first, second = b, a
		}
		r1 := load(ctx, workers, max(n/rounds, 1), d/time.Duration(rounds), first)
		r2 := load(ctx, workers, max(n/rounds, 1), d/time.Duration(rounds), second)
		if i%2 == 1 {
			r1, r2 = r2, r1
		}
		ra.add(r1)
		rb.add(r2)
	}
	return ra.stats(), rb.stats()
}

// loadRun is the raw outcome of load runs.
type loadRun struct {
	lat     []time.Duration
	errs    int
	elapsed time.Duration
	cpu     cpuTimes
}

func (r *loadRun) add(o loadRun) {
	r.lat = append(r.lat, o.lat...)
	r.errs += o.errs
	r.elapsed += o.elapsed
	r.cpu.self += o.cpu.self
	r.cpu.pg += o.cpu.pg
}

func (r loadRun) stats() Stats {
	st := Stats{N: len(r.lat), Errors: r.errs, Elapsed: r.elapsed}
	if st.Elapsed > 0 {
		st.PerSec = float64(st.N) / st.Elapsed.Seconds()
	}
	if st.N > 0 {
		st.CPUSelf = r.cpu.self / time.Duration(st.N)
		st.CPUPG = r.cpu.pg / time.Duration(st.N)
	}
	lat := r.lat
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if len(lat) > 0 {
		st.P50 = lat[len(lat)*50/100]
		st.P95 = lat[min(len(lat)-1, len(lat)*95/100)]
		st.P99 = lat[min(len(lat)-1, len(lat)*99/100)]
		st.Max = lat[len(lat)-1]
	}
	return st
}

func load(ctx context.Context, workers, n int, d time.Duration, fn func(ctx context.Context) error) loadRun {
	var (
		mu   sync.Mutex
		lat  []time.Duration
		errs int
		next int
		wg   sync.WaitGroup
	)
	cpu0 := readCPU()
	start := time.Now()
	// The run's time stops new calls; calls under way finish under ctx.
	// Cancelling them at the deadline measured the bench, not the service:
	// pgx closes a connection whose statement is cancelled (unless the
	// context asks for a cancel request, pg.WithCancelRequest), so every
	// run began with up to a worker's worth of new, cold backends, and
	// their first statements were the p99 (docs/performance.md, "Tail
	// latency at 8 connections").
	deadline := start.Add(d)
	over := func() bool { return ctx.Err() != nil || !time.Now().Before(deadline) }
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				if next >= n || over() {
					mu.Unlock()
					return
				}
				next++
				mu.Unlock()
				t0 := time.Now()
				err := fn(ctx)
				el := time.Since(t0)
				mu.Lock()
				if err != nil {
					if ctx.Err() == nil {
						errs++
					}
				} else {
					lat = append(lat, el)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return loadRun{lat: lat, errs: errs, elapsed: time.Since(start), cpu: readCPU().sub(cpu0)}
}
