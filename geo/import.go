package geo

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/twpayne/go-geom"

	"github.com/geoseek/geoseek/document"
	"github.com/geoseek/geoseek/internal/geomrule"
	"github.com/geoseek/geoseek/internal/pg"
	"github.com/geoseek/geoseek/internal/problem"
)

// ImportResult says what an import did.
type ImportResult struct {
	Inserted int64 `json:"inserted"`
	Updated  int64 `json:"updated"`
}

// Import formats.
const (
	FormatFeatureCollection = "geojson"
	FormatSeq               = "geojson-seq" // newline-delimited or RFC 8142 (RS-separated)
)

// Import loads features into a collection in one transaction: all of them or
// none. The body is first staged in a temporary file (document.StageFile in
// Options.StageDir) while every feature is decoded and validated, without a
// database connection, so a slow client holds none and the first bad
// feature answers at once. Then the staged features stream (a
// FeatureCollection is walked token by token, a sequence read value by
// value) into a temporary table with COPY, and one INSERT … ON CONFLICT
// moves them into documents, so importing the same file twice updates
// rather than duplicates features that carry an id. Validation is the same
// as for single writes (document.Doc.Validate plus geometry checks); the
// first bad feature aborts the import with a 400 naming it.
//
// Why not document: COPY needs its own column encoding and a
// transaction of its own; see the report for the Import API document could
// offer instead.
//
// titleProp names the property titles come from (see FeatureDoc).
func (s *Service) Import(ctx context.Context, collection, format, titleProp string, r io.Reader) (ImportResult, error) {
	if err := CheckTitleProp("title", titleProp); err != nil {
		return ImportResult{}, err
	}
	col, err := s.Collection(ctx, collection)
	if err != nil {
		return ImportResult{}, err
	}
	staged, err := s.stageImport(ctx, collection, format, titleProp, r)
	if err != nil {
		return ImportResult{}, err
	}
	defer staged.Close()
	var res ImportResult
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// A large import runs for long; the pool's statement timeout is
		// for queries.
		if _, err := tx.Exec(ctx, `SET LOCAL statement_timeout = '1h'`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TEMP TABLE geo_import (
			n bigint, external_id text, title text, body text, lang text, tags text[], props jsonb,
			period tstzrange, geom geometry) ON COMMIT DROP`); err != nil {
			return err
		}
		src := newFeatureSource(collection, format, titleProp, staged)
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"geo_import"},
			[]string{"n", "external_id", "title", "body", "lang", "tags", "props", "period", "geom"}, src); err != nil {
			if src.err != nil {
				return src.err
			}
			return err
		}
		if err := src.finish(); err != nil {
			return err
		}
		if err := checkImported(ctx, tx, src.shapes); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `
			WITH ins AS (
				INSERT INTO documents (collection_id, external_id, title, body, lang, tags, props, period, geom)
				SELECT $1, i.external_id, i.title, i.body,
				       CASE WHEN i.lang = '' THEN $2::regconfig ELSE i.lang::regconfig END,
				       i.tags, i.props, i.period, ST_SetSRID(i.geom, 4326)
				  FROM geo_import i ORDER BY i.n
				ON CONFLICT (collection_id, external_id) DO UPDATE SET
				   title = EXCLUDED.title, body = EXCLUDED.body, lang = EXCLUDED.lang, tags = EXCLUDED.tags,
				   props = EXCLUDED.props, period = EXCLUDED.period, geom = EXCLUDED.geom, updated_at = now()
				RETURNING (xmax = 0) AS created)
			SELECT count(*) FILTER (WHERE created), count(*) FILTER (WHERE NOT created) FROM ins`,
			col.ID, col.DefaultLang).Scan(&res.Inserted, &res.Updated)
	})
	if err != nil {
		return ImportResult{}, importErr(err)
	}
	return res, nil
}

// stageImport copies r into a staged file while checking every feature,
// and returns the file positioned at its start.
func (s *Service) stageImport(ctx context.Context, collection, format, titleProp string, r io.Reader) (*os.File, error) {
	f, err := document.StageFile(s.opts.StageDir)
	if err != nil {
		return nil, err
	}
	check := newFeatureSource(collection, format, titleProp, io.TeeReader(r, f))
	for ctx.Err() == nil && check.Next() {
	}
	err = check.finish()
	if err == nil {
		err = ctx.Err()
	}
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		_ = f.Close()
		return nil, importErr(err)
	}
	return f, nil
}

func newFeatureSource(collection, format, titleProp string, r io.Reader) *featureSource {
	src := &featureSource{collection: collection, titleProp: titleProp}
	switch format {
	case FormatSeq:
		src.next = seqReader(r)
	default:
		src.next, src.done = collectionReader(r)
	}
	return src
}

// finish returns the error that stopped the source, or the check of what
// follows the last feature.
func (fs *featureSource) finish() error {
	if fs.err != nil {
		return fs.err
	}
	if fs.done != nil {
		return fs.done()
	}
	return nil
}

// checkImported refuses the import when a geometry in geo_import is not
// valid, naming the first such feature; shapes says whether any may be.
func checkImported(ctx context.Context, tx pgx.Tx, shapes bool) error {
	if !shapes {
		return nil
	}
	var n int64
	var reason string
	err := tx.QueryRow(ctx, `SELECT n, ST_IsValidReason(geom) FROM geo_import
		WHERE geom IS NOT NULL AND NOT ST_IsValid(geom) ORDER BY n LIMIT 1`).Scan(&n, &reason)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	return geomrule.NotValid("features["+strconv.FormatInt(n, 10)+"].geometry", reason)
}

func importErr(err error) error {
	var ve *problem.ValidationError
	if errors.As(err, &ve) {
		return err
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case pgErr.Code == "21000": // ON CONFLICT … cannot affect row a second time
			return problem.Invalid("features", "two features in the import have the same id (external_id)")
		case pgErr.Code == pg.UndefinedObject && bytes.Contains([]byte(pgErr.Message), []byte("text search configuration")):
			return problem.Invalid("lang", "a feature names a language this server does not know (e.g. english, german, simple)")
		}
		if ve := pg.DataProblem("features", err); ve != nil {
			return ve
		}
	}
	return fmt.Errorf("geo: import: %w", pg.Interpret(err))
}

// featureSource feeds CopyFrom one validated feature at a time.
type featureSource struct {
	collection string
	titleProp  string
	next       func() ([]byte, error) // raw Feature JSON, io.EOF at the end
	done       func() error
	n          int64
	row        []any
	shapes     bool // a geometry may be invalid (geomrule.MayBeInvalid)
	err        error
}

func (fs *featureSource) Next() bool {
	if fs.err != nil {
		return false
	}
	raw, err := fs.next()
	if errors.Is(err, io.EOF) {
		return false
	}
	field := "features[" + strconv.FormatInt(fs.n, 10) + "]"
	if err != nil {
		fs.err = bodyErr(err)
		var se *json.SyntaxError
		if errors.As(err, &se) {
			fs.err = problem.InvalidAt("body", int(se.Offset), "malformed JSON near %s: %v", field, err)
		}
		return false
	}
	d, err := FeatureDoc(field, fs.collection, raw, FeatureOptions{TitleProp: fs.titleProp})
	if err != nil {
		fs.err = err
		return false
	}
	props, err := propsJSON(d.Props)
	if err != nil {
		fs.err = err
		return false
	}
	tags := d.Tags
	if tags == nil {
		tags = []string{}
	}
	var period any
	if p := d.Period; p != nil {
		r := pgtype.Range[pgtype.Timestamptz]{Valid: true, LowerType: pgtype.Unbounded, UpperType: pgtype.Unbounded}
		if p.Lower != nil {
			r.Lower, r.LowerType = pgtype.Timestamptz{Time: *p.Lower, Valid: true}, pgtype.Inclusive
		}
		if p.Upper != nil {
			r.Upper, r.UpperType = pgtype.Timestamptz{Time: *p.Upper, Valid: true}, pgtype.Inclusive
		}
		period = r
	}
	var g any
	if d.Geometry != nil {
		g = d.Geometry
		fs.shapes = fs.shapes || geomrule.MayBeInvalid(d.Geometry)
	}
	fs.row = []any{fs.n, d.ExternalID, d.Title, d.Body, d.Lang, tags, json.RawMessage(props), period, g}
	fs.n++
	return true
}

func (fs *featureSource) Values() ([]any, error) { return fs.row, nil }
func (fs *featureSource) Err() error             { return fs.err }

// seqReader reads newline-delimited GeoJSON or RFC 8142 GeoJSON text
// sequences (record separator 0x1E before each text).
func seqReader(r io.Reader) func() ([]byte, error) {
	dec := json.NewDecoder(&rsStripper{r: bufio.NewReaderSize(r, 256<<10)})
	return func() ([]byte, error) {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, err
		}
		return raw, nil
	}
}

// rsStripper turns RFC 8142 record separators into whitespace.
type rsStripper struct{ r io.Reader }

func (s *rsStripper) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	for i := range p[:n] {
		if p[i] == 0x1e {
			p[i] = ' '
		}
	}
	return n, err
}

// collectionReader walks a FeatureCollection without holding it: members
// before "features" are checked as they come, each feature is handed out on
// its own, and done checks the rest of the object after the last feature.
func collectionReader(r io.Reader) (next func() ([]byte, error), done func() error) {
	fc := &fcReader{dec: json.NewDecoder(bufio.NewReaderSize(r, 256<<10))}
	return fc.next, fc.done
}

// fcReader is collectionReader's state.
type fcReader struct {
	dec     *json.Decoder
	state   int // 0: before features, 1: inside the array, 2: after it
	sawType bool
}

// member reads one top-level member that is not "features".
func (fc *fcReader) member(key string) error {
	var raw json.RawMessage
	if err := fc.dec.Decode(&raw); err != nil {
		return err
	}
	if key == "type" {
		var t string
		if json.Unmarshal(raw, &t) != nil || t != "FeatureCollection" {
			return problem.Invalid("type", "a bulk import is a FeatureCollection (or a GeoJSON sequence), got %s", raw)
		}
		fc.sawType = true
	}
	return nil
}

// open reads up to the features array's opening bracket.
func (fc *fcReader) open() error {
	dec := fc.dec
	t, err := dec.Token()
	if err != nil {
		return bodyErr(err)
	}
	if d, ok := t.(json.Delim); !ok || d != '{' {
		return problem.Invalid("body", "expected a GeoJSON FeatureCollection object")
	}
	for {
		if !dec.More() {
			return problem.Invalid("features", "the FeatureCollection has no features member")
		}
		kt, err := dec.Token()
		if err != nil {
			return bodyErr(err)
		}
		key, _ := kt.(string)
		if key != "features" {
			if err := fc.member(key); err != nil {
				return bodyErr(err)
			}
			continue
		}
		t, err := dec.Token()
		if err != nil {
			return bodyErr(err)
		}
		if d, ok := t.(json.Delim); !ok || d != '[' {
			return problem.Invalid("features", "must be an array")
		}
		fc.state = 1
		return nil
	}
}

// next returns the next feature's bytes, or io.EOF after the last.
func (fc *fcReader) next() ([]byte, error) {
	if fc.state == 0 {
		if err := fc.open(); err != nil {
			return nil, err
		}
	}
	if fc.state == 2 || !fc.dec.More() {
		if fc.state == 1 {
			if _, err := fc.dec.Token(); err != nil { // ]
				return nil, bodyErr(err)
			}
			fc.state = 2
		}
		return nil, io.EOF
	}
	var raw json.RawMessage
	if err := fc.dec.Decode(&raw); err != nil {
		return nil, bodyErr(err)
	}
	return raw, nil
}

// done checks the members after the features and the end of the body.
func (fc *fcReader) done() error {
	dec := fc.dec
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return bodyErr(err)
		}
		key, _ := kt.(string)
		if err := fc.member(key); err != nil {
			return bodyErr(err)
		}
	}
	if _, err := dec.Token(); err != nil { // }
		return bodyErr(err)
	}
	if !fc.sawType {
		return problem.Invalid("type", "missing \"type\": \"FeatureCollection\"")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return problem.Invalid("body", "unexpected data after the FeatureCollection")
	}
	return nil
}

// bodyErr turns JSON syntax errors into 400s; I/O errors (such as a body over
// its size limit) pass through.
func bodyErr(err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return problem.InvalidAt("body", int(se.Offset), "malformed JSON: %v", err)
	}
	var ute *json.UnmarshalTypeError
	if errors.As(err, &ute) {
		return problem.Invalid("body", "%v", err)
	}
	// Every caller expects more JSON, so even a clean EOF is a cut body.
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return problem.Invalid("body", "the body ends in the middle of the JSON")
	}
	return err
}

// Insert writes one feature through document: an upsert when it
// carries an id (external_id), an insert otherwise. created is false when an
// existing feature with that id was replaced. titleProp names the property
// the title comes from (see FeatureDoc).
func (s *Service) Insert(ctx context.Context, collection string, raw []byte, titleProp string) (int64, bool, error) {
	if err := CheckTitleProp("title", titleProp); err != nil {
		return 0, false, err
	}
	d, err := FeatureDoc("feature", collection, raw, FeatureOptions{TitleProp: titleProp})
	if err != nil {
		return 0, false, err
	}
	var (
		id      int64
		created bool
	)
	err = s.write(ctx, d, func(q document.Querier) error {
		var err error
		if d.ExternalID != nil {
			id, created, err = document.Upsert(ctx, q, d)
			return err
		}
		id, err = document.Insert(ctx, q, d)
		created = true
		return err
	})
	return id, created, err
}

// write runs a document write. A GeometryCollection is written in a second
// statement of the same transaction because document's validation
// cannot take one yet (it panics in go-geom's FlatCoords); every other
// geometry goes through document as it is.
func (s *Service) write(ctx context.Context, d *document.Doc, fn func(q document.Querier) error) error {
	gc, ok := d.Geometry.(*geom.GeometryCollection)
	if !ok {
		return fn(s.pool)
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		return s.writeTx(ctx, tx, d, gc, fn)
	})
}

func (s *Service) writeTx(ctx context.Context, tx pgx.Tx, d *document.Doc, gc *geom.GeometryCollection, fn func(q document.Querier) error) error {
	d.Geometry = nil
	err := fn(tx)
	d.Geometry = gc
	if err != nil {
		return err
	}
	if err := document.CheckGeometry(ctx, tx, "geometry", gc); err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `UPDATE documents SET geom = ST_SetSRID($1::geometry, 4326) WHERE id = $2`, gc, d.ID)
	return err
}

// Replace replaces item id with the feature (PUT).
func (s *Service) Replace(ctx context.Context, collection string, id int64, raw []byte) error {
	d, err := FeatureDoc("feature", collection, raw, FeatureOptions{Replace: true})
	if err != nil {
		return err
	}
	d.ID = id
	return s.write(ctx, d, func(q document.Querier) error { return document.Update(ctx, q, d) })
}

// Patch applies a JSON merge patch (RFC 7396) of a Feature to item id:
// "geometry" replaces the geometry (null removes it); each member of
// "properties" replaces that property, null removes it.
func (s *Service) Patch(ctx context.Context, collection string, id int64, raw []byte) error {
	var patch struct {
		Geometry   *json.RawMessage           `json:"geometry"`
		Properties map[string]json.RawMessage `json:"properties"`
	}
	if err := json.Unmarshal(raw, &patch); err != nil {
		return problem.Invalid("body", "not a JSON merge patch of a Feature: %v", err)
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// Locked until commit so two patches of one item do not lose each
		// other's changes.
		d, err := document.GetForUpdate(ctx, tx, collection, id)
		if err != nil {
			return err
		}
		// Rebuild the stored feature's properties, apply the patch, and
		// convert back with the same mapping as POST.
		cur := map[string]json.RawMessage{}
		for k, v := range d.Props {
			b, err := json.Marshal(v)
			if err != nil {
				return err
			}
			cur[k] = b
		}
		mustJSON := func(v any) json.RawMessage { b, _ := json.Marshal(v); return b }
		cur["title"] = mustJSON(d.Title)
		cur["body"] = mustJSON(d.Body)
		cur["tags"] = mustJSON(d.Tags)
		cur["lang"] = mustJSON(d.Lang)
		if d.ExternalID != nil {
			cur["external_id"] = mustJSON(*d.ExternalID)
		}
		if p := d.Period; p != nil {
			if p.Lower != nil {
				cur["start"] = mustJSON(p.Lower)
			}
			if p.Upper != nil {
				cur["end"] = mustJSON(p.Upper)
			}
		}
		for k, v := range patch.Properties {
			if bytes.Equal(v, []byte("null")) {
				delete(cur, k)
				if k == "datetime" {
					delete(cur, "start")
					delete(cur, "end")
				}
				continue
			}
			if k == "datetime" {
				delete(cur, "start")
				delete(cur, "end")
			}
			cur[k] = v
		}
		geomRaw := json.RawMessage("null")
		if d.Geometry != nil {
			b, err := AppendGeoJSON(nil, d.Geometry, -1)
			if err != nil {
				return err
			}
			geomRaw = b
		}
		if patch.Geometry != nil {
			geomRaw = *patch.Geometry
		}
		f := inFeature{Type: "Feature", Geometry: geomRaw, Properties: cur}
		nd, err := f.doc("feature", collection, FeatureOptions{TitleProp: "title", Replace: true})
		if err != nil {
			return err
		}
		nd.ID = id
		if gc, ok := nd.Geometry.(*geom.GeometryCollection); ok {
			return s.writeTx(ctx, tx, nd, gc, func(q document.Querier) error { return document.Update(ctx, q, nd) })
		}
		return document.Update(ctx, tx, nd)
	})
}

// Delete removes item id.
func (s *Service) Delete(ctx context.Context, collection string, id int64) error {
	return document.Delete(ctx, s.pool, collection, id)
}
