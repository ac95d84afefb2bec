package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pgvector/pgvector-go"

	embedder "github.com/geoseek/geoseek/embed"
	"github.com/geoseek/geoseek/search"
)

// The vector scenarios measure semantic search on real text:
// Debian's package descriptions (the English long descriptions apt keeps in
// /var/lib/apt/lists/*Translation-en*; run `apt-get update -o
// Acquire::Languages=en` to have them), embedded by the offline embedder into
// 384 dimensions.
//
// Corpus, honestly enlarged: one document per distinct description (title =
// the short description, body = the long one, about 64,000), then one
// document per distinct paragraph of the long descriptions, then per distinct
// sentence, until 100,000 documents (Quick: 5,000). Texts are deduplicated so
// ties do not blur recall. Queries are other real texts: the short
// descriptions of every k-th package (their documents also hold a body, so a
// query is never identical to a document).
//
// Filters are tags assigned by a hash of the document number, independent of
// the content (as filters on real attributes mostly are): s01 0.1%, s1 1%,
// s5 5%, s10 10%, s20 20%, s50 50% of the documents.
//
//   - vector/knn: HNSW recall@10 against an exact scan, and queries/s at
//     ef_search 40, 100, 200: geoseek (POST /search mode=semantic with the
//     query vector, over loopback HTTP) against the same kNN SQL and its
//     settings through pgx, plus the page's document columns.
//   - vector/filtered: recall@10 and p50 latency at 0.1%, 1%, 10% and 100%
//     selectivity with geoseek's automatic plan, against the same SQL through
//     pgx; and plain HNSW (no iterative scan) for contrast.
//   - vector/threshold: p50 latency of an exact scan of the filtered rows
//     against an iterative HNSW scan at 0.1%..50% selectivity, with each
//     one's recall: where exact stops winning is SemanticConfig.ExactMaxRows.
func init() {
	Register(Scenario{Name: "vector/knn", Run: runVectorKNN})
	Register(Scenario{Name: "vector/filtered", Run: runVectorFiltered})
	Register(Scenario{Name: "vector/threshold", Run: runVectorThreshold})
}

const vecDim = 384

// vecSelectivity maps filter tags to the share of documents carrying them
// (per mille).
var vecSelectivity = []struct {
	tag      string
	perMille int
}{{"s01", 1}, {"s1", 10}, {"s5", 50}, {"s10", 100}, {"s20", 200}, {"s50", 500}}

type vecData struct {
	collection string
	cid        int64
	n          int
	queries    [][]float32
	truth      map[string][][]search.Ranked
}

var (
	vecMu    sync.Mutex
	vecCache = map[bool]*vecData{}
)

// vecSetup loads the corpus once into the bench database (kept across runs)
// and embeds the queries.
func vecSetup(ctx context.Context, env *Env) (*vecData, error) {
	vecMu.Lock()
	defer vecMu.Unlock()
	if d, ok := vecCache[env.Quick]; ok {
		return d, nil
	}
	var hasVec bool
	if err := env.Pool.QueryRow(ctx, `SELECT to_regtype('vector') IS NOT NULL`).Scan(&hasVec); err != nil {
		return nil, err
	}
	if !hasVec {
		return nil, errors.New("vector: pgvector is not installed on the bench server")
	}
	target, nq := 100_000, 100
	name := "bench_vectors"
	if env.Quick {
		target, nq, name = 5_000, 20, "bench_vectors_quick"
	}
	docs, queries, err := vecCorpus(target, nq)
	if err != nil {
		return nil, err
	}
	d := &vecData{collection: name, n: len(docs), truth: map[string][][]search.Ranked{}}
	if err := env.Pool.QueryRow(ctx, `
		INSERT INTO collections (name, title, default_lang, embedder, embedding_dim)
		VALUES ($1, 'Debian package descriptions (vector bench)', 'english', 'offline', $2)
		ON CONFLICT (name) DO UPDATE SET title = EXCLUDED.title RETURNING id`, name, vecDim).Scan(&d.cid); err != nil {
		return nil, fmt.Errorf("vector: collection: %w", err)
	}
	// The rows are reloaded when their number or the embedding column's
	// storage (TOAST strategy, which decides whether vectors sit in the row)
	// differs from the last load's.
	var (
		have            int
		storage, loaded string
	)
	if err := env.Pool.QueryRow(ctx, `
		SELECT (SELECT count(*) FROM documents WHERE collection_id = $1 AND embedding IS NOT NULL),
		       (SELECT attstorage::text FROM pg_attribute WHERE attrelid = 'documents'::regclass AND attname = 'embedding'),
		       coalesce((SELECT props->>'bench_storage' FROM collections WHERE id = $1), '')`, d.cid).Scan(&have, &storage, &loaded); err != nil {
		return nil, err
	}
	if storage != loaded {
		have = -1
	}
	off, err := embedder.NewOffline(vecDim, "english")
	if err != nil {
		return nil, err
	}
	if have != len(docs) {
		env.Logger.Info("vector bench: loading corpus", "docs", len(docs), "had", have)
		if err := vecLoad(ctx, env.Pool, d.cid, off, docs); err != nil {
			return nil, err
		}
		if _, err := env.Pool.Exec(ctx, `UPDATE collections SET props = props || jsonb_build_object('bench_storage', $2::text) WHERE id = $1`, d.cid, storage); err != nil {
			return nil, err
		}
	}
	if d.queries, err = off.Embed(ctx, queries); err != nil {
		return nil, err
	}
	vecCache[env.Quick] = d
	return d, nil
}

type vecDoc struct{ title, body string }

// vecPkg is a Debian package's short and long description.
type vecPkg struct{ short, long string }

// vecDescriptions reads the English package descriptions of the apt lists.
func vecDescriptions() ([]vecPkg, error) {
	files, _ := filepath.Glob("/var/lib/apt/lists/*Translation-en*")
	var pkgs []vecPkg
	for _, f := range files {
		out, err := exec.Command("/usr/lib/apt/apt-helper", "cat-file", f).Output()
		if err != nil {
			return nil, fmt.Errorf("vector: read %s: %w", f, err)
		}
		sc := bufio.NewScanner(bytes.NewReader(out))
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var cur *vecPkg
		var long strings.Builder
		flush := func() {
			if cur != nil {
				cur.long = strings.TrimSpace(long.String())
				pkgs = append(pkgs, *cur)
			}
			cur = nil
			long.Reset()
		}
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "Description-en: "):
				flush()
				cur = &vecPkg{short: strings.TrimPrefix(line, "Description-en: ")}
			case strings.HasPrefix(line, " ") && cur != nil:
				if strings.TrimSpace(line) == "." {
					long.WriteString("\n\n")
				} else {
					long.WriteString(strings.TrimSpace(line) + " ")
				}
			case line == "":
				flush()
			}
		}
		flush()
	}
	if len(pkgs) < 1000 {
		return nil, fmt.Errorf("vector: only %d package descriptions found; run apt-get update -o Acquire::Languages=en", len(pkgs))
	}
	return pkgs, nil
}

// vecCorpus reads the Debian descriptions and builds target distinct
// documents (descriptions, then their paragraphs, then their sentences)
// and nq query texts.
func vecCorpus(target, nq int) ([]vecDoc, []string, error) {
	pkgs, err := vecDescriptions()
	if err != nil {
		return nil, nil, err
	}
	seen := map[string]bool{}
	var docs []vecDoc
	add := func(title, body string) bool {
		key := title + "\x00" + body
		if seen[key] || len(docs) >= target {
			return len(docs) < target
		}
		seen[key] = true
		docs = append(docs, vecDoc{title, body})
		return len(docs) < target
	}
	var queries []string
	step := max(1, len(pkgs)/nq)
	for i, p := range pkgs {
		if i%step == 0 && len(queries) < nq {
			queries = append(queries, p.short)
		}
		add(p.short, p.long)
	}
	for _, p := range pkgs { // paragraphs
		paras := strings.Split(p.long, "\n\n")
		if len(paras) < 2 {
			continue
		}
		for _, para := range paras {
			if para = strings.TrimSpace(para); len(strings.Fields(para)) >= 8 {
				add("", para)
			}
		}
	}
	for _, p := range pkgs { // sentences
		for _, s := range strings.SplitAfter(p.long, ". ") {
			if s = strings.TrimSpace(s); len(strings.Fields(s)) >= 6 {
				add("", s)
			}
		}
	}
	return docs, queries, nil
}

// vecTags are document i's filter tags.
func vecTags(i int) []string {
	h := fnv.New32a()
	fmt.Fprintf(h, "doc-%d", i)
	r := int(h.Sum32() % 1000)
	tags := []string{}
	for _, s := range vecSelectivity {
		if r < s.perMille {
			tags = append(tags, s.tag)
		}
	}
	return tags
}

// vecLoad replaces the collection's documents: embed on every core, COPY
// without the HNSW index, then build the index once (far faster than
// inserting into it row by row).
func vecLoad(ctx context.Context, pool *pgxpool.Pool, cid int64, off *embedder.Offline, docs []vecDoc) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	var idx string
	if err := conn.QueryRow(ctx, `SELECT geoseek_embedding_index_name($1, $2)`, cid, vecDim).Scan(&idx); err != nil {
		return err
	}
	for _, q := range []string{
		`SET statement_timeout = 0`,
		`SET maintenance_work_mem = '2GB'`,
		`DROP INDEX IF EXISTS ` + pgx.Identifier{idx}.Sanitize(),
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("vector: load: %s: %w", q, err)
		}
	}
	if _, err := conn.Exec(ctx, `DELETE FROM documents WHERE collection_id = $1`, cid); err != nil {
		return err
	}
	vecs := make([][]float32, len(docs))
	var wg sync.WaitGroup
	const workers = 2
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(docs); i += workers {
				v := make([]float32, vecDim)
				off.EmbedInto(embedder.Text(docs[i].title, docs[i].body), v)
				vecs[i] = v
			}
		}()
	}
	wg.Wait()
	rows := make([][]any, 0, len(docs))
	for i, d := range docs {
		var emb any
		if !embedder.IsZero(vecs[i]) {
			emb = pgvector.NewVector(vecs[i])
		}
		rows = append(rows, []any{cid, fmt.Sprintf("v%d", i), d.title, d.body, vecTags(i), emb})
	}
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"documents"}, []string{"collection_id", "external_id", "title", "body", "tags", "embedding"}, pgx.CopyFromRows(rows)); err != nil {
		return fmt.Errorf("vector: copy: %w", err)
	}
	if _, err := conn.Exec(ctx, `SELECT geoseek_ensure_embedding_index($1)`, cid); err != nil {
		return fmt.Errorf("vector: build index: %w", err)
	}
	if _, err := conn.Exec(ctx, `ANALYZE documents`); err != nil {
		return err
	}
	return nil
}

// vecTruth is the exact top 10 of each query under a filter (computed once
// per run and filter: exact scans of 100,000 vectors take a while).
func vecTruth(ctx context.Context, sem *search.Semantic, d *vecData, filter search.Filter) ([][]search.Ranked, error) {
	key := ""
	if filter != nil {
		key = filter.Compile(&search.Args{})
		b, _ := json.Marshal(filter)
		key += string(b)
	}
	vecMu.Lock()
	t, ok := d.truth[key]
	vecMu.Unlock()
	if ok {
		return t, nil
	}
	out := make([][]search.Ranked, len(d.queries))
	for i, v := range d.queries {
		hs, _, err := sem.KNN(ctx, search.KNN{CollectionID: d.cid, Dim: vecDim, Vector: v, Filter: filter, Depth: 10, Force: search.PlanExact})
		if err != nil {
			return nil, err
		}
		out[i] = hs
	}
	vecMu.Lock()
	d.truth[key] = out
	vecMu.Unlock()
	return out, nil
}

func vecFilter(tag string) search.Filter {
	if tag == "" {
		return nil
	}
	return search.Tags{Op: search.TagsAll, Values: []string{tag}}
}

// vecRecall is the mean recall@10 of plan over the queries.
func vecRecall(ctx context.Context, sem *search.Semantic, d *vecData, truth [][]search.Ranked, k search.KNN) (float64, string, error) {
	var sum float64
	strategies := map[string]int{}
	for i, v := range d.queries {
		k.Vector = v
		hs, plan, err := sem.KNN(ctx, k)
		if err != nil {
			return 0, "", err
		}
		strategies[plan.Strategy]++
		sum += search.Recall(hs, truth[i])
	}
	var names []string
	for s, n := range strategies {
		names = append(names, fmt.Sprintf("%s×%d", s, n))
	}
	sort.Strings(names)
	return sum / float64(len(d.queries)), strings.Join(names, ","), nil
}

// vecBodies are the POST /search bodies (mode=semantic) of the queries,
// encoded once: the load generator's own JSON encoding of 384 floats per
// request would take CPU from the server on the same cores, while the
// baseline's pgx side gets its vectors ready-made.
func vecBodies(d *vecData, tag string, ef int) [][]byte {
	out := make([][]byte, len(d.queries))
	for i, v := range d.queries {
		body := map[string]any{"collection": d.collection, "mode": "semantic", "vector": v, "limit": 10, "highlight": false}
		if ef > 0 {
			body["ef_search"] = ef
		}
		if tag != "" {
			body["filter"] = map[string]any{"tags": map[string]any{"all": []string{tag}}}
		}
		out[i], _ = json.Marshal(body)
	}
	return out
}

// vecHTTP is one geoseek request: POST /search with body.
func vecHTTP(ctx context.Context, env *Env, body []byte) error {
	return vecPost(ctx, env, env.BaseURL+"/search", body)
}

// vecPost posts body to url and reads the whole answer, which must be 200.
func vecPost(ctx context.Context, env *Env, url string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if env.AdminKey != "" {
		req.Header.Set("Authorization", "Bearer "+env.AdminKey)
	}
	resp, err := env.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST %s: %s", url, resp.Status)
	}
	return nil
}

// vecBaseline runs the statements geoseek runs for a plan — its settings
// and its kNN query, with the page's document columns joined in (what
// geoseek returns: the fields of a hit, period included) — through pgx in
// one batch, discarding the rows. Like geoseek it fetches one row more than
// the page of k.Depth, which tells whether another page follows.
func vecBaseline(ctx context.Context, pool *pgxpool.Pool, sem *search.Semantic, k search.KNN, strategy string) error {
	k.Depth++
	setSQL, setArgs, sql, args := sem.Statements(k, strategy)
	b := &pgx.Batch{}
	b.Queue(setSQL, setArgs...)
	b.Queue(`SELECT d.id, d.external_id, d.title, d.lang::text, d.tags, d.props::text, d.period, ST_AsGeoJSON(d.geom), d.created_at, d.updated_at, 1 - knn.distance
		FROM (`+sql+`) knn JOIN documents d ON d.id = knn.id ORDER BY knn.distance`, args...)
	return pool.SendBatch(ctx, b).Close()
}

// vecNext returns a function cycling through 0..n-1, for concurrent use.
func vecNext(n int) func() int {
	var (
		mu sync.Mutex
		i  int
	)
	return func() int {
		mu.Lock()
		defer mu.Unlock()
		i++
		return i % n
	}
}

func vecLoadParams(env *Env) (workers, n int, d time.Duration) {
	if env.Quick {
		return 2, 100, 3 * time.Second
	}
	return 4, 2000, 15 * time.Second
}

// vecPaired runs geoseek and the baseline alternately in rounds (each round
// gets n/rounds calls and d/rounds time per side), so that load from other
// processes on the machine falls on both alike; it returns each side's
// throughput over all rounds and the median of its per-round percentiles.
func vecPaired(ctx context.Context, env *Env, g, b func(context.Context) error) (Stats, Stats) {
	workers, n, d := vecLoadParams(env)
	rounds := 5
	if env.Quick {
		rounds = 1
	}
	var gs, bs []Stats
	for range rounds {
		gs = append(gs, Load(ctx, workers, n/rounds, d/time.Duration(rounds), g))
		bs = append(bs, Load(ctx, workers, n/rounds, d/time.Duration(rounds), b))
	}
	return vecMerge(gs), vecMerge(bs)
}

func vecMerge(ss []Stats) Stats {
	var out Stats
	var p50, p95 []time.Duration
	var cpuSelf, cpuPG time.Duration
	for _, s := range ss {
		out.N += s.N
		out.Errors += s.Errors
		out.Elapsed += s.Elapsed
		cpuSelf += s.CPUSelf * time.Duration(s.N)
		cpuPG += s.CPUPG * time.Duration(s.N)
		p50, p95 = append(p50, s.P50), append(p95, s.P95)
	}
	if out.Elapsed > 0 {
		out.PerSec = float64(out.N) / out.Elapsed.Seconds()
	}
	if out.N > 0 {
		out.CPUSelf, out.CPUPG = cpuSelf/time.Duration(out.N), cpuPG/time.Duration(out.N)
	}
	sort.Slice(p50, func(i, j int) bool { return p50[i] < p50[j] })
	sort.Slice(p95, func(i, j int) bool { return p95[i] < p95[j] })
	out.P50, out.P95 = p50[len(p50)/2], p95[len(p95)/2]
	return out
}

func runVectorKNN(ctx context.Context, env *Env) ([]Result, error) {
	d, err := vecSetup(ctx, env)
	if err != nil {
		return nil, err
	}
	set, _ := embedder.NewSet(embedder.Config{})
	sem := search.NewSemantic(env.Pool, set, search.SemanticConfig{})
	truth, err := vecTruth(ctx, sem, d, nil)
	if err != nil {
		return nil, err
	}
	var out []Result
	for _, ef := range []int{40, 100, 150, 200} {
		recall, _, err := vecRecall(ctx, sem, d, truth, search.KNN{CollectionID: d.cid, Dim: vecDim, Depth: 10, EfSearch: ef, Force: search.PlanHNSW})
		if err != nil {
			return nil, err
		}
		bodies := vecBodies(d, "", ef)
		next := vecNext(len(d.queries))
		g, b := vecPaired(ctx, env, func(ctx context.Context) error { return vecHTTP(ctx, env, bodies[next()]) },
			func(ctx context.Context) error {
				k := search.KNN{CollectionID: d.cid, Dim: vecDim, Vector: d.queries[next()], Depth: 10, EfSearch: ef}
				return vecBaseline(ctx, env.Pool, sem, k, search.PlanHNSW)
			})
		out = append(out, Result{
			Scenario: fmt.Sprintf("vector/knn ef_search=%d", ef), Geoseek: g.PerSec, Baseline: b.PerSec, Unit: "q/s",
			Note: fmt.Sprintf("recall@10=%.3f n=%d dim=%d; geoseek p50 %s, pgx p50 %s; errors %d/%d; %s", recall, d.n, vecDim, g.P50.Round(10*time.Microsecond), b.P50.Round(10*time.Microsecond), g.Errors, b.Errors, CPUNote(g, b)),
		})
	}
	return out, nil
}

func runVectorFiltered(ctx context.Context, env *Env) ([]Result, error) {
	d, err := vecSetup(ctx, env)
	if err != nil {
		return nil, err
	}
	set, _ := embedder.NewSet(embedder.Config{})
	sem := search.NewSemantic(env.Pool, set, search.SemanticConfig{})
	var out []Result
	for _, sel := range []struct{ tag, name string }{{"s01", "0.1%"}, {"s1", "1%"}, {"s10", "10%"}, {"", "100%"}} {
		filter := vecFilter(sel.tag)
		truth, err := vecTruth(ctx, sem, d, filter)
		if err != nil {
			return nil, err
		}
		k := search.KNN{CollectionID: d.cid, Dim: vecDim, Depth: 10, Filter: filter}
		recall, plans, err := vecRecall(ctx, sem, d, truth, k)
		if err != nil {
			return nil, err
		}
		plain := k
		plain.Force = search.PlanHNSW
		plainRecall, _, err := vecRecall(ctx, sem, d, truth, plain)
		if err != nil {
			return nil, err
		}
		// The plan geoseek picks for this filter, for the baseline.
		k.Vector = d.queries[0]
		_, plan, err := sem.KNN(ctx, k)
		if err != nil {
			return nil, err
		}
		bodies := vecBodies(d, sel.tag, 0)
		next := vecNext(len(d.queries))
		g, b := vecPaired(ctx, env, func(ctx context.Context) error { return vecHTTP(ctx, env, bodies[next()]) },
			func(ctx context.Context) error {
				kk := k
				kk.Vector = d.queries[next()]
				return vecBaseline(ctx, env.Pool, sem, kk, plan.Strategy)
			})
		note := fmt.Sprintf("recall@10=%.3f plans %s; plain hnsw recall %.3f; q/s %.0f vs %.0f; p95 %s vs %s; errors %d/%d; %s",
			recall, plans, plainRecall, g.PerSec, b.PerSec, g.P95.Round(10*time.Microsecond), b.P95.Round(10*time.Microsecond), g.Errors, b.Errors, CPUNote(g, b))
		if sel.tag == "s01" {
			// The lightest query: how much of the gap any HTTP service has.
			ceil, err := vecCeiling(ctx, env, func(ctx context.Context) error {
				kk := k
				kk.Vector = d.queries[next()]
				return vecBaseline(ctx, env.Pool, sem, kk, plan.Strategy)
			})
			if err != nil {
				return nil, err
			}
			note += "; " + ceil
		}
		out = append(out, Result{
			Scenario: "vector/filtered " + sel.name + " p50", Geoseek: ms(g.P50), Baseline: ms(b.P50), Unit: "ms", LowerIsBetter: true,
			Note: note,
		})
	}
	return out, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// vecCeiling measures a bare net/http handler that runs the baseline's
// statements (base) and answers 200 with no body, over the same load
// generator, against base itself: the throughput ratio any HTTP service
// could reach for this query on this machine. What geoseek's own code
// could still gain is the difference between its ratio and this one.
func vecCeiling(ctx context.Context, env *Env, base func(context.Context) error) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if err := base(r.Context()); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	url := "http://" + ln.Addr().String() + "/search"
	body := []byte(`{}`)
	f, b := vecPaired(ctx, env, func(ctx context.Context) error { return vecPost(ctx, env, url, body) }, base)
	if f.Errors > 0 || b.Errors > 0 {
		return "", fmt.Errorf("bare net/http ceiling: errors %d/%d", f.Errors, b.Errors)
	}
	return fmt.Sprintf("bare net/http handler running the baseline's statements: %.0f vs %.0f q/s, ratio %.2f (p50 %.2f vs %.2f ms), CPU per call %d µs in Go + %d µs in PostgreSQL",
		f.PerSec, b.PerSec, f.PerSec/b.PerSec, ms(f.P50), ms(b.P50), f.CPUSelf.Microseconds(), f.CPUPG.Microseconds()), nil
}

func runVectorThreshold(ctx context.Context, env *Env) ([]Result, error) {
	d, err := vecSetup(ctx, env)
	if err != nil {
		return nil, err
	}
	set, _ := embedder.NewSet(embedder.Config{})
	sem := search.NewSemantic(env.Pool, set, search.SemanticConfig{})
	// 20 queries per point: exact scans of tens of thousands of rows are
	// slow, which is the point, and 50% is left out for that reason.
	dq := *d
	dq.queries = d.queries[:min(20, len(d.queries))]
	dq.truth = map[string][][]search.Ranked{}
	d = &dq
	var out []Result
	for _, sel := range vecSelectivity {
		if sel.perMille > 200 {
			continue
		}
		filter := vecFilter(sel.tag)
		truth, err := vecTruth(ctx, sem, d, filter)
		if err != nil {
			return nil, err
		}
		lat := map[string]Stats{}
		rec := map[string]float64{}
		for _, strategy := range []string{search.PlanExact, search.PlanIterative} {
			k := search.KNN{CollectionID: d.cid, Dim: vecDim, Depth: 10, Filter: filter, Force: strategy}
			if rec[strategy], _, err = vecRecall(ctx, sem, d, truth, k); err != nil {
				return nil, err
			}
			i := 0
			var mu sync.Mutex
			// One worker: latency of one query at a time.
			lat[strategy] = Load(ctx, 1, len(d.queries), 10*time.Second, func(ctx context.Context) error {
				mu.Lock()
				kk := k
				kk.Vector = d.queries[i%len(d.queries)]
				i++
				mu.Unlock()
				_, _, err := sem.KNN(ctx, kk)
				return err
			})
		}
		rows := d.n * sel.perMille / 1000
		out = append(out, Result{
			Scenario: fmt.Sprintf("vector/threshold %.1f%% (~%d rows) exact vs iterative p50", float64(sel.perMille)/10, rows),
			Geoseek:  ms(lat[search.PlanExact].P50), Baseline: ms(lat[search.PlanIterative].P50), Unit: "ms", LowerIsBetter: true,
			Note: fmt.Sprintf("recall exact %.3f, iterative %.3f (ef %d, relaxed order)", rec[search.PlanExact], rec[search.PlanIterative], sem.Config().IterativeEfSearch),
		})
	}
	return out, nil
}
