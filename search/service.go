package search

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/geoseek/geoseek/document"
	embedder "github.com/geoseek/geoseek/embed"
	"github.com/geoseek/geoseek/internal/pg"
	"github.com/geoseek/geoseek/internal/problem"
)

// DefaultCandidateWindow is how many RUM-ordered candidates are re-ranked
// with ts_rank_cd when the RUM index is present (see the package doc).
const DefaultCandidateWindow = 1000

// Config is what the Service needs from geoseek's configuration.
type Config struct {
	// CursorSecret signs paging cursors (HMAC-SHA256). Empty means a random
	// secret per process: cursors then do not survive a restart and are not
	// valid across replicas, so production sets GEOSEEK_CURSOR_SECRET.
	CursorSecret []byte
	// CandidateWindow overrides DefaultCandidateWindow.
	CandidateWindow int
	// DisableRUM ignores the RUM index even when it exists.
	DisableRUM bool
	// SampleSize overrides DefaultSampleSize (see Strategy).
	SampleSize int
	// ForceStrategy, when set, ranks every query with this strategy instead
	// of choosing by the estimated match count (benchmarks and tests).
	ForceStrategy Strategy
	// FacetExactMax overrides DefaultFacetExactMax: facets of a query the
	// planner expects to match more documents are estimated from a sample.
	FacetExactMax int
	// FacetScanRows overrides DefaultFacetScanRows, the rows of the
	// documents table a facet sample reads.
	FacetScanRows int
	// SamplePool runs the sampled facet passes; nil: the service's pool.
	// A sampled pass reads the same pages of the table every time, and a
	// PostgreSQL backend reading pages it has never read pays several
	// times their warm cost (docs/performance.md, "The facet sample on
	// connections of its own"): a small pool of its own keeps those pages
	// warm in a few backends and bounds how many such passes run at once.
	SamplePool *pgxpool.Pool
	// Trace, when set, sees every search statement and its arguments
	// before it runs (benchmarks replay them through plain pgx).
	Trace  func(sql string, args []any)
	Logger *slog.Logger
	// Collections is the collections cache semantic queries read through;
	// nil: one of its own on the pool. Share it with the other domains.
	Collections *document.Collections
	// Semantic answers mode=semantic and mode=hybrid (its embedders and
	// plan settings). Nil means a Semantic with the offline embedder and
	// default settings on the service's pool, so collections whose embedder
	// is "openai" answer 503 unless a Semantic with a configured embed.Set
	// is given.
	Semantic *Semantic
}

// Service runs searches on the documents table.
type Service struct {
	pool *pgxpool.Pool
	// samplePool: see Config.SamplePool (never nil).
	samplePool *pgxpool.Pool
	secret     []byte
	window     int
	sample     int
	forced     Strategy
	// facetMax and facetScan: see Config.FacetExactMax, FacetScanRows.
	facetMax, facetScan int
	trace               func(sql string, args []any)
	noRUM               bool
	logger              *slog.Logger
	sem                 *Semantic

	colls *document.Collections

	mu       sync.Mutex
	langs    map[string]bool // text search configurations, loaded once
	rum      *bool           // whether the RUM index exists, checked once
	rumCheck time.Time
}

// NewService returns a Service on pool.
func NewService(pool *pgxpool.Pool, cfg Config) *Service {
	s := &Service{pool: pool, secret: cfg.CursorSecret, window: cfg.CandidateWindow, noRUM: cfg.DisableRUM, logger: cfg.Logger,
		colls: cfg.Collections, sem: cfg.Semantic}
	if s.colls == nil {
		s.colls = document.NewCollections(pool)
	}
	if s.sem == nil {
		// The zero embed.Config (the offline embedder) is always valid; were
		// it not, the semantic modes answer 503 (see Search).
		if set, err := embedder.NewSet(embedder.Config{}); err == nil {
			s.sem = NewSemantic(pool, set, SemanticConfig{Collections: s.colls})
		}
	}
	if len(s.secret) == 0 {
		s.secret = make([]byte, 32)
		_, _ = rand.Read(s.secret)
	}
	if s.window <= 0 {
		s.window = DefaultCandidateWindow
	}
	s.sample, s.forced, s.trace = cfg.SampleSize, cfg.ForceStrategy, cfg.Trace
	if s.sample <= 0 {
		s.sample = DefaultSampleSize
	}
	s.facetMax, s.facetScan = cfg.FacetExactMax, cfg.FacetScanRows
	if s.samplePool = cfg.SamplePool; s.samplePool == nil {
		s.samplePool = pool
	}
	if s.facetMax <= 0 {
		s.facetMax = DefaultFacetExactMax
	}
	if s.facetScan <= 0 {
		s.facetScan = DefaultFacetScanRows
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	return s
}

// Pool is the service's pool (for the semantic and hybrid modes).
func (s *Service) Pool() *pgxpool.Pool { return s.pool }

// Plan is a Query resolved against the database: the collection's id and the
// text search configuration to use. Its methods compile the parts of the
// search's statements (see the package doc); every value goes into the
// caller's Args.
type Plan struct {
	Q            *Query
	CollectionID int64
	// Lang is the text search configuration for Q.Text: Q.Lang when given,
	// else the collection's default language.
	Lang string
	// EmbeddingDim is the collection's vector dimension (0 = none).
	EmbeddingDim int
	Embedder     string
	cursor       *cursor
	typo         *typoPlan // corrections of the text query, see typo.go
	// estimates are the planner's estimates already asked for this plan
	// (by SQL and values); a search's facets ask from their own goroutine.
	estimates sync.Map
}

// Search runs q. Errors: *problem.ValidationError for a bad language or
// cursor, problem.ErrNotFound for an unknown collection, problem.ErrTimeout
// when the statement timeout hits, problem.ErrUnavailable for a mode this
// service cannot answer.
func (s *Service) Search(ctx context.Context, q *Query) (*Result, error) {
	p, err := s.Prepare(ctx, q)
	if err != nil {
		return nil, err
	}
	switch q.Mode {
	case ModeKeyword:
		return s.keyword(ctx, p)
	case ModeSemantic:
		if s.sem != nil {
			return s.semanticMode(ctx, p)
		}
	case ModeHybrid:
		if s.sem != nil {
			return s.hybridMode(ctx, p)
		}
	}
	return nil, fmt.Errorf("search: mode %s is not available: %w", q.Mode, problem.ErrUnavailable)
}

// Prepare resolves q's collection and language and checks its cursor.
func (s *Service) Prepare(ctx context.Context, q *Query) (*Plan, error) {
	p := &Plan{Q: q}
	if err := s.lookupCollection(ctx, p); err != nil {
		return nil, err
	}
	if q.Lang != "" {
		ok, err := s.knownLang(ctx, q.Lang)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, problem.Invalid("lang", "unknown text search configuration %q (see pg_ts_config, e.g. english, german, simple)", q.Lang)
		}
		p.Lang = q.Lang
	}
	if q.Cursor != "" {
		c, err := decodeCursor(s.secret, q.Cursor, q.hash())
		if err != nil {
			return nil, err
		}
		p.cursor = &c
	}
	return p, nil
}

// lookupCollection fills p's collection fields. Semantic queries reuse a
// collection's row for up to document.CollectionTTL, from the collections
// cache the semantic engine reads too: a round trip per query is a large
// share of a cheap kNN query (see semantic_page.go). Other modes read the
// row every time.
func (s *Service) lookupCollection(ctx context.Context, p *Plan) error {
	q := p.Q
	if q.Mode == ModeSemantic {
		c, err := s.colls.Get(ctx, q.Collection)
		if err != nil {
			return collectionError(q.Collection, err)
		}
		p.CollectionID, p.Lang, p.Embedder = c.ID, c.DefaultLang, c.Embedder
		if c.EmbeddingDim != nil {
			p.EmbeddingDim = *c.EmbeddingDim
		}
		return nil
	}
	if err := document.LookupCollection(ctx, s.pool, q.Collection, &p.CollectionID, &p.Lang, &p.Embedder, &p.EmbeddingDim); err != nil {
		return collectionError(q.Collection, err)
	}
	return nil
}

// collectionError words a failed collection lookup as search does.
func collectionError(name string, err error) error {
	if errors.Is(err, problem.ErrNotFound) {
		return fmt.Errorf("search: collection %q: %w", name, problem.ErrNotFound)
	}
	return fmt.Errorf("search: look up collection: %w", err)
}

// ForgetCollection drops collection id from the collections cache the
// service (and its semantic engine) reads: call it when the collection was
// deleted or its settings changed. Otherwise a cached row serves for up to
// document.CollectionTTL.
func (s *Service) ForgetCollection(id int64) {
	s.colls.Forget(id)
	if s.sem != nil && s.sem.colls != s.colls {
		s.sem.colls.Forget(id)
	}
}

func (s *Service) knownLang(ctx context.Context, name string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.langs == nil {
		rows, err := s.pool.Query(ctx, `SELECT cfgname::text FROM pg_ts_config`)
		if err != nil {
			return false, fmt.Errorf("search: list text search configurations: %w", pg.Interpret(err))
		}
		names, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return false, fmt.Errorf("search: list text search configurations: %w", pg.Interpret(err))
		}
		s.langs = map[string]bool{}
		for _, n := range names {
			s.langs[n] = true
		}
	}
	return s.langs[name], nil
}

// HasRUM reports whether the RUM index on documents.search exists (and is
// not disabled). The answer is cached for a minute, so an index created by a
// later migration is picked up without a restart.
func (s *Service) HasRUM(ctx context.Context) (bool, error) {
	if s.noRUM {
		return false, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rum != nil && time.Since(s.rumCheck) < time.Minute {
		return *s.rum, nil
	}
	var ok bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
		WHERE c.relname = 'documents_search_rum_idx' AND i.indisvalid)`).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("search: check RUM index: %w", pg.Interpret(err))
	}
	s.rum, s.rumCheck = &ok, time.Now()
	return ok, nil
}

// query runs parameter-dependent SQL with a fresh plan for the actual values:
// QueryExecModeCacheDescribe uses unnamed statements (planned on every
// execution) and caches only the result description, so PostgreSQL never
// switches these statements to a generic plan.
func (s *Service) query(ctx context.Context, sql string, a *Args) (pgx.Rows, error) {
	if s.trace != nil {
		s.trace(sql, a.Values())
	}
	args := append([]any{pgx.QueryExecModeCacheDescribe}, a.Values()...)
	return s.pool.Query(ctx, sql, args...)
}

// queryWholeSetRow runs a statement that reads a whole matched set and
// returns its one row's values. It goes in one batch after
// pg.WholeSetParallel, so the statement may use parallel workers. Trace sees
// both statements; a replay must send them in one batch too.
func (s *Service) queryWholeSetRow(ctx context.Context, pool *pgxpool.Pool, sql string, a *Args) ([]any, error) {
	if s.trace != nil {
		s.trace(pg.WholeSetParallel, nil)
		s.trace(sql, a.Values())
	}
	var vals []any
	b := &pgx.Batch{}
	b.Queue(pg.WholeSetParallel)
	b.Queue(sql, a.Values()...).Query(func(rows pgx.Rows) error {
		if !rows.Next() {
			if err := rows.Err(); err != nil {
				return err
			}
			return errors.New("no row")
		}
		var err error
		vals, err = rows.Values()
		return err
	})
	if err := pool.SendBatch(ctx, b).Close(); err != nil {
		return nil, err
	}
	return vals, nil
}

// queryPrepared runs SQL whose best plan does not depend on its values, such
// as fetching a page of documents by a list of ids: a cached prepared
// statement saves planning on every page (docs/performance.md).
func (s *Service) queryPrepared(ctx context.Context, sql string, a *Args) (pgx.Rows, error) {
	if s.trace != nil {
		s.trace(sql, a.Values())
	}
	args := append([]any{pgx.QueryExecModeCacheStatement}, a.Values()...)
	return s.pool.Query(ctx, sql, args...)
}

// Result is a page of hits.
type Result struct {
	Collection string `json:"collection"`
	Mode       Mode   `json:"mode"`
	Hits       []Hit  `json:"hits"`
	// NextCursor fetches the next page; empty on the last page.
	NextCursor string `json:"next_cursor,omitempty"`
	// Total is the size of the matched set, computed with facets.
	Total  *int64       `json:"total,omitempty"`
	Facets *FacetCounts `json:"facets,omitempty"`
	// Fuzzy is true when typo tolerance corrected query words (see
	// Corrections): hits found only through a corrected word score below 0,
	// after every hit matching the words as typed.
	Fuzzy bool `json:"fuzzy,omitempty"`
	// Corrections lists the corrected query words and the words of the
	// collection they also matched.
	Corrections []Correction `json:"corrections,omitempty"`
	// Truncated is true when the ranked candidates were exhausted before
	// the matched set: paging stops here; refine the query.
	Truncated bool `json:"truncated,omitempty"`
	// Ranking is the keyword ranking strategy used (see Strategy); "recent"
	// means the hits are the best of the newest matches only.
	Ranking Strategy `json:"ranking,omitempty"`
	// Unembedded is, in semantic and hybrid answers, how many documents of
	// the collection have no vector yet and so cannot be found by meaning
	// (counted up to UnembeddedCountLimit); 0 when every document can.
	Unembedded *int64 `json:"unembedded_documents,omitempty"`
}

// Hit is one result document (without its body; highlights carry the
// matching passages).
type Hit struct {
	ID         int64           `json:"id"`
	ExternalID *string         `json:"external_id,omitempty"`
	Title      string          `json:"title"`
	Lang       string          `json:"lang"`
	Score      *float64        `json:"score,omitempty"`
	DistanceM  *float64        `json:"distance_m,omitempty"`
	Highlights *Highlights     `json:"highlights,omitempty"`
	Tags       []string        `json:"tags"`
	Props      json.RawMessage `json:"props"`
	Period     *PeriodValue    `json:"period,omitempty"`
	Geometry   json.RawMessage `json:"geometry"`
	CreatedAt  time.Time       `json:"created_at"`
	UpdatedAt  time.Time       `json:"updated_at"`
	// Explain is filled by hybrid search with explain=true.
	Explain json.RawMessage `json:"explain,omitempty"`
}

// Highlights are ts_headline snippets, safe to insert as HTML: the document
// text is HTML-escaped and each match is wrapped in <mark>…</mark>.
type Highlights struct {
	Title string `json:"title"`
	Body  string `json:"body"`
}

// PeriodValue is a document's period; nil ends are unbounded.
type PeriodValue struct {
	From   *time.Time `json:"from"`
	To     *time.Time `json:"to"`
	Bounds string     `json:"bounds"`
}

// FacetCounts are value counts over the whole matched set, most frequent
// first (ties by value).
type FacetCounts struct {
	Tags  []FacetValue            `json:"tags,omitempty"`
	Props map[string][]FacetValue `json:"props,omitempty"`
	// Approximate says the counts (and the result's total) are estimated
	// from a sample of SampleSize matches, scaled to the whole matched set
	// (see Config.FacetExactMax).
	Approximate bool  `json:"approximate,omitempty"`
	SampleSize  int64 `json:"sample_size,omitempty"`
}

// FacetValue is one value and the number of matched documents having it.
type FacetValue struct {
	Value json.RawMessage `json:"value"`
	Count int64           `json:"count"`
}
