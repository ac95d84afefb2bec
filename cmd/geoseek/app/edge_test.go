package app_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/geoseek/geoseek/cmd/geoseek/app"
	"github.com/geoseek/geoseek/internal/auth"
	"github.com/geoseek/geoseek/internal/pgtest"
)

// TestEdgeOnTheWiredRoutes: on the real routes, an Accept nothing can
// satisfy is a 406; with reads keyed, tiles are private to the key and
// /metrics needs one; with open reads, tiles stay publicly cacheable.
func TestEdgeOnTheWiredRoutes(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	_, key, err := auth.NewStore(db.Pool).Create(ctx, "t", []auth.Scope{auth.Read})
	if err != nil {
		t.Fatal(err)
	}
	for _, keyed := range []bool{false, true} {
		a, err := app.New(ctx, app.Options{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Version: "test", SkipPlaces: true, RequireKeyForReads: keyed},
			db.Pool, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		get := func(path, accept string, withKey bool) *httptest.ResponseRecorder {
			req := httptest.NewRequest("GET", path, nil)
			if accept != "" {
				req.Header.Set("Accept", accept)
			}
			if withKey {
				req.Header.Set("Authorization", "Bearer "+key)
			}
			w := httptest.NewRecorder()
			a.Server.Engine().ServeHTTP(w, req)
			return w
		}
		for _, c := range []struct{ path, accept string }{
			{"/collections", "application/xml"},
			{"/collections/photos/items", "application/xml"},
			{"/search?q=x&collection=photos", "text/html"},
			{"/search?q=x&collection=photos", "application/xml"},
		} {
			if w := get(c.path, c.accept, true); w.Code != 406 || !strings.Contains(w.Body.String(), "not-acceptable") {
				t.Errorf("%s Accept %s: %d %s", c.path, c.accept, w.Code, w.Body)
			}
		}
		if w := get("/search?q=x&collection=photos", "application/geo+json, */*;q=0.1", true); w.Code != 200 {
			t.Errorf("/search Accept geo+json: %d %s", w.Code, w.Body)
		}
		w := get("/tiles/photos/3/4/2.mvt", "", true)
		cc, vary := w.Header().Get("Cache-Control"), strings.Join(w.Header().Values("Vary"), ",")
		if keyed != strings.HasPrefix(cc, "private") || keyed != strings.Contains(vary, "Authorization") || w.Code >= 300 {
			t.Errorf("tile, reads keyed %v: %d Cache-Control %q Vary %q", keyed, w.Code, cc, vary)
		}
		if w := get("/metrics", "", false); (w.Code == 401) != keyed {
			t.Errorf("/metrics without a key, reads keyed %v: %d", keyed, w.Code)
		}
		if w := get("/metrics", "", true); w.Code != 200 {
			t.Errorf("/metrics with a read key: %d", w.Code)
		}
	}
}
