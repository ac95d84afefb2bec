package geo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/require"

	"github.com/geoseek/geoseek/internal/auth"
	"github.com/geoseek/geoseek/internal/pgtest"
)

type testBundle struct {
	db  *pgtest.DB
	srv *httptest.Server
	key string
	h   *Handler
}

// setup starts the geo routes on a real loopback server over a fresh
// database with a collection "places".
func setup(t *testing.T) *testBundle {
	t.Helper()
	gin.SetMode(gin.TestMode)
	db := pgtest.New(t)
	ctx := context.Background()
	_, err := db.Pool.Exec(ctx, `INSERT INTO collections (name, title, description, default_lang) VALUES ('places', 'Places', 'Test places', 'english')`)
	require.NoError(t, err)
	store := auth.NewStore(db.Pool)
	_, secret, err := store.Create(ctx, "test", []auth.Scope{auth.Write, auth.Read})
	require.NoError(t, err)
	r := gin.New()
	r.Use(auth.Middleware(store, false))
	h := NewHandler(db.Pool, nil, Options{})
	h.Register(r)
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return &testBundle{db: db, srv: srv, key: secret, h: h}
}

func (b *testBundle) do(t *testing.T, method, path, ct string, body io.Reader) (*http.Response, []byte) {
	t.Helper()
	hdr := []string{}
	if ct != "" {
		hdr = append(hdr, "Content-Type", ct)
	}
	if method != http.MethodGet {
		hdr = append(hdr, "Authorization", "Bearer "+b.key)
	}
	return b.send(t, method, path, body, hdr...)
}

// get fetches path with the header pairs hdr. An explicit Accept-Encoding
// keeps Go's client from decompressing, so tests see the bytes as sent.
func (b *testBundle) get(t *testing.T, path string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	return b.send(t, http.MethodGet, path, nil, hdr...)
}

// send makes one request with the header pairs hdr and reads the answer.
func (b *testBundle) send(t *testing.T, method, path string, body io.Reader, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, b.srv.URL+path, body)
	require.NoError(t, err)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, out
}

func (b *testBundle) getJSON(t *testing.T, path string, v any) *http.Response {
	t.Helper()
	resp, body := b.do(t, http.MethodGet, path, "", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s: %s", path, body)
	require.NoError(t, json.Unmarshal(body, v), "%s: %s", path, body)
	return resp
}

type fc struct {
	Type     string `json:"type"`
	Features []struct {
		ID         json.Number     `json:"id"`
		Geometry   json.RawMessage `json:"geometry"`
		Properties map[string]any  `json:"properties"`
	} `json:"features"`
	NumberReturned  int    `json:"numberReturned"`
	NumberMatched   *int64 `json:"numberMatched"`
	MatchedEstimate bool   `json:"numberMatchedEstimated"`
	Links           []Link `json:"links"`
}

func (f *fc) link(rel string) string {
	for _, l := range f.Links {
		if l.Rel == rel {
			return l.Href
		}
	}
	return ""
}

func (f *fc) ids() []string {
	out := make([]string, len(f.Features))
	for i, x := range f.Features {
		out[i] = x.ID.String()
	}
	return out
}

// importSeq posts features as newline-delimited GeoJSON.
func (b *testBundle) importSeq(t *testing.T, collection string, features []string) ImportResult {
	t.Helper()
	resp, body := b.do(t, http.MethodPost, "/collections/"+collection+"/items", "application/geo+json-seq", strings.NewReader(strings.Join(features, "\n")))
	require.Equal(t, http.StatusCreated, resp.StatusCode, string(body))
	var res ImportResult
	require.NoError(t, json.Unmarshal(body, &res))
	return res
}

func point(x, y float64, props string) string {
	return fmt.Sprintf(`{"type":"Feature","geometry":{"type":"Point","coordinates":[%g,%g]},"properties":{%s}}`, x, y, props)
}

func TestLandingConformanceCollections(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.importSeq(t, "places", []string{
		point(10, 20, `"title":"a","datetime":"2024-01-01T00:00:00Z","kind":"x"`),
		point(-30, -40, `"title":"b","start":"2023-06-01T00:00:00Z","end":"2024-06-01T00:00:00Z","iso":100`),
	})
	var landing struct {
		Title string `json:"title"`
		Links []Link `json:"links"`
	}
	b.getJSON(t, "/", &landing)
	rels := map[string]string{}
	for _, l := range landing.Links {
		rels[l.Rel] = l.Href
	}
	for _, rel := range []string{"self", "service-desc", "conformance", "data", "alternate"} {
		require.NotEmpty(t, rels[rel], rel)
	}
	require.Equal(t, b.srv.URL+"/collections", rels["data"])

	var conf struct {
		ConformsTo []string `json:"conformsTo"`
	}
	b.getJSON(t, "/conformance", &conf)
	for _, c := range []string{"core", "geojson", "html", "oas30"} {
		require.Contains(t, conf.ConformsTo, "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/"+c)
	}

	var cols struct {
		Collections []map[string]any `json:"collections"`
		Links       []Link           `json:"links"`
	}
	b.getJSON(t, "/collections", &cols)
	var places map[string]any
	for _, c := range cols.Collections {
		if c["id"] == "places" {
			places = c
		}
	}
	require.NotNil(t, places)
	var one map[string]any
	b.getJSON(t, "/collections/places", &one)
	require.Equal(t, "Places", one["title"])
	require.Equal(t, "english", one["default_lang"])
	require.Equal(t, "offline", one["embedder"])
	ext := one["extent"].(map[string]any)
	require.Equal(t, []any{-30.0, -40.0, 10.0, 20.0}, ext["spatial"].(map[string]any)["bbox"].([]any)[0])
	require.Equal(t, []any{"2023-06-01T00:00:00Z", "2024-06-01T00:00:00Z"}, ext["temporal"].(map[string]any)["interval"].([]any)[0])
	links := map[string]bool{}
	for _, l := range one["links"].([]any) {
		links[l.(map[string]any)["rel"].(string)] = true
	}
	for _, rel := range []string{"self", "items", "alternate", "http://www.opengis.net/def/rel/ogc/1.0/queryables"} {
		require.True(t, links[rel], rel)
	}

	var q map[string]any
	b.getJSON(t, "/collections/places/queryables", &q)
	require.Contains(t, q["properties"], "iso")
	require.Contains(t, q["properties"], "title")

	// HTML for browsers, by f=html or Accept.
	resp, body := b.do(t, http.MethodGet, "/collections?f=html", "", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, resp.Header.Get("Content-Type"), "text/html")
	require.Contains(t, string(body), "Places")
	req, _ := http.NewRequest(http.MethodGet, b.srv.URL+"/collections/places/items", nil)
	req.Header.Set("Accept", "text/html,application/xhtml+xml")
	hr, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	hb, _ := io.ReadAll(hr.Body)
	hr.Body.Close()
	require.Contains(t, hr.Header.Get("Content-Type"), "text/html")
	require.Contains(t, string(hb), "<table>")

	resp, _ = b.do(t, http.MethodGet, "/collections/nope", "", nil)
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	require.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"))
}

func TestPagingVisitsEachOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	feats := make([]string, 2500)
	for i := range feats {
		feats[i] = point(float64(i%360)-180+0.5, float64(i%170)-85, fmt.Sprintf(`"title":"t%04d","n":%d`, i, i))
	}
	res := b.importSeq(t, "places", feats)
	require.Equal(t, int64(2500), res.Inserted)

	for _, sortby := range []string{"", "-title", "created"} {
		seen := map[string]int{}
		var pages []fc
		next := "/collections/places/items?limit=1000"
		if sortby != "" {
			next += "&sortby=" + url.QueryEscape(sortby)
		}
		for next != "" {
			var page fc
			u, err := url.Parse(next)
			require.NoError(t, err)
			b.getJSON(t, u.RequestURI(), &page)
			require.Equal(t, len(page.Features), page.NumberReturned)
			require.NotNil(t, page.NumberMatched)
			if page.MatchedEstimate {
				// counting 2,500 for a page of 1,000 may be left to the planner
				require.InDelta(t, 2500, *page.NumberMatched, 1250)
			} else {
				require.Equal(t, int64(2500), *page.NumberMatched)
			}
			for _, id := range page.ids() {
				seen[id]++
			}
			pages = append(pages, page)
			next = page.link("next")
		}
		require.Len(t, pages, 3, sortby)
		require.Equal(t, []int{1000, 1000, 500}, []int{pages[0].NumberReturned, pages[1].NumberReturned, pages[2].NumberReturned})
		require.Len(t, seen, 2500, sortby)
		for id, n := range seen {
			require.Equal(t, 1, n, "id %s seen %d times (%s)", id, n, sortby)
		}
		require.Empty(t, pages[0].link("prev"))
		// prev from the last page is the middle page again.
		var back fc
		u, _ := url.Parse(pages[2].link("prev"))
		b.getJSON(t, u.RequestURI(), &back)
		require.Equal(t, pages[1].ids(), back.ids(), sortby)
		u, _ = url.Parse(back.link("prev"))
		var first fc
		b.getJSON(t, u.RequestURI(), &first)
		require.Equal(t, pages[0].ids(), first.ids(), sortby)
		require.Empty(t, first.link("prev"), sortby)
	}
	// With a page as large as the estimate the count is exact.
	var all fc
	b.getJSON(t, "/collections/places/items?limit=5000&properties=title", &all)
	require.Equal(t, 2500, all.NumberReturned)
	require.Equal(t, int64(2500), *all.NumberMatched)
	require.False(t, all.MatchedEstimate)
	var some fc
	b.getJSON(t, "/collections/places/items?limit=10&filter="+url.QueryEscape("n < 15"), &some)
	require.Equal(t, int64(15), *some.NumberMatched)
	require.False(t, some.MatchedEstimate)
	require.NotEmpty(t, some.link("next"))
	// sortby -title really sorts.
	var page fc
	b.getJSON(t, "/collections/places/items?limit=3&sortby=-title", &page)
	require.Equal(t, "t2499", page.Features[0].Properties["title"])
}

func TestItemsFilters(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.importSeq(t, "places", []string{
		point(179.5, 0, `"title":"east of the line","datetime":"2024-01-10T00:00:00Z","kind":"port","tags":["sea"]`),
		point(-179.5, 0, `"title":"west of the line","start":"2024-02-01T00:00:00Z","end":"2024-02-28T00:00:00Z","kind":"port","iso":200`),
		point(0, 0, `"title":"null island","start":"2023-01-01T00:00:00Z","kind":"island","iso":100`),
		point(10, 50, `"title":"sunny harbour","body":"boats and sunshine","datetime":"2025-05-05T00:00:00Z","kind":"port","iso":400`),
	})
	titles := func(q string) []string {
		var page fc
		b.getJSON(t, "/collections/places/items?"+q, &page)
		var out []string
		for _, f := range page.Features {
			out = append(out, f.Properties["title"].(string))
		}
		return out
	}
	// antimeridian: minx > maxx
	require.ElementsMatch(t, []string{"east of the line", "west of the line"}, titles("bbox=179,-1,-179,1"))
	require.ElementsMatch(t, []string{"null island"}, titles("bbox=-1,-1,1,1"))
	// datetime: instant, closed and open intervals on the period
	require.ElementsMatch(t, []string{"east of the line", "null island"}, titles("datetime=2024-01-10T00:00:00Z"))
	require.ElementsMatch(t, []string{"east of the line", "west of the line", "null island"}, titles("datetime=2024-01-01T00:00:00Z/2024-02-05T00:00:00Z"))
	require.ElementsMatch(t, []string{"sunny harbour", "null island"}, titles("datetime=2025-01-01T00:00:00Z/.."))
	require.ElementsMatch(t, []string{"null island"}, titles("datetime=../2023-06-01T00:00:00Z"))
	// property equality, q, properties selection
	require.ElementsMatch(t, []string{"null island"}, titles("kind=island"))
	require.ElementsMatch(t, []string{"west of the line"}, titles("iso=200"))
	require.ElementsMatch(t, []string{"sunny harbour"}, titles("q=sunshine"))
	var page fc
	b.getJSON(t, "/collections/places/items?properties=title,iso&kind=island", &page)
	require.Equal(t, map[string]any{"title": "null island", "iso": 100.0}, page.Features[0].Properties)
	// CQL2
	require.ElementsMatch(t, []string{"west of the line", "sunny harbour"}, titles("filter="+url.QueryEscape("iso > 150 AND kind = 'port'")))
	require.ElementsMatch(t, []string{"east of the line"}, titles("filter="+url.QueryEscape("tags = 'sea' OR title LIKE 'nothing%'")))
	require.ElementsMatch(t, []string{"east of the line", "west of the line"}, titles("filter="+url.QueryEscape("S_INTERSECTS(geometry, BBOX(179,-1,-179,1))")))
	require.ElementsMatch(t, []string{"null island"}, titles("filter="+url.QueryEscape("S_DWITHIN(geometry, POINT(0.001 0), 200)")))
	require.ElementsMatch(t, []string{"sunny harbour"}, titles("filter="+url.QueryEscape("T_INTERSECTS(datetime, INTERVAL('2025-01-01','..')) AND iso BETWEEN 300 AND 500")))
	require.ElementsMatch(t, []string{"west of the line"}, titles("filter="+url.QueryEscape("T_DURING(datetime, INTERVAL('2024-01-15','2024-03-01'))")))
	require.ElementsMatch(t, []string{"null island", "sunny harbour"}, titles("filter="+url.QueryEscape("kind IN ('island') OR body IS NOT NULL AND body <> ''")))
	// an injection attempt is just a string that matches nothing
	require.Empty(t, titles("filter="+url.QueryEscape("title = 'x''; DROP TABLE documents; --'")))
	require.Len(t, titles(""), 4)
	// precision
	b.getJSON(t, "/collections/places/items?precision=0&kind=island", &page)
	require.JSONEq(t, `{"type":"Point","coordinates":[0,0]}`, string(page.Features[0].Geometry))

	// errors are 400 problem+json naming the field and position
	for q, field := range map[string]string{
		"filter=" + url.QueryEscape("iso > 1 AND nosuch = 2"): "filter",
		"filter=" + url.QueryEscape("iso >"):                  "filter",
		"bbox=1,2,3":                                          "bbox",
		"datetime=yesterday":                                  "datetime",
		"limit=10001":                                         "limit",
		"sortby=geom":                                         "sortby",
		"nosuchparam=1":                                       "nosuchparam",
		"cursor=garbage":                                      "cursor",
		"filter-lang=cql2-json&filter=x":                      "filter-lang",
	} {
		resp, body := b.do(t, http.MethodGet, "/collections/places/items?"+q, "", nil)
		require.Equal(t, http.StatusBadRequest, resp.StatusCode, "%s: %s", q, body)
		var p map[string]any
		require.NoError(t, json.Unmarshal(body, &p))
		require.Equal(t, field, p["field"], q)
	}
	// a forged cursor is a 400, not a 500
	forged := Cursor{Key: "not a time", ID: 1, Sort: "created"}.Encode()
	resp, body := b.do(t, http.MethodGet, "/collections/places/items?sortby=created&cursor="+forged, "", nil)
	require.Equal(t, http.StatusBadRequest, resp.StatusCode, string(body))
	resp, body = b.do(t, http.MethodGet, "/collections/places/items?filter="+url.QueryEscape("iso > 1 AND nosuch = 2"), "", nil)
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Contains(t, string(body), `"position":12`)
}

func TestGeoJSONRoundTrip(t *testing.T) {
	t.Parallel()
	b := setup(t)
	in := `{"type":"FeatureCollection","features":[
	 {"type":"Feature","id":"p1","geometry":{"type":"Point","coordinates":[13.3777,52.5163,34.5]},"properties":{"title":"Brandenburger Tor","tags":["gate","berlin"],"height":26,"big":12345678901234567890,"nested":{"a":[1,2,{"b":null}]},"datetime":"2024-05-01T10:00:00Z"}},
	 {"type":"Feature","id":"l1","geometry":{"type":"LineString","coordinates":[[0,0],[1.123456789,1],[2,0]]},"properties":{"title":"a line","start":"2024-01-01T00:00:00Z","end":null}},
	 {"type":"Feature","id":"poly","geometry":{"type":"Polygon","coordinates":[[[0,0],[0,10],[10,10],[10,0],[0,0]]]},"properties":{"title":"clockwise in, counter-clockwise out"}},
	 {"type":"Feature","id":"mp","geometry":{"type":"MultiPolygon","coordinates":[[[[0,0,1],[1,0,1],[1,1,1],[0,0,1]]],[[[5,5,2],[6,5,2],[6,6,2],[5,5,2]]]]},"properties":{}},
	 {"type":"Feature","id":"gc","geometry":{"type":"GeometryCollection","geometries":[{"type":"Point","coordinates":[1,2]},{"type":"MultiPoint","coordinates":[[3,4],[5,6]]},{"type":"MultiLineString","coordinates":[[[0,0],[1,1]]]}]},"properties":{"title":"mixed"}},
	 {"type":"Feature","id":"none","geometry":null,"properties":{"title":"no geometry"}}
	],"bbox":[0,0,1,1]}`
	resp, body := b.do(t, http.MethodPost, "/collections/places/items", GeoJSON, strings.NewReader(in))
	require.Equal(t, http.StatusCreated, resp.StatusCode, string(body))
	require.JSONEq(t, `{"inserted":6,"updated":0}`, string(body))
	// importing again updates instead of duplicating (ids are external ids)
	resp, body = b.do(t, http.MethodPost, "/collections/places/items", GeoJSON, strings.NewReader(in))
	require.Equal(t, http.StatusCreated, resp.StatusCode, string(body))
	require.JSONEq(t, `{"inserted":0,"updated":6}`, string(body))

	var page fc
	b.getJSON(t, "/collections/places/items?sortby=id", &page)
	require.Len(t, page.Features, 6)
	byExt := map[string]int{}
	for i, f := range page.Features {
		byExt[f.Properties["external_id"].(string)] = i
	}
	p1 := page.Features[byExt["p1"]]
	// documents.geom is 2D: the height is dropped on write.
	require.JSONEq(t, `{"type":"Point","coordinates":[13.3777,52.5163]}`, string(p1.Geometry))
	require.Equal(t, "Brandenburger Tor", p1.Properties["title"])
	require.Equal(t, []any{"gate", "berlin"}, p1.Properties["tags"])
	require.Equal(t, "2024-05-01T10:00:00Z", p1.Properties["datetime"])
	require.Equal(t, map[string]any{"a": []any{1.0, 2.0, map[string]any{"b": nil}}}, p1.Properties["nested"])
	require.Equal(t, 26.0, p1.Properties["height"])
	require.JSONEq(t, `{"type":"LineString","coordinates":[[0,0],[1.123456789,1],[2,0]]}`, string(page.Features[byExt["l1"]].Geometry))
	require.Equal(t, "2024-01-01T00:00:00Z", page.Features[byExt["l1"]].Properties["start"])
	require.NotContains(t, page.Features[byExt["l1"]].Properties, "end")
	require.JSONEq(t, `{"type":"Polygon","coordinates":[[[0,0],[10,0],[10,10],[0,10],[0,0]]]}`, string(page.Features[byExt["poly"]].Geometry))
	require.JSONEq(t, `{"type":"MultiPolygon","coordinates":[[[[0,0],[1,0],[1,1],[0,0]]],[[[5,5],[6,5],[6,6],[5,5]]]]}`, string(page.Features[byExt["mp"]].Geometry))
	require.JSONEq(t, `{"type":"GeometryCollection","geometries":[{"type":"Point","coordinates":[1,2]},{"type":"MultiPoint","coordinates":[[3,4],[5,6]]},{"type":"MultiLineString","coordinates":[[[0,0],[1,1]]]}]}`, string(page.Features[byExt["gc"]].Geometry))
	require.Equal(t, "null", string(page.Features[byExt["none"]].Geometry))

	// a big integer keeps its digits (props pass through as JSON)
	_, raw := b.do(t, http.MethodGet, "/collections/places/items/"+p1.ID.String(), "", nil)
	require.Regexp(t, `"big": ?12345678901234567890[,}]`, string(raw))
}

func TestWrites(t *testing.T) {
	t.Parallel()
	b := setup(t)
	// writes need a key
	req, _ := http.NewRequest(http.MethodPost, b.srv.URL+"/collections/places/items", strings.NewReader(point(1, 2, "")))
	req.Header.Set("Content-Type", GeoJSON)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)

	resp, body := b.do(t, http.MethodPost, "/collections/places/items", GeoJSON, strings.NewReader(point(1, 2, `"title":"first","k":"v"`)))
	require.Equal(t, http.StatusCreated, resp.StatusCode, string(body))
	loc := resp.Header.Get("Location")
	require.NotEmpty(t, loc)
	path := strings.TrimPrefix(loc, b.srv.URL)

	resp, body = b.do(t, http.MethodPut, path, GeoJSON, strings.NewReader(point(3, 4, `"title":"second"`)))
	require.Equal(t, http.StatusNoContent, resp.StatusCode, string(body))
	var f map[string]any
	b.getJSON(t, path, &f)
	require.Equal(t, "second", f["properties"].(map[string]any)["title"])
	require.NotContains(t, f["properties"], "k")
	require.NotContains(t, f["properties"], "external_id")
	var list fc
	b.getJSON(t, "/collections/places/items", &list)
	require.NotContains(t, list.Features[0].Properties, "external_id")
	require.NotContains(t, list.Features[0].Properties, "datetime")
	require.Equal(t, []any{}, list.Features[0].Properties["tags"])

	resp, body = b.do(t, http.MethodPatch, path, "application/merge-patch+json", strings.NewReader(`{"properties":{"k":"w","title":null}}`))
	require.Equal(t, http.StatusNoContent, resp.StatusCode, string(body))
	b.getJSON(t, path, &f)
	require.Equal(t, "w", f["properties"].(map[string]any)["k"])
	require.Equal(t, "", f["properties"].(map[string]any)["title"])
	require.JSONEq(t, `{"type":"Point","coordinates":[3,4]}`, mustMarshal(f["geometry"]))

	resp, _ = b.do(t, http.MethodPatch, path, GeoJSON, strings.NewReader(`{"geometry":{"type":"Point","coordinates":[300,4]}}`))
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)

	resp, _ = b.do(t, http.MethodDelete, path, "", nil)
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	resp, _ = b.do(t, http.MethodGet, path, "", nil)
	require.Equal(t, http.StatusNotFound, resp.StatusCode)

	// a bad feature in the middle of an import: 400 and nothing written
	feats := []string{point(1, 1, `"title":"ok"`), point(1, 1, `"title":"ok2"`), `{"type":"Feature","geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1]]]},"properties":{}}`}
	resp, body = b.do(t, http.MethodPost, "/collections/places/items", "application/x-ndjson", strings.NewReader(strings.Join(feats, "\n")))
	require.Equal(t, http.StatusBadRequest, resp.StatusCode, string(body))
	require.Contains(t, string(body), "features[2]")
	resp, body = b.do(t, http.MethodPost, "/collections/places/items", GeoJSON, strings.NewReader(`{"type":"FeatureCollection","features":[`+feats[0]+`,{"type":"Feature"`))
	require.Equal(t, http.StatusBadRequest, resp.StatusCode, string(body))
	var n int
	require.NoError(t, b.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM documents`).Scan(&n))
	require.Zero(t, n)
	resp, _ = b.do(t, http.MethodPost, "/collections/nope/items", GeoJSON, strings.NewReader(point(1, 1, "")))
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	resp, _ = b.do(t, http.MethodPost, "/collections/places/items", "text/csv", strings.NewReader("a,b"))
	require.Equal(t, http.StatusUnsupportedMediaType, resp.StatusCode)
}

func mustMarshal(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestClustersSumToItems(t *testing.T) {
	t.Parallel()
	b := setup(t)
	rng := rand.New(rand.NewPCG(1, 2))
	feats := make([]string, 3000)
	for i := range feats {
		feats[i] = point(rng.Float64()*40-20, rng.Float64()*40-10, `"title":"x"`)
	}
	b.importSeq(t, "places", feats)
	check := func(bbox string, zoom int) {
		t.Helper()
		var res struct {
			BBox     []float64 `json:"bbox"`
			Features []struct {
				Properties map[string]any `json:"properties"`
			} `json:"features"`
		}
		b.getJSON(t, fmt.Sprintf("/collections/places/clusters?bbox=%s&zoom=%d", bbox, zoom), &res)
		sum := 0
		for _, f := range res.Features {
			sum += int(f.Properties["count"].(float64))
		}
		var want int
		require.NoError(t, b.db.Pool.QueryRow(context.Background(),
			`SELECT count(*) FROM documents WHERE ST_X(geom) >= $1 AND ST_X(geom) < $3 AND ST_Y(geom) >= $2 AND ST_Y(geom) < $4`,
			res.BBox[0], res.BBox[1], res.BBox[2], res.BBox[3]).Scan(&want))
		require.Equal(t, want, sum, "%s z%d", bbox, zoom)
	}
	for _, tc := range []struct {
		bbox string
		zoom int
	}{{"-180,-90,180,90", 0}, {"-180,-90,180,90", 3}, {"-5,0,5,10", 6}, {"0,0,4,4", 12}} {
		var res struct {
			BBox     []float64 `json:"bbox"`
			Features []struct {
				ID         any            `json:"id"`
				Properties map[string]any `json:"properties"`
			} `json:"features"`
		}
		b.getJSON(t, fmt.Sprintf("/collections/places/clusters?bbox=%s&zoom=%d", tc.bbox, tc.zoom), &res)
		sum := 0
		for _, f := range res.Features {
			sum += int(f.Properties["count"].(float64))
		}
		var want int
		require.NoError(t, b.db.Pool.QueryRow(context.Background(),
			`SELECT count(*) FROM documents WHERE ST_X(geom) >= $1 AND ST_X(geom) < $3 AND ST_Y(geom) >= $2 AND ST_Y(geom) < $4`,
			res.BBox[0], res.BBox[1], res.BBox[2], res.BBox[3]).Scan(&want))
		require.Equal(t, want, sum, "%+v", tc)
		require.Positive(t, want, "%+v", tc)
	}
	// stable as the map pans: the cells of two overlapping views agree.
	get := func(bbox string) map[string]float64 {
		var res struct {
			Features []struct {
				ID         any            `json:"id"`
				Properties map[string]any `json:"properties"`
			} `json:"features"`
		}
		b.getJSON(t, "/collections/places/clusters?zoom=4&bbox="+bbox, &res)
		out := map[string]float64{}
		for _, f := range res.Features {
			out[fmt.Sprint(f.ID)] = f.Properties["count"].(float64)
		}
		return out
	}
	a, c := get("-10,0,10,20"), get("-8,2,12,22")
	common := 0
	for id, n := range a {
		if m, ok := c[id]; ok && strings.HasPrefix(id, "cluster/") {
			common++
			_ = m
			_ = n
		}
	}
	require.Positive(t, common)
	for id, n := range a {
		if m, ok := c[id]; ok {
			require.Equal(t, n, m, id)
		}
	}
	// The pyramid follows deletes, moves and inserts.
	ctx := context.Background()
	_, err := b.db.Pool.Exec(ctx, `DELETE FROM documents WHERE id % 7 = 0`)
	require.NoError(t, err)
	_, err = b.db.Pool.Exec(ctx, `UPDATE documents SET geom = ST_SetSRID(ST_MakePoint(ST_Y(geom), ST_X(geom)), 4326) WHERE id % 5 = 0`)
	require.NoError(t, err)
	_, err = b.db.Pool.Exec(ctx, `UPDATE documents SET title = 'same place' WHERE id % 3 = 0`)
	require.NoError(t, err)
	check("-180,-90,180,90", 2)
	check("-10,-10,10,10", 5)
	var bad int
	require.NoError(t, b.db.Pool.QueryRow(ctx, `
		SELECT count(*) FROM geo_cluster_cells c
		 WHERE NOT EXISTS (SELECT 1 FROM documents d WHERE d.id = c.rep_id)`).Scan(&bad))
	require.Zero(t, bad, "every representative exists")
	// a collection can still be deleted (its cells go with it)
	_, err = b.db.Pool.Exec(ctx, `DELETE FROM collections WHERE name = 'places'`)
	require.NoError(t, err)

	resp, _ := b.do(t, http.MethodGet, "/collections/places/clusters?zoom=99", "", nil)
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	resp, _ = b.do(t, http.MethodGet, "/collections/places", "", nil)
	require.Equal(t, http.StatusNotFound, resp.StatusCode) // the collection is gone
	var cells int
	require.NoError(t, b.db.Pool.QueryRow(ctx, `SELECT count(*) FROM geo_cluster_cells`).Scan(&cells))
	require.Zero(t, cells)
}

var _ = bytes.NewReader

// TestItemsNever500 throws odd requests at /items: each must be answered
// with a 2xx or a 4xx problem, never a 500.
func TestItemsNever500(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.importSeq(t, "places", []string{point(1, 2, `"title":"a","iso":5,"kind":"x","when":"2024-01-01"`)})
	filters := []string{
		`iso > 1e308`, `iso < -1e308`, `iso = 0.1`, `kind LIKE '%\_%'`, `kind LIKE '\\'`, `title IN ('')`,
		`when > '2024'`, `created > '2024-01-01'`, `created > 'x'`, `start IS NULL`, `end > DATE('0001-01-01')`,
		`T_AFTER(created, TIMESTAMP('9999-12-31T23:59:59Z'))`, `S_DWITHIN(geometry, POINT(0 90), 20100000)`,
		`S_INTERSECTS(geometry, POLYGON((0 0, 1 0, 1 1, 0 0), (0 0, 0.5 0, 0.5 0.5, 0 0)))`,
		`S_INTERSECTS(geometry, POLYGON((0 0, 1 1, 0 1, 1 0, 0 0)))`, `S_WITHIN(geometry, LINESTRING(0 0, 1 1))`,
		`S_INTERSECTS(geometry, GEOMETRYCOLLECTION(POINT(1 2)))`, `tags IS NOT NULL AND NOT tags = 'a'`,
		`"props.kind" = 'x'`, `"props." = 'x'`, `id IN (1, 9007199254740992)`, `iso BETWEEN 'a' AND 'b'`,
		`kind IN (1, 2)`, `kind = TRUE`, `kind <> FALSE`, `title = '` + strings.Repeat("x", 5000) + `'`,
	}
	params := []string{
		"bbox=-180,-90,180,90", "bbox=180,90,-180,-90", "datetime=0001-01-01T00:00:00Z/9999-12-31T23:59:59Z",
		"datetime=0000-01-01T00:00:00Z", "q=" + url.QueryEscape(`"unclosed & | ! <-> ()`), "q=" + url.QueryEscape("!!!"),
		"sortby=-datetime&limit=1", "sortby=title&cursor=" + Cursor{Key: "\x00", ID: -1, Sort: "title"}.Encode(),
		"sortby=datetime&cursor=" + Cursor{Key: "infinity", ID: 1, Sort: "datetime"}.Encode(),
		"properties=nosuch", "precision=15", "iso=NaN", "kind=", "tags=", "title=%00",
	}
	for _, f := range filters {
		params = append(params, "filter="+url.QueryEscape(f))
	}
	for _, p := range params {
		resp, body := b.do(t, http.MethodGet, "/collections/places/items?"+p, "", nil)
		require.Less(t, resp.StatusCode, 500, "%s: %s", p, body)
		if resp.StatusCode >= 400 {
			require.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"), p)
		}
	}
	for _, p := range []string{"/collections/places/clusters?zoom=0&bbox=180,90,-180,-90", "/collections/places/clusters?zoom=22&bbox=0,0,0,0",
		"/tiles/places/22/4194303/4194303.mvt", "/tiles/places/0/0/0.mvt", "/collections/places/items/99999999999999999999",
		"/collections/places/items/-1", "/tiles/places/1/1/1.mvt?x=1"} {
		resp, body := b.do(t, http.MethodGet, p, "", nil)
		require.Less(t, resp.StatusCode, 500, "%s: %s", p, body)
	}
}

// TestWritesNever500 sends malformed or hostile bodies to the write routes.
func TestWritesNever500(t *testing.T) {
	t.Parallel()
	b := setup(t)
	bodies := []string{
		``, `null`, `[]`, `{}`, `{"type":"Feature"}`, `{"type":"Feature","geometry":{"type":"Point","coordinates":"x"}}`,
		`{"type":"Feature","geometry":null,"properties":{"title":"\u0000"}}`,
		`{"type":"Feature","geometry":null,"properties":{"lang":"klingon"}}`,
		`{"type":"Feature","geometry":null,"properties":{"tags":[1,2]}}`,
		`{"type":"Feature","geometry":null,"properties":{"datetime":"2024-13-45"}}`,
		`{"type":"Feature","geometry":null,"properties":{"start":"2025-01-01T00:00:00Z","end":"2024-01-01T00:00:00Z"}}`,
		`{"type":"Feature","id":{"a":1},"geometry":null}`,
		`{"type":"Feature","id":"` + strings.Repeat("x", 600) + `","geometry":null}`,
		`{"type":"Feature","geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]],[]]}}`,
		`{"type":"Feature","geometry":{"type":"MultiPolygon","coordinates":[[]]}}`,
		`{"type":"Feature","geometry":{"type":"GeometryCollection","geometries":[]}}`,
		`{"type":"FeatureCollection","features":[{"type":"Feature","id":"a","geometry":null},{"type":"Feature","id":"a","geometry":null}]}`,
		`{"type":"FeatureCollection","features":[{"type":"Feature","geometry":null,"properties":{"lang":"nope"}}]}`,
		`{"type":"FeatureCollection","features":[null]}`, `{"type":"FeatureCollection","features":[1]}`,
		`{"features":[],"type":"FeatureCollection"}`, `{"type":"FeatureCollection","features":[]`,
	}
	for _, body := range bodies {
		for _, ct := range []string{GeoJSON, "application/geo+json-seq"} {
			resp, out := b.do(t, http.MethodPost, "/collections/places/items", ct, strings.NewReader(body))
			require.Less(t, resp.StatusCode, 500, "%s %s: %s", ct, body, out)
		}
	}
	resp, out := b.do(t, http.MethodPost, "/collections/places/items", GeoJSON, strings.NewReader(point(1, 1, `"title":"x"`)))
	require.Equal(t, http.StatusCreated, resp.StatusCode, string(out))
	path := strings.TrimPrefix(resp.Header.Get("Location"), b.srv.URL)
	for _, body := range bodies {
		resp, out := b.do(t, http.MethodPut, path, GeoJSON, strings.NewReader(body))
		require.Less(t, resp.StatusCode, 500, "PUT %s: %s", body, out)
		resp, out = b.do(t, http.MethodPatch, path, GeoJSON, strings.NewReader(body))
		require.Less(t, resp.StatusCode, 500, "PATCH %s: %s", body, out)
	}
}

// TestItemsBBoxCollectionFence: a bbox page of a collection that is most of
// the table filters on the collection ("+ 0", planItems) when the bbox is
// small, keeps the collection's index when it is the whole world, and pages
// through the same features either way, in id order and each once; the
// same for a CQL2 S_INTERSECTS filter.
func TestItemsBBoxCollectionFence(t *testing.T) {
	t.Parallel()
	b := setup(t)
	feats := make([]string, 3000)
	for i := range feats {
		feats[i] = point(float64(i%360)-180+0.5, float64(i%170)-85+0.25, fmt.Sprintf(`"n":%d`, i))
	}
	require.Equal(t, int64(3000), b.importSeq(t, "places", feats).Inserted)
	ctx := context.Background()
	_, err := b.db.Pool.Exec(ctx, `ANALYZE documents`)
	require.NoError(t, err)
	svc := b.h.svc
	col, err := svc.Collection(ctx, "places")
	require.NoError(t, err)
	require.Greater(t, col.Share, 0.9, "the only collection is the whole table")

	small, world := BBox{MinX: -40, MinY: -30, MaxX: 0, MaxY: 10}, BBox{MinX: -180, MinY: -90, MaxX: 180, MaxY: 90}
	for _, c := range []struct {
		bbox BBox
		// filter: the bbox is given as a CQL2 S_INTERSECTS instead.
		filter, fence bool
	}{{small, false, true}, {world, false, false}, {small, true, true}, {world, true, false}} {
		bbox := c.bbox
		q := &ItemsQuery{Collection: "places", BBox: &bbox, Limit: 50}
		param := fmt.Sprintf("bbox=%g,%g,%g,%g", bbox.MinX, bbox.MinY, bbox.MaxX, bbox.MaxY)
		if c.filter {
			q.BBox = nil
			q.Filter = fmt.Sprintf("S_INTERSECTS(geometry, BBOX(%g,%g,%g,%g))", bbox.MinX, bbox.MinY, bbox.MaxX, bbox.MaxY)
			param = "filter=" + url.QueryEscape(q.Filter)
		}
		iq, _, haveEst, err := svc.planItems(ctx, q, col)
		require.NoError(t, err)
		require.True(t, haveEst)
		require.Equal(t, c.fence, strings.Contains(iq.sql, "d.collection_id + 0 = $1"), "%s: %s", param, iq.sql)

		var want []string
		rows, err := b.db.Pool.Query(ctx, `SELECT d.id::text FROM documents d WHERE ST_Intersects(d.geom, ST_MakeEnvelope($1, $2, $3, $4, 4326)) ORDER BY d.id`,
			bbox.MinX, bbox.MinY, bbox.MaxX, bbox.MaxY)
		require.NoError(t, err)
		for rows.Next() {
			var id string
			require.NoError(t, rows.Scan(&id))
			want = append(want, id)
		}
		require.NoError(t, rows.Err())
		var got []string
		next := "/collections/places/items?limit=50&" + param
		for next != "" {
			var page fc
			u, err := url.Parse(next)
			require.NoError(t, err)
			b.getJSON(t, u.RequestURI(), &page)
			got = append(got, page.ids()...)
			next = page.link("next")
		}
		require.Greater(t, len(want), 50, "%s: more than a page", param)
		require.True(t, slices.Equal(want, got), "%s: %d features paged, %d match", param, len(got), len(want))
	}
}
