// Package migrations owns geoseek's schema: goose v3 SQL migrations embedded
// in the binary (sql/), the current definitions of trigger functions and their
// triggers (functions/), River's queue tables, and optional features
// (features/) applied when their extension is available, such as pgvector.
//
// Up is safe to run from several processes at once: it holds a PostgreSQL
// advisory lock for the whole run, so the second process waits and then finds
// nothing to do.
package migrations

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
)

//go:embed sql/*.sql
var sqlFiles embed.FS

//go:embed features/*.sql
var featureFiles embed.FS

//go:embed functions/*.sql
var functionFiles embed.FS

// lockKey is the advisory lock held while migrating ("geoseek" in ASCII).
const lockKey int64 = 0x67656f7365656b

// Feature is an optional part of the schema.
type Feature struct {
	Name string
	// Extension is the PostgreSQL extension it needs.
	Extension string
}

// Features lists the optional features in the order they are applied.
var Features = []Feature{{Name: "vector", Extension: "vector"}}

// Report says what a run of Up did and what the schema now has.
type Report struct {
	// Version is the goose version after the run; Applied the versions this run applied.
	Version int64
	Applied []int64
	// Functions lists the files of functions/ this run applied.
	Functions []string
	// Enabled lists the optional features present after the run, with the
	// extension version; Unavailable those whose extension the server lacks.
	Enabled     map[string]string
	Unavailable []string
}

// Up applies all pending migrations, the function files that changed (all of
// them when a migration was applied), River's migrations, and every optional
// feature whose extension the server has.
func Up(ctx context.Context, pool *pgxpool.Pool, logger *slog.Logger) (Report, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var rep Report
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return rep, fmt.Errorf("migrations: acquire: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, lockKey); err != nil {
		return rep, fmt.Errorf("migrations: lock: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, lockKey) //nolint:errcheck

	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	p, err := provider(db)
	if err != nil {
		return rep, err
	}
	results, err := p.Up(ctx)
	if err != nil {
		return rep, fmt.Errorf("migrations: goose up: %w", err)
	}
	for _, r := range results {
		rep.Applied = append(rep.Applied, r.Source.Version)
		logger.Info("migration applied", "version", r.Source.Version, "file", r.Source.Path, "duration", r.Duration)
	}
	if rep.Version, err = p.GetDBVersion(ctx); err != nil {
		return rep, fmt.Errorf("migrations: version: %w", err)
	}

	if rep.Functions, err = applyFunctions(ctx, conn, len(rep.Applied) > 0); err != nil {
		return rep, err
	}
	for _, f := range rep.Functions {
		logger.Info("function file applied", "file", f)
	}

	rm, err := rivermigrate.New(riverpgxv5.New(pool), nil)
	if err != nil {
		return rep, fmt.Errorf("migrations: river: %w", err)
	}
	if res, err := rm.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return rep, fmt.Errorf("migrations: river up: %w", err)
	} else if len(res.Versions) > 0 {
		logger.Info("river migrations applied", "count", len(res.Versions))
	}
	if rep.Enabled, rep.Unavailable, err = applyFeatures(ctx, conn, logger); err != nil {
		return rep, err
	}
	return rep, nil
}

// applyFunctions applies, in file order and in one transaction, the files of
// functions/ whose content differs from what schema_functions records, or all
// of them when force is set (a migration ran and may have replaced a table a
// trigger is on). Each file holds CREATE OR REPLACE statements only, so
// applying it again gives the same schema. It returns the files applied.
func applyFunctions(ctx context.Context, conn *pgxpool.Conn, force bool) ([]string, error) {
	names, err := fs.Glob(functionFiles, "functions/*.sql")
	if err != nil {
		return nil, fmt.Errorf("migrations: functions: %w", err)
	}
	var applied []string
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		for _, name := range names {
			body, err := functionFiles.ReadFile(name)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(body)
			file := path.Base(name)
			var stored []byte
			err = tx.QueryRow(ctx, `SELECT sha256 FROM schema_functions WHERE file = $1`, file).Scan(&stored)
			if err != nil && !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
			if !force && bytes.Equal(stored, sum[:]) {
				continue
			}
			if _, err := tx.Exec(ctx, string(body)); err != nil {
				return fmt.Errorf("%s: %w", file, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_functions (file, sha256) VALUES ($1, $2)
				ON CONFLICT (file) DO UPDATE SET sha256 = EXCLUDED.sha256, applied_at = now()`, file, sum[:]); err != nil {
				return err
			}
			applied = append(applied, file)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("migrations: functions: %w", err)
	}
	return applied, nil
}

// applyFeatures applies every optional feature whose extension the server
// has, each in its own transaction, and reports the features present.
func applyFeatures(ctx context.Context, conn *pgxpool.Conn, logger *slog.Logger) (map[string]string, []string, error) {
	var unavailable []string
	for _, f := range Features {
		var available bool
		if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = $1)`, f.Extension).Scan(&available); err != nil {
			return nil, nil, fmt.Errorf("migrations: feature %s: %w", f.Name, err)
		}
		if !available {
			unavailable = append(unavailable, f.Name)
			// Debug: every command migrates first, and each caller says
			// what the missing feature means to it (serve warns once,
			// migrate prints it); ingest --quiet must stay quiet.
			logger.Debug("optional feature not available: its extension is not installed on the server", "feature", f.Name, "extension", f.Extension)
			continue
		}
		body, err := featureFiles.ReadFile("features/" + f.Name + ".sql")
		if err != nil {
			return nil, nil, fmt.Errorf("migrations: feature %s: %w", f.Name, err)
		}
		err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, string(body)); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `
				INSERT INTO schema_features (name, version)
				SELECT $1, extversion FROM pg_extension WHERE extname = $2
				ON CONFLICT (name) DO UPDATE SET version = EXCLUDED.version
				WHERE schema_features.version IS DISTINCT FROM EXCLUDED.version`, f.Name, f.Extension)
			return err
		})
		if err != nil {
			return nil, nil, fmt.Errorf("migrations: feature %s: %w", f.Name, err)
		}
	}
	rows, err := conn.Query(ctx, `SELECT name, version FROM schema_features`)
	if err != nil {
		return nil, nil, fmt.Errorf("migrations: features: %w", err)
	}
	enabled, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) ([2]string, error) {
		var nv [2]string
		err := r.Scan(&nv[0], &nv[1])
		return nv, err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("migrations: features: %w", err)
	}
	out := make(map[string]string, len(enabled))
	for _, nv := range enabled {
		out[nv[0]] = nv[1]
	}
	return out, unavailable, nil
}

// Status is the schema's state as /readyz reports it.
type Status struct {
	Version int64 `json:"version"`
	Latest  int64 `json:"latest"`
	Current bool  `json:"current"`
}

// Latest is the newest migration version embedded in this binary.
func Latest() (int64, error) {
	vs, err := Versions()
	if err != nil {
		return 0, err
	}
	var latest int64
	for _, v := range vs {
		latest = max(latest, v)
	}
	return latest, nil
}

// Versions lists the migration versions embedded in this binary.
func Versions() ([]int64, error) {
	entries, err := fs.Glob(sqlFiles, "sql/*.sql")
	if err != nil {
		return nil, err
	}
	var out []int64
	for _, e := range entries {
		v, err := goose.NumericComponent(e)
		if err != nil {
			return nil, fmt.Errorf("migrations: %s: %w", e, err)
		}
		out = append(out, v)
	}
	return out, nil
}

// CurrentStatus compares the database's schema version with this binary's.
// It is a single cheap query, fit for a readiness probe.
func CurrentStatus(ctx context.Context, pool *pgxpool.Pool) (Status, error) {
	latest, err := Latest()
	if err != nil {
		return Status{}, err
	}
	st := Status{Latest: latest}
	// Current means every embedded migration is applied (databases migrated
	// before the numbers were strictly increasing may have applied them out
	// of order, so compare the sets, not just the maximum).
	versions, err := Versions()
	if err != nil {
		return st, err
	}
	var missing int
	err = pool.QueryRow(ctx, `SELECT coalesce((SELECT max(version_id) FROM goose_db_version WHERE is_applied), 0),
		(SELECT count(*) FROM unnest($1::bigint[]) v WHERE NOT EXISTS (SELECT 1 FROM goose_db_version g WHERE g.version_id = v AND g.is_applied))`,
		versions).Scan(&st.Version, &missing)
	if err != nil && !isUndefinedTable(err) {
		return st, fmt.Errorf("migrations: status: %w", err)
	}
	if err != nil {
		missing = len(versions)
	}
	st.Current = missing == 0
	return st, nil
}

func provider(db *sql.DB) (*goose.Provider, error) {
	sub, err := fs.Sub(sqlFiles, "sql")
	if err != nil {
		return nil, err
	}
	return providerFS(db, sub)
}

func providerFS(db *sql.DB, sub fs.FS) (*goose.Provider, error) {
	// Files are numbered strictly above the latest (TestMigrationNumbersIncrease),
	// so a database missing a file below its version has a history no other
	// database has: refuse to migrate it rather than apply files out of order.
	p, err := goose.NewProvider(goose.DialectPostgres, db, sub,
		goose.WithAllowOutofOrder(false), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return nil, fmt.Errorf("migrations: goose: %w", err)
	}
	return p, nil
}

func isUndefinedTable(err error) bool {
	type coder interface{ SQLState() string }
	var c coder
	return errors.As(err, &c) && c.SQLState() == "42P01"
}

// Files exposes the embedded migration files (for tests and template hashing).
func Files() fs.FS { return sqlFiles }

// FeatureFiles exposes the embedded feature files.
func FeatureFiles() fs.FS { return featureFiles }

// FunctionFiles exposes the embedded function files.
func FunctionFiles() fs.FS { return functionFiles }
