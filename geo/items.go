package geo

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/twpayne/go-geom"

	"github.com/geoseek/geoseek/geo/cql2"
	"github.com/geoseek/geoseek/internal/pg"
	"github.com/geoseek/geoseek/internal/problem"
)

// ItemsQuery is a validated /items request.
type ItemsQuery struct {
	Collection string
	BBox       *BBox
	Datetime   *Interval
	Limit      int
	Sort       Sort
	Cursor     *Cursor
	// Properties selects the feature properties to return (nil: all).
	Properties []string
	// Equal are property equality filters (name -> value as given).
	Equal map[string]string
	// Q is a full-text query (websearch syntax).
	Q string
	// Filter is CQL2 text.
	Filter string
	// Precision is the number of coordinate decimals; -1 keeps all.
	Precision int
	// NoCount skips numberMatched (used by tiles and benchmarks).
	NoCount bool
}

// Cursor is a keyset position: the sort value and id of a row; Before pages
// backwards from it.
type Cursor struct {
	Key    string `json:"k,omitempty"`
	ID     int64  `json:"i"`
	Before bool   `json:"b,omitempty"`
	Sort   string `json:"s"`
}

// Encode returns the opaque cursor token.
func (c Cursor) Encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

// ParseCursor decodes a cursor token; it must belong to the same sort.
func ParseCursor(field, s string, sort Sort) (*Cursor, error) {
	if s == "" {
		return nil, nil //nolint:nilnil // no cursor: first page
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	var c Cursor
	if err != nil || json.Unmarshal(b, &c) != nil {
		return nil, problem.Invalid(field, "not a cursor from a next or prev link")
	}
	if c.Sort != sort.String() {
		return nil, problem.Invalid(field, "the cursor belongs to sortby=%s", c.Sort)
	}
	return &c, nil
}

// String is the sortby value of s.
func (s Sort) String() string {
	if s.Desc {
		return "-" + string(s.Key)
	}
	return string(s.Key)
}

// sortExpr maps the allow-listed keys to SQL and the type their cursor text
// is cast back to.
func sortExpr(k SortKey) (expr, typ string) {
	switch k {
	case SortTitle:
		return "d.title", "text"
	case SortCreated:
		return "d.created_at", "timestamptz"
	case SortUpdated:
		return "d.updated_at", "timestamptz"
	case SortDatetime:
		return "COALESCE(lower(d.period), '-infinity')", "timestamptz"
	}
	return "d.id", "bigint"
}

// where builds the WHERE clause shared by the items query and its count.
type where struct {
	conds []string
	args  []any
	// spatial: a condition can use the geometry's index (a bbox, or a
	// spatial predicate of the filter).
	spatial bool
}

func (w *where) arg(v any) string {
	w.args = append(w.args, v)
	return "$" + strconv.Itoa(len(w.args))
}

func (w *where) add(cond string) { w.conds = append(w.conds, cond) }

func (w *where) sql() string { return strings.Join(w.conds, " AND ") }

// recheckEntries is what an ST_Intersects recheck of a point costs in btree
// entries read into a bitmap, as measured on the bench collection
// (docs/performance.md, "Items: the collection fence").
const recheckEntries = 26

// buildWhere validates q against the collection and returns the conditions;
// the first is the collection's, on parameter $1.
func buildWhere(q *ItemsQuery, col *Collection) (*where, error) {
	w := &where{}
	w.add("d.collection_id = " + w.arg(col.ID))
	if q.BBox != nil {
		var ors []string
		for _, b := range q.BBox.Boxes() {
			ors = append(ors, fmt.Sprintf("ST_Intersects(d.geom, ST_MakeEnvelope(%s, %s, %s, %s, 4326))",
				w.arg(b.MinX), w.arg(b.MinY), w.arg(b.MaxX), w.arg(b.MaxY)))
		}
		w.add("(" + strings.Join(ors, " OR ") + ")")
		w.spatial = true
	}
	if iv := q.Datetime; iv != nil {
		var lo, hi any
		if iv.Start != nil {
			lo = *iv.Start
		}
		if iv.End != nil {
			hi = *iv.End
		}
		w.add(fmt.Sprintf("d.period && tstzrange(%s::timestamptz, %s::timestamptz, '[]')", w.arg(lo), w.arg(hi)))
	}
	if q.Q != "" {
		w.add(fmt.Sprintf("d.search @@ websearch_to_tsquery(%s::regconfig, %s::text)", w.arg(col.DefaultLang), w.arg(q.Q)))
	}
	for _, name := range sortedKeys(q.Equal) {
		v := q.Equal[name]
		switch name {
		case "title", "external_id", "body":
			w.add(fmt.Sprintf("d.%s = %s::text", name, w.arg(v)))
		case "tags":
			w.add(fmt.Sprintf("d.tags @> ARRAY[%s::text]", w.arg(v)))
		default:
			if !col.HasPropKey(name) {
				return nil, problem.Invalid(name, "unknown query parameter or property (collection %q has no property %q)", col.Name, name)
			}
			// A value that reads as a number or boolean matches that JSON
			// value as well as the string; both use the props GIN index.
			alts := []string{"d.props @> " + w.arg(jsonObj(name, v)) + "::jsonb"}
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				alts = append(alts, "d.props @> "+w.arg(jsonObj(name, f))+"::jsonb")
			} else if b, err := strconv.ParseBool(v); err == nil && (v == "true" || v == "false") {
				alts = append(alts, "d.props @> "+w.arg(jsonObj(name, b))+"::jsonb")
			}
			w.add("(" + strings.Join(alts, " OR ") + ")")
		}
	}
	if q.Filter != "" {
		env := cql2.Env{PropKeys: col.HasPropKey}
		f, err := cql2.Compile(q.Filter, env, len(w.args)+1)
		if err != nil {
			var ce *cql2.Error
			if errors.As(err, &ce) {
				return nil, problem.InvalidAt("filter", ce.Pos, "%s", ce.Msg)
			}
			return nil, problem.Invalid("filter", "%v", err)
		}
		w.args = append(w.args, f.Args...)
		w.add("(" + f.SQL + ")")
		w.spatial = w.spatial || f.Spatial
	}
	return w, nil
}

func jsonObj(k string, v any) string {
	b, _ := json.Marshal(map[string]any{k: v})
	return string(b)
}

// selectCols is what every feature query reads; sk is the sort key as text
// for the cursor.
//
// Text, the tags (as JSON) and the props (as JSON text) are read as raw
// bytes and spliced into the output without decoding; the period arrives as
// its two bounds. That keeps the Go side of a 1,000-feature page to the
// geometry decoding and a few appends per feature.
//
// The props keys removed are document.ReservedProps, the properties a
// feature carries for the document's own fields: writes refuse them in props,
// so only a document stored before that rule can have one (it stays visible
// in the documents API).
const selectCols = `d.id, d.external_id, d.title, d.body, to_json(d.tags)::text AS tags,
       (d.props - '{title,body,lang,tags,external_id,datetime,start,end,created,updated,thumbnail}'::text[])::text AS props,
       lower(d.period) AS p_lo, upper(d.period) AS p_hi, d.geom, d.created_at, d.updated_at, d.lang::text AS lang`

// itemsSQL is a built items query.
type itemsSQL struct {
	sql        string
	args       []any
	countWhere string
	countArgs  []any
	backward   bool
	spatial    bool
}

// ItemsSQL returns the SQL and arguments Items runs for q (for benchmarks
// that compare the service with the bare query).
func (s *Service) ItemsSQL(ctx context.Context, q *ItemsQuery) (string, []any, error) {
	col, err := s.Collection(ctx, q.Collection)
	if err != nil {
		return "", nil, err
	}
	iq, _, _, err := s.planItems(ctx, q, col)
	if err != nil {
		return "", nil, err
	}
	return iq.sql, iq.args, nil
}

// planItems builds q's statement. A spatial condition (a bbox, or a
// spatial predicate of the CQL2 filter) on a large collection may filter on
// the collection instead of indexing it (fence): the planner, pricing
// ST_Intersects at COST 10000 per row, ANDed the geometry's GiST bitmap
// with a bitmap of the whole collection from a (collection, …) btree to
// save rechecks, reading every index entry of the collection: most of a
// page's time (docs/performance.md, "Items: the collection fence"). The
// filter also takes away the (collection, id) index that reads a wide area
// in order and stops at the page,
// so it is used only when the condition matches fewer rows than
// sqrt(page × collection): reading every match and sorting it then costs
// less than reading the collection in order until the page is full; and
// only when the collection's bitmap would save less than it costs (see
// recheckEntries). The match estimate is the planner's (EXPLAIN) of all
// the conditions (an OR or NOT around the predicate raises it, and the
// fence is then not chosen), and numberMatched reuses it.
func (s *Service) planItems(ctx context.Context, q *ItemsQuery, col *Collection) (iq *itemsSQL, est int64, haveEst bool, err error) {
	if iq, err = buildItemsSQL(q, col, false); err != nil {
		return nil, 0, false, err
	}
	if !iq.spatial || col.Share <= 0 {
		return iq, 0, false, nil
	}
	est, err = s.estimateMatched(ctx, iq.countWhere, iq.countArgs)
	if err != nil {
		// Only a plan choice and an estimate are lost: run the plain query.
		return iq, 0, false, nil
	}
	// The collection's bitmap is worth its cost when the rechecks it saves
	// (the bbox's rows of other collections) cost more than reading its
	// entries; one recheck costs about recheckEntries entries.
	saved := float64(est) * (1 - col.Share) / col.Share * recheckEntries
	if float64(est) <= math.Sqrt(float64(q.Limit+1)*col.Rows) && saved < col.Rows {
		if iq, err = buildItemsSQL(q, col, true); err != nil {
			return nil, 0, false, err
		}
	}
	return iq, est, true, nil
}

func buildItemsSQL(q *ItemsQuery, col *Collection, fence bool) (*itemsSQL, error) {
	w, err := buildWhere(q, col)
	if err != nil {
		return nil, err
	}
	expr, typ := sortExpr(q.Sort.Key)
	dir, cmp := "ASC", ">"
	if q.Sort.Desc {
		dir, cmp = "DESC", "<"
	}
	backward := q.Cursor != nil && q.Cursor.Before
	countWhere := w.sql()
	countArgs := append([]any(nil), w.args...)
	if fence {
		w.conds[0] = "d.collection_id + 0 = $1"
	}
	if c := q.Cursor; c != nil {
		op := cmp
		if backward {
			op = map[string]string{">": "<", "<": ">"}[cmp]
		}
		if q.Sort.Key == SortID {
			w.add(fmt.Sprintf("d.id %s %s", op, w.arg(c.ID)))
		} else {
			w.add(fmt.Sprintf("(%s, d.id) %s (%s::text::%s, %s)", expr, op, w.arg(c.Key), typ, w.arg(c.ID)))
		}
	}
	order := fmt.Sprintf("%s %s, d.id %s", expr, dir, dir)
	if q.Sort.Key == SortID {
		order = "d.id " + dir
	}
	limitArg := w.arg(q.Limit + 1)
	var sql string
	if !backward {
		sql = fmt.Sprintf(`SELECT %s, (%s)::text AS sk, 0 AS rn FROM documents d WHERE %s ORDER BY %s LIMIT %s`,
			selectCols, expr, w.sql(), order, limitArg)
	} else {
		rev := strings.NewReplacer("ASC", "DESC", "DESC", "ASC").Replace(order)
		outer := strings.NewReplacer("d.id", "p.id", expr, "p.sk_sort").Replace(order)
		if q.Sort.Key == SortID {
			outer = strings.Replace(order, "d.id", "p.id", 1)
		}
		sql = fmt.Sprintf(`SELECT p.id, p.external_id, p.title, p.body, p.tags, p.props, p.p_lo, p.p_hi, p.geom, p.created_at, p.updated_at, p.lang, p.sk, p.rn
		  FROM (SELECT %s, (%s)::text AS sk, %s AS sk_sort, row_number() OVER (ORDER BY %s) AS rn
		          FROM (SELECT * FROM documents d WHERE %s ORDER BY %s LIMIT %s) d) p
		 ORDER BY %s`, selectCols, expr, expr, rev, w.sql(), rev, limitArg, outer)
	}
	return &itemsSQL{sql: sql, args: w.args, countWhere: countWhere, countArgs: countArgs, backward: backward, spatial: w.spatial}, nil
}

// Items runs q and returns a stream positioned before its first feature. Bad
// input and a missing collection are reported here, before anything is
// written; the caller must Close the stream.
func (s *Service) Items(ctx context.Context, q *ItemsQuery) (*FeatureStream, error) {
	col, err := s.cachedCollection(ctx, q.Collection)
	if err != nil {
		return nil, err
	}
	iq, est, haveEst, err := s.planItems(ctx, q, col)
	if err != nil {
		return nil, err
	}
	sql, countWhere, countArgs, backward := iq.sql, iq.countWhere, iq.countArgs, iq.backward
	w := &where{args: iq.args}
	fs := &FeatureStream{q: q, col: col, svc: s}
	if !q.NoCount {
		fs.count = make(chan countResult, 1)
		cctx, cancel := context.WithCancel(ctx)
		fs.cancelCount = cancel
		go func() {
			n, estimated, err := s.countMatched(cctx, countWhere, countArgs, q.Limit, est, haveEst)
			fs.count <- countResult{n, estimated, err}
		}()
	}
	// The unnamed statement (CacheDescribe) is planned with this request's
	// bbox and filter values every time; a cached named statement may switch
	// to a generic plan after five runs and stop using the right index.
	rows, err := s.pool.Query(ctx, sql, append([]any{pgx.QueryExecModeCacheDescribe}, w.args...)...)
	if err != nil {
		fs.Close()
		return nil, s.queryErr(err)
	}
	fs.rows = rows
	fs.hasMore = false
	fs.backward = backward
	if !fs.advance() {
		if err := errors.Join(rows.Err(), fs.err); err != nil {
			fs.Close()
			return nil, s.queryErr(err)
		}
	}
	return fs, nil
}

func (s *Service) queryErr(err error) error {
	var ve *problem.ValidationError
	if errors.As(err, &ve) {
		return err
	}
	// A data exception (class 22) comes from a value the request carried
	// that PostgreSQL rejects (a forged cursor, an odd pattern): the
	// request is wrong, not the server.
	if c := pg.Code(err); len(c) == 5 && c[:2] == "22" {
		return pg.DataProblem("", err)
	}
	return fmt.Errorf("geo: items: %w", pg.Interpret(err))
}

type countResult struct {
	n         int64
	estimated bool
	err       error
}

// estimateMatched is the planner's estimate of the rows matching cond.
func (s *Service) estimateMatched(ctx context.Context, cond string, args []any) (int64, error) {
	var plan []byte
	err := s.pool.QueryRow(ctx, `EXPLAIN (FORMAT JSON) SELECT 1 FROM documents d WHERE `+cond,
		append([]any{pgx.QueryExecModeCacheDescribe}, args...)...).Scan(&plan)
	if err != nil {
		return 0, err
	}
	var p []struct {
		Plan struct {
			Rows float64 `json:"Plan Rows"`
		} `json:"Plan"`
	}
	if err := json.Unmarshal(plan, &p); err != nil || len(p) == 0 {
		return 0, fmt.Errorf("geo: read plan estimate: %v", err)
	}
	return int64(p[0].Plan.Rows), nil
}

// countMatched returns the number of rows matching cond (est is the
// planner's estimate when haveEst): exactly when the
// planner expects at most max(CountCap, limit) of them (counting then costs
// no more than the page), else the planner's estimate (estimated = true).
func (s *Service) countMatched(ctx context.Context, cond string, args []any, limit int, est int64, haveEst bool) (int64, bool, error) {
	if !haveEst {
		var err error
		if est, err = s.estimateMatched(ctx, cond, args); err != nil {
			return 0, false, err
		}
	}
	budget := int64(max(s.opts.CountCap, limit))
	if est > budget {
		return est, true, nil
	}
	// The estimate may be low: the count stops at 4 × budget and then
	// reports what it saw as a lower-bound estimate.
	capArg := "$" + strconv.Itoa(len(args)+1)
	var n int64
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM (SELECT 1 FROM documents d WHERE `+cond+` LIMIT `+capArg+`) s`,
		append(append([]any{pgx.QueryExecModeCacheDescribe}, args...), 4*budget+1)...).Scan(&n)
	if err != nil {
		return 0, false, err
	}
	if n > 4*budget {
		return max(est, n), true, nil
	}
	return n, false, nil
}

// Feature is one row, ready to encode.
//
// The byte fields may point into the driver's buffer (valid until the next
// row); ExternalID is nil for none.
type Feature struct {
	ID         int64
	ExternalID []byte
	Title      []byte
	Body       []byte
	Tags       []byte // JSON array
	Props      []byte // JSON object, reserved keys removed
	Lang       []byte // text search configuration
	// PeriodLo and PeriodHi are the period's bounds (NULL: unbounded or no
	// period); equal bounds are an instant.
	PeriodLo, PeriodHi pgtype.Timestamptz
	// Geometry is the decoded geometry; when it is nil, EWKB (if not nil)
	// holds the geometry as PostGIS sent it (items stream that way: a point
	// is then written without being decoded into a geom.T).
	Geometry geom.T
	EWKB     []byte
	Created  time.Time
	Updated  time.Time
	sk       []byte // valid until the next row
	rn       int64
}

// FeatureStream writes a FeatureCollection while rows arrive.
type FeatureStream struct {
	svc      *Service
	q        *ItemsQuery
	col      *Collection
	rows     pgx.Rows
	cur      Feature
	have     bool
	hasMore  bool
	backward bool
	count    chan countResult
	// cancelCount stops the count when the page itself answers it.
	cancelCount context.CancelFunc
	closed      bool
	// err is a scan error (rows.Err does not report those).
	err error
	// The page read so far (next): its number of features, the first and
	// last rows' ids and sort keys for the cursors, and whether it is
	// complete.
	n               int
	firstID, lastID int64
	firstSK         string
	lastSK          []byte
	done            bool
	// buf and dest are the row's scan targets, reused for every row.
	buf struct {
		ext, title, body, tags, props, lang, sk pgtype.DriverBytes
	}
	dest []any
}

// geomCol is the geometry's column in selectCols.
const geomCol = 8

// advance reads the next row into cur. In backward mode the extra row (the
// limit+1-th in reverse order) comes first and only says there is a prev page.
func (fs *FeatureStream) advance() bool {
	if fs.dest == nil {
		// One destination list for every row: Scan's variadic []any and
		// pointers to locals would otherwise be allocated anew per row
		// (seven allocations a feature; the items profile's largest).
		f, b := &fs.cur, &fs.buf
		fs.dest = []any{&f.ID, &b.ext, &b.title, &b.body, &b.tags, &b.props, &f.PeriodLo, &f.PeriodHi, nil,
			&f.Created, &f.Updated, &b.lang, &b.sk, &f.rn}
	}
	for fs.rows.Next() {
		f, b := &fs.cur, &fs.buf
		f.Geometry = nil
		if err := fs.rows.Scan(fs.dest...); err != nil {
			fs.err = err
			fs.rows.Close()
			fs.have = false
			return false
		}
		// The bytes stay pgx's until the next row: each feature is encoded
		// before the stream advances.
		f.ExternalID, f.Title, f.Body, f.Tags, f.Props, f.Lang, f.sk = b.ext, b.title, b.body, b.tags, b.props, b.lang, b.sk
		// The geometry's EWKB as sent (nil for NULL): its registered
		// codec would decode it, and encoding reads EWKB directly.
		f.EWKB = fs.rows.RawValues()[geomCol]
		if fs.backward && f.rn == int64(fs.q.Limit+1) {
			fs.hasMore = true
			continue
		}
		fs.have = true
		return true
	}
	fs.have = false
	return false
}

// Close releases the rows and waits for the count.
func (fs *FeatureStream) Close() {
	if fs.closed {
		return
	}
	fs.closed = true
	if fs.rows != nil {
		fs.rows.Close()
	}
	if fs.count != nil {
		fs.cancelCount()
		<-fs.count
	}
}

// Page says what the caller needs for links after streaming.
type Page struct {
	// Next and Prev are cursors ("" when there is no such page).
	Next, Prev string
	Returned   int
	Matched    int64
	Estimated  bool
	HasMatched bool
}

// WriteTo writes the FeatureCollection to w. links is called after the last
// feature, with the cursors, to produce the collection's links. An error
// after the first byte means a truncated body: the caller must abort the
// connection rather than let a client take it for a complete answer.
func (fs *FeatureStream) WriteTo(w io.Writer, links func(p Page) []Link) error {
	buf := make([]byte, 0, 64<<10)
	buf = append(buf, `{"type":"FeatureCollection","features":[`...)
	fmtSel := newSelector(fs.q.Properties)
	var err error
	for f := fs.next(); f != nil; f = fs.next() {
		if fs.n > 1 {
			buf = append(buf, ',')
		}
		if buf, err = fs.svc.appendFeature(buf, f, fs.col, fs.q.Precision, fmtSel); err != nil {
			return err
		}
		if len(buf) > 48<<10 {
			if _, err := w.Write(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
	}
	p, err := fs.finish()
	if err != nil {
		return err
	}
	buf = append(buf, `],"numberReturned":`...)
	buf = strconv.AppendInt(buf, int64(p.Returned), 10)
	if p.HasMatched {
		buf = append(buf, `,"numberMatched":`...)
		buf = strconv.AppendInt(buf, p.Matched, 10)
		if p.Estimated {
			buf = append(buf, `,"numberMatchedEstimated":true`...)
		}
	}
	buf = append(buf, `,"timeStamp":"`...)
	buf = time.Now().UTC().AppendFormat(buf, time.RFC3339)
	buf = append(buf, `","links":`...)
	lb, err := json.Marshal(links(p))
	if err != nil {
		return err
	}
	buf = append(buf, lb...)
	buf = append(buf, "}\n"...)
	_, err = w.Write(buf)
	return err
}

// next returns the page's next feature, or nil once the page is complete.
// The feature and its bytes are valid until the following call.
func (fs *FeatureStream) next() *Feature {
	if fs.done {
		return nil
	}
	if fs.n > 0 {
		fs.advance()
	}
	if !fs.have || !fs.backward && fs.n == fs.q.Limit {
		// A row beyond the limit only says there is a next page.
		fs.hasMore = fs.hasMore || fs.have
		fs.done = true
		return nil
	}
	f := &fs.cur
	if fs.n == 0 {
		fs.firstID, fs.firstSK = f.ID, string(f.sk)
	}
	fs.lastID, fs.lastSK = f.ID, append(fs.lastSK[:0], f.sk...)
	fs.n++
	return f
}

// finish ends the page after next returned nil: it reports a failed read,
// releases the rows and returns the cursors and the count of matches.
func (fs *FeatureStream) finish() (Page, error) {
	if err := errors.Join(fs.rows.Err(), fs.err); err != nil {
		return Page{}, fmt.Errorf("geo: items: %w", err)
	}
	fs.rows.Close()
	p := Page{Returned: fs.n}
	p.Next, p.Prev = fs.cursors()
	if fs.count != nil && fs.q.Cursor == nil && !fs.hasMore {
		// The first page holds everything: the count is the page.
		fs.cancelCount()
		<-fs.count
		fs.count = nil
		p.Matched, p.HasMatched = int64(fs.n), true
	}
	if fs.count != nil {
		cr := <-fs.count
		fs.count = nil
		fs.cancelCount()
		if cr.err == nil {
			p.Matched, p.Estimated, p.HasMatched = cr.n, cr.estimated, true
		} else if !errors.Is(cr.err, context.Canceled) && !pg.Cancelled(cr.err) {
			// numberMatched is optional (OGC API – Features 7.15.8); a
			// failed count must not fail the page.
			fs.svc.logger.Warn("geo: numberMatched failed", "err", cr.err)
		}
	}
	return p, nil
}

// cursors are the next and prev cursors of the page read ("" for none).
func (fs *FeatureStream) cursors() (next, prev string) {
	if fs.n == 0 {
		return "", ""
	}
	sortName := fs.q.Sort.String()
	nextC := Cursor{Key: string(fs.lastSK), ID: fs.lastID, Sort: sortName}
	prevC := Cursor{Key: fs.firstSK, ID: fs.firstID, Sort: sortName, Before: true}
	if fs.backward {
		next = nextC.Encode()
		if fs.hasMore {
			prev = prevC.Encode()
		}
		return next, prev
	}
	if fs.hasMore {
		next = nextC.Encode()
	}
	if fs.q.Cursor != nil {
		prev = prevC.Encode()
	}
	return next, prev
}

// selector filters props by the properties= selection.
type selector struct {
	all  bool
	keep map[string]bool
	// times caches the formatted second of the last datetime/start/end,
	// created and updated written with this selector (one stream).
	times [3]timeCache
}

func newSelector(props []string) *selector {
	if props == nil {
		return &selector{all: true}
	}
	s := &selector{keep: map[string]bool{}}
	for _, p := range props {
		s.keep[p] = true
	}
	return s
}

func (s *selector) want(k string) bool { return s.all || s.keep[k] }

// appendFeature writes f as a GeoJSON Feature.
func (s *Service) appendFeature(b []byte, f *Feature, col *Collection, precision int, sel *selector) ([]byte, error) {
	b = append(b, `{"type":"Feature","id":`...)
	b = strconv.AppendInt(b, f.ID, 10)
	b = append(b, `,"geometry":`...)
	var err error
	if f.Geometry == nil && f.EWKB != nil {
		b, err = appendEWKB(b, f.EWKB, precision)
	} else {
		b, err = AppendGeoJSON(b, f.Geometry, precision)
	}
	if err != nil {
		return b, err
	}
	b = append(b, `,"properties":{`...)
	n := 0
	key := func(k string) {
		if n > 0 {
			b = append(b, ',')
		}
		n++
		b = appendJSONString(b, k)
		b = append(b, ':')
	}
	str := func(k string, v []byte) {
		key(k)
		b = appendJSONBytes(b, v)
	}
	tm := func(k string, t time.Time, c *timeCache) {
		key(k)
		b = c.append(b, t)
	}
	if sel.want("title") {
		str("title", f.Title)
	}
	if len(f.Body) > 0 && sel.want("body") {
		str("body", f.Body)
	}
	if f.ExternalID != nil && sel.want("external_id") {
		str("external_id", f.ExternalID)
	}
	if sel.want("lang") {
		str("lang", f.Lang)
	}
	if sel.want("tags") {
		key("tags")
		if len(f.Tags) == 0 {
			b = append(b, "[]"...)
		} else {
			b = append(b, f.Tags...) // PostgreSQL's to_json: a JSON array
		}
	}
	{
		lo, hi := f.PeriodLo, f.PeriodHi
		loOK := lo.Valid && lo.InfinityModifier == pgtype.Finite
		hiOK := hi.Valid && hi.InfinityModifier == pgtype.Finite
		if loOK && hiOK && lo.Time.Equal(hi.Time) {
			if sel.want("datetime") {
				tm("datetime", lo.Time, &sel.times[0])
			}
		} else {
			if loOK && sel.want("start") {
				tm("start", lo.Time, &sel.times[0])
			}
			if hiOK && sel.want("end") {
				tm("end", hi.Time, &sel.times[0])
			}
		}
	}
	if sel.want("created") {
		tm("created", f.Created, &sel.times[1])
	}
	if sel.want("updated") {
		tm("updated", f.Updated, &sel.times[2])
	}
	if col.Name == s.opts.PhotosCollection && sel.want("thumbnail") {
		key("thumbnail")
		b = appendJSONString(b, fmt.Sprintf(s.opts.ThumbnailPath, f.ID))
	}
	if len(f.Props) > 2 {
		if sel.all {
			// The props object minus its braces: the keys geoseek writes
			// itself were removed in SQL, so no key repeats.
			if n > 0 {
				b = append(b, ',')
			}
			b = append(b, f.Props[1:len(f.Props)-1]...)
		} else {
			var m map[string]json.RawMessage
			if err := json.Unmarshal(f.Props, &m); err != nil {
				return b, fmt.Errorf("geo: props of %d: %w", f.ID, err)
			}
			for _, k := range sortedKeys(m) {
				if sel.keep[k] {
					key(k)
					b = append(b, m[k]...)
				}
			}
		}
	}
	return append(b, "}}"...), nil
}

func appendJSONString(b []byte, s string) []byte {
	// Fast path: printable ASCII without quotes, backslashes or the
	// characters encoding/json escapes for HTML safety.
	simple := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			simple = false
			break
		}
	}
	if simple {
		b = append(b, '"')
		b = append(b, s...)
		return append(b, '"')
	}
	enc, _ := json.Marshal(s)
	return append(b, enc...)
}

// appendJSONBytes is appendJSONString for bytes, without a copy on the
// fast path.
func appendJSONBytes(b []byte, s []byte) []byte {
	for _, c := range s {
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return appendJSONString(b, string(s))
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// timeCache formats times as appendTime does, reusing the date and clock of
// the previous time when it falls in the same second: the created and
// updated times of a page usually do (rows written together), and calendar
// arithmetic is a third of a feature's encoding otherwise.
type timeCache struct {
	sec    int64
	prefix []byte // `"2006-01-02T15:04:05` of sec
}

func (c *timeCache) append(b []byte, t time.Time) []byte {
	if sec := t.Unix(); c.prefix == nil || sec != c.sec {
		c.sec = sec
		var ok bool
		if c.prefix, ok = appendDateClock(append(c.prefix[:0], '"'), sec); !ok {
			c.prefix = t.UTC().AppendFormat(c.prefix[:1], "2006-01-02T15:04:05")
		}
	}
	b = append(b, c.prefix...)
	if ns := t.Nanosecond(); ns != 0 {
		// RFC3339Nano's fraction: nine digits, trailing zeros dropped.
		var d [10]byte
		d[0] = '.'
		for i := 9; i >= 1; i-- {
			d[i] = byte('0' + ns%10)
			ns /= 10
		}
		n := 10
		for d[n-1] == '0' {
			n--
		}
		b = append(b, d[:n]...)
	}
	return append(b, 'Z', '"')
}

// appendDateClock appends "2006-01-02T15:04:05" for the Unix time sec in
// UTC, and false (appending nothing) when its year has not four digits.
// Photos and points of one page are taken at different instants, so the
// cache above misses on every row, and time.Time.AppendFormat was a tenth
// of the items stream's CPU; this is Howard Hinnant's civil_from_days
// ("chrono-Compatible Low-Level Date Algorithms"), exact for the whole
// proleptic Gregorian calendar, and a few integer operations.
func appendDateClock(b []byte, sec int64) ([]byte, bool) {
	days, rem := sec/86400, sec%86400
	if rem < 0 {
		days, rem = days-1, rem+86400
	}
	z := days + 719468 // days since 0000-03-01
	era := z / 146097
	if z < 0 && z%146097 != 0 {
		era--
	}
	doe := z - era*146097                                  // [0, 146096]
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365 // [0, 399]
	doy := doe - (365*yoe + yoe/4 - yoe/100)               // [0, 365]
	mp := (5*doy + 2) / 153                                // [0, 11], March first
	d := doy - (153*mp+2)/5 + 1
	m := mp + 3
	if m > 12 {
		m -= 12
	}
	y := yoe + era*400
	if m <= 2 {
		y++
	}
	if y < 0 || y > 9999 {
		return b, false
	}
	two := func(b []byte, v int64) []byte { return append(b, byte('0'+v/10), byte('0'+v%10)) }
	b = append(b, byte('0'+y/1000), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10), '-')
	b = append(two(b, m), '-')
	b = append(two(b, d), 'T')
	b = append(two(b, rem/3600), ':')
	b = append(two(b, rem/60%60), ':')
	return two(b, rem%60), true
}

// appendTime appends t in UTC as an RFC 3339 JSON string.
func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// Item returns one feature as GeoJSON with the given links, or
// problem.ErrNotFound.
func (s *Service) Item(ctx context.Context, collection string, id int64, precision int, links []Link) ([]byte, error) {
	col, err := s.Collection(ctx, collection)
	if err != nil {
		return nil, err
	}
	var f Feature
	err = s.pool.QueryRow(ctx, `SELECT `+selectCols+` FROM documents d WHERE d.collection_id = $1 AND d.id = $2`, col.ID, id).
		Scan(&f.ID, &f.ExternalID, &f.Title, &f.Body, &f.Tags, &f.Props, &f.PeriodLo, &f.PeriodHi, &f.Geometry, &f.Created, &f.Updated, &f.Lang)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("item %d in %q: %w", id, collection, problem.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("geo: item: %w", err)
	}
	b, err := s.appendFeature(make([]byte, 0, 1024), &f, col, precision, newSelector(nil))
	if err != nil {
		return nil, err
	}
	// Splice the links into the feature object.
	lb, err := json.Marshal(links)
	if err != nil {
		return nil, err
	}
	b = append(b[:len(b)-1], `,"links":`...)
	b = append(b, lb...)
	return append(b, '}'), nil
}

// Features returns the documents ids of collection as GeoJSON Features,
// encoded exactly as the items of /collections/{collection}/items are (all
// properties, full coordinate precision), by id; ids not found are absent.
// Search answers GeoJSON through it, so a document is the same Feature
// wherever it appears.
func (s *Service) Features(ctx context.Context, collection string, ids []int64) (map[int64]json.RawMessage, error) {
	col, err := s.cachedCollection(ctx, collection)
	if err != nil {
		return nil, err
	}
	out := make(map[int64]json.RawMessage, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT `+selectCols+` FROM documents d WHERE d.collection_id = $1 AND d.id = ANY($2)`, col.ID, ids)
	if err != nil {
		return nil, fmt.Errorf("geo: features: %w", pg.Interpret(err))
	}
	defer rows.Close()
	sel := newSelector(nil)
	for rows.Next() {
		var f Feature
		// The geometry is encoded from its EWKB, as the items stream does.
		if err := rows.Scan(&f.ID, &f.ExternalID, &f.Title, &f.Body, &f.Tags, &f.Props, &f.PeriodLo, &f.PeriodHi, nil, &f.Created, &f.Updated, &f.Lang); err != nil {
			return nil, fmt.Errorf("geo: features: %w", err)
		}
		f.EWKB = rows.RawValues()[geomCol]
		b, err := s.appendFeature(nil, &f, col, -1, sel)
		if err != nil {
			return nil, err
		}
		out[f.ID] = b
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("geo: features: %w", pg.Interpret(err))
	}
	return out, nil
}
