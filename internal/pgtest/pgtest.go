// Package pgtest gives tests a real PostgreSQL database of their own.
//
// The server is GEOSEEK_TEST_DATABASE_URL (or DATABASE_URL) when set, else the
// repo's private cluster (started on first use, shared by all test processes).
// A migrated template database is built once per schema version (its name
// carries a hash of the migration files and of the extensions available), and
// each test clones it with CREATE DATABASE … TEMPLATE, which takes tens of
// milliseconds, so tests run in parallel without seeing each other's rows.
package pgtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/geoseek/geoseek/internal/pg"
	"github.com/geoseek/geoseek/internal/pgcluster"
	"github.com/geoseek/geoseek/migrations"
)

var (
	serverOnce sync.Once
	serverURL  string
	serverErr  error
	tplOnce    sync.Once
	tplName    string
	tplErr     error
	vectorOK   bool
)

// ServerURL returns the URL of the test server's maintenance database,
// starting the private cluster if needed. It fails the test if no server can
// be had.
func ServerURL(t testing.TB) string {
	t.Helper()
	serverOnce.Do(func() {
		if u := os.Getenv("GEOSEEK_TEST_DATABASE_URL"); u != "" {
			serverURL = u
			return
		}
		if u := os.Getenv("DATABASE_URL"); u != "" {
			serverURL = u
			return
		}
		root, err := RepoRoot()
		if err != nil {
			serverErr = err
			return
		}
		dataDir := os.Getenv("GEOSEEK_DATA_DIR")
		if dataDir == "" {
			dataDir = filepath.Join(root, "data")
		}
		c := &pgcluster.Cluster{Dir: filepath.Join(dataDir, "pg")}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		serverURL, serverErr = c.Start(ctx)
		serverURL = fastCommit(serverURL)
	})
	if serverErr != nil {
		t.Fatalf("pgtest: no PostgreSQL server: %v", serverErr)
	}
	return serverURL
}

// fastCommit makes the tests' sessions commit without waiting for the WAL
// flush: a test database is thrown away, so a crash losing its last commits
// costs nothing, while the private cluster itself keeps what it acknowledged
// for `make run`. A URL that is not of the private cluster is left alone.
func fastCommit(u string) string {
	pu, err := url.Parse(u)
	if err != nil || pu.Scheme == "" {
		return u
	}
	q := pu.Query()
	q.Set("synchronous_commit", "off")
	pu.RawQuery = q.Encode()
	return pu.String()
}

// RepoRoot is the directory holding go.mod, found from the working directory.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("pgtest: go.mod not found above the working directory")
		}
		dir = parent
	}
}

// WithDatabase returns u pointing at database name.
func WithDatabase(u, name string) string {
	pu, err := url.Parse(u)
	if err != nil || pu.Scheme == "" {
		// keyword/value form
		return u + " dbname=" + name
	}
	pu.Path = "/" + name
	return pu.String()
}

// DB is one test's database.
type DB struct {
	Name string
	URL  string
	Pool *pgxpool.Pool
}

// New creates a fresh migrated database for t, dropped when t ends, and a pool
// on it (types registered, closed when t ends).
func New(t testing.TB) *DB {
	t.Helper()
	db := NewEmpty(t, template(t))
	pool, err := pg.Open(context.Background(), pg.Config{URL: db.URL, MaxConns: 8, StatementTimeout: time.Minute}, nil)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(pool.Close)
	db.Pool = pool
	return db
}

// NewEmpty creates a database cloned from template (or empty when template is
// ""), dropped when t ends. It opens no pool.
func NewEmpty(t testing.TB, template string) *DB {
	t.Helper()
	base := ServerURL(t)
	ctx := context.Background()
	// The creating process's pid is in the name, so a later run can drop
	// the databases of test processes that were killed before cleanup.
	name := fmt.Sprintf("geoseek_test_%d_%s", os.Getpid(), randHex(4))
	q := "CREATE DATABASE " + pgx.Identifier{name}.Sanitize()
	if template != "" {
		q += " TEMPLATE " + pgx.Identifier{template}.Sanitize()
	}
	if err := execWithRetry(ctx, base, q); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		if err := execWithRetry(context.Background(), base, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Logf("pgtest: drop %s: %v", name, err)
		}
	})
	return &DB{Name: name, URL: WithDatabase(base, name)}
}

// VectorAvailable reports whether the server has the pgvector extension. Tests
// that need it call RequireVector instead.
func VectorAvailable(t testing.TB) bool {
	template(t)
	return vectorOK
}

// RequireVector skips t, loudly, when pgvector is not installed. Never fake it.
func RequireVector(t testing.TB) {
	t.Helper()
	if !VectorAvailable(t) {
		fmt.Fprintf(os.Stderr, "SKIP: pgvector not installed (%s)\n", t.Name())
		t.Skip("SKIP: pgvector not installed: the vector extension is not available on this PostgreSQL server")
	}
}

// template returns the migrated template database's name, building it once per
// schema version across all test processes (an advisory lock serialises them).
func template(t testing.TB) string {
	t.Helper()
	base := ServerURL(t)
	tplOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		tplName, tplErr = buildTemplate(ctx, base)
	})
	if tplErr != nil {
		t.Fatalf("pgtest: template database: %v", tplErr)
	}
	return tplName
}

func buildTemplate(ctx context.Context, base string) (string, error) {
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector')`).Scan(&vectorOK); err != nil {
		return "", err
	}
	h := sha256.New()
	for _, fsys := range []fs.FS{migrations.Files(), migrations.FunctionFiles(), migrations.FeatureFiles()} {
		err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := fs.ReadFile(fsys, p)
			h.Write([]byte(p))
			h.Write(b)
			return err
		})
		if err != nil {
			return "", err
		}
	}
	fmt.Fprintf(h, "vector=%v", vectorOK)
	name := "geoseek_tpl_" + hex.EncodeToString(h.Sum(nil))[:12]

	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(4242)`); err != nil {
		return "", err
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(4242)`) //nolint:errcheck
	dropOrphans(ctx, conn)
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return "", err
	}
	if exists {
		return name, nil
	}
	// Drop templates of older schema versions; no process of this run uses them.
	rows, err := conn.Query(ctx, `SELECT datname FROM pg_database WHERE datname LIKE 'geoseek\_tpl\_%' OR datname LIKE 'geoseek\_build\_%'`)
	if err != nil {
		return "", err
	}
	old, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return "", err
	}
	for _, o := range old {
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{o}.Sanitize()+" WITH (FORCE)"); err != nil {
			return "", err
		}
	}
	// Build under a temporary name and rename when complete, so a failed build
	// never leaves a half-migrated template behind.
	build := "geoseek_build_" + randHex(4)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{build}.Sanitize()); err != nil {
		return "", err
	}
	pool, err := pg.Open(ctx, pg.Config{URL: WithDatabase(base, build), MaxConns: 2}, nil)
	if err != nil {
		return "", err
	}
	_, merr := migrations.Up(ctx, pool, nil)
	pool.Close()
	if merr != nil {
		return "", merr
	}
	if _, err := conn.Exec(ctx, "ALTER DATABASE "+pgx.Identifier{build}.Sanitize()+" RENAME TO "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", err
	}
	return name, nil
}

// execWithRetry runs a database-level statement, retrying while the template
// is briefly in use by another process's CREATE DATABASE (SQLSTATE 55006).
func execWithRetry(ctx context.Context, base, q string) error {
	var err error
	for i := 0; i < 50; i++ {
		var conn *pgx.Conn
		conn, err = pgx.Connect(ctx, base)
		if err != nil {
			return err
		}
		_, err = conn.Exec(ctx, q)
		conn.Close(ctx)
		if err == nil || (pg.Code(err) != "55006" && !strings.Contains(err.Error(), "being accessed by other users")) {
			return err
		}
		time.Sleep(time.Duration(20+i*10) * time.Millisecond)
	}
	return err
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// dropOrphans drops test databases whose creating process no longer runs
// (a test binary killed by a timeout never runs its cleanups). Best effort.
func dropOrphans(ctx context.Context, conn *pgx.Conn) {
	rows, err := conn.Query(ctx, `SELECT datname FROM pg_database WHERE datname LIKE 'geoseek\_test\_%'`)
	if err != nil {
		return
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return
	}
	for _, n := range names {
		var pid int
		if _, err := fmt.Sscanf(strings.TrimPrefix(n, "geoseek_test_"), "%d_", &pid); err != nil || pid <= 0 {
			continue
		}
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
			continue // still running (or the pid was reused: keep it)
		}
		_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{n}.Sanitize()+" WITH (FORCE)")
	}
}
