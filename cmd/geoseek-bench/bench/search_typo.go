package bench

// Typo tolerance (search/typo.go) on the search corpus (search.go).
//
//   - search/typo/<query>: top-20 p50/p95 of GET /search for a misspelt
//     two-word query against the same query spelt right (both through
//     geoseek, same run, alternating rounds): the ratio is what the
//     corrections cost. The note adds the matches, the corrections made,
//     the overlap of the two top 20s, the size of the collection's word list
//     and the p50/p95 of the correction's own statements replayed through
//     pgx (the tsquery text, then the word-list lookup batch; twice when
//     the query as typed finds nothing, see search/typo.go).
//   - search/typo/bulk: NDJSON bulk load (document.Bulk) into a private
//     database (search_bulk.go's), the word-list triggers on against off,
//     alternating batches into two collections: the first batch of each
//     collection brings its whole vocabulary, later ones mostly known words.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/geoseek/geoseek/document"
	"github.com/geoseek/geoseek/search"
)

func init() {
	Register(Scenario{Name: "search/typo", Run: runSearchTypo})
	Register(Scenario{Name: "search/typo/bulk", Run: runSearchTypoBulk})
}

// typoQueries are misspelt two-word queries and their right spelling.
var typoQueries = []struct{ name, typo, right string }{
	{"common", "pyhton libary", "python library"},
	{"medium", "grapical edtior", "graphical editor"},
	{"rare", "sudoko puzzel", "sudoku puzzle"},
}

func runSearchTypo(ctx context.Context, env *Env) ([]Result, error) {
	coll, err := srchSetup(ctx, env)
	if err != nil {
		return nil, err
	}
	var words, docs int64
	if err := env.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM search_words WHERE collection_id = c.id), (SELECT count(*) FROM documents WHERE collection_id = c.id)
		FROM collections c WHERE c.name = $1`, coll).Scan(&words, &docs); err != nil {
		return nil, err
	}
	var out []Result
	for _, tq := range typoQueries {
		vt := url.Values{"collection": {coll}, "q": {tq.typo}, "limit": {"20"}}
		vr := url.Values{"collection": {coll}, "q": {tq.right}, "limit": {"20"}}
		q, err := search.ParseValues(vt)
		if err != nil {
			return nil, err
		}
		var stmts, stmtsR []srchStmt
		svc := search.NewService(env.Pool, search.Config{Trace: func(sql string, args []any) {
			stmts = append(stmts, srchStmt{sql, append([]any(nil), args...)})
		}})
		res, err := svc.Search(ctx, q)
		if err != nil {
			return nil, err
		}
		// The right spelling pays for the check that its words are known.
		if qr, err := search.ParseValues(vr); err != nil {
			return nil, err
		} else if _, err := search.NewService(env.Pool, search.Config{Trace: func(sql string, args []any) {
			stmtsR = append(stmtsR, srchStmt{sql, append([]any(nil), args...)})
		}}).Search(ctx, qr); err != nil {
			return nil, err
		}
		fixes, _ := json.Marshal(res.Corrections)
		var count int64
		if err := env.Pool.QueryRow(ctx, `SELECT count(*) FROM documents d WHERE d.collection_id = (SELECT id FROM collections WHERE name = $1)
			AND d.search @@ websearch_to_tsquery('english', $2)`, coll, tq.right).Scan(&count); err != nil {
			return nil, err
		}
		gotT, err := srchGet(ctx, env, vt)
		if err != nil {
			return nil, err
		}
		gotR, err := srchGet(ctx, env, vr)
		if err != nil {
			return nil, err
		}
		lookup := typoLookupStmts(stmts)
		if err := typoReplay(ctx, env, lookup); err != nil {
			return nil, fmt.Errorf("typo bench: replay the correction of %q: %w", tq.typo, err)
		}
		n, d := 60, 60*time.Second
		if env.Quick {
			n, d = 10, 10*time.Second
		}
		for i := 0; i < 2; i++ {
			_, _ = srchGet(ctx, env, vt)
			_, _ = srchGet(ctx, env, vr)
		}
		g, b := Paired(ctx, 1, n, 4, d,
			func(ctx context.Context) error { _, err := srchGet(ctx, env, vt); return err },
			func(ctx context.Context) error { _, err := srchGet(ctx, env, vr); return err })
		l := Load(ctx, 1, n, d/4, func(ctx context.Context) error { return typoReplay(ctx, env, lookup) })
		lookupR := typoLookupStmts(stmtsR)
		lr := Load(ctx, 1, n, d/4, func(ctx context.Context) error { return typoReplay(ctx, env, lookupR) })
		for _, st := range []Stats{g, b, l, lr} {
			if err := srchErr(st, tq.typo); err != nil {
				return nil, err
			}
		}
		out = append(out, Result{
			Scenario: "search/typo/" + tq.name + " top-20 p95", Geoseek: srchMS(g.P95), Baseline: srchMS(b.P95), Unit: "ms", LowerIsBetter: true,
			Note: fmt.Sprintf("%q against %q (%d matches of %d docs); p50 %.1f vs %.1f ms; corrections %s; top-20 overlap %d/%d; word list %d words; the correction's %d round trips alone p50 %.2f p95 %.2f ms, the right spelling's check (%d round trip) p50 %.2f p95 %.2f ms",
				tq.typo, tq.right, count, docs, srchMS(g.P50), srchMS(b.P50), fixes, srchOverlap(gotT, gotR), len(gotR), words, typoTrips(lookup), srchMS(l.P50), srchMS(l.P95), typoTrips(lookupR), srchMS(lr.P50), srchMS(lr.P95)),
		})
	}
	return out, nil
}

// typoLookupStmts picks the correction's statements from a traced search,
// in groups as geoseek sends them: the tsquery text alone, then one batch of
// a threshold and a lookup per word (twice when the query as typed found
// nothing and every word was corrected).
func typoLookupStmts(stmts []srchStmt) [][]srchStmt {
	var out [][]srchStmt
	for i, st := range stmts {
		switch {
		case strings.HasPrefix(st.sql, "SELECT (") && strings.Contains(st.sql, " AS stem) x"):
			out = append(out, []srchStmt{st}, nil)
		case strings.Contains(st.sql, "pg_trgm.similarity_threshold") && i+1 < len(stmts) && len(out) > 0:
			out[len(out)-1] = append(out[len(out)-1], st, stmts[i+1])
		}
	}
	return out
}

// typoTrips counts the round trips of groups.
func typoTrips(groups [][]srchStmt) int {
	n := 0
	for _, g := range groups {
		if len(g) > 0 {
			n++
		}
	}
	return n
}

// typoReplay runs the groups of typoLookupStmts: a group of one alone,
// a longer one as a batch.
func typoReplay(ctx context.Context, env *Env, groups [][]srchStmt) error {
	if len(groups) == 0 {
		return fmt.Errorf("typo bench: no correction statements captured")
	}
	for _, g := range groups {
		switch len(g) {
		case 0:
		case 1:
			rows, err := env.Pool.Query(ctx, g[0].sql, append([]any{pgx.QueryExecModeCacheDescribe}, g[0].args...)...)
			if err != nil {
				return err
			}
			for rows.Next() {
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
		default:
			b := &pgx.Batch{}
			for _, st := range g {
				b.Queue(st.sql, st.args...)
			}
			if err := env.Pool.SendBatch(ctx, b).Close(); err != nil {
				return err
			}
		}
	}
	return nil
}

func runSearchTypoBulk(ctx context.Context, env *Env) ([]Result, error) {
	pkgs, err := srchCorpus()
	if err != nil {
		return nil, err
	}
	n := 40_000
	if env.Quick {
		n = 8_000
	}
	pool, err := bulkPrivateDB(ctx, env)
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	if _, err := pool.Exec(ctx, `TRUNCATE documents CASCADE`); err != nil {
		return nil, err
	}
	for _, c := range []string{"typo_on", "typo_off"} {
		if _, err := pool.Exec(ctx, `INSERT INTO collections (name, default_lang) VALUES ($1, 'english') ON CONFLICT (name) DO NOTHING`, c); err != nil {
			return nil, err
		}
	}
	defer func() {
		ctx := context.WithoutCancel(ctx)
		_, _ = pool.Exec(ctx, `ALTER TABLE documents ENABLE TRIGGER search_words_add`)
		_, _ = pool.Exec(ctx, `TRUNCATE documents CASCADE`)
		_, _ = pool.Exec(ctx, `DELETE FROM search_words`)
	}()
	const batches = 8
	bs := n / 2 / batches
	on, off, on0, off0, err := typoAlternate(ctx, pool, pkgs, bs, batches)
	if err != nil {
		return nil, err
	}
	var words int64
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM search_words s JOIN collections c ON c.id = s.collection_id WHERE c.name = 'typo_on'`).Scan(&words); err != nil {
		return nil, err
	}
	rest := float64(bs * (batches - 1))
	return []Result{{
		Scenario: "search/typo/bulk docs/s", Geoseek: rest / on.Seconds(), Baseline: rest / off.Seconds(), Unit: "docs/s",
		Note: fmt.Sprintf("document.Bulk of %d batches of %d documents per side into a private database, word-list triggers on vs off, alternating; figures after each collection's first batch; the first batch (every word new): %.0f vs %.0f docs/s; word list after the load: %d words",
			batches, bs, float64(bs)/on0.Seconds(), float64(bs)/off0.Seconds(), words),
	}}, nil
}

// typoAlternate loads batches of bs documents into typo_on (word-list
// trigger enabled) and typo_off (disabled), alternating a b b a a b b a,
// and returns each side's time after its first batch and of its first.
func typoAlternate(ctx context.Context, pool *pgxpool.Pool, pkgs []srchPkg, bs, batches int) (on, off, on0, off0 time.Duration, err error) {
	load := func(k int, on bool) (time.Duration, error) {
		coll, ddl := "typo_off", `ALTER TABLE documents DISABLE TRIGGER search_words_add`
		if on {
			coll, ddl = "typo_on", `ALTER TABLE documents ENABLE TRIGGER search_words_add`
		}
		if _, err := pool.Exec(ctx, ddl); err != nil {
			return 0, err
		}
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		for i := k * bs; i < (k+1)*bs; i++ {
			if err := enc.Encode(srchDoc(pkgs, i, coll+"-")); err != nil {
				return 0, err
			}
		}
		t0 := time.Now()
		if _, err := document.Bulk(ctx, pool, coll, bytes.NewReader(buf.Bytes()), 30*time.Minute); err != nil {
			return 0, err
		}
		return time.Since(t0), nil
	}
	for k := 0; k < batches; k++ {
		first := k%4 == 0 || k%4 == 3 // a b b a a b b a
		for _, side := range []bool{first, !first} {
			d, err := load(k, side)
			if err != nil {
				return 0, 0, 0, 0, err
			}
			switch {
			case side && k == 0:
				on0 = d
			case !side && k == 0:
				off0 = d
			case side:
				on += d
			default:
				off += d
			}
		}
	}
	return on, off, on0, off0, nil
}
