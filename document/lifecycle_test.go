package document_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/require"

	"github.com/geoseek/geoseek/document"
	"github.com/geoseek/geoseek/internal/auth"
	"github.com/geoseek/geoseek/internal/jobs"
	"github.com/geoseek/geoseek/internal/pgtest"
)

// lifecycleAPI is the documents API with admin, write and read keys.
type lifecycleAPI struct {
	api
	admin string
	lc    *document.Lifecycle
}

func newLifecycleAPI(t *testing.T, cfg document.LifecycleConfig) lifecycleAPI {
	t.Helper()
	db := pgtest.New(t)
	gin.SetMode(gin.TestMode)
	ctx := context.Background()
	store := auth.NewStore(db.Pool)
	lc := document.NewLifecycle(db.Pool, nil, cfg)
	r := gin.New()
	r.Use(auth.Middleware(store, false))
	document.NewHandler(db.Pool, nil, document.HandlerConfig{Lifecycle: lc}).Register(r)
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	_, ad, err := store.Create(ctx, "a", []auth.Scope{auth.Admin})
	require.NoError(t, err)
	_, w, err := store.Create(ctx, "w", []auth.Scope{auth.Write})
	require.NoError(t, err)
	_, rd, err := store.Create(ctx, "r", []auth.Scope{auth.Read})
	require.NoError(t, err)
	return lifecycleAPI{api: api{db: db, srv: srv, writer: w, reader: rd}, admin: ad, lc: lc}
}

// fill creates collection name with n documents with points spread over
// the world, and returns its id.
func (a lifecycleAPI) fill(t *testing.T, name string, n int) int64 {
	t.Helper()
	code, body := a.do(t, "POST", "/collections", a.writer, "application/json", `{"name":"`+name+`","default_lang":"english"}`)
	require.Equal(t, http.StatusCreated, code, "%v", body)
	id := int64(body["id"].(float64))
	for from := 1; from <= n; from += 100_000 {
		_, err := a.db.Pool.Exec(context.Background(), `
			INSERT INTO documents (collection_id, title, body, props, geom)
			SELECT $1, 'doc ' || g, 'body of ' || g, jsonb_build_object('n', g),
			       ST_SetSRID(ST_MakePoint((g * 7919 % 3600) / 10.0 - 180, (g * 104729 % 1700) / 10.0 - 85), 4326)
			  FROM generate_series($2::bigint, $3::bigint) g`, id, from, min(from+100_000-1, n))
		require.NoError(t, err)
	}
	return id
}

func (a lifecycleAPI) rows(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, a.db.Pool.QueryRow(context.Background(), sql, args...).Scan(&n))
	return n
}

// TestDeleteCollection: only an admin key deletes; the collection, its
// documents, cluster cells and statistics are gone when it answers 204,
// other collections are untouched, and the name can be taken again.
func TestDeleteCollection(t *testing.T) {
	t.Parallel()
	a := newLifecycleAPI(t, document.LifecycleConfig{})
	gone := a.fill(t, "gone", 300)
	kept := a.fill(t, "kept", 50)
	require.Positive(t, a.rows(t, `SELECT count(*) FROM geo_cluster_cells WHERE collection_id = $1`, gone))
	require.Positive(t, a.rows(t, `SELECT count(*) FROM geo_collection_stats WHERE collection_id = $1`, gone))
	var doc int64
	require.NoError(t, a.db.Pool.QueryRow(context.Background(), `SELECT min(id) FROM documents WHERE collection_id = $1`, gone).Scan(&doc))

	code, _ := a.do(t, "DELETE", "/collections/gone", "", "", "")
	require.Equal(t, http.StatusUnauthorized, code)
	code, _ = a.do(t, "DELETE", "/collections/gone", a.reader, "", "")
	require.Equal(t, http.StatusForbidden, code)
	code, _ = a.do(t, "DELETE", "/collections/gone", a.writer, "", "")
	require.Equal(t, http.StatusForbidden, code)
	code, _ = a.do(t, "DELETE", "/collections/nope", a.admin, "", "")
	require.Equal(t, http.StatusNotFound, code)

	code, body := a.do(t, "DELETE", "/collections/gone", a.admin, "", "")
	require.Equal(t, http.StatusNoContent, code, "%v", body)
	for _, q := range []string{
		`SELECT count(*) FROM documents WHERE collection_id = $1`,
		`SELECT count(*) FROM collections WHERE id = $1`,
		`SELECT count(*) FROM geo_cluster_cells WHERE collection_id = $1`,
		`SELECT count(*) FROM geo_cluster_pending WHERE collection_id = $1`,
		`SELECT count(*) FROM geo_collection_stats WHERE collection_id = $1`,
	} {
		require.Zero(t, a.rows(t, q, gone), q)
	}
	require.Equal(t, 50, a.rows(t, `SELECT count(*) FROM documents WHERE collection_id = $1`, kept))
	require.Positive(t, a.rows(t, `SELECT count(*) FROM geo_cluster_cells WHERE collection_id = $1`, kept))

	code, _ = a.do(t, "GET", fmt.Sprintf("/collections/gone/documents/%d", doc), a.reader, "", "")
	require.Equal(t, http.StatusNotFound, code)
	code, _ = a.do(t, "DELETE", "/collections/gone", a.admin, "", "")
	require.Equal(t, http.StatusNotFound, code)
	code, _ = a.do(t, "POST", "/collections/gone/documents", a.writer, "application/json", `{"title":"late"}`)
	require.Equal(t, http.StatusNotFound, code)
	code, body = a.do(t, "POST", "/collections", a.writer, "application/json", `{"name":"gone"}`)
	require.Equal(t, http.StatusCreated, code, "%v", body)
	require.NotEqual(t, float64(gone), body["id"])
}

// TestDeleteRecreatesPhotos: deleting the photos collection empties it: a
// new photos collection with the same settings takes the name at once, so
// uploads keep working.
func TestDeleteRecreatesPhotos(t *testing.T) {
	t.Parallel()
	a := newLifecycleAPI(t, document.LifecycleConfig{})
	var old int64
	require.NoError(t, a.db.Pool.QueryRow(context.Background(), `SELECT id FROM collections WHERE name = 'photos'`).Scan(&old))
	code, body := a.do(t, "DELETE", "/collections/photos", a.admin, "", "")
	require.Equal(t, http.StatusNoContent, code, "%v", body)
	var id int64
	var dim int
	var title string
	require.NoError(t, a.db.Pool.QueryRow(context.Background(), `SELECT id, embedding_dim, title FROM collections WHERE name = 'photos'`).Scan(&id, &dim, &title))
	require.NotEqual(t, old, id)
	require.Equal(t, 384, dim)
	require.Equal(t, "Photos", title)
	code, _ = a.do(t, "POST", "/collections/photos/documents", a.writer, "application/json", `{"title":"after"}`)
	require.Equal(t, http.StatusCreated, code)
}

// TestDeleteLargeCollectionResumes: a collection larger than InlineDelete
// answers 202 with a queued job and is invisible at once; a purge that
// stops after its first batch (as a crash would) leaves the rest, and the
// next start (ResumeDeletes) finishes it; the job then finds nothing to do.
func TestDeleteLargeCollectionResumes(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	inserter, err := jobs.NewInserter(db.Pool, nil)
	require.NoError(t, err)
	crash := errors.New("crash")
	cfg := document.LifecycleConfig{Jobs: inserter}
	document.SetAfterBatch(&cfg, func(int) error { return crash })
	a := newLifecycleAPI(t, cfg)
	n := document.InlineDelete*2 + 10
	id := a.fill(t, "big", n)
	a.fill(t, "other", 10)
	ctx := context.Background()

	code, body := a.do(t, "DELETE", "/collections/big", a.admin, "", "")
	require.Equal(t, http.StatusAccepted, code, "%v", body)
	require.Equal(t, false, body["done"])
	require.Positive(t, body["job_id"])
	require.Equal(t, 1, a.rows(t, `SELECT count(*) FROM river_job WHERE kind = 'geoseek.collection_delete' AND args->>'collection_id' = $1`, fmt.Sprint(id)))
	// gone for every lookup, rows still there
	code, _ = a.do(t, "POST", "/collections/big/documents", a.writer, "application/json", `{"title":"late"}`)
	require.Equal(t, http.StatusNotFound, code)
	require.Equal(t, n, a.rows(t, `SELECT count(*) FROM documents WHERE collection_id = $1`, id))

	// the job's first batch commits, then the process "dies"
	_, err = a.lc.Purge(ctx, id)
	require.ErrorIs(t, err, crash)
	require.Equal(t, n-document.DeleteBatch, a.rows(t, `SELECT count(*) FROM documents WHERE collection_id = $1`, id))
	require.Equal(t, 1, a.rows(t, `SELECT count(*) FROM collections WHERE id = $1`, id))

	// the next start finishes it
	restarted := document.NewLifecycle(a.db.Pool, nil, document.LifecycleConfig{})
	done, err := restarted.ResumeDeletes(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, done)
	require.Zero(t, a.rows(t, `SELECT count(*) FROM documents WHERE collection_id = $1`, id))
	require.Zero(t, a.rows(t, `SELECT count(*) FROM collections WHERE id = $1`, id))
	require.Equal(t, 10, a.rows(t, `SELECT count(*) FROM documents d JOIN collections c ON c.id = d.collection_id WHERE c.name = 'other'`))
	removed, err := restarted.Purge(ctx, id)
	require.NoError(t, err)
	require.Zero(t, removed)
	done, err = restarted.ResumeDeletes(ctx)
	require.NoError(t, err)
	require.Zero(t, done)
}

// TestPatchCollection: each member is validated (400), renaming is
// refused, embedder settings need the admin scope, and the language applies
// to documents written afterwards while stored ones keep theirs.
func TestPatchCollection(t *testing.T) {
	t.Parallel()
	var reembedded []string
	var mu sync.Mutex
	a := newLifecycleAPI(t, document.LifecycleConfig{Reembed: func(_ context.Context, c string) error {
		mu.Lock()
		defer mu.Unlock()
		reembedded = append(reembedded, c)
		return nil
	}})
	code, body := a.do(t, "POST", "/collections", a.writer, "application/json", `{"name":"docs","default_lang":"english","embedder":"offline","embedding_dim":8}`)
	require.Equal(t, http.StatusCreated, code, "%v", body)
	code, body = a.do(t, "POST", "/collections/docs/documents", a.writer, "application/json", `{"title":"Running dogs"}`)
	require.Equal(t, http.StatusCreated, code, "%v", body)
	first := int64(body["id"].(float64))
	patch := func(key, b string) (int, map[string]any) {
		return a.do(t, "PATCH", "/collections/docs", key, "application/merge-patch+json", b)
	}

	code, body = patch(a.writer, `{"title":"Documents","description":"All of them"}`)
	require.Equal(t, http.StatusOK, code, "%v", body)
	require.Equal(t, "Documents", body["title"])
	require.Equal(t, "All of them", body["description"])
	require.Equal(t, "english", body["default_lang"])
	require.Nil(t, body["reembedding"])

	code, body = patch(a.writer, `{"default_lang":"german"}`)
	require.Equal(t, http.StatusOK, code, "%v", body)
	require.Equal(t, "german", body["default_lang"])
	code, body = a.do(t, "POST", "/collections/docs/documents", a.writer, "application/json", `{"title":"Laufende Hunde"}`)
	require.Equal(t, http.StatusCreated, code, "%v", body)
	require.Equal(t, "german", body["lang"])
	code, body = a.do(t, "GET", fmt.Sprintf("/collections/docs/documents/%d", first), a.reader, "", "")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "english", body["lang"])

	for _, c := range []struct{ body, field string }{
		{`{"default_lang":"klingon"}`, "default_lang"},
		{`{"default_lang":""}`, "default_lang"},
		{`{"title":"` + strings.Repeat("x", 1025) + `"}`, "title"},
		{`{"description":"` + strings.Repeat("x", 65<<10) + `"}`, "description"},
		{`{"title":null}`, "title"},
		{`{"title":7}`, "title"},
		{`{"name":"renamed"}`, "name"},
		{`{"colour":"red"}`, "colour"},
		{`[1]`, ""},
		{`not json`, ""},
		{`{"embedding_dim":0}`, "embedding_dim"},
		{`{"embedding_dim":"8"}`, "embedding_dim"},
		{`{"embedder":""}`, "embedder"},
		{`{"embedding_model":"` + strings.Repeat("m", 257) + `"}`, "embedding_model"},
	} {
		code, body := patch(a.admin, c.body)
		require.Equal(t, http.StatusBadRequest, code, "%s: %v", c.body, body)
		if c.field != "" {
			require.Equal(t, c.field, body["field"], c.body)
		}
	}
	code, _ = a.do(t, "PATCH", "/collections/nope", a.writer, "application/json", `{"title":"x"}`)
	require.Equal(t, http.StatusNotFound, code)
	code, _ = patch("", `{"title":"x"}`)
	require.Equal(t, http.StatusUnauthorized, code)
	code, _ = patch(a.reader, `{"title":"x"}`)
	require.Equal(t, http.StatusForbidden, code)

	// embedder settings discard vectors: admin only
	code, _ = patch(a.writer, `{"embedding_model":"other"}`)
	require.Equal(t, http.StatusForbidden, code)
	code, body = patch(a.admin, `{"embedding_model":"other"}`)
	require.Equal(t, http.StatusOK, code, "%v", body)
	require.Equal(t, "other", body["embedding_model"])
	require.Equal(t, true, body["reembedding"])
	// an unchanged setting re-embeds nothing
	code, body = patch(a.admin, `{"embedding_model":"other","embedding_dim":8}`)
	require.Equal(t, http.StatusOK, code, "%v", body)
	require.Nil(t, body["reembedding"])
	mu.Lock()
	require.Equal(t, []string{"docs"}, reembedded)
	mu.Unlock()
}

// TestPatchEmbedderClearsVectors: a changed model or dimension clears the
// computed vectors (the re-embedding recomputes them); a change to "none"
// keeps them; a dimension change of client vectors is a 409.
func TestPatchEmbedderClearsVectors(t *testing.T) {
	t.Parallel()
	pgtest.RequireVector(t)
	a := newLifecycleAPI(t, document.LifecycleConfig{})
	ctx := context.Background()
	vec := func(coll string, dim int) {
		t.Helper()
		v := strings.TrimSuffix(strings.Repeat("0.5,", dim), ",")
		for i := range 3 {
			code, body := a.do(t, "POST", "/collections/"+coll+"/documents", a.writer, "application/json",
				fmt.Sprintf(`{"title":"doc %d","vector":[%s]}`, i, v))
			require.Equal(t, http.StatusCreated, code, "%v", body)
		}
	}
	withVec := func(coll string) int {
		return a.rows(t, `SELECT count(*) FROM documents d JOIN collections c ON c.id = d.collection_id WHERE c.name = $1 AND d.embedding IS NOT NULL`, coll)
	}
	code, body := a.do(t, "POST", "/collections", a.writer, "application/json", `{"name":"emb","embedder":"offline","embedding_dim":4}`)
	require.Equal(t, http.StatusCreated, code, "%v", body)
	vec("emb", 4)
	require.Equal(t, 3, withVec("emb"))
	code, body = a.do(t, "PATCH", "/collections/emb", a.admin, "application/json", `{"embedding_model":"v2"}`)
	require.Equal(t, http.StatusOK, code, "%v", body)
	require.Zero(t, withVec("emb"))

	vec("emb", 4)
	code, body = a.do(t, "PATCH", "/collections/emb", a.admin, "application/json", `{"embedding_dim":6}`)
	require.Equal(t, http.StatusOK, code, "%v", body)
	require.Zero(t, withVec("emb"))

	vec("emb", 6)
	code, body = a.do(t, "PATCH", "/collections/emb", a.admin, "application/json", `{"embedder":"none"}`)
	require.Equal(t, http.StatusOK, code, "%v", body)
	require.Equal(t, 3, withVec("emb"))
	code, body = a.do(t, "PATCH", "/collections/emb", a.admin, "application/json", `{"embedding_dim":5}`)
	require.Equal(t, http.StatusConflict, code, "%v", body)
	require.Equal(t, 3, withVec("emb"))
	var dim int
	require.NoError(t, a.db.Pool.QueryRow(ctx, `SELECT embedding_dim FROM collections WHERE name = 'emb'`).Scan(&dim))
	require.Equal(t, 6, dim)
}

// TestPatchEmbedderInBackground: with a job queue, a changed model leaves
// the vectors to a job, which clears them in batches and then queues the
// re-embedding.
func TestPatchEmbedderInBackground(t *testing.T) {
	t.Parallel()
	pgtest.RequireVector(t)
	db := pgtest.New(t)
	inserter, err := jobs.NewInserter(db.Pool, nil)
	require.NoError(t, err)
	var reembedded []string
	a := newLifecycleAPI(t, document.LifecycleConfig{Jobs: inserter, Reembed: func(_ context.Context, c string) error {
		reembedded = append(reembedded, c)
		return nil
	}})
	ctx := context.Background()
	code, body := a.do(t, "POST", "/collections", a.writer, "application/json", `{"name":"emb","embedder":"offline","embedding_dim":2}`)
	require.Equal(t, http.StatusCreated, code, "%v", body)
	id := int64(body["id"].(float64))
	n := document.DeleteBatch + 5
	_, err = a.db.Pool.Exec(ctx, `INSERT INTO documents (collection_id, title, embedding)
		SELECT $1, 'd ' || g, '[0.5, 0.5]'::vector FROM generate_series(1, $2::int) g`, id, n)
	require.NoError(t, err)
	withVec := `SELECT count(*) FROM documents WHERE collection_id = $1 AND embedding IS NOT NULL`

	code, body = a.do(t, "PATCH", "/collections/emb", a.admin, "application/json", `{"embedding_model":"v2"}`)
	require.Equal(t, http.StatusOK, code, "%v", body)
	require.Equal(t, true, body["reembedding"])
	require.Equal(t, n, a.rows(t, withVec, id))
	require.Empty(t, reembedded)
	require.Equal(t, 1, a.rows(t, `SELECT count(*) FROM river_job WHERE kind = 'geoseek.collection_reembed' AND args->>'collection_id' = $1`, fmt.Sprint(id)))

	cleared, err := a.lc.ReembedCollection(ctx, id, "emb")
	require.NoError(t, err)
	require.Equal(t, int64(n), cleared)
	require.Zero(t, a.rows(t, withVec, id))
	require.Equal(t, []string{"emb"}, reembedded)
}

// TestDeleteDoesNotBlockOtherCollections deletes a large collection while
// a reader and a writer work on another one, and reports the longest wait
// of each (GEOSEEK_DELETE_DOCS sets the size; docs/performance.md has the
// figures for a million). It checks only that both kept working.
func TestDeleteDoesNotBlockOtherCollections(t *testing.T) {
	t.Parallel()
	n := 20_000
	if s := os.Getenv("GEOSEEK_DELETE_DOCS"); s != "" {
		_, err := fmt.Sscan(s, &n)
		require.NoError(t, err)
	}
	a := newLifecycleAPI(t, document.LifecycleConfig{})
	ctx := context.Background()
	start := time.Now()
	id := a.fill(t, "big", n)
	other := a.fill(t, "other", 100)
	var doc int64
	require.NoError(t, a.db.Pool.QueryRow(ctx, `SELECT min(id) FROM documents WHERE collection_id = $1`, other).Scan(&doc))
	_, err := a.db.Pool.Exec(ctx, `ANALYZE documents`)
	require.NoError(t, err)
	t.Logf("%d documents loaded in %s", n, time.Since(start).Round(time.Millisecond))

	// A reader and a writer of the other collection, first alone for a
	// baseline, then during the delete.
	type probe struct {
		ops   int
		worst time.Duration
		all   []time.Duration
	}
	i := 0
	write := func() int {
		i++
		code, _ := a.do(t, "POST", "/collections/other/documents", a.writer, "application/json",
			fmt.Sprintf(`{"title":"w %d","geometry":{"type":"Point","coordinates":[%d.5,10.5]}}`, i, i%170))
		if code != http.StatusCreated {
			return code
		}
		return 0
	}
	read := func() int {
		code, _ := a.do(t, "GET", "/collections/other/documents/"+fmt.Sprint(doc), a.reader, "", "")
		if code != http.StatusOK {
			return code
		}
		return 0
	}
	measure := func(during func()) (reads, writes probe) {
		stop := make(chan struct{})
		var wg sync.WaitGroup
		run := func(p *probe, op func() int) {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				t0 := time.Now()
				if code := op(); code != 0 {
					t.Errorf("status %d", code)
					return
				}
				d := time.Since(t0)
				p.ops++
				p.worst = max(p.worst, d)
				p.all = append(p.all, d)
			}
		}
		wg.Add(2)
		go run(&writes, write)
		go run(&reads, read)
		during()
		close(stop)
		wg.Wait()
		return reads, writes
	}
	p99 := func(p probe) time.Duration {
		slices.Sort(p.all)
		if len(p.all) == 0 {
			return 0
		}
		return p.all[len(p.all)*99/100]
	}
	// Lock waits of any session in the test database, sampled by a poller:
	// the longest one seen and its wait event.
	lockWaits := func(stop <-chan struct{}) func() (time.Duration, string) {
		var worst time.Duration
		var what string
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				select {
				case <-stop:
					return
				case <-time.After(10 * time.Millisecond):
				}
				var ms float64
				var ev string
				err := a.db.Pool.QueryRow(ctx, `SELECT coalesce(extract(epoch FROM now() - w.state_change) * 1000, 0),
					w.wait_event || ' behind ' || coalesce((SELECT string_agg(b.backend_type || ': ' || left(b.query, 60), '; ')
					  FROM pg_stat_activity b WHERE b.pid = ANY (pg_blocking_pids(w.pid))), '?')
					FROM pg_stat_activity w
					WHERE w.datname = current_database() AND w.wait_event_type = 'Lock' AND w.pid <> pg_backend_pid()
					ORDER BY w.state_change LIMIT 1`).Scan(&ms, &ev)
				if err == nil && time.Duration(ms*float64(time.Millisecond)) > worst {
					worst, what = time.Duration(ms*float64(time.Millisecond)), ev
				}
			}
		}()
		return func() (time.Duration, string) { <-done; return worst, what }
	}
	var took time.Duration
	r0, w0 := measure(func() { time.Sleep(10 * time.Second) })
	stopLocks := make(chan struct{})
	locks := lockWaits(stopLocks)
	reads, writes := measure(func() {
		t0 := time.Now()
		res, err := a.lc.DeleteCollection(ctx, "big")
		require.NoError(t, err)
		if !res.Done {
			_, err = a.lc.Purge(ctx, id)
			require.NoError(t, err)
		}
		took = time.Since(t0)
	})
	close(stopLocks)
	lockWait, lockEvent := locks()
	t.Logf("longest lock wait of any session during the delete: %s %s", lockWait.Round(time.Millisecond), lockEvent)
	require.Zero(t, a.rows(t, `SELECT count(*) FROM documents WHERE collection_id = $1`, id))
	require.Positive(t, reads.ops)
	require.Positive(t, writes.ops)
	t.Logf("baseline (10 s): %d reads, p99 %s, longest %s; %d writes, p99 %s, longest %s",
		r0.ops, p99(r0).Round(time.Microsecond), r0.worst.Round(time.Microsecond), w0.ops, p99(w0).Round(time.Microsecond), w0.worst.Round(time.Microsecond))
	t.Logf("deleted %d documents in %s; meanwhile: %d reads, p99 %s, longest %s; %d writes, p99 %s, longest %s",
		n, took.Round(time.Millisecond),
		reads.ops, p99(reads).Round(time.Microsecond), reads.worst.Round(time.Microsecond), writes.ops, p99(writes).Round(time.Microsecond), writes.worst.Round(time.Microsecond))
}
