package app_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/geoseek/geoseek/cmd/geoseek/app"
	"github.com/geoseek/geoseek/internal/auth"
	"github.com/geoseek/geoseek/internal/pg"
	"github.com/geoseek/geoseek/internal/pgcluster"
	"github.com/geoseek/geoseek/internal/problem"
	"github.com/geoseek/geoseek/internal/server"
	"github.com/geoseek/geoseek/migrations"
	"github.com/geoseek/geoseek/search"
)

// freePort is a loopback port nothing listens on (at the time asked).
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestDatabaseOutage stops the database under the wired program: every
// route family answers 503 `unavailable` with Retry-After (not a 500), the
// liveness probe stays up, and everything is served again once the
// database is back.
func TestDatabaseOutage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// The postgres user (when we are root) must reach the cluster dir.
	for p := dir; p != filepath.Dir(os.TempDir()) && p != "/"; p = filepath.Dir(p) {
		os.Chmod(p, 0o755)
	}
	cl := &pgcluster.Cluster{Dir: filepath.Join(dir, "pg"), Port: freePort(t)}
	ctx := context.Background()
	u, err := cl.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Stop(context.Background()) })
	pool, err := pg.Open(ctx, pg.Config{URL: u, MaxConns: 4, StatementTimeout: time.Minute}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := migrations.Up(ctx, pool, nil); err != nil {
		t.Fatal(err)
	}
	// Facets of more than 5 estimated matches are counted over a sample of
	// about 500 rows (a tenth of the table's pages), on the sample
	// connections.
	a, err := app.New(ctx, app.Options{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Version: "test", SkipPlaces: true,
		Edge: server.Config{AcquireTimeout: time.Second}, Search: search.Config{FacetExactMax: 5, FacetScanRows: 500}}, pool, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO collections (name, default_lang) VALUES ('notes', 'english');
		INSERT INTO documents (collection_id, title, body, tags) SELECT (SELECT id FROM collections WHERE name = 'notes'), 'harbour ' || g,
			repeat('quay ', 30), ARRAY['t' || g % 3]
		FROM generate_series(1, 5000) g;
		ANALYZE documents`); err != nil {
		t.Fatal(err)
	}
	_, key, err := auth.NewStore(pool).Create(ctx, "t", []auth.Scope{auth.Admin})
	if err != nil {
		t.Fatal(err)
	}
	type call struct{ method, path, body string }
	calls := []call{
		{"GET", "/collections", ""},
		{"GET", "/collections/photos/items?bbox=0,0,10,10", ""},
		{"GET", "/tiles/photos/3/4/2.mvt", ""},
		{"GET", "/search?q=harbour&collection=photos", ""},
		{"POST", "/search", `{"q":"harbour","collection":"photos"}`},
		{"GET", "/search?q=harbour&collection=notes&facets=tags", ""},
		{"GET", "/photos/1", ""},
		{"POST", "/collections", `{"name":"outage_test"}`},
		{"GET", "/readyz", ""},
	}
	do := func(c call, withKey bool) (int, string, problem.Details) {
		req := httptest.NewRequest(c.method, c.path, strings.NewReader(c.body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Cache-Control", "no-cache") // tiles: render, do not serve the cache
		if withKey {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		w := httptest.NewRecorder()
		a.Server.Engine().ServeHTTP(w, req)
		var d problem.Details
		_ = json.Unmarshal(w.Body.Bytes(), &d)
		return w.Code, w.Header().Get("Retry-After"), d
	}
	for _, c := range calls {
		if code, _, d := do(c, true); code >= 500 {
			t.Fatalf("%s %s with the database up: %d %+v", c.method, c.path, code, d)
		}
	}
	sampled := func() bool {
		req := httptest.NewRequest("GET", "/search?q=harbour&collection=notes&facets=tags", nil)
		w := httptest.NewRecorder()
		a.Server.Engine().ServeHTTP(w, req)
		var res struct {
			Facets struct {
				Approximate bool `json:"approximate"`
			} `json:"facets"`
		}
		return w.Code == 200 && json.Unmarshal(w.Body.Bytes(), &res) == nil && res.Facets.Approximate
	}
	if !sampled() {
		t.Fatal("the facets were not counted over a sample")
	}
	if err := cl.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	for _, withKey := range []bool{true, false} {
		for _, c := range calls {
			code, retry, d := do(c, withKey)
			if c.path == "/readyz" {
				if code != 503 {
					t.Errorf("/readyz with the database down: %d", code)
				}
				continue
			}
			if code == 401 && !withKey {
				continue // a write without a key is refused before the database is asked
			}
			if code != 503 || retry == "" || d.Type != problem.ErrUnavailable.Type() {
				t.Errorf("%s %s (key %v) with the database down: %d Retry-After %q %+v", c.method, c.path, withKey, code, retry, d)
			}
		}
	}
	if code, _, _ := do(call{"GET", "/healthz", ""}, false); code != 200 {
		t.Errorf("/healthz with the database down: %d", code)
	}
	if _, err := cl.Start(ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range calls {
		var code int
		for range 50 {
			if code, _, _ = do(c, true); code < 500 {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if code >= 500 {
			t.Errorf("%s %s after the database returned: %d", c.method, c.path, code)
		}
	}
}
