package app_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/geoseek/geoseek/internal/geomrule"
	"github.com/geoseek/geoseek/internal/problem"
)

// nestedGeoJSON is a point at (1, 2) inside GeometryCollections nested depth
// deep: 1.9 KB at depth 40, and PostGIS spins beyond statement_timeout's
// reach when a tile or an intersection test walks it.
func nestedGeoJSON(depth int) string {
	s := `{"type":"Point","coordinates":[1,2]}`
	for range depth {
		s = `{"type":"GeometryCollection","geometries":[` + s + `]}`
	}
	return s
}

func nestedWKT(depth int) string {
	s := "POINT(1 2)"
	for range depth {
		s = "GEOMETRYCOLLECTION(" + s + ")"
	}
	return s
}

// TestNestedGeometryRefusedEverywhere: a GeometryCollection nested beyond
// the nesting limit is a 400 problem naming the limit on every entry point
// that takes a geometry, nothing of it is stored, and the tile over the
// existing data still renders.
func TestNestedGeometryRefusedEverywhere(t *testing.T) {
	t.Parallel()
	k := newKeyedApp(t)
	db, ctx := k.db, context.Background()
	do := func(method, path, ct, body string) (int, string, map[string]any) {
		t.Helper()
		return k.do(t, method, path, ct, body)
	}
	if code, _, m := do("POST", "/collections", "application/json", `{"name":"docs","default_lang":"english"}`); code != 201 {
		t.Fatalf("create collection: %d %v", code, m)
	}
	code, _, m := do("POST", "/collections/docs/documents", "application/json", `{"title":"a","geometry":{"type":"Point","coordinates":[1,2]}}`)
	if code != 201 {
		t.Fatalf("create document: %d %v", code, m)
	}
	doc := fmt.Sprintf("/collections/docs/documents/%d", int64(m["id"].(float64)))
	item := fmt.Sprintf("/collections/docs/items/%d", int64(m["id"].(float64)))
	count := func() (n, collections int) {
		t.Helper()
		err := db.Pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE GeometryType(geom) <> 'POINT') FROM documents d
			JOIN collections c ON c.id = d.collection_id WHERE c.name = 'docs'`).Scan(&n, &collections)
		if err != nil {
			t.Fatal(err)
		}
		return n, collections
	}

	for _, depth := range []int{geomrule.MaxDepth + 1, 40, 200} {
		g := nestedGeoJSON(depth)
		feature := `{"type":"Feature","geometry":` + g + `,"properties":{"title":"x"}}`
		for _, tc := range []struct{ method, path, ct, body string }{
			{"POST", "/collections/docs/documents", "application/json", `{"title":"x","geometry":` + g + `}`},
			{"PUT", doc, "application/json", `{"title":"x","geometry":` + g + `}`},
			{"PATCH", doc, "application/json", `{"geometry":` + g + `}`},
			{"POST", "/collections/docs/documents/bulk", "application/x-ndjson", `{"title":"ok","geometry":{"type":"Point","coordinates":[1,2]}}` + "\n" + `{"title":"x","geometry":` + g + "}\n"},
			{"POST", "/collections/docs/items", "application/geo+json", feature},
			{"POST", "/collections/docs/items", "application/geo+json", `{"type":"FeatureCollection","features":[` + feature + `]}`},
			{"POST", "/collections/docs/items", "application/geo+json-seq", "\x1e" + feature + "\n"},
			{"POST", "/collections/docs/items", "application/x-ndjson", `{"type":"Feature","geometry":null}` + "\n" + feature + "\n"},
			{"PUT", item, "application/geo+json", feature},
			{"PATCH", item, "application/geo+json", `{"type":"Feature","geometry":` + g + `}`},
			{"POST", "/search", "application/json", `{"collection":"docs","filter":{"intersects":` + g + `}}`},
			{"GET", "/search?collection=docs&filter=" + url.QueryEscape(`{"intersects":`+g+`}`), "", ""},
			{"GET", "/collections/docs/items?filter=" + url.QueryEscape("S_INTERSECTS(geometry, "+nestedWKT(depth)+")"), "", ""},
		} {
			code, ct, m := do(tc.method, tc.path, tc.ct, tc.body)
			name := fmt.Sprintf("depth %d: %s %s %s", depth, tc.method, tc.path[:min(len(tc.path), 60)], tc.ct)
			if code != 400 || !strings.HasPrefix(ct, problem.ContentType) || m["type"] != problem.ValidationType {
				t.Errorf("%s: %d %s %v; want a 400 invalid-request problem", name, code, ct, m)
				continue
			}
			if d, _ := m["detail"].(string); !strings.Contains(d, "nesting depth") {
				t.Errorf("%s: detail %q does not name the limit", name, d)
			}
		}
	}
	if n, gcs := count(); n != 1 || gcs != 0 {
		t.Fatalf("after the refusals: %d documents, %d not points; want the one point", n, gcs)
	}

	// The tile over the stored point renders, within the request's time.
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req := httptest.NewRequestWithContext(tctx, "GET", "/tiles/docs/4/8/7.mvt", nil)
	req.Header.Set("Authorization", "Bearer "+k.key)
	w := httptest.NewRecorder()
	k.app.Server.Engine().ServeHTTP(w, req)
	if w.Code != 200 || w.Body.Len() == 0 {
		t.Fatalf("tile: %d, %d bytes", w.Code, w.Body.Len())
	}

	// A collection at the limit is taken and stored.
	g := nestedGeoJSON(geomrule.MaxDepth)
	if code, _, m := do("POST", "/collections/docs/documents", "application/json", `{"title":"gc","geometry":`+g+`}`); code != 201 {
		t.Fatalf("depth %d: %d %v", geomrule.MaxDepth, code, m)
	}
	if n, gcs := count(); n != 2 || gcs != 1 {
		t.Fatalf("after the collection at the limit: %d documents, %d not points", n, gcs)
	}
}

// TestGeometryRuleIsTheSameEverywhere: the documents API and the OGC API
// items take and refuse the same geometries: a position of 5 numbers is
// refused by both, a self-intersecting polygon is refused by both with
// PostGIS's reason (docs/shapes.md), and both rewind a clockwise exterior ring to RFC 7946's order.
func TestGeometryRuleIsTheSameEverywhere(t *testing.T) {
	t.Parallel()
	k := newKeyedApp(t)
	db, ctx := k.db, context.Background()
	do := func(method, path, ct, body string) (int, map[string]any) {
		t.Helper()
		code, _, m := k.do(t, method, path, ct, body)
		return code, m
	}
	if code, m := do("POST", "/collections", "application/json", `{"name":"docs","default_lang":"english"}`); code != 201 {
		t.Fatalf("create collection: %d %v", code, m)
	}
	stored := func(ext string) string {
		t.Helper()
		var s string
		if err := db.Pool.QueryRow(ctx, `SELECT ST_AsGeoJSON(geom) FROM documents WHERE external_id = $1`, ext).Scan(&s); err != nil {
			t.Fatalf("%s: %v", ext, err)
		}
		return s
	}
	write := func(ext, g string) (int, map[string]any, int, map[string]any) {
		c1, m1 := do("POST", "/collections/docs/documents", "application/json", `{"external_id":"d-`+ext+`","geometry":`+g+`}`)
		c2, m2 := do("POST", "/collections/docs/items", "application/geo+json", `{"type":"Feature","id":"i-`+ext+`","geometry":`+g+`}`)
		return c1, m1, c2, m2
	}

	c1, m1, c2, m2 := write("five", `{"type":"Point","coordinates":[1,2,3,4,5]}`)
	for _, r := range []struct {
		code int
		m    map[string]any
	}{{c1, m1}, {c2, m2}} {
		if d, _ := r.m["detail"].(string); r.code != 400 || !strings.Contains(d, "2 or 3") {
			t.Errorf("5-number position: %d %v", r.code, r.m)
		}
	}

	bowtie := `{"type":"Polygon","coordinates":[[[0,0],[1,1],[1,0],[0,1],[0,0]]]}`
	c1, m1, c2, m2 = write("bowtie", bowtie)
	d1, _ := m1["detail"].(string)
	d2, _ := m2["detail"].(string)
	if c1 != 400 || c2 != 400 || !strings.Contains(d1, "Self-intersection") || d1 != d2 {
		t.Fatalf("self-intersecting polygon: %d %v / %d %v", c1, m1, c2, m2)
	}
	var n int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM documents WHERE external_id LIKE '%bowtie'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("self-intersecting polygon stored: %d rows, %v", n, err)
	}

	cw := `{"type":"Polygon","coordinates":[[[0,0],[0,10],[10,10],[10,0],[0,0]]]}`
	if c1, m1, c2, m2 := write("cw", cw); c1 != 201 || c2 != 201 {
		t.Fatalf("clockwise polygon: %d %v / %d %v", c1, m1, c2, m2)
	}
	want := `{"type":"Polygon","coordinates":[[[0,0],[10,0],[10,10],[0,10],[0,0]]]}`
	if d, i := stored("d-cw"), stored("i-cw"); d != want || i != want {
		t.Errorf("clockwise polygon stored as %s / %s; want %s", d, i, want)
	}
}
