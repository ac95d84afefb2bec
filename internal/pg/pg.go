// Package pg opens geoseek's pgx pool: statement timeout on every connection,
// PostGIS geometry and pgvector types registered when those extensions exist,
// and a translation of driver errors into the domain errors of internal/problem.
package pg

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/pgxpool"
	pgxvec "github.com/pgvector/pgvector-go/pgx"
	pgxgeom "github.com/twpayne/pgx-geom"
)

// Config is what the pool needs from geoseek's configuration.
type Config struct {
	URL string
	// MaxConns caps the pool; 0 keeps pgxpool's default (max(4, NumCPU)).
	MaxConns int32
	// StatementTimeout bounds every statement server-side so a runaway query
	// cannot hold a connection forever; 0 leaves the server default.
	StatementTimeout time.Duration
	// AppName shows in pg_stat_activity.
	AppName string
}

// Open creates the pool and checks that the server answers.
func Open(ctx context.Context, cfg Config, logger *slog.Logger) (*pgxpool.Pool, error) {
	pc, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("pg: parse database URL: %w", err)
	}
	if cfg.MaxConns > 0 {
		pc.MaxConns = cfg.MaxConns
	}
	rp := pc.ConnConfig.RuntimeParams
	if cfg.StatementTimeout > 0 {
		rp["statement_timeout"] = fmt.Sprint(cfg.StatementTimeout.Milliseconds())
	}
	if cfg.AppName != "" {
		rp["application_name"] = cfg.AppName
	}
	// JIT compilation pays off for long analytical scans; geoseek's queries
	// are index-driven or bounded, and JIT's compile step took 1.7 s of a
	// 3.5 s facets query here. A URL that sets jit keeps its choice.
	if _, ok := rp["jit"]; !ok {
		rp["jit"] = "off"
	}
	// Parallel query is off for the same reason. geoseek runs many small
	// statements at once, and a parallel plan starts its workers anew for
	// each statement: every worker is a new process that loads PostGIS and
	// fills its caches before it reads a row. PostGIS declares ST_Intersects
	// and its kin expensive (COST 10000), so the planner chose two workers
	// for a small bbox query, which then ran slower and busied three
	// processes instead of one (docs/performance.md, "Parallel query off").
	// A URL that sets it keeps its
	// choice. Statements that aggregate a whole large set turn it back on
	// for themselves (WholeSetParallel).
	if _, ok := rp["max_parallel_workers_per_gather"]; !ok {
		rp["max_parallel_workers_per_gather"] = "0"
	}
	// Lock and idle-in-transaction timeouts follow the statement timeout so a
	// stuck client cannot block writers indefinitely.
	if cfg.StatementTimeout > 0 {
		rp["idle_in_transaction_session_timeout"] = fmt.Sprint((2 * cfg.StatementTimeout).Milliseconds())
	}
	// Statements of a request whose context ends are stopped with a cancel
	// request and keep their connection (WithCancelRequest).
	pc.ConnConfig.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &cancelHandler{
			cancel:   pgconn.CancelRequestContextWatcherHandler{Conn: c, DeadlineDelay: CancelWait},
			deadline: pgconn.DeadlineContextWatcherHandler{Conn: c.Conn()},
		}
	}
	// Connections opened together (at start, or after an outage) would
	// otherwise all expire in the same minute, and each replacement pays a
	// new backend's first statements at once (docs/performance.md). A URL
	// that sets pool_max_conn_lifetime_jitter keeps its choice.
	if pc.MaxConnLifetimeJitter == 0 {
		pc.MaxConnLifetimeJitter = pc.MaxConnLifetime / 4
	}
	pc.AfterConnect = RegisterTypes
	if pc.ConnConfig.Tracer == nil {
		pc.ConnConfig.Tracer = acquireTracer{}
	}
	// A broken server must not hang start-up or /readyz for long.
	if pc.ConnConfig.ConnectTimeout == 0 || pc.ConnConfig.ConnectTimeout > 10*time.Second {
		pc.ConnConfig.ConnectTimeout = 5 * time.Second
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("pg: open pool: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("pg: connect to %s: %w", redact(pc.ConnConfig), err)
	}
	return pool, nil
}

// RegisterTypes registers the geometry (go-geom) and vector (pgvector-go) types
// on a new connection when the database has them. Before migrations ran, or
// without pgvector, the types are absent and simply not registered.
func RegisterTypes(ctx context.Context, conn *pgx.Conn) error {
	var hasGeom, hasVec bool
	err := conn.QueryRow(ctx, `SELECT to_regtype('geometry') IS NOT NULL, to_regtype('vector') IS NOT NULL`).Scan(&hasGeom, &hasVec)
	if err != nil {
		return fmt.Errorf("pg: look up extension types: %w", err)
	}
	if hasGeom {
		if err := pgxgeom.Register(ctx, conn); err != nil {
			return fmt.Errorf("pg: register geometry: %w", err)
		}
	}
	if hasVec {
		if err := pgxvec.RegisterTypes(ctx, conn); err != nil {
			return fmt.Errorf("pg: register vector: %w", err)
		}
	}
	return nil
}

func redact(c *pgx.ConnConfig) string {
	return fmt.Sprintf("%s@%s:%d/%s", c.User, c.Host, c.Port, c.Database)
}

// WholeSetParallel, sent in the same batch (one implicit transaction) ahead
// of a statement, lets that statement alone use two parallel workers
// (PostgreSQL's default), against the sessions' default of none (see Open).
// It is for statements that read a whole matched set, where starting the
// workers is small next to the scan: facets of a term matching 602,000 of
// 1,000,000 documents took 2.2-2.5 s with two workers and 4.6-5.0 s alone.
// A batch's statements are named prepared statements, so it also keeps the
// statement on custom plans, planned for its values as the unnamed
// statements of QueryExecModeCacheDescribe are.
const WholeSetParallel = `SELECT set_config('max_parallel_workers_per_gather', '2', true), set_config('plan_cache_mode', 'force_custom_plan', true)`

// CloseWithin closes pool, waiting at most d: pgxpool.Close waits for every
// connection in use to come back and gives each closing connection up to
// 15 s, so against a database that stopped answering (a frozen host, a cut
// network) it would hold a process's exit that long. Past d the connections
// are left to the process's exit (the server ends their sessions when it
// notices, bounded by its own timeouts).
func CloseWithin(pool *pgxpool.Pool, d time.Duration, logger *slog.Logger) {
	done := make(chan struct{})
	go func() {
		pool.Close()
		close(done)
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		if logger != nil {
			logger.Warn("database connections did not close in time (the database does not answer); leaving them to the exit", "waited", d)
		}
	}
}
