package geo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/geoseek/geoseek/internal/problem"
)

// Options configure the geo service and its handlers.
type Options struct {
	// Title and Description describe the service on the landing page.
	Title       string
	Description string
	// BaseURL, when set ("https://maps.example.org"), prefixes every link;
	// otherwise links are built from the request's scheme and Host.
	BaseURL string
	// MaxBodyBytes bounds POST/PUT/PATCH bodies that are not bulk imports
	// (default 16 MiB); MaxImportBytes bounds a bulk import (default 2 GiB).
	MaxBodyBytes   int64
	MaxImportBytes int64
	// CountCap is the smallest number of matching rows numberMatched
	// counts exactly (default 1,000): a page counts exactly when the planner
	// estimates at most max(CountCap, limit) matches, i.e. when counting costs
	// no more than reading the page; otherwise it reports the estimate.
	CountCap int
	// TileMaxAge is the Cache-Control max-age of tiles (default 60 s).
	TileMaxAge time.Duration
	// TileCacheBytes is the memory for rendered tiles (default 64 MiB;
	// negative: no cache). The cache serves only while WatchChanges runs.
	TileCacheBytes int64
	// OnCollectionChange, when set, is called by the change listener
	// (WatchChanges) with the id of a collection that was deleted or whose
	// settings changed, in any geoseek process: other caches of
	// collections drop it there.
	OnCollectionChange func(collectionID int64)
	// PhotosCollection is the collection whose items link thumbnails
	// (default "photos"); ThumbnailPath is the format of that link, given
	// the document id (default "/photos/%d/thumbnail?size=256").
	PhotosCollection string
	ThumbnailPath    string
}

func (o *Options) defaults() {
	if o.Title == "" {
		o.Title = "geoseek"
	}
	if o.Description == "" {
		o.Description = "Documents and photos as OGC API – Features, clusters and vector tiles."
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 16 << 20
	}
	if o.MaxImportBytes <= 0 {
		o.MaxImportBytes = 2 << 30
	}
	if o.CountCap <= 0 {
		o.CountCap = 1000
	}
	if o.TileMaxAge <= 0 {
		o.TileMaxAge = time.Minute
	}
	if o.TileCacheBytes == 0 {
		o.TileCacheBytes = 64 << 20
	}
	if o.PhotosCollection == "" {
		o.PhotosCollection = "photos"
	}
	if o.ThumbnailPath == "" {
		o.ThumbnailPath = "/photos/%d/thumbnail?size=256"
	}
}

// Service is the geo domain: queries and writes on the documents table.
type Service struct {
	pool   *pgxpool.Pool
	logger *slog.Logger
	opts   Options

	mu    sync.Mutex
	cache map[string]cachedCollection

	// tiles is nil when the tile cache is off.
	tiles *tileCache
}

type cachedCollection struct {
	col *Collection
	at  time.Time
}

// collectionTTL is how long items, tiles and clusters reuse a collection's
// row: a tile request then costs one query instead of two. The metadata
// endpoints always read it fresh. A deleted or changed collection leaves
// the cache when its notification arrives (WatchChanges), well under a
// millisecond after the commit on one host; collectionTTL bounds it only
// while the listener is down (or the tile cache, and with it the
// listener, is off), and for a read that began before the commit and
// stores its row after the notification.
const collectionTTL = 2 * time.Second

// collectionChanged drops collection id from the cache and tells
// OnCollectionChange.
func (s *Service) collectionChanged(id int64) {
	s.mu.Lock()
	for name, e := range s.cache {
		if e.col.ID == id {
			delete(s.cache, name)
		}
	}
	s.mu.Unlock()
	if s.opts.OnCollectionChange != nil {
		s.opts.OnCollectionChange(id)
	}
}

// cachedCollection returns the collection, from a cache at most
// collectionTTL old.
func (s *Service) cachedCollection(ctx context.Context, name string) (*Collection, error) {
	s.mu.Lock()
	e, ok := s.cache[name]
	s.mu.Unlock()
	if ok && time.Since(e.at) < collectionTTL {
		return e.col, nil
	}
	col, err := s.Collection(ctx, name)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.cache == nil || len(s.cache) > 10000 {
		s.cache = map[string]cachedCollection{}
	}
	s.cache[name] = cachedCollection{col: col, at: time.Now()}
	s.mu.Unlock()
	return col, nil
}

// NewService returns a Service on pool.
func NewService(pool *pgxpool.Pool, logger *slog.Logger, opts Options) *Service {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	opts.defaults()
	s := &Service{pool: pool, logger: logger, opts: opts}
	if opts.TileCacheBytes > 0 {
		tc, err := newTileCache(opts.TileCacheBytes)
		if err != nil {
			// Only a weight otter refuses; serve uncached.
			logger.Error("tile cache off", "error", err)
		} else {
			s.tiles = tc
		}
	}
	return s
}

// Collection is a collection's settings and its cheap statistics.
type Collection struct {
	ID             int64
	Name           string
	Title          string
	Description    string
	DefaultLang    string
	Embedder       string
	EmbeddingModel string
	EmbeddingDim   *int32
	// Extent is nil when no document has a geometry.
	Extent *BBox
	// TMin and TMax bound the documents' periods (nil: none or open).
	TMin, TMax *time.Time
	// PropKeys are the props keys seen in the collection (queryables).
	PropKeys []string
	// Share is the collection's fraction of the documents table in the
	// planner's statistics (0 when it is not among the most common
	// collections there).
	Share float64
	// Rows is the collection's estimated number of documents (Share of
	// the table's reltuples).
	Rows float64
}

// collectionSQL reads the stats row merged with the growth other writers
// left pending (migration 00025); usually there is none.
const collectionSQL = `
SELECT c.id, c.name, c.title, c.description, c.default_lang::text, c.embedder, c.embedding_model, c.embedding_dim,
       LEAST(s.minx, p.minx), LEAST(s.miny, p.miny), GREATEST(s.maxx, p.maxx), GREATEST(s.maxy, p.maxy),
       LEAST(s.t_min, p.t_min), GREATEST(s.t_max, p.t_max),
       ARRAY(SELECT DISTINCT k FROM unnest(COALESCE(s.prop_keys, '{}') || COALESCE(p.keys, '{}')) AS k ORDER BY k),
       COALESCE((SELECT m.f FROM pg_stats st, unnest(st.most_common_vals::text::bigint[], st.most_common_freqs) AS m(v, f)
                  WHERE st.schemaname = current_schema() AND st.tablename = 'documents' AND st.attname = 'collection_id'
                    AND m.v = c.id), 0),
       (SELECT greatest(reltuples, 0) FROM pg_class WHERE oid = 'documents'::regclass)
  FROM collections c
  LEFT JOIN geo_collection_stats s ON s.collection_id = c.id
  LEFT JOIN LATERAL (
        SELECT min(q.minx) AS minx, min(q.miny) AS miny, max(q.maxx) AS maxx, max(q.maxy) AS maxy,
               min(q.t_min) AS t_min, max(q.t_max) AS t_max,
               (SELECT array_agg(k) FROM geo_collection_stats_pending q2, unnest(q2.prop_keys) AS k
                 WHERE q2.collection_id = c.id) AS keys
          FROM geo_collection_stats_pending q WHERE q.collection_id = c.id) p ON true`

func scanCollection(row pgx.Row) (*Collection, error) {
	var c Collection
	var minx, miny, maxx, maxy *float64
	var tableRows float64
	if err := row.Scan(&c.ID, &c.Name, &c.Title, &c.Description, &c.DefaultLang, &c.Embedder, &c.EmbeddingModel,
		&c.EmbeddingDim, &minx, &miny, &maxx, &maxy, &c.TMin, &c.TMax, &c.PropKeys, &c.Share, &tableRows); err != nil {
		return nil, err
	}
	c.Rows = c.Share * tableRows
	if minx != nil && miny != nil && maxx != nil && maxy != nil {
		c.Extent = &BBox{*minx, *miny, *maxx, *maxy}
	}
	return &c, nil
}

// Collections lists every collection by name.
func (s *Service) Collections(ctx context.Context) ([]*Collection, error) {
	// A deleted collection has no name (migration 00047) until its rows
	// are gone.
	rows, err := s.pool.Query(ctx, collectionSQL+` WHERE c.deleted_at IS NULL ORDER BY c.name`)
	if err != nil {
		return nil, fmt.Errorf("geo: list collections: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*Collection, error) { return scanCollection(r) })
	if err != nil {
		return nil, fmt.Errorf("geo: list collections: %w", err)
	}
	return out, nil
}

// Collection returns one collection, or problem.ErrNotFound.
func (s *Service) Collection(ctx context.Context, name string) (*Collection, error) {
	c, err := scanCollection(s.pool.QueryRow(ctx, collectionSQL+` WHERE c.name = $1`, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("collection %q: %w", name, problem.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("geo: collection %q: %w", name, err)
	}
	return c, nil
}

// RefreshStats recomputes a collection's extents and keys exactly (after
// deletes have left them larger than the data).
func (s *Service) RefreshStats(ctx context.Context, collectionID int64) error {
	if _, err := s.pool.Exec(ctx, `SELECT geo_refresh_collection_stats($1)`, collectionID); err != nil {
		return fmt.Errorf("geo: refresh stats: %w", err)
	}
	return nil
}

func (c *Collection) hasKey(k string) bool {
	for _, p := range c.PropKeys {
		if p == k {
			return true
		}
	}
	return false
}
