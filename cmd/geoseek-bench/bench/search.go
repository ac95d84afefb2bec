package bench

// Search scenarios: keyword search, facets and bulk load on a corpus
// of real English text, Debian's package descriptions.
//
// Corpus, honestly enlarged: the ~64,000 long package descriptions
// (/var/lib/apt/lists/*Translation-en*, present after `apt-get update -o
// Acquire::Languages=en`) with each package's debtags, section, priority and
// installed size from `apt-cache dumpavail`. Document i is package a = i mod N:
// title = a's short description, body = a's long description, and from the
// second round on (i >= N) the long description of a second package b chosen
// by a fixed hash of (a, i/N) is appended. So there are 1,000,000 documents
// (Quick: 20,000) of real sentences, each package's text appearing about 16
// times as a primary and 16 times as a secondary description: term
// frequencies are real, documents are not unique.
//
// Terms: "harmonica" (rare, 60 matches at 1M), "game" (medium, ~39,000) and
// "library" (very common, ~608,000).
//
//   - search/keyword/<term>: top-20 p50/p95 of GET /search over loopback
//     against the same statements (captured with search.Config.Trace:
//     the estimate, every impact-tier round and the page fetch) through pgx
//     in the same exec mode; the note adds the ranking strategy, the
//     throughput ratio, the exact-ranking baseline (GIN + ts_rank_cd over all
//     matches, the baseline), the overlap of geoseek's top 20 with
//     the exact top 20 and whether the order is the same, and RUM's own
//     ordered top 20 (`<=>`) with its overlap, for comparison.
//   - search/facets/<term>: tags and props.section facet counts over the whole
//     matched set, geoseek against the same statements through pgx.
//   - search/bulk: see search_bulk.go.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"

	"github.com/geoseek/geoseek/document"
	"github.com/geoseek/geoseek/internal/pg"
	"github.com/geoseek/geoseek/search"
)

func init() {
	Register(Scenario{Name: "search/keyword", Run: runSearchKeyword})
	Register(Scenario{Name: "search/facets", Run: runSearchFacets})
}

const srchCollection = "debian"

var srchTerms = []struct{ kind, term string }{{"rare", "harmonica"}, {"medium", "game"}, {"common", "library"}}

type srchPkg struct {
	name, short, long string
	tags              []string
	section, priority string
	size              int
}

var (
	srchMu     sync.Mutex
	srchPkgs   []srchPkg
	srchLoaded = map[bool]bool{}
)

// srchCorpus reads the package descriptions and their metadata once.
func srchCorpus() ([]srchPkg, error) {
	srchMu.Lock()
	defer srchMu.Unlock()
	if srchPkgs != nil {
		return srchPkgs, nil
	}
	meta := map[string]srchPkg{}
	if out, err := exec.Command("apt-cache", "dumpavail").Output(); err == nil {
		for _, para := range strings.Split(string(out), "\n\n") {
			var p srchPkg
			key := ""
			for _, line := range strings.Split(para, "\n") {
				if strings.HasPrefix(line, " ") && key == "Tag" {
					p.tags = append(p.tags, splitTags(line)...)
					continue
				}
				k, v, ok := strings.Cut(line, ": ")
				if !ok {
					continue
				}
				key = k
				switch k {
				case "Package":
					p.name = v
				case "Section":
					p.section = v
				case "Priority":
					p.priority = v
				case "Installed-Size":
					p.size, _ = strconv.Atoi(v)
				case "Tag":
					p.tags = append(p.tags, splitTags(v)...)
				}
			}
			if _, dup := meta[p.name]; p.name != "" && !dup {
				meta[p.name] = p
			}
		}
	}
	files, _ := filepath.Glob("/var/lib/apt/lists/*Translation-en*")
	var pkgs []srchPkg
	for _, f := range files {
		out, err := exec.Command("/usr/lib/apt/apt-helper", "cat-file", f).Output()
		if err != nil {
			return nil, fmt.Errorf("search bench: read %s: %w", f, err)
		}
		for _, para := range strings.Split(string(out), "\n\n") {
			var p srchPkg
			var long []string
			for _, line := range strings.Split(para, "\n") {
				switch {
				case strings.HasPrefix(line, "Package: "):
					p.name = strings.TrimPrefix(line, "Package: ")
				case strings.HasPrefix(line, "Description-en: "):
					p.short = strings.TrimPrefix(line, "Description-en: ")
				case strings.HasPrefix(line, " "):
					if t := strings.TrimSpace(line); t == "." {
						long = append(long, "")
					} else {
						long = append(long, t)
					}
				}
			}
			if p.short == "" {
				continue
			}
			p.long = strings.Join(long, "\n")
			if m, ok := meta[p.name]; ok {
				p.tags, p.section, p.priority, p.size = m.tags, m.section, m.priority, m.size
			}
			pkgs = append(pkgs, p)
		}
	}
	if len(pkgs) < 1000 {
		return nil, fmt.Errorf("search bench: only %d package descriptions found; run apt-get update -o Acquire::Languages=en", len(pkgs))
	}
	srchPkgs = pkgs
	return pkgs, nil
}

func splitTags(s string) []string {
	var out []string
	for _, t := range strings.Split(s, ",") {
		if t = strings.TrimSpace(t); t != "" {
			out = append(out, t)
		}
	}
	return out
}

// srchDoc is document i of the corpus as an NDJSON object.
func srchDoc(pkgs []srchPkg, i int, prefix string) map[string]any {
	n := len(pkgs)
	a := pkgs[i%n]
	body := a.long
	if i >= n {
		b := pkgs[(i%n*7919+(i/n)*104729)%n]
		body += "\n\n" + b.long
	}
	tags := a.tags
	if tags == nil {
		tags = []string{}
	}
	return map[string]any{
		"external_id": prefix + a.name + "-" + strconv.Itoa(i),
		"title":       a.short, "body": body, "tags": tags,
		"props": map[string]any{"package": a.name, "section": a.section, "priority": a.priority, "installed_size": a.size},
	}
}

func srchTarget(env *Env) int {
	if env.SearchDocs > 0 {
		return env.SearchDocs
	}
	if env.Quick {
		return 20_000
	}
	return 1_000_000
}

// srchSetup loads the corpus into the bench database once (kept across
// runs): the collection must hold at least the target number of documents.
func srchSetup(ctx context.Context, env *Env) (string, error) {
	name := srchCollection
	if env.Quick {
		name = srchCollection + "_quick"
	}
	srchMu.Lock()
	done := srchLoaded[env.Quick]
	srchMu.Unlock()
	if done {
		return name, nil
	}
	if _, err := env.Pool.Exec(ctx, `INSERT INTO collections (name, title, default_lang)
		VALUES ($1, 'Debian package descriptions (search bench)', 'english') ON CONFLICT (name) DO NOTHING`, name); err != nil {
		return "", fmt.Errorf("search bench: collection: %w", err)
	}
	var have int
	if err := env.Pool.QueryRow(ctx, `SELECT count(*) FROM documents d JOIN collections c ON c.id = d.collection_id WHERE c.name = $1`, name).Scan(&have); err != nil {
		return "", err
	}
	target := srchTarget(env)
	if have < target {
		pkgs, err := srchCorpus()
		if err != nil {
			return "", err
		}
		env.Logger.Info("search bench: loading corpus (once)", "collection", name, "have", have, "target", target)
		t0 := time.Now()
		// Two requests at once: each is one transaction on one backend.
		const chunk = 50_000
		var eg errgroup.Group
		eg.SetLimit(2)
		for start := 0; start < target; start += chunk {
			eg.Go(func() error {
				var buf bytes.Buffer
				enc := json.NewEncoder(&buf)
				for i := start; i < min(start+chunk, target); i++ {
					if err := enc.Encode(srchDoc(pkgs, i, "")); err != nil {
						return err
					}
				}
				// Upserts by external_id, so an interrupted load resumes cleanly.
				if _, err := srchBulk(ctx, env, name, buf.Bytes()); err != nil {
					return fmt.Errorf("search bench: load: %w", err)
				}
				return nil
			})
		}
		if err := eg.Wait(); err != nil {
			return "", err
		}
		env.Logger.Info("search bench: corpus loaded", "docs", target-have, "elapsed", time.Since(t0),
			"docs_per_second", int(float64(target-have)/time.Since(t0).Seconds()))
	}
	if _, err := env.Pool.Exec(ctx, `ANALYZE documents`); err != nil {
		return "", err
	}
	srchMu.Lock()
	srchLoaded[env.Quick] = true
	srchMu.Unlock()
	return name, nil
}

// srchBulk posts NDJSON to the bulk endpoint; when the bench server does not
// serve it (404: not wired), it calls document.Bulk in process instead and
// says so.
func srchBulk(ctx context.Context, env *Env, collection string, ndjson []byte) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, env.BaseURL+"/collections/"+collection+"/documents/bulk", bytes.NewReader(ndjson))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	if env.AdminKey != "" {
		req.Header.Set("Authorization", "Bearer "+env.AdminKey)
	}
	resp, err := env.Client.Do(req)
	if err != nil {
		return "", err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound && !bytes.Contains(body, []byte("collection")) {
		_, err := document.Bulk(ctx, env.Pool, collection, bytes.NewReader(ndjson), 30*time.Minute)
		return "in process (bulk route not served)", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("bulk: %s: %s", resp.Status, body)
	}
	return "HTTP", nil
}

// srchGet runs GET /search and returns the hit ids.
func srchGet(ctx context.Context, env *Env, v url.Values) ([]int64, error) {
	var res struct {
		Hits []struct {
			ID int64 `json:"id"`
		} `json:"hits"`
	}
	if err := getSearch(ctx, env, v, &res); err != nil {
		return nil, err
	}
	ids := make([]int64, len(res.Hits))
	for i, h := range res.Hits {
		ids[i] = h.ID
	}
	return ids, nil
}

// getSearch runs GET /search with the bench's key and decodes a 200 answer
// into out.
func getSearch(ctx context.Context, env *Env, v url.Values, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, env.BaseURL+"/search?"+v.Encode(), nil)
	if err != nil {
		return err
	}
	if env.AdminKey != "" {
		req.Header.Set("Authorization", "Bearer "+env.AdminKey)
	}
	resp, err := env.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("search: %s: %s", resp.Status, b)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

type srchStmt struct {
	sql  string
	args []any
}

// srchCapture runs v through an in-process search.Service with tracing and
// returns the statements it issued, for replay through plain pgx.
func srchCapture(ctx context.Context, pool *pgxpool.Pool, v url.Values) ([]srchStmt, error) {
	var stmts []srchStmt
	svc := search.NewService(pool, search.Config{Trace: func(sql string, args []any) {
		stmts = append(stmts, srchStmt{sql, append([]any(nil), args...)})
	}})
	q, err := search.ParseValues(v)
	if err != nil {
		return nil, err
	}
	if _, err := svc.Search(ctx, q); err != nil {
		return nil, err
	}
	return stmts, nil
}

// srchReplay runs the captured statements through pgx in the same exec mode
// geoseek uses, reading and discarding every value, plus the collection
// lookup geoseek does first.
func srchReplay(ctx context.Context, pool *pgxpool.Pool, collection string, stmts []srchStmt) error {
	var id int64
	var lang string
	if err := pool.QueryRow(ctx, `SELECT id, default_lang::text FROM collections WHERE name = $1`, collection).Scan(&id, &lang); err != nil {
		return err
	}
	for i := 0; i < len(stmts); i++ {
		st := stmts[i]
		if st.sql == pg.WholeSetParallel && i+1 < len(stmts) {
			// geoseek sends these two in one batch: the setting holds for
			// the statement after it.
			i++
			b := &pgx.Batch{}
			b.Queue(st.sql)
			b.Queue(stmts[i].sql, stmts[i].args...).Query(func(rows pgx.Rows) error {
				for rows.Next() {
					if _, err := rows.Values(); err != nil {
						return err
					}
				}
				return rows.Err()
			})
			if err := pool.SendBatch(ctx, b).Close(); err != nil {
				return err
			}
			continue
		}
		rows, err := pool.Query(ctx, st.sql, append([]any{pgx.QueryExecModeCacheDescribe}, st.args...)...)
		if err != nil {
			return err
		}
		for rows.Next() {
			if _, err := rows.Values(); err != nil {
				rows.Close()
				return err
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	return nil
}

const srchExactSQL = `SELECT d.id, ts_rank_cd('{0.1, 0.2, 0.4, 1.0}'::float4[], d.search, q, 32) AS score
	FROM documents d, websearch_to_tsquery('english', $2::text) q
	WHERE d.collection_id = (SELECT id FROM collections WHERE name = $1) AND d.search @@ q
	ORDER BY score DESC, d.id LIMIT 20`

func srchExact(ctx context.Context, pool *pgxpool.Pool, collection, term string) ([]int64, error) {
	rows, err := pool.Query(ctx, srchExactSQL, pgx.QueryExecModeCacheDescribe, collection, term)
	if err != nil {
		return nil, err
	}
	var ids []int64
	for rows.Next() {
		var id int64
		var s float32
		if err := rows.Scan(&id, &s); err != nil {
			rows.Close()
			return nil, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	return ids, rows.Err()
}

// srchRUMSQL is RUM's own ordered top 20 (`<=>`, RUM's rank computed from
// the index), measured for comparison: how fast it is and how close its
// order is to ts_rank_cd's.
const srchRUMSQL = `SELECT d.id FROM documents d, websearch_to_tsquery('english', $2::text) q
	WHERE d.collection_id = (SELECT id FROM collections WHERE name = $1) AND d.search @@ q
	ORDER BY d.search <=> q, d.id LIMIT 20`

func srchIDs(ctx context.Context, pool *pgxpool.Pool, sql, collection, term string) ([]int64, error) {
	rows, err := pool.Query(ctx, sql, pgx.QueryExecModeCacheDescribe, collection, term)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}

func srchOverlap(got, exact []int64) int {
	in := map[int64]bool{}
	for _, id := range exact {
		in[id] = true
	}
	n := 0
	for _, id := range got {
		if in[id] {
			n++
		}
	}
	return n
}

func srchLoad(env *Env, term string) (n int, d time.Duration) {
	switch {
	case env.Quick:
		return 10, 10 * time.Second
	case term == "library":
		return 60, 90 * time.Second
	}
	return 100, 60 * time.Second
}

// srchWarm runs both sides twice so neither pays for a cold cache.
func srchWarm(ctx context.Context, env *Env, v url.Values, coll string, stmts []srchStmt) {
	for i := 0; i < 2; i++ {
		_, _ = srchGet(ctx, env, v)
		_ = srchReplay(ctx, env.Pool, coll, stmts)
	}
}

// srchRatio is geoseek's throughput over the baseline's (calls per second,
// one worker each, same run).
func srchRatio(g, b Stats) float64 {
	if b.PerSec == 0 {
		return 0
	}
	return g.PerSec / b.PerSec
}

func srchMS(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func srchErr(st Stats, what string) error {
	if st.N == 0 {
		return fmt.Errorf("search bench: %s: no successful run (%d errors)", what, st.Errors)
	}
	return nil
}

func runSearchKeyword(ctx context.Context, env *Env) ([]Result, error) {
	coll, err := srchSetup(ctx, env)
	if err != nil {
		return nil, err
	}
	var out []Result
	for _, t := range srchTerms {
		v := url.Values{"collection": {coll}, "q": {t.term}, "limit": {"20"}}
		var count int64
		if err := env.Pool.QueryRow(ctx, `SELECT count(*) FROM documents d WHERE d.collection_id = (SELECT id FROM collections WHERE name = $1)
			AND d.search @@ websearch_to_tsquery('english', $2)`, coll, t.term).Scan(&count); err != nil {
			return nil, err
		}
		stmts, err := srchCapture(ctx, env.Pool, v)
		if err != nil {
			return nil, err
		}
		strategy := "?"
		got, err := srchGet(ctx, env, v)
		if err != nil {
			return nil, err
		}
		exact, err := srchExact(ctx, env.Pool, coll, t.term)
		if err != nil {
			return nil, err
		}
		overlap := srchOverlap(got, exact)
		sameOrder := slices.Equal(got, exact)
		if q, err := search.ParseValues(v); err == nil {
			if res, err := search.NewService(env.Pool, search.Config{}).Search(ctx, q); err == nil {
				strategy = string(res.Ranking)
			}
		}
		n, d := srchLoad(env, t.term)
		srchWarm(ctx, env, v, coll, stmts)
		g := Load(ctx, 1, n, d, func(ctx context.Context) error { _, err := srchGet(ctx, env, v); return err })
		b := Load(ctx, 1, n, d, func(ctx context.Context) error { return srchReplay(ctx, env.Pool, coll, stmts) })
		en, ed := n/4+1, d/2
		e := Load(ctx, 1, en, ed, func(ctx context.Context) error { _, err := srchExact(ctx, env.Pool, coll, t.term); return err })
		for _, st := range []Stats{g, b, e} {
			if err := srchErr(st, t.term); err != nil {
				return nil, err
			}
		}
		// RUM's own order, where the index exists: speed and agreement
		// with exact ts_rank_cd (geoseek does not use it by default).
		rumNote := "RUM index absent"
		if rum, err := srchIDs(ctx, env.Pool, srchRUMSQL, coll, t.term); err == nil {
			r := Load(ctx, 1, max(3, n/10), d/4, func(ctx context.Context) error {
				_, err := srchIDs(ctx, env.Pool, srchRUMSQL, coll, t.term)
				return err
			})
			rumNote = fmt.Sprintf("RUM `<=>` ordered top-20 p50 %.1f ms, overlap with exact %d/%d", srchMS(r.P50), srchOverlap(rum, exact), len(exact))
		}
		out = append(out, Result{
			Scenario: "search/keyword/" + t.kind + " top-20 p95", Geoseek: srchMS(g.P95), Baseline: srchMS(b.P95), Unit: "ms", LowerIsBetter: true,
			Note: fmt.Sprintf("%q, %d matches of %d docs, ranking %s; p50 %.1f vs %.1f ms (same SQL via pgx); throughput ratio %.2f; exact GIN ts_rank_cd over all matches p50 %.1f p95 %.1f ms; top-20 overlap with exact %d/%d (same order: %t); %s",
				t.term, count, srchTarget(env), strategy, srchMS(g.P50), srchMS(b.P50), srchRatio(g, b), srchMS(e.P50), srchMS(e.P95), overlap, len(exact), sameOrder, rumNote),
		})
	}
	return out, nil
}

func runSearchFacets(ctx context.Context, env *Env) ([]Result, error) {
	coll, err := srchSetup(ctx, env)
	if err != nil {
		return nil, err
	}
	var out []Result
	for _, t := range srchTerms[1:] {
		v := url.Values{"collection": {coll}, "q": {t.term}, "limit": {"20"}, "facets": {"tags,props.section"}}
		stmts, err := srchCapture(ctx, env.Pool, v)
		if err != nil {
			return nil, err
		}
		n, d := srchLoad(env, t.term)
		n, d = max(3, n/4), d/2
		srchWarm(ctx, env, v, coll, stmts)
		g := Load(ctx, 1, n, d, func(ctx context.Context) error { _, err := srchGet(ctx, env, v); return err })
		b := Load(ctx, 1, n, d, func(ctx context.Context) error { return srchReplay(ctx, env.Pool, coll, stmts) })
		for _, st := range []Stats{g, b} {
			if err := srchErr(st, t.term); err != nil {
				return nil, err
			}
		}
		out = append(out, Result{
			Scenario: "search/facets/" + t.kind + " p95", Geoseek: srchMS(g.P95), Baseline: srchMS(b.P95), Unit: "ms", LowerIsBetter: true,
			Note: fmt.Sprintf("%q with facets tags + props.section over the whole matched set; p50 %.1f vs %.1f ms (same SQL via pgx)", t.term, srchMS(g.P50), srchMS(b.P50)),
		})
	}
	return out, nil
}
