package search

// Semantic search: k nearest neighbours by cosine distance over pgvector,
// restricted by the same compiled filter as keyword search.
//
// Index. migrations/features/vector.sql gives each collection a partial HNSW
// index on (embedding::vector(<dim>)) vector_cosine_ops WHERE collection_id =
// <id>. The planner uses it only when the query orders by exactly that
// expression and its WHERE implies exactly that predicate, so both the
// dimension and the collection id are written into the SQL text as integer
// literals (they come from the collections row, never from the request).
//
// Plans for filtered kNN. An HNSW scan visits ef_search candidates and then
// applies the filter, so a selective filter leaves fewer than k rows.
// pgvector 0.8's iterative scan keeps going until k rows pass the filter,
// but at low selectivity its recall falls, while an exact scan of the
// filtered rows, found through the filter's own indexes, is both exact and
// fast when there are few of them (the measurements, cmd/geoseek-bench
// vector/threshold, are in docs/performance.md, "Filtered kNN plans"). So
// each query picks its plan from the filter's
// estimated row count (counted in a sample of the table's pages, or
// PostgreSQL's estimate when the sample holds too few of the collection's
// rows; reused for the same filter within estimateTTL):
//
//   - no filter: HNSW with ef_search = max(requested or default, depth);
//   - at most ExactMaxRows estimated rows, or less than
//     MinIterativeSelectivity of the collection: exact scan of the filtered
//     rows (ORDER BY distance + 0, which no index can serve);
//   - more: iterative HNSW scan (relaxed order, re-sorted) with a larger
//     ef_search; if it still returns fewer than depth rows (the estimate was
//     too high, or max_scan_tuples ran out) the query is repeated exactly.
//
// Settings apply with set_config(..., is_local => true) in the same pgx batch
// as the query: a batch is one implicit transaction, so they last for exactly
// that query, cost no extra round trip, and never leak to other users of the
// pooled connection. plan_cache_mode=force_custom_plan keeps PostgreSQL from
// switching a prepared kNN statement to a generic plan that cannot see the
// filter's values.

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pgvector/pgvector-go"

	"github.com/geoseek/geoseek/document"
	embedder "github.com/geoseek/geoseek/embed"
	"github.com/geoseek/geoseek/internal/pg"
	"github.com/geoseek/geoseek/internal/problem"
)

// Semantic plan names, as reported by explain.
const (
	PlanHNSW      = "hnsw"
	PlanIterative = "hnsw-iterative"
	PlanExact     = "exact"
)

// MaxSemanticDepth is the most ranked hits a semantic list holds (page
// offset + limit, or the hybrid candidate depth). pgvector's ef_search is at
// most 1,000, and deeper kNN pages are rarely meaningful.
const MaxSemanticDepth = 1000

// DefaultEfSearch is hnsw.ef_search when neither the request nor the
// configuration sets one: the least that keeps recall@10 with a margin
// above the 0.95 target on the bench's real-text vectors (pgvector's
// default of 40 falls short; docs/performance.md, "Filtered kNN plans");
// requests may ask for less.
const DefaultEfSearch = 200

// SemanticConfig tunes semantic search. Zero values take the defaults.
type SemanticConfig struct {
	// DefaultEfSearch is hnsw.ef_search when the request sets none
	// (default DefaultEfSearch).
	DefaultEfSearch int
	// ExactMaxRows: filters whose estimated row count is at most this are
	// searched exactly (default 5,000): up to about there an exact scan is
	// not much slower than an iterative HNSW scan and has full recall
	// (docs/performance.md, "Filtered kNN plans").
	ExactMaxRows int
	// MinIterativeSelectivity: filters leaving a smaller share of the
	// collection are searched exactly however many rows that is (default
	// 0.05), because an iterative scan's recall falls with the share of rows
	// that pass the filter, not with their number. Large collections pay for
	// this with slower exact scans; lower it to trade recall for speed.
	MinIterativeSelectivity float64
	// IterativeEfSearch is the least ef_search of iterative scans (default
	// 400), where the recall of iterative scans stops growing much
	// (docs/performance.md, "Filtered kNN plans").
	IterativeEfSearch int
	// MaxScanTuples bounds an iterative scan (hnsw.max_scan_tuples,
	// default 50,000).
	MaxScanTuples int
	// Collections is the collections cache to read through; nil: one of
	// its own on the pool. Share the search Service's (Config.Collections).
	Collections *document.Collections
}

func (c *SemanticConfig) defaults() {
	if c.DefaultEfSearch <= 0 {
		c.DefaultEfSearch = DefaultEfSearch
	}
	if c.ExactMaxRows <= 0 {
		c.ExactMaxRows = 5000
	}
	if c.MinIterativeSelectivity <= 0 {
		c.MinIterativeSelectivity = 0.05
	}
	if c.IterativeEfSearch <= 0 {
		c.IterativeEfSearch = 400
	}
	if c.MaxScanTuples <= 0 {
		c.MaxScanTuples = 50000
	}
}

// Semantic runs semantic and hybrid rankings. It is safe for concurrent use.
type Semantic struct {
	pool *pgxpool.Pool
	set  *embedder.Set
	cfg  SemanticConfig

	mu        sync.Mutex
	vecOK     bool
	vecAt     time.Time
	vecRecent time.Duration

	colls *document.Collections

	estMu     sync.Mutex
	estimates map[string]cachedEstimate // collection, filter SQL, values -> estimate
}

// NewSemantic returns the semantic ranker over pool, embedding query texts
// with set.
func NewSemantic(pool *pgxpool.Pool, set *embedder.Set, cfg SemanticConfig) *Semantic {
	cfg.defaults()
	s := &Semantic{pool: pool, set: set, cfg: cfg, vecRecent: 10 * time.Second, colls: cfg.Collections}
	if s.colls == nil {
		s.colls = document.NewCollections(pool)
	}
	return s
}

// Config returns the effective configuration.
func (s *Semantic) Config() SemanticConfig { return s.cfg }

// Ranked is one hit of one ranking: the document id, its 1-based rank and
// its score (semantic: cosine similarity in -1..1; keyword: the keyword
// ranker's score).
type Ranked struct {
	ID    int64   `json:"id"`
	Rank  int     `json:"rank"`
	Score float64 `json:"score"`
}

// SemanticPlan says how a semantic list was computed (for explain=true).
type SemanticPlan struct {
	Strategy string `json:"strategy"`
	// EstimatedRows is PostgreSQL's estimate of the filtered rows (-1 when
	// there was no filter).
	EstimatedRows float64 `json:"estimated_rows"`
	EfSearch      int     `json:"ef_search,omitempty"`
	// Fallback is true when an iterative scan returned too few rows and the
	// query was repeated exactly.
	Fallback bool `json:"fallback,omitempty"`
	// Embedded is true when the query vector was computed from q.
	Embedded bool   `json:"embedded"`
	Model    string `json:"model,omitempty"`
}

// VectorAvailable reports whether the database has pgvector and geoseek's
// vector feature. A missing extension is re-checked at most every 10
// seconds, so installing pgvector (and migrating) needs no restart.
func (s *Semantic) VectorAvailable(ctx context.Context) (bool, error) {
	s.mu.Lock()
	if s.vecOK || time.Since(s.vecAt) < s.vecRecent {
		ok := s.vecOK
		s.mu.Unlock()
		return ok, nil
	}
	s.mu.Unlock()
	var ok bool
	err := s.pool.QueryRow(ctx, `
		SELECT to_regtype('vector') IS NOT NULL AND EXISTS (
		  SELECT 1 FROM pg_attribute
		   WHERE attrelid = 'documents'::regclass AND attname = 'embedding' AND NOT attisdropped)`).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("search: check pgvector: %w", pg.Interpret(err))
	}
	s.mu.Lock()
	s.vecOK, s.vecAt = ok, time.Now()
	s.mu.Unlock()
	return ok, nil
}

// errNoVector is the 503 for vector requests on a server without pgvector.
func errNoVector() error {
	return fmt.Errorf("semantic search needs the pgvector extension (vector), which this PostgreSQL server does not have: %w", problem.ErrExtensionMissing)
}

// vecCollection is what semantic search needs of a collection.
type vecCollection struct {
	id   int64
	spec embedder.Spec
	// storage is collections.embedding_storage: "vector" or "halfvec".
	storage string
}

// collection returns the collection's settings from the collections cache
// (at most document.CollectionTTL old: a changed model or language applies
// to queries within this time), read afresh when the cached row disagrees
// with what the caller knows (want: the id and dimension the search Plan
// just read; zero values when unknown).
func (s *Semantic) collection(ctx context.Context, name string, want vecCollection) (vecCollection, error) {
	c, err := s.colls.Get(ctx, name)
	if err == nil && want.id != 0 && (want.id != c.ID || want.spec.Dim != dimOf(c)) {
		c, err = s.colls.Load(ctx, name)
	}
	if err != nil {
		if errors.Is(err, problem.ErrNotFound) {
			return vecCollection{}, fmt.Errorf("collection %q: %w", name, problem.ErrNotFound)
		}
		return vecCollection{}, fmt.Errorf("search: load collection: %w", err)
	}
	return vecCollection{
		id:      c.ID,
		spec:    embedder.Spec{Embedder: c.Embedder, Model: c.EmbeddingModel, Dim: dimOf(c), Lang: c.DefaultLang},
		storage: c.EmbeddingStorage,
	}, nil
}

// dimOf is c's embedding dimension (0: none).
func dimOf(c *document.Collection) int {
	if c.EmbeddingDim == nil {
		return 0
	}
	return *c.EmbeddingDim
}

// queryVector is the request's vector, validated, or q embedded with the
// collection's embedder. A raw vector wins over q (in hybrid mode q still
// drives the keyword list).
func (s *Semantic) queryVector(ctx context.Context, q *Query, c vecCollection, plan *SemanticPlan) ([]float32, error) {
	if c.spec.Dim == 0 {
		return nil, problem.Invalid("mode", "collection %q stores no vectors (it has no embedding dimension)", q.Collection)
	}
	if q.Vector != nil {
		if err := embedder.Validate("vector", q.Vector, c.spec.Dim); err != nil {
			return nil, err
		}
		if c.storage == StorageHalfvec {
			for i, x := range q.Vector {
				if x > maxHalf || x < -maxHalf {
					return nil, problem.Invalid("vector", "element %d is %v; this collection's index stores half precision, within ±%v", i, x, maxHalf)
				}
			}
		}
		return q.Vector, nil
	}
	if q.Text == "" {
		return nil, problem.Invalid("q", "%s search needs q (text to embed) or vector", q.Mode)
	}
	e, err := s.set.For(c.spec)
	if err != nil {
		return nil, err
	}
	vs, err := e.Embed(ctx, []string{q.Text})
	if err != nil {
		return nil, fmt.Errorf("search: embed q: %w", err)
	}
	if embedder.IsZero(vs[0]) {
		return nil, problem.Invalid("q", "has no words to embed")
	}
	plan.Embedded, plan.Model = true, e.Model()
	return vs[0], nil
}

// Nearest ranks the documents of q.Collection that match q.Filter by cosine
// similarity to q.Vector (or to q.Text embedded by the collection's
// embedder), best first, returning at most depth hits (depth in
// 1..MaxSemanticDepth). Hits below q.MinSimilarity are dropped.
//
// Errors: problem.ErrExtensionMissing (503) without pgvector;
// problem.ErrNotFound for an unknown collection; *problem.ValidationError for
// a vector of the wrong dimension, NaN/Inf or all zeros, or a q with nothing
// to embed; problem.ErrUnavailable when the embedding service fails.
func (s *Semantic) Nearest(ctx context.Context, q *Query, depth int) ([]Ranked, SemanticPlan, error) {
	return s.nearest(ctx, q, depth, vecCollection{})
}

// nearest is Nearest for a collection whose id and dimension the caller may
// already know (known; zero values when not).
func (s *Semantic) nearest(ctx context.Context, q *Query, depth int, known vecCollection) ([]Ranked, SemanticPlan, error) {
	k, plan, err := s.prepareKNN(ctx, q, depth, known)
	if err != nil {
		return nil, plan, err
	}
	hits, kp, err := s.KNN(ctx, k)
	if err != nil {
		return nil, plan, err
	}
	plan.Strategy, plan.EstimatedRows, plan.EfSearch, plan.Fallback = kp.Strategy, kp.EstimatedRows, kp.EfSearch, kp.Fallback
	return keepSimilar(hits, rankedScore, q.MinSimilarity), plan, nil
}

// keepSimilar drops, in place, the items scoring below min (nil keeps
// them all). A kNN list is sorted by distance, so what it drops is a tail
// and the ranks of the rest stay as they are.
func keepSimilar[T any](items []T, score func(*T) float64, min *float64) []T {
	if min == nil {
		return items
	}
	n := 0
	for i := range items {
		if score(&items[i]) >= *min {
			items[n] = items[i]
			n++
		}
	}
	return items[:n]
}

func rankedScore(r *Ranked) float64 { return r.Score }

// prepareKNN checks that vectors are available and turns q into the kNN
// query of its collection (embedding q.Text when there is no raw vector).
// The plan it returns says only whether and how q was embedded.
func (s *Semantic) prepareKNN(ctx context.Context, q *Query, depth int, known vecCollection) (KNN, SemanticPlan, error) {
	plan := SemanticPlan{EstimatedRows: -1}
	if depth < 1 || depth > MaxSemanticDepth {
		return KNN{}, plan, problem.Invalid("limit", "semantic results end at %d hits", MaxSemanticDepth)
	}
	ok, err := s.VectorAvailable(ctx)
	if err != nil {
		return KNN{}, plan, err
	}
	if !ok {
		return KNN{}, plan, errNoVector()
	}
	c, err := s.collection(ctx, q.Collection, known)
	if err != nil {
		return KNN{}, plan, err
	}
	vec, err := s.queryVector(ctx, q, c, &plan)
	if err != nil {
		return KNN{}, plan, err
	}
	return KNN{
		CollectionID: c.id, Dim: c.spec.Dim, Vector: vec, Filter: q.Filter, Depth: depth,
		EfSearch: q.EfSearch, Storage: c.storage,
	}, plan, nil
}

// KNN is one k-nearest-neighbour query over a collection's vectors.
type KNN struct {
	CollectionID int64
	Dim          int
	Vector       []float32
	// Filter restricts the rows (nil: none); it compiles over alias d.
	Filter Filter
	Depth  int
	// EfSearch is the requested hnsw.ef_search; 0 takes the default.
	EfSearch int
	// Force, when set, skips the plan choice (PlanHNSW, PlanIterative or
	// PlanExact); benchmarks and tests use it to compare plans.
	Force string
	// Storage is the element type of the collection's HNSW index:
	// StorageVector ("" too) or StorageHalfvec.
	Storage string
}

// Index element types (collections.embedding_storage).
const (
	StorageVector  = "vector"
	StorageHalfvec = "halfvec"
)

// maxHalf is the largest finite float16.
const maxHalf = 65504

// KNN runs k and returns the hits best first with their plan. Its SQL is the
// one SemanticSQL prints for the same plan.
func (s *Semantic) KNN(ctx context.Context, k KNN) ([]Ranked, SemanticPlan, error) {
	plan := SemanticPlan{EstimatedRows: -1}
	strategy, err := s.choose(ctx, k, &plan)
	if err != nil {
		return nil, plan, err
	}
	var hits []Ranked
	err = runWithFallback(k, strategy, &plan, func(strategy string) (found, ef int, err error) {
		hits, ef, err = s.run(ctx, k, strategy)
		return len(hits), ef, err
	})
	if err != nil {
		return nil, plan, err
	}
	return hits, plan, nil
}

// runWithFallback runs k under strategy with run, which returns how many
// rows of k's list it found. When an iterative scan finds fewer than
// k.Depth, too few rows passed the filter within max_scan_tuples: the
// filter matches fewer rows than estimated, and exact is right for those,
// so run goes again with PlanExact (a forced plan is kept). plan records
// the strategy that answered, its ef_search and whether it fell back.
func runWithFallback(k KNN, strategy string, plan *SemanticPlan, run func(strategy string) (found, ef int, err error)) error {
	found, ef, err := run(strategy)
	if err != nil {
		return err
	}
	if strategy == PlanIterative && found < k.Depth && k.Force == "" {
		plan.Fallback = true
		strategy = PlanExact
		if _, ef, err = run(strategy); err != nil {
			return err
		}
	}
	plan.Strategy, plan.EfSearch = strategy, ef
	return nil
}

// choose checks k and picks its plan: k.Force when set, plain HNSW without
// a filter, else by the filter's estimated row count (recorded in plan).
func (s *Semantic) choose(ctx context.Context, k KNN, plan *SemanticPlan) (string, error) {
	if k.Dim < 1 || k.Dim > embedder.MaxDim || len(k.Vector) != k.Dim {
		return "", problem.Invalid("vector", "has %d dimensions, the collection's vectors have %d", len(k.Vector), k.Dim)
	}
	if k.Force != "" {
		return k.Force, nil
	}
	if k.Filter == nil || isEmptyFilter(k.Filter) {
		return PlanHNSW, nil
	}
	est, total, err := s.estimate(ctx, k)
	if err != nil {
		return "", err
	}
	plan.EstimatedRows = est
	if est <= float64(s.cfg.ExactMaxRows) || est < s.cfg.MinIterativeSelectivity*total {
		return PlanExact, nil
	}
	return PlanIterative, nil
}

func isEmptyFilter(f Filter) bool {
	a, ok := f.(And)
	return ok && len(a) == 0
}

// SemanticSQL builds the kNN statement for a plan: the SQL text and its
// arguments (the filter's first, the query vector last).
func SemanticSQL(k KNN, strategy string) (string, []any) {
	a := &Args{}
	return semanticSQL(a, k, strategy), a.Values()
}

// semanticSQL is SemanticSQL binding its values into a: a statement
// yielding (id, distance) rows, best first.
func semanticSQL(a *Args, k KNN, strategy string) string {
	where := "d.collection_id = " + strconv.FormatInt(k.CollectionID, 10)
	if k.Filter != nil && !isEmptyFilter(k.Filter) {
		where += " AND (" + k.Filter.Compile(a) + ")"
	}
	dim := strconv.Itoa(k.Dim)
	where += " AND d.embedding IS NOT NULL"
	if strategy == PlanExact {
		// vector_dims guards the cast when no index does: a row left with
		// another dimension (the collection's dimension changed,
		// re-embedding pending) is skipped, not an error for the whole
		// query. The HNSW plans leave it out: the planner cannot estimate
		// it (it guesses 0.5% of the rows) and would then scan
		// sequentially instead of using the index, and rows of another
		// dimension cannot be in the collection's index anyway.
		where += " AND vector_dims(d.embedding) = " + dim
	}
	v := a.Add(pgvector.NewVector(k.Vector)) + "::vector(" + dim + ")"
	dist := "(d.embedding::vector(" + dim + ") <=> " + v + ")"
	if k.Storage == StorageHalfvec && strategy != PlanExact {
		// The index's own expression; exact scans keep full precision.
		dist = "(d.embedding::halfvec(" + dim + ") <=> " + v + "::halfvec(" + dim + "))"
	}
	// LIMIT is a parameter (fewer distinct statements to prepare); plans
	// are custom, so the planner still sees its value.
	limit := a.Add(k.Depth) + "::int"
	var sql string
	switch strategy {
	case PlanExact:
		// "+ 0" makes the sort key an expression no index provides, so the
		// rows come from the filter's indexes and are sorted exactly.
		sql = "SELECT d.id, " + dist + " AS distance FROM documents d WHERE " + where +
			" ORDER BY " + dist + " + 0, d.id LIMIT " + limit
	case PlanIterative:
		// relaxed_order may return rows slightly out of order; the
		// materialized CTE re-sorts them, as pgvector recommends.
		sql = "WITH knn AS MATERIALIZED (SELECT d.id, " + dist + " AS distance FROM documents d WHERE " + where +
			" ORDER BY " + dist + " LIMIT " + limit + ") SELECT id, distance FROM knn ORDER BY distance, id"
	default:
		sql = "SELECT d.id, " + dist + " AS distance FROM documents d WHERE " + where +
			" ORDER BY " + dist + " LIMIT " + limit
	}
	return sql
}

// settings returns the session settings (name, value) of a plan.
func (s *Semantic) settings(k KNN, strategy string) (ef int, set [][2]string) {
	ef = k.EfSearch
	if ef <= 0 {
		ef = s.cfg.DefaultEfSearch
	}
	if strategy == PlanIterative {
		ef = max(ef, s.cfg.IterativeEfSearch)
	}
	ef = min(max(ef, k.Depth), 1000)
	set = [][2]string{{"plan_cache_mode", "force_custom_plan"}}
	switch strategy {
	case PlanExact:
		return 0, set
	case PlanIterative:
		set = append(set, [2]string{"hnsw.iterative_scan", "relaxed_order"},
			[2]string{"hnsw.max_scan_tuples", strconv.Itoa(max(s.cfg.MaxScanTuples, k.Depth))})
	default:
		// Deeper than ef_search allows: let the scan continue (strict order
		// keeps the result exactly sorted).
		if k.Depth > ef {
			set = append(set, [2]string{"hnsw.iterative_scan", "strict_order"})
		}
	}
	return ef, append(set, [2]string{"hnsw.ef_search", strconv.Itoa(ef)})
}

// settingsSQL is one statement applying settings for the current
// transaction only (set_config's is_local).
func settingsSQL(set [][2]string) (string, []any) {
	var b strings.Builder
	args := make([]any, 0, 2*len(set))
	b.WriteString("SELECT ")
	for i, kv := range set {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "set_config($%d, $%d, true)", 2*i+1, 2*i+2)
		args = append(args, kv[0], kv[1])
	}
	return b.String(), args
}

// Statements returns the two statements run for k with a plan: the
// settings (set_config) and the kNN query, each with its arguments.
// Benchmarks run them through plain pgx as the baseline.
func (s *Semantic) Statements(k KNN, strategy string) (setSQL string, setArgs []any, sql string, args []any) {
	_, set := s.settings(k, strategy)
	setSQL, setArgs = settingsSQL(set)
	sql, args = SemanticSQL(k, strategy)
	return setSQL, setArgs, sql, args
}

// run executes one plan: settings and query in one batch (one implicit
// transaction, one round trip).
func (s *Semantic) run(ctx context.Context, k KNN, strategy string) ([]Ranked, int, error) {
	a := &Args{}
	sql := semanticSQL(a, k, strategy)
	type row struct {
		id   int64
		dist float64
	}
	var got []row
	ef, err := s.exec(ctx, k, strategy, sql, a.Values(), nil, func(rows pgx.Rows) error {
		var r row
		_, err := pgx.ForEachRow(rows, []any{&r.id, &r.dist}, func() error {
			if !math.IsNaN(r.dist) { // a stored zero vector has no direction
				got = append(got, r)
			}
			return nil
		})
		return err
	})
	// Ranked as the page statement ranks, by (distance, id): an HNSW scan
	// returns rows in the index's own order, whose distances (inner
	// products of normalized vectors) can differ in the last bits from
	// the cosine distance each row reports, so near ties would otherwise
	// come out in another order than semantic mode's.
	slices.SortStableFunc(got, func(a, b row) int {
		if c := cmp.Compare(a.dist, b.dist); c != 0 {
			return c
		}
		return cmp.Compare(a.id, b.id)
	})
	hits := make([]Ranked, len(got))
	for i, r := range got {
		hits[i] = Ranked{ID: r.id, Rank: i + 1, Score: 1 - r.dist}
	}
	return hits, ef, err
}

// exec runs sql — the kNN statement of k under strategy, or a statement
// built around it — after the plan's settings, in one batch (one implicit
// transaction, so the settings last for exactly this statement; one round
// trip). scan reads its rows; extra, when set, queues more statements
// after it in the same batch. It returns the ef_search applied.
func (s *Semantic) exec(ctx context.Context, k KNN, strategy, sql string, args []any, extra func(*pgx.Batch), scan func(pgx.Rows) error) (int, error) {
	ef, set := s.settings(k, strategy)
	b := &pgx.Batch{}
	setSQL, setArgs := settingsSQL(set)
	b.Queue(setSQL, setArgs...)
	b.Queue(sql, args...).Query(scan)
	if extra != nil {
		extra(b)
	}
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		// pgvector may have been removed since it was last seen (the errors
		// then vary: undefined column, or a stale type in a cached
		// statement); look again before calling it a failure.
		s.mu.Lock()
		s.vecOK, s.vecAt = false, time.Time{}
		s.mu.Unlock()
		if ok, cerr := s.VectorAvailable(ctx); cerr == nil && !ok {
			return 0, errNoVector()
		}
		return 0, fmt.Errorf("search: semantic %s: %w", strategy, pg.Interpret(err))
	}
	return ef, nil
}

// explain returns PostgreSQL's plan (EXPLAIN, JSON) of k under a plan's
// settings, prepared and bound as run prepares and binds it.
func (s *Semantic) explain(ctx context.Context, k KNN, strategy string) (string, error) {
	sql, args := SemanticSQL(k, strategy)
	_, set := s.settings(k, strategy)
	setSQL, setArgs := settingsSQL(set)
	b := &pgx.Batch{}
	b.Queue(setSQL, setArgs...)
	var out string
	b.Queue("EXPLAIN (FORMAT JSON) "+sql, args...).QueryRow(func(r pgx.Row) error { return r.Scan(&out) })
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return "", fmt.Errorf("search: explain: %w", pg.Interpret(err))
	}
	return out, nil
}

// estimateTTL is how long the estimate for one filter is reused. The
// planner's estimates change only with the statistics (ANALYZE, usually by
// autovacuum), and filters repeat (a tag, a region, a period a client
// offers), so most queries need no EXPLAIN of their own: two EXPLAINs cost a
// round trip and two plannings per query, a tenth of the work of a filtered
// exact scan of a few hundred rows.
const estimateTTL = 30 * time.Second

// maxEstimates bounds the estimate cache; when it is full it starts over.
const maxEstimates = 4096

type cachedEstimate struct {
	rows, total float64
	at          time.Time
}

// estimate says how many of the collection's rows with a vector the filter
// leaves, and how many there are in all: from a sample (sampleEstimate), or
// from the planner when the sample is too thin, or the answer for the same
// filter within estimateTTL.
func (s *Semantic) estimate(ctx context.Context, k KNN) (rows, total float64, err error) {
	a := &Args{}
	filter := k.Filter.Compile(a)
	key := ""
	if vals, err := json.Marshal(a.Values()); err == nil {
		key = strconv.FormatInt(k.CollectionID, 10) + "\x00" + filter + "\x00" + string(vals)
		s.estMu.Lock()
		e, ok := s.estimates[key]
		s.estMu.Unlock()
		if ok && time.Since(e.at) < estimateTTL {
			return e.rows, e.total, nil
		}
	}
	rows, total, ok, err := s.sampleEstimate(ctx, k, filter, a)
	if err != nil {
		return 0, 0, err
	}
	if !ok {
		if rows, total, err = s.planEstimate(ctx, k, filter, a.Values()); err != nil {
			return 0, 0, err
		}
	}
	if key != "" {
		s.estMu.Lock()
		if s.estimates == nil || len(s.estimates) >= maxEstimates {
			s.estimates = map[string]cachedEstimate{}
		}
		s.estimates[key] = cachedEstimate{rows: rows, total: total, at: time.Now()}
		s.estMu.Unlock()
	}
	return rows, total, nil
}

// Sampling bounds of sampleEstimate.
const (
	// samplePages is the most pages of documents a sample reads (about
	// 4 MB; a few milliseconds warm).
	samplePages = 500
	// minSampleRows: a sample with fewer of the collection's vectors says
	// too little, and the planner's estimate is used instead.
	minSampleRows = 200
)

// sampleEstimate counts the collection's vectors, and those the filter
// leaves, in a sample of the table's pages (TABLESAMPLE SYSTEM, the same
// pages each time): all of them when the table has at most samplePages,
// else samplePages of them. ok is false when the sample holds fewer than
// minSampleRows of the collection's vectors (a small collection in a large
// table). Why not the planner: it multiplies the selectivities of the
// collection, the vector and the filter as if independent, and they are
// not: on the bench table it underestimated a common tag a hundredfold, so
// such filters took the slower exact plan (docs/performance.md). A
// 1,000-row sample gets the share within a percent or so: enough for a
// threshold at 5%.
func (s *Semantic) sampleEstimate(ctx context.Context, k KNN, filter string, a *Args) (rows, total float64, ok bool, err error) {
	// The share of the table's pages read, in percent, from its size as
	// last measured (VACUUM, ANALYZE).
	pct := "(SELECT least(100, 100 * " + strconv.Itoa(samplePages) +
		" / greatest(relpages, 1)::float8) FROM pg_class WHERE oid = 'documents'::regclass)"
	sql := "SELECT count(*) FILTER (WHERE " + filter + ")::float8, count(*)::float8, " + pct +
		" FROM documents d TABLESAMPLE SYSTEM (" + pct + ") REPEATABLE (0) WHERE d.collection_id = " +
		strconv.FormatInt(k.CollectionID, 10) + " AND d.embedding IS NOT NULL"
	var matched, sampled, share float64
	if err := s.pool.QueryRow(ctx, sql, a.Values()...).Scan(&matched, &sampled, &share); err != nil {
		return 0, 0, false, fmt.Errorf("search: estimate filter: %w", pg.Interpret(err))
	}
	if share <= 0 || (share < 100 && sampled < minSampleRows) {
		return 0, 0, false, nil
	}
	return matched * 100 / share, sampled * 100 / share, true, nil
}

// planEstimate asks the planner how many of the collection's rows with a
// vector the filter leaves, and how many there are in all: two EXPLAINs in
// one round trip.
func (s *Semantic) planEstimate(ctx context.Context, k KNN, filter string, args []any) (rows, total float64, err error) {
	base := "EXPLAIN (FORMAT JSON) SELECT 1 FROM documents d WHERE d.collection_id = " +
		strconv.FormatInt(k.CollectionID, 10) + " AND d.embedding IS NOT NULL"
	var outs [2][]byte
	b := &pgx.Batch{}
	b.Queue(base+" AND ("+filter+")", args...).QueryRow(func(r pgx.Row) error { return r.Scan(&outs[0]) })
	b.Queue(base).QueryRow(func(r pgx.Row) error { return r.Scan(&outs[1]) })
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return 0, 0, fmt.Errorf("search: estimate filter: %w", pg.Interpret(err))
	}
	var est [2]float64
	for i, out := range outs {
		var plans []struct {
			Plan struct {
				Rows float64 `json:"Plan Rows"`
			} `json:"Plan"`
		}
		if err := json.Unmarshal(out, &plans); err != nil || len(plans) == 0 {
			return 0, 0, fmt.Errorf("search: estimate filter: unexpected EXPLAIN output: %v", err)
		}
		est[i] = plans[0].Plan.Rows
	}
	return est[0], est[1], nil
}

// exactNearest is the reference answer: every filtered row's distance,
// sorted. Tests and benchmarks measure recall against it.
func (s *Semantic) exactNearest(ctx context.Context, k KNN) ([]Ranked, error) {
	hits, _, err := s.run(ctx, k, PlanExact)
	return hits, err
}

// Recall is the fraction of want's ids found in got (1 when want is empty).
func Recall(got, want []Ranked) float64 {
	if len(want) == 0 {
		return 1
	}
	set := make(map[int64]struct{}, len(got))
	for _, h := range got {
		set[h.ID] = struct{}{}
	}
	n := 0
	for _, h := range want {
		if _, ok := set[h.ID]; ok {
			n++
		}
	}
	return float64(n) / float64(len(want))
}
