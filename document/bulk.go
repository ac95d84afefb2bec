package document

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
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twpayne/go-geom/encoding/wkb"

	"github.com/geoseek/geoseek/internal/geomrule"
	"github.com/geoseek/geoseek/internal/pg"
	"github.com/geoseek/geoseek/internal/problem"
)

// MaxBulkLine is the longest accepted NDJSON line (a 1 MB body plus the rest).
const MaxBulkLine = 4 << 20

// BulkResult says what a bulk load did.
type BulkResult struct {
	Inserted int64 `json:"inserted"`
	Updated  int64 `json:"updated"`
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

// Bulk loads newline-delimited JSON documents (one DecodeJSON object per
// line; blank lines are skipped) into collection, all or nothing, in one
// transaction. The input is first staged in a temporary file (StageFile in
// dir) while every line is decoded and validated, without a database
// connection: a slow client holds none, and the first bad line answers at
// once. Then a decoder goroutine reads the staged lines again and hands
// them over in chunks; each chunk goes through COPY into a temporary table
// and from there into documents, so decoding the next chunk overlaps
// PostgreSQL indexing the last one. The first bad line aborts the load with
// a *problem.ValidationError naming the line ("line 17: title: …") and the
// transaction is rolled back: nothing is written (the rows of earlier chunks
// leave only dead tuples for vacuum). Two lines with the same external_id are
// an error too, since which one should win is ambiguous. timeout replaces the
// pool's statement timeout for these statements (a large load runs for
// minutes).
//
// Chunks are written with a plain INSERT until one meets an existing
// external_id (cheaper than INSERT … ON CONFLICT, which makes a speculative
// insertion per row; docs/performance.md); from then on they are upserted.
// See bulk_tuning.go for the settings of the transaction.
func Bulk(ctx context.Context, pool *pgxpool.Pool, collection string, r io.Reader, timeout time.Duration) (BulkResult, error) {
	return BulkStaged(ctx, pool, collection, r, timeout, "")
}

// BulkStaged is Bulk staging its input in dir.
func BulkStaged(ctx context.Context, pool *pgxpool.Pool, collection string, r io.Reader, timeout time.Duration, dir string) (BulkResult, error) {
	return bulk(ctx, pool, collection, r, timeout, bulkChunkRows, dir)
}

// bulkMeta is what decoding a line needs to know of the collection.
type bulkMeta struct {
	collID     int64
	collection string
	defLang    string
	langs      map[string]bool
	dim        int
	hasVec     bool
}

func loadBulkMeta(ctx context.Context, pool *pgxpool.Pool, collection string) (*bulkMeta, error) {
	m := &bulkMeta{collection: collection, langs: map[string]bool{}}
	var (
		dim      *int32
		langList []string
	)
	err := pool.QueryRow(ctx, `SELECT c.id, c.default_lang::text, c.embedding_dim, to_regtype('vector') IS NOT NULL,
		(SELECT array_agg(cfgname::text) FROM pg_ts_config) FROM collections c WHERE c.name = $1`, collection).
		Scan(&m.collID, &m.defLang, &dim, &m.hasVec, &langList)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("collection %q: %w", collection, problem.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("document: bulk: %w", pg.Interpret(err))
	}
	if dim != nil {
		m.dim = int(*dim)
	}
	for _, l := range langList {
		m.langs[l] = true
	}
	return m, nil
}

func (m *bulkMeta) source(r io.Reader) *ndjsonSource {
	return &ndjsonSource{r: bufio.NewReaderSize(r, 1<<20), collection: m.collection, defLang: m.defLang,
		langs: m.langs, dim: m.dim, hasVec: m.hasVec}
}

// stage copies r into a new staged file while checking every line, and
// returns the file positioned at its start.
func (m *bulkMeta) stage(ctx context.Context, r io.Reader, dir string) (*os.File, error) {
	f, err := StageFile(dir)
	if err != nil {
		return nil, err
	}
	check := m.source(io.TeeReader(r, f))
	for ctx.Err() == nil && check.Next() {
	}
	err = check.err
	if err == nil {
		err = ctx.Err()
	}
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	return f, nil
}

// bulk is Bulk with chunks of at most chunkRows lines.
func bulk(ctx context.Context, pool *pgxpool.Pool, collection string, r io.Reader, timeout time.Duration, chunkRows int, dir string) (BulkResult, error) {
	var res BulkResult
	meta, err := loadBulkMeta(ctx, pool, collection)
	if err != nil {
		return res, err
	}
	staged, err := meta.stage(ctx, r, dir)
	if err != nil {
		return res, err
	}
	defer staged.Close()
	src := meta.source(staged)
	dctx, stop := context.WithCancel(ctx)
	chunks := make(chan bulkChunk, 1)
	go src.chunks(dctx, chunks, chunkRows)
	defer func() {
		// Stop the decoder and wait for it before the file is closed.
		stop()
		for range chunks {
		}
	}()
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if err := bulkSettings(ctx, tx, timeout); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TEMP TABLE bulk_docs (
			line int NOT NULL, external_id text, title text NOT NULL, body text NOT NULL, lang text NOT NULL,
			tags text[] NOT NULL, props jsonb NOT NULL, period tstzrange, geom bytea, embedding real[]) ON COMMIT DROP;
			CREATE TEMP TABLE bulk_keys (external_id text PRIMARY KEY, line int NOT NULL) ON COMMIT DROP`); err != nil {
			return err
		}
		w := bulkWriter{tx: tx, collID: meta.collID}
		for c := range chunks {
			if c.err != nil {
				return c.err
			}
			if err := w.write(ctx, c); err != nil {
				return err
			}
		}
		if src.err != nil { // the decoder stopped on a read error after its last chunk
			return src.err
		}
		res = w.res
		return nil
	})
	if err != nil {
		var ve *problem.ValidationError
		if errors.As(err, &ve) || errors.Is(err, problem.ErrExtensionMissing) {
			return BulkResult{}, err
		}
		return BulkResult{}, interpret("bulk", err)
	}
	return res, nil
}

// Chunks: a chunk is written when it holds bulkChunkRows lines or
// bulkChunkBytes of input, whichever comes first.
const (
	bulkChunkRows  = 5000
	bulkChunkBytes = 8 << 20
)

type bulkChunk struct {
	rows   [][]any
	anyVec bool  // a row has an embedding: the chunk writes the column
	shapes bool  // a row has a geometry that may be invalid: the chunk checks them
	err    error // set on the last chunk sent when decoding failed
}

// chunks decodes the input into chunks sent on out, then closes it. A
// decoding error is sent as a chunk of its own; s.err keeps it too.
func (s *ndjsonSource) chunks(ctx context.Context, out chan<- bulkChunk, maxRows int) {
	defer close(out)
	var c bulkChunk
	size := 0
	send := func() bool {
		select {
		case out <- c:
			c, size = bulkChunk{}, 0
			return true
		case <-ctx.Done():
			return false
		}
	}
	for ctx.Err() == nil && s.Next() {
		c.rows = append(c.rows, s.row)
		c.anyVec = c.anyVec || s.row[9] != nil
		c.shapes = c.shapes || s.shape
		size += s.size
		if len(c.rows) >= maxRows || size >= bulkChunkBytes {
			if !send() {
				return
			}
		}
	}
	if s.err != nil {
		c = bulkChunk{err: s.err}
	}
	if len(c.rows) > 0 || c.err != nil {
		send()
	}
}

// bulkWriter writes chunks into documents within one transaction.
type bulkWriter struct {
	tx     pgx.Tx
	collID int64
	upsert bool // an id of the load exists: upsert from now on
	// savepoints counts the chunks inserted in savepoints. Each one that
	// writes is a subtransaction with its own xid, and past 64 of them in
	// one transaction every other session's snapshot checks go through
	// pg_subtrans (the subxid cache overflows), slowing concurrent readers;
	// so at most bulkMaxSavepoints chunks are, and the rest are upserted.
	savepoints int
	res        BulkResult
}

const bulkMaxSavepoints = 32

func (w *bulkWriter) write(ctx context.Context, c bulkChunk) error {
	if err := w.stage(ctx, c); err != nil {
		return err
	}
	if err := w.checkKeys(ctx, c.rows); err != nil {
		return err
	}
	return w.insert(ctx, c.anyVec)
}

// stage copies a chunk into bulk_docs and checks its geometries there.
func (w *bulkWriter) stage(ctx context.Context, c bulkChunk) error {
	tx := w.tx
	if _, err := tx.Exec(ctx, `TRUNCATE bulk_docs`); err != nil {
		return err
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"bulk_docs"},
		[]string{"line", "external_id", "title", "body", "lang", "tags", "props", "period", "geom", "embedding"},
		pgx.CopyFromRows(c.rows)); err != nil {
		return err
	}
	if !c.shapes {
		return nil
	}
	// One pass of GEOS over the chunk; the first invalid geometry fails the
	// load, naming its line.
	var line int32
	var reason string
	err := tx.QueryRow(ctx, `SELECT line, ST_IsValidReason(g) FROM (SELECT line, ST_GeomFromWKB(geom) AS g FROM bulk_docs
		WHERE geom IS NOT NULL) s WHERE NOT ST_IsValid(g) ORDER BY line LIMIT 1`).Scan(&line, &reason)
	if err == nil {
		return lineError(int(line), geomrule.NotValid("geometry", reason))
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return err
	}
	return nil
}

// checkKeys refuses a staged chunk when two lines, within it or with an
// earlier chunk, have one external_id: the load would be ambiguous.
// bulk_keys holds the ids seen so far; a key it refuses is a duplicate, and
// only then is the pair looked up.
func (w *bulkWriter) checkKeys(ctx context.Context, rows [][]any) error {
	tx := w.tx
	ids := int64(0)
	for _, r := range rows {
		if p, _ := r[1].(*string); p != nil {
			ids++
		}
	}
	tag, err := tx.Exec(ctx, `INSERT INTO bulk_keys SELECT external_id, line FROM bulk_docs
		WHERE external_id IS NOT NULL ORDER BY line ON CONFLICT (external_id) DO NOTHING`)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == ids {
		return nil
	}
	var l1, l2 int32
	var dup string
	if err := tx.QueryRow(ctx, `SELECT s.external_id, k.line, s.line FROM bulk_docs s JOIN bulk_keys k USING (external_id)
		WHERE k.line < s.line ORDER BY s.line LIMIT 1`).Scan(&dup, &l1, &l2); err != nil {
		return err
	}
	return problem.Invalid("external_id", "lines %d and %d have the same external_id %q", l1, l2, dup)
}

// insert writes the staged chunk into documents.
func (w *bulkWriter) insert(ctx context.Context, anyVec bool) error {
	tx := w.tx
	cols := "collection_id, external_id, title, body, lang, tags, props, period, geom"
	vals := "$1::bigint, s.external_id, s.title, s.body, s.lang::regconfig, s.tags, s.props, s.period, ST_GeomFromWKB(s.geom, 4326)"
	set := `title = EXCLUDED.title, body = EXCLUDED.body, lang = EXCLUDED.lang, tags = EXCLUDED.tags,
		props = EXCLUDED.props, period = EXCLUDED.period, geom = EXCLUDED.geom, updated_at = now()`
	if anyVec {
		cols += ", embedding"
		vals += ", s.embedding::vector"
		set += ", embedding = EXCLUDED.embedding"
	}
	insert := `INSERT INTO documents (` + cols + `) SELECT ` + vals + ` FROM bulk_docs s ORDER BY s.line`
	upsert := `WITH ins AS (` + insert + `
		ON CONFLICT (collection_id, external_id) DO UPDATE SET ` + set + `
		RETURNING (xmax = 0) AS created)
		SELECT count(*) FILTER (WHERE created), count(*) FILTER (WHERE NOT created) FROM ins`
	if !w.upsert && w.savepoints < bulkMaxSavepoints {
		// No id of the load has existed so far: a plain INSERT, in a
		// savepoint. An existing id (or one a concurrent writer adds) is a
		// unique violation: the savepoint is rolled back and this chunk and
		// the rest are upserted. Probing the ids first would cost as much as
		// the upsert saves.
		w.savepoints++
		sp, err := tx.Begin(ctx)
		if err != nil {
			return err
		}
		tag, err := sp.Exec(ctx, insert, w.collID)
		if err == nil {
			if err := sp.Commit(ctx); err != nil {
				return err
			}
			w.res.Inserted += tag.RowsAffected()
			return nil
		}
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != pg.UniqueViolation {
			return err
		}
		if err := sp.Rollback(ctx); err != nil {
			return err
		}
		w.upsert = true
	}
	var ins, upd int64
	if err := tx.QueryRow(ctx, upsert, w.collID).Scan(&ins, &upd); err != nil {
		return err
	}
	w.res.Inserted += ins
	w.res.Updated += upd
	return nil
}

// ndjsonSource decodes one document per line.
type ndjsonSource struct {
	r          *bufio.Reader
	collection string
	defLang    string
	langs      map[string]bool
	dim        int
	hasVec     bool
	line       int
	row        []any
	size       int  // input bytes of row
	shape      bool // row's geometry may be invalid (geomrule.MayBeInvalid)
	err        error
}

func (s *ndjsonSource) Next() bool {
	for {
		b, err := s.readLine()
		if err != nil {
			if err != io.EOF {
				s.err = err
			}
			return false
		}
		s.line++
		if len(bytes.TrimSpace(b)) == 0 {
			continue
		}
		row, err := s.decode(b)
		if err != nil {
			s.err = lineError(s.line, err)
			return false
		}
		s.row, s.size = row, len(b)
		return true
	}
}

// readLine returns the next line without its line ending, or io.EOF. A
// read error (a body over its limit, text that is not UTF-8) is returned
// even when it cuts a line, so the cut line is never decoded.
func (s *ndjsonSource) readLine() ([]byte, error) {
	var buf []byte
	for {
		chunk, err := s.r.ReadSlice('\n')
		if buf != nil || errors.Is(err, bufio.ErrBufferFull) {
			buf = append(buf, chunk...)
			chunk = buf
		}
		if len(chunk) > MaxBulkLine {
			return nil, lineError(s.line+1, problem.Invalid("", "line longer than %d bytes", MaxBulkLine))
		}
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && len(chunk) > 0:
			return bytes.TrimSuffix(chunk, []byte("\r")), nil
		case err != nil:
			return nil, err
		}
		chunk = bytes.TrimSuffix(chunk, []byte("\n"))
		return bytes.TrimSuffix(chunk, []byte("\r")), nil
	}
}

func lineError(line int, err error) error {
	var ve *problem.ValidationError
	if errors.As(err, &ve) {
		f := "line " + strconv.Itoa(line)
		if ve.Field != "" {
			f += ": " + ve.Field
		}
		return &problem.ValidationError{Field: f, Pos: ve.Pos, Reason: ve.Reason}
	}
	return fmt.Errorf("line %d: %w", line, err)
}

func (s *ndjsonSource) decode(b []byte) ([]any, error) {
	d, err := DecodeJSON(s.collection, b)
	if err != nil {
		return nil, err
	}
	if err := d.Validate(); err != nil {
		return nil, err
	}
	lang := d.Lang
	if lang == "" {
		lang = s.defLang
	} else if !s.langs[lang] {
		return nil, problem.Invalid("lang", "unknown language %q", lang)
	}
	tags := d.Tags
	if tags == nil {
		tags = []string{}
	}
	props := []byte("{}")
	if d.Props != nil {
		if props, err = json.Marshal(d.Props); err != nil {
			return nil, problem.Invalid("props", "%v", err)
		}
	}
	var g []byte
	s.shape = geomrule.MayBeInvalid(d.Geometry)
	if d.Geometry != nil {
		if g, err = wkb.Marshal(d.Geometry, wkb.NDR); err != nil {
			return nil, problem.Invalid("geometry", "unsupported geometry: %v", err)
		}
	}
	var emb any
	if d.Embedding != nil {
		if !s.hasVec {
			return nil, problem.Wrap(problem.ErrExtensionMissing, "vectors need the pgvector extension, which this PostgreSQL server does not have")
		}
		if len(d.Embedding) != s.dim {
			return nil, problem.Invalid("vector", "has %d dimensions; collection %q uses %d", len(d.Embedding), s.collection, s.dim)
		}
		emb = d.Embedding
	}
	return []any{int32(s.line), d.ExternalID, d.Title, d.Body, lang, tags, props, periodArg(d.Period), g, emb}, nil
}
