package document

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/geoseek/geoseek/internal/pg"
	"github.com/geoseek/geoseek/internal/problem"
)

// CollectionTTL bounds how long Collections.Get serves a collection's row
// from its cache. A deleted or changed collection leaves the cache when its
// notification arrives (CollectionChangesChannel; geo's change listener
// calls Forget), well under a millisecond after the commit on one host;
// CollectionTTL bounds the staleness only while no listener runs, and for a
// read that began before the commit and stored its row after the
// notification.
const CollectionTTL = 2 * time.Second

// maxCachedCollections bounds the cache: past it, the cache starts afresh
// (a bounded, rarely hit reset is cheaper than tracking use).
const maxCachedCollections = 10000

// Extent is the bounding box of a collection's geometries, in CRS84.
type Extent struct {
	MinX, MinY, MaxX, MaxY float64
}

// HasPropKey reports whether k is among the collection's PropKeys.
func (c *Collection) HasPropKey(k string) bool {
	for _, p := range c.PropKeys {
		if p == k {
			return true
		}
	}
	return false
}

// Collections reads collections for the other domains and keeps geoseek's
// one cache of them, by name. It is safe for concurrent use. The
// *Collection values it returns are shared: callers must not modify them.
type Collections struct {
	db Querier

	mu    sync.RWMutex
	cache map[string]cachedCollection
}

type cachedCollection struct {
	col *Collection
	at  time.Time
}

// NewCollections returns the collections of db (a pool).
func NewCollections(db Querier) *Collections {
	return &Collections{db: db, cache: map[string]cachedCollection{}}
}

// collectionSQL reads a collection with its geo statistics: the stats row
// merged with the growth other writers left pending (migration 00025);
// usually there is none. One statement, so a fresh read costs one round
// trip.
const collectionSQL = `
SELECT c.id, c.name, c.title, c.description, c.default_lang::text, c.embedder, c.embedding_model, c.embedding_dim,
       c.embedding_storage, c.created_at,
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
		&c.EmbeddingDim, &c.EmbeddingStorage, &c.CreatedAt, &minx, &miny, &maxx, &maxy, &c.TMin, &c.TMax, &c.PropKeys, &c.Share, &tableRows); err != nil {
		return nil, err
	}
	c.Rows = c.Share * tableRows
	if minx != nil && miny != nil && maxx != nil && maxy != nil {
		c.Extent = &Extent{*minx, *miny, *maxx, *maxy}
	}
	return &c, nil
}

// Load reads the named collection with its statistics, not from the
// cache. It returns problem.ErrNotFound when there is none.
func (cs *Collections) Load(ctx context.Context, name string) (*Collection, error) {
	c, err := scanCollection(cs.db.QueryRow(ctx, collectionSQL+` WHERE c.name = $1`, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("collection %q: %w", name, problem.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("document: collection %q: %w", name, pg.Interpret(err))
	}
	return c, nil
}

// Get returns the named collection with its statistics, from the cache
// when its row there is less than CollectionTTL old. It returns
// problem.ErrNotFound when there is none (which is not cached).
func (cs *Collections) Get(ctx context.Context, name string) (*Collection, error) {
	cs.mu.RLock()
	e, ok := cs.cache[name]
	cs.mu.RUnlock()
	if ok && time.Since(e.at) < CollectionTTL {
		return e.col, nil
	}
	col, err := cs.Load(ctx, name)
	if err != nil {
		return nil, err
	}
	cs.mu.Lock()
	if len(cs.cache) >= maxCachedCollections {
		cs.cache = map[string]cachedCollection{}
	}
	cs.cache[name] = cachedCollection{col: col, at: time.Now()}
	cs.mu.Unlock()
	return col, nil
}

// Forget drops collection id from the cache: call it when the collection
// was deleted or its settings changed.
func (cs *Collections) Forget(id int64) {
	cs.mu.Lock()
	for name, e := range cs.cache {
		if e.col.ID == id {
			delete(cs.cache, name)
		}
	}
	cs.mu.Unlock()
}

// List reads every collection that is not being deleted, by name, with its
// statistics, not from the cache.
func (cs *Collections) List(ctx context.Context) ([]*Collection, error) {
	// A deleted collection has no name (migration 00043) until its rows
	// are gone.
	rows, err := cs.db.Query(ctx, collectionSQL+` WHERE c.deleted_at IS NULL ORDER BY c.name`)
	if err != nil {
		return nil, fmt.Errorf("document: list collections: %w", pg.Interpret(err))
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*Collection, error) { return scanCollection(r) })
	if err != nil {
		return nil, fmt.Errorf("document: list collections: %w", pg.Interpret(err))
	}
	return out, nil
}

// LookupCollection reads the named collection's current settings, not
// from any cache, into the caller's variables (dim is 0 when the collection
// has no embedding dimension): one cheap statement and no allocation of its
// own, for callers that need the current row on every request. It returns
// problem.ErrNotFound when there is none.
func LookupCollection(ctx context.Context, q Querier, name string, id *int64, lang, embedder *string, dim *int) error {
	err := q.QueryRow(ctx, `SELECT id, default_lang::text, embedder, COALESCE(embedding_dim, 0) FROM collections WHERE name = $1`, name).
		Scan(id, lang, embedder, dim)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("collection %q: %w", name, problem.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("document: collection %q: %w", name, pg.Interpret(err))
	}
	return nil
}

// CollectionRef names a collection by its id and name.
type CollectionRef struct {
	ID   int64
	Name string
}

// embeddingCollectionsSQL lists the collections the embedding jobs serve:
// not being deleted, with a dimension and an embedder other than $1 (the
// kind that embeds nothing).
const embeddingCollectionsSQL = `SELECT id, name FROM collections
 WHERE embedding_dim IS NOT NULL AND embedder <> $1 AND deleted_at IS NULL ORDER BY id`

// EmbeddingCollectionIDs lists, by id, the collections that are not being
// deleted and have a dimension and an embedder other than none (the
// embedder kind that embeds nothing).
func EmbeddingCollectionIDs(ctx context.Context, q Querier, none string) ([]int64, error) {
	rows, err := q.Query(ctx, embeddingCollectionsSQL, none)
	if err != nil {
		return nil, fmt.Errorf("document: embedding collections: %w", err)
	}
	refs, err := pgx.CollectRows(rows, pgx.RowToStructByPos[CollectionRef])
	if err != nil {
		return nil, fmt.Errorf("document: embedding collections: %w", err)
	}
	ids := make([]int64, len(refs))
	for i, r := range refs {
		ids[i] = r.ID
	}
	return ids, nil
}

// QueueEmbeddingCollections queues on b the read of EmbeddingCollectionIDs,
// with names, storing them in *out when b's results are read: a caller
// sends it with its own statements in one round trip.
func QueueEmbeddingCollections(b *pgx.Batch, none string, out *[]CollectionRef) {
	b.Queue(embeddingCollectionsSQL, none).Query(func(rows pgx.Rows) error {
		refs, err := pgx.CollectRows(rows, pgx.RowToStructByPos[CollectionRef])
		if err != nil {
			return fmt.Errorf("document: embedding collections: %w", err)
		}
		*out = refs
		return nil
	})
}

// EmbeddingInput is what embedding a document needs: its text and its
// collection's embedding settings.
type EmbeddingInput struct {
	ID                    int64
	Title, Body           string
	Embedder, Model, Lang string
	Dim                   int
}

// EmbeddingInputs reads the documents ids (those that still exist), by id,
// with their collections' embedding settings, in one statement.
func EmbeddingInputs(ctx context.Context, q Querier, ids []int64) ([]EmbeddingInput, error) {
	rows, err := q.Query(ctx, `
		SELECT d.id, d.title, d.body, c.embedder, c.embedding_model, c.default_lang::text, coalesce(c.embedding_dim, 0)
		  FROM documents d JOIN collections c ON c.id = d.collection_id
		 WHERE d.id = ANY($1)
		 ORDER BY d.id`, ids)
	if err != nil {
		return nil, fmt.Errorf("document: embedding inputs: %w", pg.Interpret(err))
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[EmbeddingInput])
	if err != nil {
		return nil, fmt.Errorf("document: embedding inputs: %w", pg.Interpret(err))
	}
	return out, nil
}
