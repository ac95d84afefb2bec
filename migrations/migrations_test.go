package migrations_test

import (
	"context"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/geoseek/geoseek/internal/pg"
	"github.com/geoseek/geoseek/internal/pgtest"
	"github.com/geoseek/geoseek/migrations"
)

func emptyDB(t *testing.T) *pgxpool.Pool {
	t.Helper()
	db := pgtest.NewEmpty(t, "")
	pool, err := pg.Open(context.Background(), pg.Config{URL: db.URL, MaxConns: 4}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func TestUpFromEmptyThenNoOp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := emptyDB(t)
	latest, err := migrations.Latest()
	if err != nil {
		t.Fatal(err)
	}
	rep, err := migrations.Up(ctx, pool, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Version != latest || len(rep.Applied) == 0 {
		t.Fatalf("first run: version %d (latest %d), applied %v", rep.Version, latest, rep.Applied)
	}
	st, err := migrations.CurrentStatus(ctx, pool)
	if err != nil || !st.Current {
		t.Fatalf("status after Up: %+v %v", st, err)
	}
	before := schemaFingerprint(t, pool)
	rep2, err := migrations.Up(ctx, pool, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep2.Applied) != 0 || rep2.Version != latest {
		t.Fatalf("second run applied %v", rep2.Applied)
	}
	if after := schemaFingerprint(t, pool); after != before {
		t.Fatalf("second run changed the schema:\n%s\n---\n%s", before, after)
	}
}

func TestStatusOfEmptyDatabaseIsNotCurrent(t *testing.T) {
	t.Parallel()
	st, err := migrations.CurrentStatus(context.Background(), emptyDB(t))
	if err != nil {
		t.Fatal(err)
	}
	if st.Current || st.Version != 0 {
		t.Fatalf("empty database reported %+v", st)
	}
}

func TestConcurrentUpBothSucceed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.NewEmpty(t, "")
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Separate pools, as two geoseek processes would have.
			pool, err := pg.Open(ctx, pg.Config{URL: db.URL, MaxConns: 2}, nil)
			if err != nil {
				errs[i] = err
				return
			}
			defer pool.Close()
			_, errs[i] = migrations.Up(ctx, pool, nil)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("migrate %d: %v", i, err)
		}
	}
	pool, err := pg.Open(ctx, pg.Config{URL: db.URL, MaxConns: 2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var applied, photos int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM goose_db_version WHERE version_id > 0`).Scan(&applied); err != nil {
		t.Fatal(err)
	}
	latestCount := countMigrations(t)
	if applied != latestCount {
		t.Fatalf("goose recorded %d applications, want %d (each migration once)", applied, latestCount)
	}
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM collections WHERE name = 'photos'`).Scan(&photos); err != nil || photos != 1 {
		t.Fatalf("photos collection rows: %d %v", photos, err)
	}
}

func countMigrations(t *testing.T) int {
	t.Helper()
	n := 0
	entries, err := migrations.FsGlob()
	if err != nil {
		t.Fatal(err)
	}
	n = len(entries)
	return n
}

// schemaFingerprint lists columns, indexes and constraints of the public schema.
func schemaFingerprint(t *testing.T, pool *pgxpool.Pool) string {
	t.Helper()
	var s string
	err := pool.QueryRow(context.Background(), `
		SELECT string_agg(x, E'\n' ORDER BY x) FROM (
		  SELECT table_name || '.' || column_name || ' ' || data_type AS x FROM information_schema.columns WHERE table_schema = 'public'
		  UNION ALL SELECT indexname || ' ' || indexdef FROM pg_indexes WHERE schemaname = 'public'
		  UNION ALL SELECT conname::text FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = 'public'
		) q`).Scan(&s)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestPhotoGeneratedPoint(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.New(t)
	var docID int64
	if err := db.Pool.QueryRow(ctx, `INSERT INTO documents (collection_id, title) SELECT id, 'p' FROM collections WHERE name = 'photos' RETURNING id`).Scan(&docID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Pool.Exec(ctx, `INSERT INTO photos (document_id, sha256, size_bytes, mime, storage_key, lat, lon)
		VALUES ($1, sha256('x'), 1, 'image/jpeg', 'k', 38.7223, -9.1393)`, docID); err != nil {
		t.Fatal(err)
	}
	point := func() (x, y *float64, srid *int, docX *float64) {
		t.Helper()
		err := db.Pool.QueryRow(ctx, `SELECT ST_X(p.geom), ST_Y(p.geom), ST_SRID(p.geom), ST_X(d.geom)
			FROM photos p JOIN documents d ON d.id = p.document_id WHERE p.document_id = $1`, docID).Scan(&x, &y, &srid, &docX)
		if err != nil {
			t.Fatal(err)
		}
		return
	}
	x, y, srid, docX := point()
	if x == nil || *x != -9.1393 || *y != 38.7223 || *srid != 4326 {
		t.Fatalf("point = %v %v srid %v, want lon -9.1393 lat 38.7223 srid 4326", x, y, srid)
	}
	if docX == nil || *docX != -9.1393 {
		t.Fatalf("the document's geometry does not follow the photo's point: %v", docX)
	}
	// Moving the photo moves the point and the document.
	if _, err := db.Pool.Exec(ctx, `UPDATE photos SET lat = -33.8568, lon = 151.2153 WHERE document_id = $1`, docID); err != nil {
		t.Fatal(err)
	}
	x, y, _, docX = point()
	if math.Abs(*x-151.2153) > 1e-12 || math.Abs(*y+33.8568) > 1e-12 || *docX != *x {
		t.Fatalf("after update: %v %v (document %v)", *x, *y, *docX)
	}
	// No position: no point.
	if _, err := db.Pool.Exec(ctx, `UPDATE photos SET lat = NULL, lon = NULL WHERE document_id = $1`, docID); err != nil {
		t.Fatal(err)
	}
	x, _, _, docX = point()
	if x != nil || docX != nil {
		t.Fatalf("no position gave point x=%v (document %v), want NULL", x, docX)
	}
	// Half a position is refused by the schema.
	for _, set := range []string{"lat = 10, lon = NULL", "lat = NULL, lon = 10"} {
		if _, err := db.Pool.Exec(ctx, `UPDATE photos SET `+set+` WHERE document_id = $1`, docID); pg.Code(err) != pg.CheckViolation {
			t.Fatalf("%s: %v, want a check violation", set, err)
		}
	}
	// The column is generated: writing it is refused.
	if _, err := db.Pool.Exec(ctx, `UPDATE photos SET geom = NULL WHERE document_id = $1`, docID); pg.Code(err) != "428C9" {
		t.Fatalf("writing the generated column: %v, want SQLSTATE 428C9", err)
	}
	// Out-of-range coordinates are refused by the schema.
	if _, err := db.Pool.Exec(ctx, `UPDATE photos SET lat = 91 WHERE document_id = $1`, docID); pg.Code(err) != pg.CheckViolation {
		t.Fatalf("lat 91: %v", err)
	}
}

func TestSearchColumn(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.New(t)
	ins := func(title, body, lang string) int64 {
		var id int64
		err := db.Pool.QueryRow(ctx, `INSERT INTO documents (collection_id, title, body, lang)
			SELECT id, $1, $2, $3::regconfig FROM collections WHERE name = 'photos' RETURNING id`, title, body, lang).Scan(&id)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	titleHit := ins("Harbour at dawn", "boats and gulls", "english")
	bodyHit := ins("Morning", "a walk along the harbour", "english")
	ins("Unrelated", "nothing here", "english")
	german := ins("Die Häuser", "Wir sahen viele Häuser am Fluss", "german")

	rows, err := db.Pool.Query(ctx, `SELECT id FROM documents
		WHERE search @@ websearch_to_tsquery('english', 'harbour')
		ORDER BY ts_rank_cd(search, websearch_to_tsquery('english', 'harbour')) DESC, id`)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for rows.Next() {
		var id int64
		rows.Scan(&id)
		ids = append(ids, id)
	}
	if len(ids) != 2 || ids[0] != titleHit || ids[1] != bodyHit {
		t.Fatalf("ranking = %v, want title hit %d above body hit %d", ids, titleHit, bodyHit)
	}
	// German stemming: "Haus" and "Häusern" share the stem of "Häuser" only
	// under the german configuration stored with the row.
	var n int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM documents WHERE id = $1 AND search @@ websearch_to_tsquery('german', 'Häusern')`, german).Scan(&n); err != nil || n != 1 {
		t.Fatalf("german stemming: %d %v", n, err)
	}
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM documents WHERE id = $1 AND search @@ websearch_to_tsquery('simple', 'Häusern')`, german).Scan(&n); err != nil || n != 0 {
		t.Fatalf("simple config must not stem: %d %v", n, err)
	}
	// Changing the row's language re-stems it.
	if _, err := db.Pool.Exec(ctx, `UPDATE documents SET lang = 'simple' WHERE id = $1`, german); err != nil {
		t.Fatal(err)
	}
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM documents WHERE id = $1 AND search @@ websearch_to_tsquery('german', 'Häusern')`, german).Scan(&n); err != nil || n != 0 {
		t.Fatalf("after switching to simple, german stem still matches: %d %v", n, err)
	}
}

func TestVectorFeatureAddedLaterKeepsData(t *testing.T) {
	t.Parallel()
	pgtest.RequireVector(t)
	ctx := context.Background()
	db := pgtest.New(t)
	if _, err := db.Pool.Exec(ctx, `INSERT INTO documents (collection_id, title) SELECT id, 'kept' FROM collections WHERE name = 'photos'`); err != nil {
		t.Fatal(err)
	}
	// Simulate a server where pgvector arrived after the schema: remove the
	// extension (and with it the column and indexes), then migrate again.
	if _, err := db.Pool.Exec(ctx, `DROP EXTENSION vector CASCADE; DELETE FROM schema_features`); err != nil {
		t.Fatal(err)
	}
	db.Pool.Reset()
	rep, err := migrations.Up(ctx, db.Pool, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Enabled["vector"] == "" || len(rep.Applied) != 0 {
		t.Fatalf("report %+v", rep)
	}
	var title string
	var hasCol, hasIdx bool
	err = db.Pool.QueryRow(ctx, `SELECT (SELECT title FROM documents LIMIT 1),
		EXISTS (SELECT 1 FROM information_schema.columns WHERE table_name = 'documents' AND column_name = 'embedding'),
		EXISTS (SELECT 1 FROM pg_indexes WHERE indexdef LIKE '%hnsw%vector_cosine_ops%')`).Scan(&title, &hasCol, &hasIdx)
	if err != nil {
		t.Fatal(err)
	}
	if title != "kept" || !hasCol || !hasIdx {
		t.Fatalf("title %q column %v hnsw index %v", title, hasCol, hasIdx)
	}
	// New collections get their HNSW index from the trigger.
	if _, err := db.Pool.Exec(ctx, `INSERT INTO collections (name, embedding_dim) VALUES ('vecs', 8)`); err != nil {
		t.Fatal(err)
	}
	var n int
	db.Pool.QueryRow(ctx, `SELECT count(*) FROM pg_indexes WHERE indexname LIKE 'documents_embedding_c%_d8_idx'`).Scan(&n)
	if n != 1 {
		t.Fatalf("no HNSW index for the new collection")
	}
	_ = time.Second
}

// TestFilterIndexesHaveNoPendingList: the tags and props indexes take new
// entries straight into the index (00035), so a filter never reads a GIN
// pending list; the full-text and trigram lists are capped at 256 kB.
func TestFilterIndexesHaveNoPendingList(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	rows, err := db.Pool.Query(context.Background(), `
		SELECT c.relname, array_to_string(c.reloptions, ',')
		  FROM pg_class c WHERE c.relname IN ('documents_tags_idx', 'documents_props_idx', 'documents_search_idx', 'documents_title_trgm_idx')`)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for rows.Next() {
		var name, opts string
		if err := rows.Scan(&name, &opts); err != nil {
			t.Fatal(err)
		}
		got[name] = opts
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"documents_tags_idx": "fastupdate=off", "documents_props_idx": "fastupdate=off",
		"documents_search_idx": "gin_pending_list_limit=256", "documents_title_trgm_idx": "gin_pending_list_limit=256",
	}
	for name, opts := range want {
		if got[name] != opts {
			t.Errorf("%s: options %q, want %q", name, got[name], opts)
		}
	}
}

// TestHalfPositionMigrated: photos stored with half a position before the
// schema refused it lose it on migrating, with the reason in exif_error.
func TestHalfPositionMigrated(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := emptyDB(t)
	if err := migrations.UpTo(ctx, pool, 48); err != nil {
		t.Fatal(err)
	}
	var lonOnly, whole int64
	for i, pos := range []string{"NULL, 20", "10, 20", "45, NULL"} {
		var id int64
		if err := pool.QueryRow(ctx, `INSERT INTO documents (collection_id, title) SELECT id, 'p' FROM collections WHERE name = 'photos' RETURNING id`).Scan(&id); err != nil {
			t.Fatal(err)
		}
		if _, err := pool.Exec(ctx, `INSERT INTO photos (document_id, sha256, size_bytes, mime, storage_key, lat, lon)
			VALUES ($1, sha256($2::bytea), 1, 'image/jpeg', 'k', `+pos+`)`, id, []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
		switch i {
		case 0:
			lonOnly = id
		case 1:
			whole = id
		}
	}
	if _, err := migrations.Up(ctx, pool, nil); err != nil {
		t.Fatal(err)
	}
	var halves int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM photos WHERE (lat IS NULL) <> (lon IS NULL)`).Scan(&halves); err != nil || halves != 0 {
		t.Fatalf("%d photos keep half a position (%v)", halves, err)
	}
	var why *string
	if err := pool.QueryRow(ctx, `SELECT exif_error FROM photos WHERE document_id = $1`, lonOnly).Scan(&why); err != nil || why == nil ||
		*why != "GPS position dropped: GPSLongitude without a usable GPSLatitude" {
		t.Fatalf("exif_error of the longitude-only photo: %v %v", why, err)
	}
	var lat *float64
	if err := pool.QueryRow(ctx, `SELECT lat FROM photos WHERE document_id = $1`, whole).Scan(&lat); err != nil || lat == nil || *lat != 10 {
		t.Fatalf("a whole position was touched: lat %v, %v", lat, err)
	}
}

// TestSearchVectorStaysInRow: a document too wide for its page's share
// keeps its tsvector in the row and sends its body to TOAST (00058), so
// searches that test matches row by row read no TOAST for it.
func TestSearchVectorStaysInRow(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.New(t)
	var toast string
	if err := db.Pool.QueryRow(ctx, `SELECT reltoastrelid::regclass::text FROM pg_class WHERE oid = 'documents'::regclass`).Scan(&toast); err != nil {
		t.Fatal(err)
	}
	values := func() (n int) {
		if err := db.Pool.QueryRow(ctx, `SELECT count(DISTINCT chunk_id) FROM `+toast).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := values()
	// 400 distinct made-up words: a tsvector of about 6.5 kB that does not
	// compress (TOAST would take it out of the row) beside a body of 3.6 kB.
	var id int64
	var searchBytes int
	err := db.Pool.QueryRow(ctx, `INSERT INTO documents (collection_id, title, body)
		SELECT c.id, 'wide', (SELECT string_agg(left(md5(g::text), 8), ' ') FROM generate_series(1, 400) g)
		  FROM collections c WHERE c.name = 'photos'
		RETURNING id, octet_length(search::text)`).Scan(&id, &searchBytes)
	if err != nil {
		t.Fatal(err)
	}
	if searchBytes < 6000 {
		t.Fatalf("the test's tsvector is %d bytes as text: too small to need TOAST", searchBytes)
	}
	if got := values() - before; got != 1 {
		t.Fatalf("%d values of the document went to TOAST, want 1 (the body)", got)
	}
	var n int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM documents WHERE id = $1 AND search @@ to_tsquery('simple', left(md5('350'), 8))`, id).Scan(&n); err != nil || n != 1 {
		t.Fatalf("the in-row tsvector does not match its 350th word: %d %v", n, err)
	}
}
