package search_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/require"
	"github.com/twpayne/go-geom"

	"github.com/geoseek/geoseek/document"
	"github.com/geoseek/geoseek/geo"
	"github.com/geoseek/geoseek/internal/auth"
	"github.com/geoseek/geoseek/internal/problem"
	"github.com/geoseek/geoseek/search"
)

func serve(t *testing.T, b bundle) (*httptest.Server, string) {
	t.Helper()
	gin.SetMode(gin.TestMode)
	r := gin.New()
	store := auth.NewStore(b.db.Pool)
	r.Use(auth.Middleware(store, false))
	// As geoseek wires them: search answers GeoJSON with the OGC API's
	// encoder, and the items are served next to it.
	gh := geo.NewHandler(b.db.Pool, nil, geo.Options{})
	gh.Register(r)
	h := search.NewHandler(b.svc, nil)
	h.UseFeatures(gh.Service())
	h.Register(r)
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	_, key, err := store.Create(context.Background(), "r", []auth.Scope{auth.Read})
	require.NoError(t, err)
	return srv, key
}

func call(t *testing.T, method, u, body string) (int, string, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	require.NoError(t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m), "%s", b)
	return resp.StatusCode, resp.Header.Get("Content-Type"), m
}

func TestHTTPSearch(t *testing.T) {
	t.Parallel()
	b := setup(t, search.Config{})
	srv, _ := serve(t, b)

	code, ct, m := call(t, "GET", srv.URL+"/search?collection=t&q=apple&limit=1", "")
	require.Equal(t, http.StatusOK, code, m)
	require.Contains(t, ct, "application/json")
	hits := m["hits"].([]any)
	require.Len(t, hits, 1)
	h := hits[0].(map[string]any)
	require.EqualValues(t, b.ids["apple-title"], h["id"])
	require.Equal(t, map[string]any{"type": "Point", "coordinates": []any{13.4, 52.52}}, h["geometry"])
	require.NotEmpty(t, m["next_cursor"])

	code, _, m = call(t, "GET", srv.URL+"/search?collection=t&q=apple&limit=1&cursor="+url.QueryEscape(m["next_cursor"].(string)), "")
	require.Equal(t, http.StatusOK, code, m)
	require.EqualValues(t, b.ids["apple-body"], m["hits"].([]any)[0].(map[string]any)["id"])

	// POST with a filter tree, GeoJSON output.
	code, ct, m = call(t, "POST", srv.URL+"/search?f=geojson", `{"collection":"t","q":"apple",
		"filter":{"and":[{"tags":{"any":["food"]}},{"near":{"lon":13.4,"lat":52.52,"metres":2000}}]},
		"facets":{"tags":true}}`)
	require.Equal(t, http.StatusOK, code, m)
	require.Equal(t, "application/geo+json", ct)
	require.Equal(t, "FeatureCollection", m["type"])
	feats := m["features"].([]any)
	require.Len(t, feats, 2)
	f := feats[0].(map[string]any)
	require.Equal(t, "Feature", f["type"])
	require.Equal(t, "Apple pie recipe", f["properties"].(map[string]any)["title"])
	require.EqualValues(t, 2, m["total"])
	require.NotNil(t, m["facets"])

	// Errors are problem+json with the field.
	for _, tc := range []struct {
		method, path, body string
		status             int
		field              string
	}{
		{"GET", "/search?q=x", "", 400, "collection"},
		{"GET", "/search?collection=t&bbox=1,2,3", "", 400, "bbox"},
		{"GET", "/search?collection=t&q=x&lang=klingon", "", 400, "lang"},
		{"GET", "/search?collection=t&q=x&cursor=abc.def", "", 400, "cursor"},
		{"GET", "/search?collection=nope&q=x", "", 404, ""},
		{"POST", "/search", `{"collection":"t","filter":{"tags":{"all":"x"}}}`, 400, "filter.tags"},
		{"POST", "/search", `{"collection":"t"`, 400, "body"},
		{"POST", "/search?f=xml", `{"collection":"t"}`, 400, "f"},
	} {
		code, ct, m := call(t, tc.method, srv.URL+tc.path, tc.body)
		require.Equal(t, tc.status, code, "%s %s: %v", tc.method, tc.path, m)
		require.Equal(t, problem.ContentType, ct)
		if tc.field != "" {
			require.Equal(t, tc.field, m["field"], "%v", m)
		}
	}
	req, _ := http.NewRequest("POST", srv.URL+"/search", strings.NewReader(`{"collection":"t"}`))
	req.Header.Set("Content-Type", "text/plain")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusUnsupportedMediaType, resp.StatusCode)
}

// TestSearchGeoJSONIsTheItem: a document found by /search?f=geojson is the
// Feature /collections/{c}/items writes for it, byte for byte (props flat
// in the properties, the same names, times and coordinates), with the
// search's own values in a "search" member after it.
func TestSearchGeoJSONIsTheItem(t *testing.T) {
	t.Parallel()
	b := setup(t, search.Config{})
	ctx := context.Background()
	// A document with everything: awkward props, an instant, a body.
	at := time.Date(2024, 5, 1, 10, 0, 0, 123000000, time.UTC)
	ext := "odd-1"
	odd := document.Doc{Collection: "t", ExternalID: &ext, Title: "Apple <odd> & \"quoted\"", Body: "apple body\nline two",
		Tags: []string{"food", "ünïcode"}, Period: document.Instant(at),
		Props:    map[string]any{"kind": "x<y", "big": json.Number("12345678901234567890"), "nested": map[string]any{"a": []any{1, nil}}, "color": "red"},
		Geometry: geom.NewPolygonFlat(geom.XY, []float64{13.123456789012, 52.1, 13.2, 52.1, 13.2, 52.2, 13.123456789012, 52.1}, []int{8})}
	_, err := document.Insert(ctx, b.db.Pool, &odd)
	require.NoError(t, err)
	srv, _ := serve(t, b)

	items := map[int64]json.RawMessage{}
	var page struct{ Features []json.RawMessage }
	code, body := get(t, srv.URL+"/collections/t/items?limit=1000")
	require.Equal(t, http.StatusOK, code, "%s", body)
	require.NoError(t, json.Unmarshal(body, &page))
	for _, f := range page.Features {
		var id struct{ ID int64 }
		require.NoError(t, json.Unmarshal(f, &id))
		items[id.ID] = f
	}

	for _, q := range []string{
		`{"collection":"t","q":"apple","highlight":true}`,
		`{"collection":"t","filter":{"tags":{"any":["food","sport","travel"]}},"sort":"-created"}`,
		`{"collection":"t","q":"apple","point":[13.4,52.5],"sort":"distance"}`,
	} {
		req, err := http.NewRequest("POST", srv.URL+"/search?f=geojson", strings.NewReader(q))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		raw, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s: %s", q, raw)
		var fc struct {
			Features []json.RawMessage
		}
		require.NoError(t, json.Unmarshal(raw, &fc), "%s", raw)
		require.NotEmpty(t, fc.Features, q)
		for _, f := range fc.Features {
			var m struct {
				ID         int64
				Properties map[string]json.RawMessage
				Search     json.RawMessage
			}
			require.NoError(t, json.Unmarshal(f, &m))
			item, ok := items[m.ID]
			require.True(t, ok, "%d not among the items", m.ID)
			want := string(item)
			if m.Search != nil {
				want = want[:len(want)-1] + `,"search":` + string(m.Search) + "}"
			}
			require.Equal(t, want, string(f), q)
			require.NotContains(t, m.Properties, "props", "props are flat")
			if strings.Contains(q, `"q"`) {
				require.Contains(t, string(m.Search), `"score":`, q)
			}
		}
	}
	// A GIS client reads the answer as flat fields of one layer.
	ogrinfo, err := exec.LookPath("ogrinfo")
	require.NoError(t, err, "ogrinfo not found: install GDAL (Debian: apt-get install gdal-bin)")
	code, body = get(t, srv.URL+"/search?collection=t&q=apple&f=geojson")
	require.Equal(t, http.StatusOK, code, "%s", body)
	file := filepath.Join(t.TempDir(), "hits.geojson")
	require.NoError(t, os.WriteFile(file, body, 0o600))
	octx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	out, err := exec.CommandContext(octx, ogrinfo, "-ro", "-so", "-al", file).CombinedOutput()
	require.NoError(t, err, "%s", out)
	for _, field := range []string{"title: String", "kind: String", "color: String", "lang: String", "created: DateTime", "datetime: DateTime"} {
		require.Contains(t, string(out), field, "%s", out)
	}

	// No hits: an empty FeatureCollection.
	code, ct, m := call(t, "POST", srv.URL+"/search?f=geojson", `{"collection":"t","q":"zzzqqqxx"}`)
	require.Equal(t, http.StatusOK, code, m)
	require.Equal(t, "application/geo+json", ct)
	require.Equal(t, []any{}, m["features"])
	require.Contains(t, string(items[odd.ID]), `"kind": "x<y"`)

	// The JSON hit's period is the documents API's period object.
	stored, err := document.Get(ctx, b.db.Pool, "t", odd.ID)
	require.NoError(t, err)
	want, err := json.Marshal(stored.Period)
	require.NoError(t, err)
	code, body = get(t, srv.URL+"/search?collection=t&q=quoted")
	require.Equal(t, http.StatusOK, code, "%s", body)
	var res struct {
		Hits []struct {
			ID     int64
			Period json.RawMessage
		}
	}
	require.NoError(t, json.Unmarshal(body, &res))
	require.Len(t, res.Hits, 1)
	require.JSONEq(t, string(want), string(res.Hits[0].Period))
	require.JSONEq(t, `{"from":"2024-05-01T10:00:00.123Z","to":"2024-05-01T10:00:00.123Z","bounds":"[]"}`, string(want))
}

func get(t *testing.T, u string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(u)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, b
}
