package bench

// search/bulk (issue 5): NDJSON bulk load (POST /collections/{c}/documents/bulk)
// of 20,000 documents (Quick: 5,000) of the search corpus (search.go) in
// docs/s against COPY (text format) through pgx of the same rows straight
// into documents.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

func init() {
	Register(Scenario{Name: "search/bulk", Issue: 5, Run: runSearchBulk})
}

func runSearchBulk(ctx context.Context, env *Env) ([]Result, error) {
	pkgs, err := srchCorpus()
	if err != nil {
		return nil, err
	}
	// 20,000: with the RUM index on a million-row table inserts run at a
	// few hundred per second, and each side loads the batch once.
	n := 20_000
	if env.Quick {
		n = 5_000
	}
	const coll = "bench_bulk"
	reset := func() (int64, error) {
		if _, err := env.Pool.Exec(ctx, `DELETE FROM collections WHERE name = $1`, coll); err != nil {
			return 0, err
		}
		var id int64
		err := env.Pool.QueryRow(ctx, `INSERT INTO collections (name, default_lang) VALUES ($1, 'english') RETURNING id`, coll).Scan(&id)
		return id, err
	}
	defer func() {
		// Remove the batch and its dead tuples, so later scenarios (the
		// newest-first candidate scan in particular) do not wade through them.
		ctx := context.WithoutCancel(ctx)
		if _, err := env.Pool.Exec(ctx, `DELETE FROM collections WHERE name = $1`, coll); err == nil {
			_, _ = env.Pool.Exec(ctx, `VACUUM (ANALYZE) documents`)
		}
	}()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	rows := make([][]any, n)
	for i := 0; i < n; i++ {
		d := srchDoc(pkgs, i, "bulk-")
		if err := enc.Encode(d); err != nil {
			return nil, err
		}
		props, _ := json.Marshal(d["props"])
		rows[i] = []any{d["external_id"], d["title"], d["body"], d["tags"], props}
	}
	if _, err := reset(); err != nil {
		return nil, err
	}
	t0 := time.Now()
	how, err := srchBulk(ctx, env, coll, buf.Bytes())
	if err != nil {
		return nil, err
	}
	gs := time.Since(t0)
	cid, err := reset()
	if err != nil {
		return nil, err
	}
	// The baseline is COPY in text format (the lang column is regconfig,
	// which pgx has no binary codec for), straight into documents.
	var tsv bytes.Buffer
	esc := strings.NewReplacer(`\`, `\\`, "\t", `\t`, "\n", `\n`, "\r", `\r`)
	for _, r := range rows {
		tags, _ := json.Marshal(r[3])
		arr := "{" + strings.TrimSuffix(strings.TrimPrefix(string(tags), "["), "]") + "}"
		fmt.Fprintf(&tsv, "%d\t%s\t%s\t%s\tenglish\t%s\t%s\n", cid, esc.Replace(r[0].(string)), esc.Replace(r[1].(string)),
			esc.Replace(r[2].(string)), esc.Replace(arr), esc.Replace(string(r[4].([]byte))))
	}
	t0 = time.Now()
	err = pgx.BeginFunc(ctx, env.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL statement_timeout = 0`); err != nil {
			return err
		}
		_, err := tx.Conn().PgConn().CopyFrom(ctx, bytes.NewReader(tsv.Bytes()),
			`COPY documents (collection_id, external_id, title, body, lang, tags, props) FROM STDIN`)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("search bench: baseline copy: %w", err)
	}
	bs := time.Since(t0)
	var indexes []string
	r, err := env.Pool.Query(ctx, `SELECT indexname FROM pg_indexes WHERE tablename = 'documents' ORDER BY 1`)
	if err == nil {
		indexes, _ = pgx.CollectRows(r, pgx.RowTo[string])
	}
	return []Result{{
		Scenario: "search/bulk docs/s", Geoseek: float64(n) / gs.Seconds(), Baseline: float64(n) / bs.Seconds(), Unit: "docs/s",
		Note: fmt.Sprintf("%d documents (~%d bytes of text each) via %s NDJSON bulk (validate, COPY to a temp table, INSERT … ON CONFLICT) vs COPY (text format) through pgx straight into documents; both maintain the stored tsvector and %d indexes (%s)",
			n, avgLen(rows), how, len(indexes), strings.Join(indexes, ", ")),
	}}, nil
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
