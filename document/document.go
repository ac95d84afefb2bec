package document

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/pgvector/pgvector-go"
	"github.com/twpayne/go-geom"

	"github.com/geoseek/geoseek/internal/geomrule"
	"github.com/geoseek/geoseek/internal/pg"
	"github.com/geoseek/geoseek/internal/problem"
)

// Querier is satisfied by *pgxpool.Pool, *pgxpool.Conn and pgx.Tx.
type Querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Period is a time range; a nil bound is unbounded. Its JSON form is
// {"from", "to", "bounds"} (see ParsePeriodJSON).
type Period struct {
	Lower    *time.Time
	Upper    *time.Time
	LowerInc bool
	UpperInc bool
}

// Instant is the period [t, t].
func Instant(t time.Time) *Period {
	return &Period{Lower: &t, Upper: &t, LowerInc: true, UpperInc: true}
}

// Doc is a document.
type Doc struct {
	ID         int64
	Collection string
	ExternalID *string
	Title      string
	Body       string
	// Lang is a text search configuration name ("english", "german",
	// "simple"); "" takes the collection's default language.
	Lang     string
	Tags     []string
	Props    map[string]any
	Period   *Period
	Geometry geom.T
	// Embedding is optional; its length must equal the collection's
	// embedding dimension. Writing one needs pgvector.
	Embedding []float32
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Limits on what one document may hold; larger input is a 400, not a slow query.
const (
	MaxTitle    = 4 << 10
	MaxBody     = 1 << 20 // tsvector itself is limited to 1 MB
	MaxTags     = 1000
	MaxTagLen   = 256
	MaxExternal = 512
)

// ReservedProps are the props keys a document may not have: a GeoJSON
// Feature of the document (the OGC API's items, search results as GeoJSON,
// tiles) writes its own fields as properties of these names next to the
// props, and a GeoJSON import reads them back into those fields, so a props
// key of the same name would be hidden or misread.
func ReservedProps() []string {
	r := reservedProps()
	return r[:]
}

// reservedProps is ReservedProps as an array, which Validate reads without
// an allocation per document.
func reservedProps() [11]string {
	return [...]string{"title", "body", "lang", "tags", "external_id", "datetime", "start", "end", "created", "updated", "thumbnail"}
}

// Validate checks d without a database round trip. Its geometry must pass
// geomrule's rule for stored geometries, whose polygon rings it rewinds in
// place to RFC 7946's right-hand rule.
func (d *Doc) Validate() error {
	if d.Collection == "" {
		return problem.Invalid("collection", "a collection is required")
	}
	if d.ExternalID != nil && (*d.ExternalID == "" || len(*d.ExternalID) > MaxExternal) {
		return problem.Invalid("external_id", "must be 1 to %d bytes", MaxExternal)
	}
	if len(d.Title) > MaxTitle {
		return problem.Invalid("title", "longer than %d bytes", MaxTitle)
	}
	if len(d.Body) > MaxBody {
		return problem.Invalid("body", "longer than %d bytes", MaxBody)
	}
	if strings.ContainsRune(d.Title+d.Body, 0) {
		return problem.Invalid("body", "text must not contain NUL characters")
	}
	if len(d.Props) > 0 {
		for _, k := range reservedProps() {
			if _, ok := d.Props[k]; ok {
				return problem.Invalid("props."+k, "%q is the name of a document field in GeoJSON features, so it cannot be a props key; rename it (reserved: %s)",
					k, strings.Join(ReservedProps(), ", "))
			}
		}
	}
	if len(d.Tags) > MaxTags {
		return problem.Invalid("tags", "more than %d tags", MaxTags)
	}
	for i, t := range d.Tags {
		if t == "" || len(t) > MaxTagLen || strings.ContainsRune(t, 0) {
			return problem.Invalid(fmt.Sprintf("tags[%d]", i), "a tag must be 1 to %d bytes of text", MaxTagLen)
		}
	}
	if p := d.Period; p != nil && p.Lower != nil && p.Upper != nil {
		if p.Upper.Before(*p.Lower) {
			return problem.Invalid("period", "the upper bound is before the lower bound")
		}
	}
	if d.Geometry != nil {
		if srid := d.Geometry.SRID(); srid != 0 && srid != 4326 {
			return problem.Invalid("geometry", "SRID %d: geometries are WGS84 longitude/latitude (EPSG:4326)", srid)
		}
		if err := geomrule.Check("geometry", d.Geometry, geomrule.Stored()); err != nil {
			return err
		}
	}
	for i, v := range d.Embedding {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return problem.Invalid(fmt.Sprintf("vector[%d]", i), "must be a finite number")
		}
	}
	return nil
}

// CollectionID returns the id of the named collection, or problem.ErrNotFound.
func CollectionID(ctx context.Context, q Querier, name string) (int64, error) {
	var id int64
	err := q.QueryRow(ctx, `SELECT id FROM collections WHERE name = $1`, name).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("collection %q: %w", name, problem.ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("document: collection %q: %w", name, err)
	}
	return id, nil
}

// args returns the parameters $2..$10 shared by insert, upsert and update.
func (d *Doc) args() []any {
	tags := d.Tags
	if tags == nil {
		tags = []string{}
	}
	props := d.Props
	if props == nil {
		props = map[string]any{}
	}
	var g any
	if d.Geometry != nil {
		if d.Geometry.SRID() == 0 {
			if s, ok := d.Geometry.(interface{ SetSRID(int) geom.T }); ok {
				s.SetSRID(4326)
			}
		}
		g = d.Geometry
	}
	var emb any
	if d.Embedding != nil {
		emb = pgvector.NewVector(d.Embedding)
	}
	return []any{d.ExternalID, d.Title, d.Body, d.Lang, tags, props, periodArg(d.Period), g, emb}
}

func periodArg(p *Period) any {
	if p == nil {
		return nil
	}
	r := pgtype.Range[pgtype.Timestamptz]{Valid: true, LowerType: pgtype.Unbounded, UpperType: pgtype.Unbounded}
	if p.Lower != nil {
		r.Lower = pgtype.Timestamptz{Time: *p.Lower, Valid: true}
		r.LowerType = pgtype.Exclusive
		if p.LowerInc {
			r.LowerType = pgtype.Inclusive
		}
	}
	if p.Upper != nil {
		r.Upper = pgtype.Timestamptz{Time: *p.Upper, Valid: true}
		r.UpperType = pgtype.Exclusive
		if p.UpperInc {
			r.UpperType = pgtype.Inclusive
		}
	}
	return r
}

// The column list written by every write; $1 is the collection name. The
// embedding column exists only with pgvector: a NULL embedding is not written
// so documents without vectors work on servers without the extension.
const langExpr = `CASE WHEN $5 = '' THEN c.default_lang ELSE $5::regconfig END`

func writeCols(withEmb bool) (cols, vals string) {
	cols = `collection_id, external_id, title, body, lang, tags, props, period, geom`
	vals = `c.id, $2, $3, $4, ` + langExpr + `, $6, $7, $8, ST_SetSRID($9::geometry, 4326)`
	if withEmb {
		cols += `, embedding`
		vals += `, $10`
	}
	return cols, vals
}

// Insert validates d and inserts it, setting d.ID, CreatedAt and UpdatedAt. It
// returns problem.ErrNotFound for an unknown collection, problem.ErrConflict
// when the external id exists, and a *problem.ValidationError for bad input.
func Insert(ctx context.Context, q Querier, d *Doc) (int64, error) {
	if err := d.Validate(); err != nil {
		return 0, err
	}
	if err := checkDim(ctx, q, d); err != nil {
		return 0, err
	}
	if err := CheckGeometry(ctx, q, "geometry", d.Geometry); err != nil {
		return 0, err
	}
	cols, vals := writeCols(d.Embedding != nil)
	sql := `INSERT INTO documents (` + cols + `) SELECT ` + vals + ` FROM collections c WHERE c.name = $1
	        RETURNING id, created_at, updated_at`
	args := append([]any{d.Collection}, d.args()...)
	if d.Embedding == nil {
		args = args[:9]
	}
	err := q.QueryRow(ctx, sql, args...).Scan(&d.ID, &d.CreatedAt, &d.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("collection %q: %w", d.Collection, problem.ErrNotFound)
	}
	if err != nil {
		return 0, interpret("insert", err)
	}
	return d.ID, nil
}

// InsertMany inserts docs of one collection in one statement, setting each
// one's ID, CreatedAt and UpdatedAt, all or none. Documents with embeddings
// go through Insert. One statement for many rows is what makes it cheaper
// than Insert in a loop: the statement-level triggers on documents (cluster
// cells, collection stats, search impacts) run once per statement, so a row
// in a statement of many costs PostgreSQL a fraction of a row alone
// (docs/performance.md, "Bulk load: where a document's time goes").
func InsertMany(ctx context.Context, q Querier, docs []*Doc) error {
	if len(docs) == 0 {
		return nil
	}
	coll := docs[0].Collection
	var b strings.Builder
	args := []any{coll}
	for i, d := range docs {
		if d.Collection != coll {
			return fmt.Errorf("document: InsertMany: documents of collections %q and %q", coll, d.Collection)
		}
		if d.Embedding != nil {
			return errors.New("document: InsertMany: documents with embeddings go through Insert")
		}
		if err := d.Validate(); err != nil {
			return err
		}
		if err := CheckGeometry(ctx, q, fmt.Sprintf("documents[%d].geometry", i), d.Geometry); err != nil {
			return err
		}
		if i > 0 {
			b.WriteString(", ")
		}
		n := len(args)
		fmt.Fprintf(&b, "($%d::text, $%d::text, $%d::text, $%d::text, $%d::text[], $%d::jsonb, $%d::tstzrange, $%d::geometry, %d)",
			n+1, n+2, n+3, n+4, n+5, n+6, n+7, n+8, i)
		args = append(args, d.args()[:8]...)
	}
	// Rows are inserted, and RETURNING yields them, in the ORDER BY's
	// order; the count is checked below all the same.
	sql := `INSERT INTO documents (collection_id, external_id, title, body, lang, tags, props, period, geom)
	        SELECT c.id, v.external_id, v.title, v.body,
	               CASE WHEN v.lang = '' THEN c.default_lang ELSE v.lang::regconfig END,
	               v.tags, v.props, v.period, ST_SetSRID(v.geom, 4326)
	          FROM collections c,
	               (VALUES ` + b.String() + `) AS v(external_id, title, body, lang, tags, props, period, geom, ord)
	         WHERE c.name = $1
	         ORDER BY v.ord
	        RETURNING id, created_at, updated_at`
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return interpret("insert", err)
	}
	defer rows.Close()
	i := 0
	for rows.Next() {
		if i < len(docs) {
			if err := rows.Scan(&docs[i].ID, &docs[i].CreatedAt, &docs[i].UpdatedAt); err != nil {
				return interpret("insert", err)
			}
		}
		i++
	}
	if err := rows.Err(); err != nil {
		return interpret("insert", err)
	}
	if i == 0 {
		return fmt.Errorf("collection %q: %w", coll, problem.ErrNotFound)
	}
	if i != len(docs) {
		return fmt.Errorf("document: InsertMany: %d rows inserted for %d documents", i, len(docs))
	}
	return nil
}

// Upsert inserts d or, when a document with its external id exists in the
// collection, replaces that document's content. created says which happened.
// Running it twice with the same input leaves one document.
func Upsert(ctx context.Context, q Querier, d *Doc) (id int64, created bool, err error) {
	if d.ExternalID == nil {
		return 0, false, problem.Invalid("external_id", "an upsert needs an external_id")
	}
	if err := d.Validate(); err != nil {
		return 0, false, err
	}
	if err := checkDim(ctx, q, d); err != nil {
		return 0, false, err
	}
	if err := CheckGeometry(ctx, q, "geometry", d.Geometry); err != nil {
		return 0, false, err
	}
	cols, vals := writeCols(d.Embedding != nil)
	set := `title = EXCLUDED.title, body = EXCLUDED.body, lang = EXCLUDED.lang, tags = EXCLUDED.tags,
	        props = EXCLUDED.props, period = EXCLUDED.period, geom = EXCLUDED.geom, updated_at = now()`
	if d.Embedding != nil {
		set += `, embedding = EXCLUDED.embedding`
	}
	sql := `INSERT INTO documents (` + cols + `) SELECT ` + vals + ` FROM collections c WHERE c.name = $1
	        ON CONFLICT (collection_id, external_id) DO UPDATE SET ` + set + `
	        RETURNING id, created_at, updated_at, (xmax = 0)`
	args := append([]any{d.Collection}, d.args()...)
	if d.Embedding == nil {
		args = args[:9]
	}
	err = q.QueryRow(ctx, sql, args...).Scan(&d.ID, &d.CreatedAt, &d.UpdatedAt, &created)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, fmt.Errorf("collection %q: %w", d.Collection, problem.ErrNotFound)
	}
	if err != nil {
		return 0, false, interpret("upsert", err)
	}
	return d.ID, created, nil
}

// Update replaces the content of document d.ID in d.Collection. It returns
// problem.ErrNotFound when there is no such document. An update without an
// embedding keeps the stored one only if the text is unchanged; otherwise the
// stale vector is cleared so it is recomputed.
func Update(ctx context.Context, q Querier, d *Doc) error {
	if err := d.Validate(); err != nil {
		return err
	}
	if err := checkDim(ctx, q, d); err != nil {
		return err
	}
	if err := CheckGeometry(ctx, q, "geometry", d.Geometry); err != nil {
		return err
	}
	set := `external_id = $2, title = $3, body = $4, lang = ` + langExpr + `, tags = $6, props = $7,
	        period = $8, geom = ST_SetSRID($9::geometry, 4326), updated_at = now()`
	args := append([]any{d.Collection}, d.args()...)
	if d.Embedding != nil {
		set += `, embedding = $10`
	} else {
		args = args[:9]
	}
	args = append(args, d.ID)
	idArg := fmt.Sprintf("$%d", len(args))
	sql := `UPDATE documents SET ` + set + ` FROM collections c
	        WHERE c.name = $1 AND documents.collection_id = c.id AND documents.id = ` + idArg + `
	        RETURNING documents.created_at, documents.updated_at`
	err := q.QueryRow(ctx, sql, args...).Scan(&d.CreatedAt, &d.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("document %d in %q: %w", d.ID, d.Collection, problem.ErrNotFound)
	}
	if err != nil {
		return interpret("update", err)
	}
	return nil
}

// CheckGeometry refuses g, which passed Validate, when PostGIS finds it
// invalid in the OGC sense, with geomrule.NotValid naming field. Points
// need no round trip.
func CheckGeometry(ctx context.Context, q Querier, field string, g geom.T) error {
	if !geomrule.MayBeInvalid(g) {
		return nil
	}
	var reason string
	err := q.QueryRow(ctx, geomrule.ValiditySQL, g).Scan(&reason)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return interpret("check geometry", err)
	}
	return geomrule.NotValid(field, reason)
}

// Delete removes a document (and, by cascade, a photo row attached to it).
func Delete(ctx context.Context, q Querier, collection string, id int64) error {
	tag, err := q.Exec(ctx, `DELETE FROM documents d USING collections c
	                         WHERE c.name = $1 AND d.collection_id = c.id AND d.id = $2`, collection, id)
	if err != nil {
		return interpret("delete", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("document %d in %q: %w", id, collection, problem.ErrNotFound)
	}
	return nil
}

// Get reads one document (without its embedding).
func Get(ctx context.Context, q Querier, collection string, id int64) (*Doc, error) {
	return get(ctx, q, collection, id, "")
}

// GetForUpdate reads one document like Get and locks its row until the end
// of q's transaction, so a read-modify-write (a merge patch) does not lose
// a concurrent writer's change. One statement: the lock costs no round trip.
func GetForUpdate(ctx context.Context, q Querier, collection string, id int64) (*Doc, error) {
	return get(ctx, q, collection, id, " FOR UPDATE OF d")
}

func get(ctx context.Context, q Querier, collection string, id int64, lock string) (*Doc, error) {
	d := &Doc{Collection: collection}
	var period pgtype.Range[pgtype.Timestamptz]
	var g geom.T
	err := q.QueryRow(ctx, `
		SELECT d.id, d.external_id, d.title, d.body, d.lang::text, d.tags, d.props, d.period, d.geom,
		       d.created_at, d.updated_at
		  FROM documents d JOIN collections c ON c.id = d.collection_id
		 WHERE c.name = $1 AND d.id = $2`+lock, collection, id).
		Scan(&d.ID, &d.ExternalID, &d.Title, &d.Body, &d.Lang, &d.Tags, &d.Props, &period, &g, &d.CreatedAt, &d.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("document %d in %q: %w", id, collection, problem.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("document: get: %w", err)
	}
	d.Geometry = g
	d.Period = PeriodFrom(period)
	return d, nil
}

// PeriodFrom converts a scanned tstzrange.
func PeriodFrom(r pgtype.Range[pgtype.Timestamptz]) *Period {
	if !r.Valid {
		return nil
	}
	p := &Period{}
	if r.LowerType != pgtype.Unbounded && r.Lower.Valid {
		t := r.Lower.Time
		p.Lower = &t
		p.LowerInc = r.LowerType == pgtype.Inclusive
	}
	if r.UpperType != pgtype.Unbounded && r.Upper.Valid {
		t := r.Upper.Time
		p.Upper = &t
		p.UpperInc = r.UpperType == pgtype.Inclusive
	}
	return p
}

// checkDim rejects an embedding whose length is not the collection's
// dimension, and any embedding when the server lacks pgvector.
func checkDim(ctx context.Context, q Querier, d *Doc) error {
	if d.Embedding == nil {
		return nil
	}
	var dim *int32
	var hasVec bool
	err := q.QueryRow(ctx, `SELECT c.embedding_dim, to_regtype('vector') IS NOT NULL FROM collections c WHERE c.name = $1`, d.Collection).Scan(&dim, &hasVec)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("collection %q: %w", d.Collection, problem.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("document: check dimension: %w", err)
	}
	if !hasVec {
		return problem.Wrap(problem.ErrExtensionMissing, "vectors need the pgvector extension, which this PostgreSQL server does not have")
	}
	if dim == nil {
		return problem.Invalid("vector", "collection %q has no embedding dimension configured", d.Collection)
	}
	if len(d.Embedding) != int(*dim) {
		return problem.Invalid("vector", "has %d dimensions; collection %q uses %d", len(d.Embedding), d.Collection, *dim)
	}
	return nil
}

func interpret(op string, err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case pgErr.Code == pg.UndefinedObject && strings.Contains(pgErr.Message, "text search configuration"):
			return problem.Invalid("lang", "unknown language %s (e.g. english, german, simple)", quoted(pgErr.Message))
		case pgErr.Code == pg.UniqueViolation:
			return fmt.Errorf("a document with this external_id exists: %w", problem.ErrConflict)
		}
		// Data exceptions and failed checks: malformed values that slipped
		// past Validate, said in the service's words.
		if ve := pg.DataProblem("", err); ve != nil {
			return ve
		}
	}
	return fmt.Errorf("document: %s: %w", op, pg.Interpret(err))
}

// quoted is the first double-quoted name in a PostgreSQL message
// (`text search configuration "klingon" does not exist` → "klingon").
func quoted(msg string) string {
	if _, rest, ok := strings.Cut(msg, `"`); ok {
		if name, _, ok := strings.Cut(rest, `"`); ok {
			return strconv.Quote(name)
		}
	}
	return "(not a text search configuration)"
}
