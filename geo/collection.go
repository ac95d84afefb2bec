package geo

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/geoseek/geoseek/document"
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
	// StageDir is where imports stage their bodies (document.StageFile;
	// the system's temporary directory when empty).
	StageDir string
	// Streams caps the imports (FeatureCollections, GeoJSON sequences
	// posted to items) one key runs at once; nil: no cap.
	Streams *document.StreamLimit
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
	// Collections is the collections cache the service reads through and
	// its change listener (WatchChanges) keeps current; nil: one of its own
	// on the service's pool. Share it with the other domains.
	Collections *document.Collections
	// OnCollectionChange, when set, is called by the change listener
	// (WatchChanges) with the id of a collection that was deleted or whose
	// settings changed, in any geoseek process, after Collections forgot it.
	OnCollectionChange func(collectionID int64)
	// PhotosCollection is the collection whose items link thumbnails
	// (default "photos"); ThumbnailPath is the format of that link, given
	// the document id (default "/photos/%d/thumbnail?size=256").
	PhotosCollection string
	ThumbnailPath    string
	// PageMap draws the HTML pages' features on a map (see PageMap).
	PageMap PageMap
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
	colls  *document.Collections

	// tiles is nil when the tile cache is off.
	tiles *tileCache
	// basemap renders and caches the offline base map.
	basemap *basemap
}

// collectionTTL is how long items, tiles and clusters reuse a collection's
// row (document.Collections): a tile request then costs one query instead
// of two. The metadata endpoints always read it fresh.
const collectionTTL = document.CollectionTTL

// collectionChanged drops collection id from the collections cache and
// tells OnCollectionChange.
func (s *Service) collectionChanged(id int64) {
	s.colls.Forget(id)
	if s.opts.OnCollectionChange != nil {
		s.opts.OnCollectionChange(id)
	}
}

// cachedCollection returns the collection, from a cache at most
// collectionTTL old.
func (s *Service) cachedCollection(ctx context.Context, name string) (*Collection, error) {
	return s.colls.Get(ctx, name)
}

// NewService returns a Service on pool.
func NewService(pool *pgxpool.Pool, logger *slog.Logger, opts Options) *Service {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	opts.defaults()
	s := &Service{pool: pool, logger: logger, opts: opts, colls: opts.Collections}
	if s.colls == nil {
		s.colls = document.NewCollections(pool)
	}
	if opts.TileCacheBytes > 0 {
		tc, err := newTileCache(opts.TileCacheBytes)
		if err != nil {
			// Only a weight otter refuses; serve uncached.
			logger.Error("tile cache off", "error", err)
		} else {
			s.tiles = tc
		}
	}
	bm, err := newBasemap()
	if err != nil {
		logger.Error("basemap cache", "error", err)
	}
	s.basemap = bm
	return s
}

// Collection is a collection's settings and its cheap statistics
// (document's one collection type).
type Collection = document.Collection

// Collections lists every collection by name.
func (s *Service) Collections(ctx context.Context) ([]*Collection, error) {
	return s.colls.List(ctx)
}

// Collection returns one collection, read fresh, or problem.ErrNotFound.
func (s *Service) Collection(ctx context.Context, name string) (*Collection, error) {
	return s.colls.Load(ctx, name)
}

// RefreshStats recomputes a collection's extents and keys exactly (after
// deletes have left them larger than the data).
func (s *Service) RefreshStats(ctx context.Context, collectionID int64) error {
	if _, err := s.pool.Exec(ctx, `SELECT geo_refresh_collection_stats($1)`, collectionID); err != nil {
		return fmt.Errorf("geo: refresh stats: %w", err)
	}
	return nil
}
