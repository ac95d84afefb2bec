package bench

// search/bulk: NDJSON bulk load (POST /collections/{c}/documents/bulk)
// of 20,000 documents (Quick: 5,000) of the search corpus (search.go) in
// docs/s against COPY (text format) through pgx of the same rows straight
// into documents, on the bench table with its million documents.
//
// search/bulk/empty: the same load in process (document.Bulk) into an empty
// documents table of a private database (<bench db>_bulk, created and
// migrated here), once with every index and once without the RUM index, the
// costliest to maintain (it has no pending list like GIN's fastupdate): the
// ratio is what RUM costs a bulk load. The private database keeps the index
// drop away from everyone else's queries.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"

	"github.com/geoseek/geoseek/document"
	"github.com/geoseek/geoseek/internal/pg"
	"github.com/geoseek/geoseek/migrations"
)

func init() {
	Register(Scenario{Name: "search/bulk", Run: runSearchBulk})
	Register(Scenario{Name: "search/bulk/empty", Run: runSearchBulkEmpty})
}

func runSearchBulk(ctx context.Context, env *Env) ([]Result, error) {
	pkgs, err := srchCorpus()
	if err != nil {
		return nil, err
	}
	// 20,000 per side: with the RUM index on a million-row table inserts
	// run at a few hundred per second.
	n := 20_000
	if env.Quick {
		n = 5_000
	}
	const coll = "bench_bulk"
	if _, err := env.Pool.Exec(ctx, `DELETE FROM collections WHERE name = $1`, coll); err != nil {
		return nil, err
	}
	sides := &bulkSides{env: env, pkgs: pkgs, coll: coll}
	err = env.Pool.QueryRow(ctx, `INSERT INTO collections (name, default_lang) VALUES ($1, 'english') RETURNING id`, coll).Scan(&sides.cid)
	if err != nil {
		return nil, err
	}
	defer func() {
		// Remove the batch and its dead tuples, so later scenarios (the
		// newest-first candidate scan in particular) do not wade through them.
		ctx := context.WithoutCancel(ctx)
		if _, err := env.Pool.Exec(ctx, `DELETE FROM collections WHERE name = $1`, coll); err == nil {
			_, _ = env.Pool.Exec(ctx, `VACUUM (ANALYZE) documents`)
		}
	}()
	const batches = 8
	bs := n / batches
	gs, bsum, err := sides.alternate(ctx, n, bs, batches, 1, "")
	if err != nil {
		return nil, err
	}
	// Two requests at once: each is one transaction on one backend, so a
	// client with a large load uses a second core this way.
	gs2, bsum2, err := sides.alternate(ctx, n, bs, batches, 2, "2")
	if err != nil {
		return nil, err
	}
	n = bs * batches
	var indexes []string
	r, err := env.Pool.Query(ctx, `SELECT indexname FROM pg_indexes WHERE tablename = 'documents' ORDER BY 1`)
	if err == nil {
		indexes, _ = pgx.CollectRows(r, pgx.RowTo[string])
	}
	return []Result{{
		Scenario: "search/bulk docs/s", Geoseek: float64(n) / gs.Seconds(), Baseline: float64(n) / bsum.Seconds(), Unit: "docs/s",
		Note: fmt.Sprintf("%d documents per side (~%d bytes of text each) in %d alternating batches, via %s NDJSON bulk (validate, chunks through COPY to a temp table, INSERT, all in one transaction per batch) vs COPY (text format) through pgx straight into documents; both maintain the stored tsvector and %d indexes (%s)",
			n, avgLen(sides.rows), batches, sides.how, len(indexes), strings.Join(indexes, ", ")),
	}, {
		Scenario: "search/bulk two streams docs/s", Geoseek: float64(n) / gs2.Seconds(), Baseline: float64(n) / bsum2.Seconds(), Unit: "docs/s",
		Note: fmt.Sprintf("the same documents again, each batch as two bulk requests at once against two COPYs at once (one stream: %.0f against %.0f docs/s)", float64(n)/gs.Seconds(), float64(n)/bsum.Seconds()),
	}}, nil
}

// bulkSides loads the search corpus into collection cid both ways: through
// geoseek's bulk endpoint and, the baseline, with COPY straight into
// documents.
type bulkSides struct {
	env  *Env
	pkgs []srchPkg
	coll string
	cid  int64
	mu   sync.Mutex
	how  string  // the bulk endpoint's path, as srchBulk reports it
	rows [][]any // the baseline's documents (for their average size)
}

// alternate loads documents [0, batches×bs) on each side, in batches of the
// same documents, alternating a b b a a b b a after one small warm-up batch
// each (documents [n, n+warm)): load from other processes, which changes
// over seconds, falls on both sides alike, and neither side finds the index
// pages cold or warm for the other. Each batch is split in streams parts
// loaded at once, each its own request (or COPY) and transaction, as a
// client with a large load sends it. It returns each side's total time.
func (s *bulkSides) alternate(ctx context.Context, n, bs, batches, streams int, tag string) (geoseek, baseline time.Duration, err error) {
	warm := min(500, bs)
	if _, err := s.geoseek(ctx, n, n+warm, "bulk-wg"+tag+"-"); err != nil {
		return 0, 0, err
	}
	if _, err := s.baseline(ctx, n, n+warm, "bulk-wb"+tag+"-"); err != nil {
		return 0, 0, err
	}
	for k := 0; k < batches; k++ {
		lo, hi := k*bs, (k+1)*bs
		first := k%4 == 0 || k%4 == 3 // a b b a a b b a
		for _, g := range []bool{first, !first} {
			load, prefix := s.baseline, "bulk-b"+tag+"-"
			if g {
				load, prefix = s.geoseek, "bulk-g"+tag+"-"
			}
			t0 := time.Now()
			var eg errgroup.Group
			for i := range streams {
				eg.Go(func() error {
					_, err := load(ctx, lo+i*(hi-lo)/streams, lo+(i+1)*(hi-lo)/streams, prefix)
					return err
				})
			}
			if err := eg.Wait(); err != nil {
				return 0, 0, err
			}
			if g {
				geoseek += time.Since(t0)
			} else {
				baseline += time.Since(t0)
			}
		}
	}
	return geoseek, baseline, nil
}

// geoseek loads documents [lo, hi) as NDJSON through the bulk endpoint.
func (s *bulkSides) geoseek(ctx context.Context, lo, hi int, prefix string) (time.Duration, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for i := lo; i < hi; i++ {
		if err := enc.Encode(srchDoc(s.pkgs, i, prefix)); err != nil {
			return 0, err
		}
	}
	t0 := time.Now()
	h, err := srchBulk(ctx, s.env, s.coll, buf.Bytes())
	s.mu.Lock()
	s.how = h
	s.mu.Unlock()
	return time.Since(t0), err
}

// baseline loads documents [lo, hi) with COPY in text format (the lang
// column is regconfig, which pgx has no binary codec for), straight into
// documents.
func (s *bulkSides) baseline(ctx context.Context, lo, hi int, prefix string) (time.Duration, error) {
	data := s.tsv(lo, hi, prefix)
	t0 := time.Now()
	err := pgx.BeginFunc(ctx, s.env.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL statement_timeout = 0`); err != nil {
			return err
		}
		_, err := tx.Conn().PgConn().CopyFrom(ctx, bytes.NewReader(data),
			`COPY documents (collection_id, external_id, title, body, lang, tags, props) FROM STDIN`)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("search bench: baseline copy: %w", err)
	}
	return time.Since(t0), nil
}

// tsv is documents [lo, hi) in COPY's text format.
func (s *bulkSides) tsv(lo, hi int, prefix string) []byte {
	esc := strings.NewReplacer(`\`, `\\`, "\t", `\t`, "\n", `\n`, "\r", `\r`)
	var b bytes.Buffer
	for i := lo; i < hi; i++ {
		d := srchDoc(s.pkgs, i, prefix)
		props, _ := json.Marshal(d["props"])
		tags, _ := json.Marshal(d["tags"])
		arr := "{" + strings.TrimSuffix(strings.TrimPrefix(string(tags), "["), "]") + "}"
		fmt.Fprintf(&b, "%d\t%s\t%s\t%s\tenglish\t%s\t%s\n", s.cid, esc.Replace(d["external_id"].(string)), esc.Replace(d["title"].(string)),
			esc.Replace(d["body"].(string)), esc.Replace(arr), esc.Replace(string(props)))
		if prefix == "bulk-b-" {
			s.rows = append(s.rows, []any{d["external_id"], d["title"], d["body"]})
		}
	}
	return b.Bytes()
}

func avgLen(rows [][]any) int {
	if len(rows) == 0 {
		return 0
	}
	total := 0
	for _, r := range rows {
		total += len(r[1].(string)) + len(r[2].(string))
	}
	return total / len(rows)
}

// bulkPrivateDB creates (once) and migrates the private database of
// search/bulk/empty and opens a pool on it.
func bulkPrivateDB(ctx context.Context, env *Env) (*pgxpool.Pool, error) {
	u, err := url.Parse(env.DatabaseURL)
	if err != nil {
		return nil, err
	}
	name := strings.TrimPrefix(u.Path, "/") + "_bulk"
	var exists bool
	if err := env.Pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return nil, err
	}
	if !exists {
		if _, err := env.Pool.Exec(ctx, `CREATE DATABASE `+pgx.Identifier{name}.Sanitize()); err != nil {
			return nil, fmt.Errorf("search bench: create %s: %w", name, err)
		}
	}
	u.Path = "/" + name
	logger := env.Logger
	if logger == nil {
		logger = slog.Default()
	}
	pool, err := pg.Open(ctx, pg.Config{URL: u.String(), MaxConns: 4, StatementTimeout: 10 * time.Minute, AppName: "geoseek-bench"}, logger)
	if err != nil {
		return nil, err
	}
	if _, err := migrations.Up(ctx, pool, logger); err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}

func runSearchBulkEmpty(ctx context.Context, env *Env) ([]Result, error) {
	pkgs, err := srchCorpus()
	if err != nil {
		return nil, err
	}
	n := 20_000
	if env.Quick {
		n = 5_000
	}
	pool, err := bulkPrivateDB(ctx, env)
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	var hasRUM bool
	if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'rum')`).Scan(&hasRUM); err != nil {
		return nil, err
	}
	if !hasRUM {
		return nil, fmt.Errorf("search bench: the rum extension is not available")
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for i := 0; i < n; i++ {
		if err := enc.Encode(srchDoc(pkgs, i, "bulk-")); err != nil {
			return nil, err
		}
	}
	const coll = "bench_bulk"
	load := func(rum bool) (time.Duration, error) {
		if _, err := pool.Exec(ctx, `TRUNCATE documents CASCADE`); err != nil {
			return 0, err
		}
		if _, err := pool.Exec(ctx, `INSERT INTO collections (name, default_lang) VALUES ($1, 'english') ON CONFLICT (name) DO NOTHING`, coll); err != nil {
			return 0, err
		}
		ddl := `DROP INDEX IF EXISTS documents_search_rum_idx`
		if rum {
			ddl = `CREATE EXTENSION IF NOT EXISTS rum; CREATE INDEX IF NOT EXISTS documents_search_rum_idx ON documents USING rum (search rum_tsvector_ops)`
		}
		if _, err := pool.Exec(ctx, ddl); err != nil {
			return 0, err
		}
		t0 := time.Now()
		if _, err := document.Bulk(ctx, pool, coll, bytes.NewReader(buf.Bytes()), 30*time.Minute); err != nil {
			return 0, err
		}
		return time.Since(t0), nil
	}
	without, err := load(false)
	if err != nil {
		return nil, err
	}
	with, err := load(true)
	if err != nil {
		return nil, err
	}
	if _, err := pool.Exec(ctx, `TRUNCATE documents CASCADE`); err != nil {
		return nil, err
	}
	return []Result{{
		Scenario: "search/bulk/empty docs/s with RUM", Geoseek: float64(n) / with.Seconds(), Baseline: float64(n) / without.Seconds(), Unit: "docs/s",
		Note: fmt.Sprintf("%d documents via document.Bulk into an empty documents table (private database) with every index vs the same without the RUM index: the ratio is the share of throughput RUM leaves", n),
	}}, nil
}
