package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/geoseek/geoseek/internal/auth"
	"github.com/geoseek/geoseek/internal/problem"
)

// hostileCase is one request the bad-input suite sends.
type hostileCase struct {
	name         string
	method, path string
	ct, body     string
	auth         string // Authorization header; "" sends the write key, "-" none
	status       int
	slug         string // problem type, after problem.TypeBase
	detail       string // a part of the detail ("" checks none)
}

// titles are the problem titles of each type the suite expects.
var hostileTitles = map[string]string{
	"invalid-request":        "Invalid request",
	"not-found":              problem.ErrNotFound.Title,
	"unsupported-media-type": problem.ErrUnsupportedMedia.Title,
	"too-large":              problem.ErrTooLarge.Title,
	"unauthorized":           problem.ErrUnauthorized.Title,
	"forbidden":              problem.ErrForbidden.Title,
}

// dbState is a fingerprint of what the suite must not change: row counts
// and checksums of collections, documents and photos.
func dbState(t *testing.T, k *keyedApp) string {
	t.Helper()
	var out []string
	for _, q := range []string{
		`SELECT count(*)::text || ':' || coalesce(md5(string_agg(c::text, '|' ORDER BY id)), '') FROM collections c`,
		`SELECT count(*)::text || ':' || coalesce(md5(string_agg(d::text, '|' ORDER BY id)), '') FROM documents d`,
		`SELECT count(*)::text || ':' || coalesce(md5(string_agg(p::text, '|' ORDER BY document_id)), '') FROM photos p`,
	} {
		var s string
		if err := k.db.Pool.QueryRow(context.Background(), q).Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return strings.Join(out, " ")
}

const (
	bowtie     = `{"type":"Polygon","coordinates":[[[0,0],[1,1],[1,0],[0,1],[0,0]]]}`
	badUTF8    = "\xff\xfe"
	cutUTF8    = "caf\xc3"
	okPoint    = `{"type":"Point","coordinates":[1,2]}`
	okFeature  = `{"type":"Feature","geometry":` + okPoint + `,"properties":{"title":"fine"}}`
	ndjsonType = "application/x-ndjson"
)

func feature(geometry, props string) string {
	return `{"type":"Feature","geometry":` + geometry + `,"properties":{` + props + `}}`
}

func nestedCollections(depth int) string {
	return strings.Repeat(`{"type":"GeometryCollection","geometries":[`, depth) + okPoint + strings.Repeat(`]}`, depth)
}

// bigIndexText is under the 1 MB body limit but indexes to more than the
// 1 MB a document's full-text entry may hold (distinct words).
func bigIndexText() string {
	var b strings.Builder
	for i := 0; b.Len() < 900_000; i++ {
		b.WriteString("w")
		for j := i; j > 0; j /= 26 {
			b.WriteByte(byte('a' + j%26))
		}
		b.WriteByte(' ')
	}
	return b.String()
}

// multipartBody is a multipart upload of one part.
func multipartBody(t *testing.T, filename string, content []byte) (ct, body string) {
	t.Helper()
	var b strings.Builder
	w := multipart.NewWriter(&b)
	h := map[string][]string{"Content-Disposition": {fmt.Sprintf(`form-data; name="file"; filename="%s"`, filename)},
		"Content-Type": {"image/jpeg"}}
	p, err := w.CreatePart(h)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = p.Write(content)
	_ = w.Close()
	return w.FormDataContentType(), b.String()
}

// hostileCases are the suite's requests; doc is a stored document's path.
func hostileCases(t *testing.T, doc, item, readKey string) []hostileCase {
	const inv, nf, media, large = "invalid-request", "not-found", "unsupported-media-type", "too-large"
	js, gj, seq := "application/json", "application/geo+json", "application/geo+json-seq"
	cs := []hostileCase{
		// Paths: NUL, invalid UTF-8, unknown names.
		{name: "collection NUL", method: "GET", path: "/collections/%00", status: 400, slug: inv, detail: "NUL"},
		{name: "collection items NUL", method: "GET", path: "/collections/%00/items", status: 400, slug: inv, detail: "NUL"},
		{name: "collection items FF", method: "GET", path: "/collections/%FF/items", status: 400, slug: inv, detail: "UTF-8"},
		{name: "collection FF", method: "GET", path: "/collections/%FF", status: 400, slug: inv, detail: "UTF-8"},
		{name: "queryables NUL", method: "GET", path: "/collections/%00/queryables", status: 400, slug: inv},
		{name: "tilejson NUL", method: "GET", path: "/tiles/%00.json", status: 400, slug: inv, detail: "NUL"},
		{name: "tile NUL", method: "GET", path: "/tiles/%00/1/0/0.mvt", status: 400, slug: inv},
		{name: "clusters FF", method: "GET", path: "/collections/%FF/clusters?zoom=3", status: 400, slug: inv},
		{name: "item id FF", method: "GET", path: "/collections/docs/items/%FF", status: 400, slug: inv},
		{name: "document NUL", method: "GET", path: "/collections/docs/documents/%00", status: 400, slug: inv},
		{name: "unknown collection", method: "GET", path: "/collections/nope", status: 404, slug: nf},
		{name: "unknown collection items", method: "GET", path: "/collections/nope/items", status: 404, slug: nf},
		{name: "unknown item", method: "GET", path: "/collections/docs/items/999999999", status: 404, slug: nf},
		{name: "unknown document", method: "GET", path: "/collections/docs/documents/999999999", status: 404, slug: nf},
		{name: "unknown tilejson", method: "GET", path: "/tiles/nope.json", status: 404, slug: nf},

		// Item queries.
		{name: "items bbox NaN", method: "GET", path: "/collections/docs/items?bbox=NaN,0,1,1", status: 400, slug: inv, detail: "bbox"},
		{name: "items bbox Infinity", method: "GET", path: "/collections/docs/items?bbox=-Infinity,0,1,1", status: 400, slug: inv, detail: "bbox"},
		{name: "items bbox huge", method: "GET", path: "/collections/docs/items?bbox=1e999,0,1,1", status: 400, slug: inv, detail: "bbox"},
		{name: "items bbox three numbers", method: "GET", path: "/collections/docs/items?bbox=0,0,1", status: 400, slug: inv, detail: "bbox"},
		{name: "items bbox latitude 91", method: "GET", path: "/collections/docs/items?bbox=0,0,1,91", status: 400, slug: inv, detail: "bbox"},
		{name: "items limit huge", method: "GET", path: "/collections/docs/items?limit=99999999999999999999999", status: 400, slug: inv, detail: "limit"},
		{name: "items limit NaN", method: "GET", path: "/collections/docs/items?limit=NaN", status: 400, slug: inv, detail: "limit"},
		{name: "items limit negative", method: "GET", path: "/collections/docs/items?limit=-1", status: 400, slug: inv, detail: "limit"},
		{name: "items q NUL", method: "GET", path: "/collections/docs/items?q=a%00b", status: 400, slug: inv, detail: "NUL"},
		{name: "items q FF", method: "GET", path: "/collections/docs/items?q=%FF", status: 400, slug: inv, detail: "UTF-8"},
		{name: "items datetime garbage", method: "GET", path: "/collections/docs/items?datetime=yesterday", status: 400, slug: inv, detail: "datetime"},
		{name: "items datetime year 99999", method: "GET", path: "/collections/docs/items?datetime=99999-01-01T00:00:00Z", status: 400, slug: inv, detail: "datetime"},
		{name: "items filter garbage", method: "GET", path: "/collections/docs/items?filter=title%20%3D%3D%3D", status: 400, slug: inv, detail: "filter"},
		{name: "items filter deep", method: "GET", path: "/collections/docs/items?filter=" + strings.Repeat("(", 5000) + "true" + strings.Repeat(")", 5000), status: 400, slug: inv, detail: "filter"},
		{name: "items filter-lang", method: "GET", path: "/collections/docs/items?filter-lang=sql", status: 400, slug: inv, detail: "filter-lang"},
		{name: "items sortby unknown", method: "GET", path: "/collections/docs/items?sortby=password", status: 400, slug: inv, detail: "sortby"},
		{name: "items cursor forged", method: "GET", path: "/collections/docs/items?cursor=AAAA", status: 400, slug: inv, detail: "cursor"},
		{name: "items precision huge", method: "GET", path: "/collections/docs/items?precision=1e99", status: 400, slug: inv, detail: "precision"},
		{name: "items param name FF", method: "GET", path: "/collections/docs/items?%FF=1", status: 400, slug: inv, detail: "UTF-8"},

		// Clusters and tiles.
		{name: "clusters zoom NaN", method: "GET", path: "/collections/docs/clusters?zoom=NaN", status: 400, slug: inv, detail: "zoom"},
		{name: "clusters zoom huge", method: "GET", path: "/collections/docs/clusters?zoom=99999999999999999999", status: 400, slug: inv, detail: "zoom"},
		{name: "clusters zoom 23", method: "GET", path: "/collections/docs/clusters?zoom=23", status: 400, slug: inv, detail: "zoom"},
		{name: "clusters bbox NaN", method: "GET", path: "/collections/docs/clusters?zoom=3&bbox=0,NaN,1,1", status: 400, slug: inv, detail: "bbox"},
		{name: "tile z huge", method: "GET", path: "/tiles/docs/1e99/0/0.mvt", status: 400, slug: inv},
		{name: "tile x out of range", method: "GET", path: "/tiles/docs/1/5/0.mvt", status: 400, slug: inv},
		{name: "tile negative", method: "GET", path: "/tiles/docs/1/-1/0.mvt", status: 400, slug: inv},
		{name: "tile z 99", method: "GET", path: "/tiles/docs/99/0/0.mvt", status: 400, slug: inv},
		{name: "tile y NaN", method: "GET", path: "/tiles/docs/1/0/NaN.mvt", status: 400, slug: inv},
		{name: "tile unknown collection", method: "GET", path: "/tiles/nope/1/0/0.mvt", status: 404, slug: nf},

		// Search, GET.
		{name: "search q FF", method: "GET", path: "/search?collection=docs&q=%FF", status: 400, slug: inv, detail: "UTF-8"},
		{name: "search q NUL", method: "GET", path: "/search?collection=docs&q=%00", status: 400, slug: inv, detail: "NUL"},
		{name: "search q cut UTF-8", method: "GET", path: "/search?collection=docs&q=caf%C3", status: 400, slug: inv, detail: "UTF-8"},
		{name: "search collection NUL", method: "GET", path: "/search?collection=%00&q=a", status: 400, slug: inv, detail: "NUL"},
		{name: "search no collection", method: "GET", path: "/search?q=a", status: 400, slug: inv, detail: "collection"},
		{name: "search unknown collection", method: "GET", path: "/search?collection=nope&q=a", status: 404, slug: nf},
		{name: "search limit NaN", method: "GET", path: "/search?collection=docs&q=a&limit=NaN", status: 400, slug: inv, detail: "limit"},
		{name: "search limit Infinity", method: "GET", path: "/search?collection=docs&q=a&limit=Infinity", status: 400, slug: inv, detail: "limit"},
		{name: "search limit huge", method: "GET", path: "/search?collection=docs&q=a&limit=1e999", status: 400, slug: inv, detail: "limit"},
		{name: "search limit 20 digits", method: "GET", path: "/search?collection=docs&q=a&limit=99999999999999999999", status: 400, slug: inv, detail: "limit"},
		{name: "search mode bogus", method: "GET", path: "/search?collection=docs&q=a&mode=telepathy", status: 400, slug: inv, detail: "mode"},
		{name: "search cursor forged", method: "GET", path: "/search?collection=docs&q=a&cursor=%FF%FF", status: 400, slug: inv},
		{name: "search q huge", method: "GET", path: "/search?collection=docs&q=" + strings.Repeat("a+", 3000), status: 400, slug: inv, detail: "q"},

		// Search, POST.
		{name: "search body FF", method: "POST", path: "/search", ct: js, body: `{"collection":"docs","q":"` + badUTF8 + `"}`, status: 400, slug: inv, detail: "UTF-8"},
		{name: "search body cut UTF-8", method: "POST", path: "/search", ct: js, body: `{"collection":"docs","q":"` + cutUTF8, status: 400, slug: inv, detail: "UTF-8"},
		{name: "search body NUL escape", method: "POST", path: "/search", ct: js, body: `{"collection":"docs","q":"a\u0000"}`, status: 400, slug: inv},
		{name: "search body not JSON", method: "POST", path: "/search", ct: js, body: `{collection:docs}`, status: 400, slug: inv, detail: "JSON"},
		{name: "search body deep", method: "POST", path: "/search", ct: js, body: strings.Repeat("[", 100000) + strings.Repeat("]", 100000), status: 400, slug: inv},
		{name: "search body limit huge", method: "POST", path: "/search", ct: js, body: `{"collection":"docs","q":"a","limit":1e999}`, status: 400, slug: inv, detail: "limit"},
		{name: "search body limit NaN", method: "POST", path: "/search", ct: js, body: `{"collection":"docs","q":"a","limit":NaN}`, status: 400, slug: inv},
		{name: "search body limit string", method: "POST", path: "/search", ct: js, body: `{"collection":"docs","q":"a","limit":"10"}`, status: 400, slug: inv, detail: "limit"},
		{name: "search body unknown member", method: "POST", path: "/search", ct: js, body: `{"collection":"docs","q":"a","lmit":10}`, status: 400, slug: inv, detail: "lmit"},
		{name: "search body filter deep", method: "POST", path: "/search", ct: js, body: `{"collection":"docs","q":"a","filter":` + strings.Repeat(`{"not":`, 2000) + `{"tags":{"any":["a"]}}` + strings.Repeat(`}`, 2000) + `}`, status: 400, slug: inv},
		{name: "search body near NaN", method: "POST", path: "/search", ct: js, body: `{"collection":"docs","filter":{"near":{"lon":1e999,"lat":2,"metres":5}}}`, status: 400, slug: inv},
		{name: "search body near lat 95", method: "POST", path: "/search", ct: js, body: `{"collection":"docs","filter":{"near":{"lon":1,"lat":95,"metres":5}}}`, status: 400, slug: inv},
		{name: "search body geometry nested", method: "POST", path: "/search", ct: js, body: `{"collection":"docs","filter":{"intersects":` + nestedCollections(200) + `}}`, status: 400, slug: inv},
		{name: "search body trailing data", method: "POST", path: "/search", ct: js, body: `{"collection":"docs","q":"a"} {}`, status: 400, slug: inv},
		{name: "search body wrong media", method: "POST", path: "/search", ct: "text/csv", body: `a,b`, status: 415, slug: media},
		{name: "search body empty", method: "POST", path: "/search", ct: js, body: ``, status: 400, slug: inv},

		// Collections.
		{name: "collection create FF title", method: "POST", path: "/collections", ct: js, body: `{"name":"x1","title":"` + badUTF8 + `"}`, status: 400, slug: inv, detail: "UTF-8"},
		{name: "collection create NUL name", method: "POST", path: "/collections", ct: js, body: `{"name":"a\u0000b"}`, status: 400, slug: inv, detail: "name"},
		{name: "collection create bad name", method: "POST", path: "/collections", ct: js, body: `{"name":"../etc"}`, status: 400, slug: inv, detail: "name"},
		{name: "collection create dim 0", method: "POST", path: "/collections", ct: js, body: `{"name":"x2","embedding_dim":0}`, status: 400, slug: inv, detail: "embedding_dim"},
		{name: "collection create dim huge", method: "POST", path: "/collections", ct: js, body: `{"name":"x3","embedding_dim":1e999}`, status: 400, slug: inv},
		{name: "collection create dim negative", method: "POST", path: "/collections", ct: js, body: `{"name":"x4","embedding_dim":-5}`, status: 400, slug: inv, detail: "embedding_dim"},
		{name: "collection create unknown lang", method: "POST", path: "/collections", ct: js, body: `{"name":"x5","default_lang":"klingon"}`, status: 400, slug: inv, detail: "default_lang"},
		{name: "collection create unknown member", method: "POST", path: "/collections", ct: js, body: `{"name":"x6","colour":"red"}`, status: 400, slug: inv},
		{name: "collection create deep JSON", method: "POST", path: "/collections", ct: js, body: strings.Repeat(`{"a":`, 20000) + "1" + strings.Repeat("}", 20000), status: 400, slug: inv},
		{name: "collection create wrong media", method: "POST", path: "/collections", ct: "text/plain", body: `name=x`, status: 415, slug: media},
		{name: "collection patch FF", method: "PATCH", path: "/collections/docs", ct: js, body: `{"title":"` + badUTF8 + `"}`, status: 400, slug: inv, detail: "UTF-8"},
		{name: "collection patch unknown", method: "PATCH", path: "/collections/nope", ct: js, body: `{"title":"x"}`, status: 404, slug: nf},
		{name: "collection patch lang", method: "PATCH", path: "/collections/docs", ct: js, body: `{"default_lang":"klingon"}`, status: 400, slug: inv, detail: "default_lang"},

		// Documents.
		{name: "document FF title", method: "POST", path: "/collections/docs/documents", ct: js, body: `{"title":"` + badUTF8 + `"}`, status: 400, slug: inv, detail: "UTF-8"},
		{name: "document cut UTF-8", method: "POST", path: "/collections/docs/documents", ct: js, body: `{"title":"` + cutUTF8, status: 400, slug: inv, detail: "UTF-8"},
		{name: "document lone surrogate", method: "POST", path: "/collections/docs/documents", ct: js, body: `{"title":"a\ud800b"}`, status: 400, slug: inv, detail: "surrogate"},
		{name: "search body lone surrogate", method: "POST", path: "/search", ct: js, body: `{"collection":"docs","q":"\udc00"}`, status: 400, slug: inv, detail: "surrogate"},
		{name: "bulk lone surrogate", method: "POST", path: "/collections/docs/documents/bulk", ct: ndjsonType, body: `{"title":"ok"}` + "\n" + `{"title":"\ud83d"}` + "\n", status: 400, slug: inv, detail: "surrogate"},
		{name: "document NUL escape", method: "POST", path: "/collections/docs/documents", ct: js, body: `{"title":"a\u0000"}`, status: 400, slug: inv},
		{name: "document NUL in props", method: "POST", path: "/collections/docs/documents", ct: js, body: `{"title":"a","props":{"k":"\u0000"}}`, status: 400, slug: inv},
		{name: "document huge index", method: "POST", path: "/collections/docs/documents", ct: js, body: `{"title":"a","body":"` + bigIndexText() + `"}`, status: 413, slug: large, detail: "1 MB"},
		{name: "document body over 1 MB", method: "POST", path: "/collections/docs/documents", ct: js, body: `{"title":"a","body":"` + strings.Repeat("x", 1<<20+1) + `"}`, status: 400, slug: inv, detail: "body"},
		{name: "document request over 4 MB", method: "POST", path: "/collections/docs/documents", ct: js, body: `{"title":"` + strings.Repeat("x", 5<<20) + `"}`, status: 413, slug: large},
		{name: "document geometry nested 200", method: "POST", path: "/collections/docs/documents", ct: js, body: `{"title":"a","geometry":` + nestedCollections(200) + `}`, status: 400, slug: inv, detail: "nest"},
		{name: "document geometry bowtie", method: "POST", path: "/collections/docs/documents", ct: js, body: `{"title":"a","geometry":` + bowtie + `}`, status: 400, slug: inv, detail: "Self-intersection"},
		{name: "document geometry 5 numbers", method: "POST", path: "/collections/docs/documents", ct: js, body: `{"title":"a","geometry":{"type":"Point","coordinates":[1,2,3,4,5]}}`, status: 400, slug: inv, detail: "5 numbers"},
		{name: "document geometry 4 numbers", method: "POST", path: "/collections/docs/documents", ct: js, body: `{"title":"a","geometry":{"type":"Point","coordinates":[1,2,3,4]}}`, status: 400, slug: inv, detail: "4 numbers"},
		{name: "document geometry huge number", method: "POST", path: "/collections/docs/documents", ct: js, body: `{"title":"a","geometry":{"type":"Point","coordinates":[1e999,2]}}`, status: 400, slug: inv},
		{name: "document geometry latitude 91", method: "POST", path: "/collections/docs/documents", ct: js, body: `{"title":"a","geometry":{"type":"Point","coordinates":[1,91]}}`, status: 400, slug: inv, detail: "latitude"},
		{name: "document geometry repeated line", method: "POST", path: "/collections/docs/documents", ct: js, body: `{"title":"a","geometry":{"type":"LineString","coordinates":[[1,2],[1,2]]}}`, status: 400, slug: inv, detail: "valid"},
		{name: "document geometry hole outside", method: "POST", path: "/collections/docs/documents", ct: js, body: `{"title":"a","geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,1],[0,0]],[[5,5],[5,6],[6,6],[6,5],[5,5]]]}}`, status: 400, slug: inv, detail: "Hole"},
		{name: "document collection with bowtie", method: "POST", path: "/collections/docs/documents", ct: js, body: `{"title":"a","geometry":{"type":"GeometryCollection","geometries":[` + okPoint + `,` + bowtie + `]}}`, status: 400, slug: inv, detail: "Self-intersection"},
		{name: "document deep JSON", method: "POST", path: "/collections/docs/documents", ct: js, body: strings.Repeat("[", 100000) + strings.Repeat("]", 100000), status: 400, slug: inv},
		{name: "document unknown lang", method: "POST", path: "/collections/docs/documents", ct: js, body: `{"title":"a","lang":"klingon"}`, status: 400, slug: inv, detail: "lang"},
		{name: "document period year 99999", method: "POST", path: "/collections/docs/documents", ct: js, body: `{"title":"a","period":{"from":"99999-01-01T00:00:00Z"}}`, status: 400, slug: inv, detail: "period"},
		{name: "document vector NaN", method: "POST", path: "/collections/docs/documents", ct: js, body: `{"title":"a","vector":[NaN]}`, status: 400, slug: inv},
		{name: "document unknown collection", method: "POST", path: "/collections/nope/documents", ct: js, body: `{"title":"a"}`, status: 404, slug: nf},
		{name: "document wrong media", method: "POST", path: "/collections/docs/documents", ct: "text/xml", body: `<a/>`, status: 415, slug: media},
		{name: "document id NaN", method: "GET", path: "/collections/docs/documents/NaN", status: 400, slug: inv, detail: "id"},
		{name: "document id huge", method: "GET", path: "/collections/docs/documents/99999999999999999999", status: 400, slug: inv, detail: "id"},
		{name: "document put FF", method: "PUT", path: doc, ct: js, body: `{"title":"` + badUTF8 + `"}`, status: 400, slug: inv, detail: "UTF-8"},
		{name: "document put bowtie", method: "PUT", path: doc, ct: js, body: `{"title":"a","geometry":` + bowtie + `}`, status: 400, slug: inv, detail: "Self-intersection"},
		{name: "document patch bowtie", method: "PATCH", path: doc, ct: js, body: `{"geometry":` + bowtie + `}`, status: 400, slug: inv, detail: "Self-intersection"},
		{name: "document patch FF", method: "PATCH", path: doc, ct: js, body: `{"title":"` + badUTF8 + `"}`, status: 400, slug: inv, detail: "UTF-8"},
		{name: "document patch huge index", method: "PATCH", path: doc, ct: js, body: `{"body":"` + bigIndexText() + `"}`, status: 413, slug: large},
		{name: "document delete id negative", method: "DELETE", path: "/collections/docs/documents/-1", status: 400, slug: inv, detail: "id"},

		// Bulk loads: a bad line anywhere writes nothing.
		{name: "bulk FF", method: "POST", path: "/collections/docs/documents/bulk", ct: ndjsonType, body: `{"title":"ok"}` + "\n" + `{"title":"` + badUTF8 + `"}` + "\n", status: 400, slug: inv, detail: "UTF-8"},
		{name: "bulk cut UTF-8 at end", method: "POST", path: "/collections/docs/documents/bulk", ct: ndjsonType, body: `{"title":"ok"}` + "\n" + `{"title":"` + cutUTF8, status: 400, slug: inv, detail: "UTF-8"},
		{name: "bulk NUL", method: "POST", path: "/collections/docs/documents/bulk", ct: ndjsonType, body: `{"title":"ok"}` + "\n" + `{"title":"a","props":{"k":"\u0000"}}` + "\n", status: 400, slug: inv},
		{name: "bulk bowtie", method: "POST", path: "/collections/docs/documents/bulk", ct: ndjsonType, body: `{"title":"ok"}` + "\n" + `{"title":"b","geometry":` + bowtie + `}` + "\n", status: 400, slug: inv, detail: "line 2: geometry"},
		{name: "bulk nested geometry", method: "POST", path: "/collections/docs/documents/bulk", ct: ndjsonType, body: `{"title":"a","geometry":` + nestedCollections(200) + `}` + "\n", status: 400, slug: inv, detail: "line 1"},
		{name: "bulk huge index", method: "POST", path: "/collections/docs/documents/bulk", ct: ndjsonType, body: `{"title":"ok"}` + "\n" + `{"title":"a","body":"` + bigIndexText() + `"}` + "\n", status: 413, slug: large},
		{name: "bulk not JSON", method: "POST", path: "/collections/docs/documents/bulk", ct: ndjsonType, body: `{"title":"ok"}` + "\n" + `title=x` + "\n", status: 400, slug: inv, detail: "line 2"},
		{name: "bulk duplicate ids", method: "POST", path: "/collections/docs/documents/bulk", ct: ndjsonType, body: `{"title":"a","external_id":"d"}` + "\n" + `{"title":"b","external_id":"d"}` + "\n", status: 400, slug: inv, detail: "external_id"},
		{name: "bulk line too long", method: "POST", path: "/collections/docs/documents/bulk", ct: ndjsonType, body: `{"title":"` + strings.Repeat("x", 5<<20) + `"}` + "\n", status: 400, slug: inv, detail: "longer"},
		{name: "bulk deep JSON", method: "POST", path: "/collections/docs/documents/bulk", ct: ndjsonType, body: strings.Repeat("[", 100000) + "\n", status: 400, slug: inv},
		{name: "bulk unknown collection", method: "POST", path: "/collections/nope/documents/bulk", ct: ndjsonType, body: `{"title":"a"}` + "\n", status: 404, slug: nf},
		{name: "bulk wrong media", method: "POST", path: "/collections/docs/documents/bulk", ct: "text/csv", body: "a,b\n", status: 415, slug: media},
		{name: "bulk period huge year", method: "POST", path: "/collections/docs/documents/bulk", ct: ndjsonType, body: `{"title":"a","period":{"from":"99999-01-01"}}` + "\n", status: 400, slug: inv},

		// OGC API items: single features, FeatureCollections, sequences.
		{name: "item FF", method: "POST", path: "/collections/docs/items", ct: gj, body: feature("null", `"title":"`+badUTF8+`"`), status: 400, slug: inv, detail: "UTF-8"},
		{name: "item bowtie", method: "POST", path: "/collections/docs/items", ct: gj, body: feature(bowtie, `"title":"x"`), status: 400, slug: inv, detail: "Self-intersection"},
		{name: "item nested 200", method: "POST", path: "/collections/docs/items", ct: gj, body: feature(nestedCollections(200), `"title":"x"`), status: 400, slug: inv, detail: "nest"},
		{name: "item 5 numbers", method: "POST", path: "/collections/docs/items", ct: gj, body: feature(`{"type":"Point","coordinates":[1,2,3,4,5]}`, `"title":"x"`), status: 400, slug: inv, detail: "5 numbers"},
		{name: "item collection bowtie", method: "POST", path: "/collections/docs/items", ct: gj, body: feature(`{"type":"GeometryCollection","geometries":[`+bowtie+`]}`, `"title":"x"`), status: 400, slug: inv, detail: "Self-intersection"},
		{name: "item huge index", method: "POST", path: "/collections/docs/items", ct: gj, body: feature("null", `"title":"a","body":"`+bigIndexText()+`"`), status: 413, slug: large},
		{name: "item deep JSON", method: "POST", path: "/collections/docs/items", ct: gj, body: strings.Repeat("[", 100000) + strings.Repeat("]", 100000), status: 400, slug: inv},
		{name: "item not an object", method: "POST", path: "/collections/docs/items", ct: gj, body: `42`, status: 400, slug: inv},
		{name: "item wrong media", method: "POST", path: "/collections/docs/items", ct: "application/xml", body: `<a/>`, status: 415, slug: media},
		{name: "item unknown collection", method: "POST", path: "/collections/nope/items", ct: gj, body: okFeature, status: 404, slug: nf},
		{name: "item put bowtie", method: "PUT", path: item, ct: gj, body: feature(bowtie, `"title":"x"`), status: 400, slug: inv, detail: "Self-intersection"},
		{name: "item put FF", method: "PUT", path: item, ct: gj, body: feature("null", `"title":"`+badUTF8+`"`), status: 400, slug: inv, detail: "UTF-8"},
		{name: "item patch bowtie", method: "PATCH", path: item, ct: "application/merge-patch+json", body: `{"geometry":` + bowtie + `}`, status: 400, slug: inv, detail: "Self-intersection"},
		{name: "item patch collection bowtie", method: "PATCH", path: item, ct: "application/merge-patch+json", body: `{"geometry":{"type":"GeometryCollection","geometries":[` + bowtie + `]}}`, status: 400, slug: inv, detail: "Self-intersection"},
		{name: "item id NaN", method: "PUT", path: "/collections/docs/items/NaN", ct: gj, body: okFeature, status: 404, slug: nf},
		{name: "import FF", method: "POST", path: "/collections/docs/items", ct: gj, body: `{"type":"FeatureCollection","features":[` + okFeature + `,` + feature("null", `"title":"`+badUTF8+`"`) + `]}`, status: 400, slug: inv, detail: "UTF-8"},
		{name: "import bowtie second", method: "POST", path: "/collections/docs/items", ct: gj, body: `{"type":"FeatureCollection","features":[` + okFeature + `,` + feature(bowtie, `"title":"x"`) + `]}`, status: 400, slug: inv, detail: "features[1].geometry"},
		{name: "import nested", method: "POST", path: "/collections/docs/items", ct: gj, body: `{"type":"FeatureCollection","features":[` + okFeature + `,` + feature(nestedCollections(200), `"title":"x"`) + `]}`, status: 400, slug: inv, detail: "features[1]"},
		{name: "import cut body", method: "POST", path: "/collections/docs/items", ct: gj, body: `{"type":"FeatureCollection","features":[` + okFeature, status: 400, slug: inv},
		{name: "import trailing data", method: "POST", path: "/collections/docs/items", ct: gj, body: `{"type":"FeatureCollection","features":[` + okFeature + `]} []`, status: 400, slug: inv},
		{name: "import huge index", method: "POST", path: "/collections/docs/items", ct: gj, body: `{"type":"FeatureCollection","features":[` + okFeature + `,` + feature("null", `"title":"a","body":"`+bigIndexText()+`"`) + `]}`, status: 413, slug: large},
		{name: "import duplicate ids", method: "POST", path: "/collections/docs/items", ct: gj, body: `{"type":"FeatureCollection","features":[` + feature("null", `"title":"a","external_id":"z"`) + `,` + feature("null", `"title":"b","external_id":"z"`) + `]}`, status: 400, slug: inv},
		{name: "seq FF", method: "POST", path: "/collections/docs/items", ct: seq, body: okFeature + "\n" + feature("null", `"title":"`+badUTF8+`"`) + "\n", status: 400, slug: inv, detail: "UTF-8"},
		{name: "seq bowtie", method: "POST", path: "/collections/docs/items", ct: seq, body: okFeature + "\n" + feature(bowtie, `"title":"x"`) + "\n", status: 400, slug: inv, detail: "Self-intersection"},
		{name: "seq RS bowtie", method: "POST", path: "/collections/docs/items", ct: seq, body: "\x1e" + okFeature + "\n\x1e" + feature(bowtie, `"title":"x"`) + "\n", status: 400, slug: inv, detail: "features[1].geometry"},
		{name: "seq NUL", method: "POST", path: "/collections/docs/items", ct: seq, body: okFeature + "\n" + feature("null", `"title":"a\u0000"`) + "\n", status: 400, slug: inv},
		{name: "seq not JSON", method: "POST", path: "/collections/docs/items", ct: seq, body: okFeature + "\nnot json\n", status: 400, slug: inv},
		{name: "seq huge number", method: "POST", path: "/collections/docs/items", ct: seq, body: feature(`{"type":"Point","coordinates":[1e999,1]}`, `"title":"x"`) + "\n", status: 400, slug: inv},
		{name: "seq unknown lang", method: "POST", path: "/collections/docs/items", ct: seq, body: okFeature + "\n" + feature("null", `"title":"a","lang":"klingon"`) + "\n", status: 400, slug: inv, detail: "lang"},

		// Photos.
		{name: "photo id NaN", method: "GET", path: "/photos/NaN", status: 400, slug: inv, detail: "id"},
		{name: "photo id huge", method: "GET", path: "/photos/99999999999999999999999", status: 400, slug: inv, detail: "id"},
		{name: "photo id NUL", method: "GET", path: "/photos/%00", status: 400, slug: inv},
		{name: "photo unknown", method: "GET", path: "/photos/999999999", status: 404, slug: nf},
		{name: "photo original unknown", method: "GET", path: "/photos/999999999/original", status: 404, slug: nf},
		{name: "photo thumbnail unknown", method: "GET", path: "/photos/999999999/thumbnail", status: 404, slug: nf},
		{name: "photo similar NaN", method: "GET", path: "/photos/NaN/similar", status: 400, slug: inv},
		{name: "photo sha FF", method: "GET", path: "/photos/sha256/%FF", status: 400, slug: inv},
		{name: "photo sha short", method: "GET", path: "/photos/sha256/abc", status: 400, slug: inv, detail: "sha256"},
		{name: "photo delete NaN", method: "DELETE", path: "/photos/NaN", status: 400, slug: inv},
		{name: "photo upload not multipart", method: "POST", path: "/photos", ct: "image/jpeg", body: "\xff\xd8\xff", status: 415, slug: media},
		{name: "photo upload no boundary", method: "POST", path: "/photos", ct: "multipart/form-data", body: "x", status: 415, slug: media},
		{name: "photo upload garbage", method: "POST", path: "/photos", ct: "multipart/form-data; boundary=zz", body: "not multipart at all", status: 400, slug: inv},
		{name: "photo upload no parts", method: "POST", path: "/photos", ct: "multipart/form-data; boundary=zz", body: "--zz--\r\n", status: 400, slug: inv},

		// Keys: missing, malformed, unknown, and a key without the scope.
		{name: "auth none on write", method: "POST", path: "/collections/docs/documents", ct: js, body: `{"title":"a"}`, auth: "-", status: 401, slug: "unauthorized"},
		{name: "auth garbage", method: "POST", path: "/collections/docs/documents", ct: js, body: `{"title":"a"}`, auth: "Bearer " + badUTF8, status: 401, slug: "unauthorized"},
		{name: "auth unknown key", method: "POST", path: "/collections/docs/documents/bulk", ct: ndjsonType, body: `{"title":"a"}` + "\n", auth: "Bearer gs_0000000000000000000000000000", status: 401, slug: "unauthorized"},
		{name: "auth basic scheme", method: "DELETE", path: doc, auth: "Basic YTpi", status: 401, slug: "unauthorized"},
		{name: "auth huge header", method: "POST", path: "/collections", ct: js, body: `{"name":"x9"}`, auth: "Bearer " + strings.Repeat("k", 8000), status: 401, slug: "unauthorized"},
		{name: "auth read key writes", method: "POST", path: "/collections/docs/documents", ct: js, body: `{"title":"a"}`, auth: "Bearer " + readKey, status: 403, slug: "forbidden"},
		{name: "auth read key imports", method: "POST", path: "/collections/docs/items", ct: seq, body: okFeature + "\n", auth: "Bearer " + readKey, status: 403, slug: "forbidden"},
		{name: "auth write key deletes collection", method: "DELETE", path: "/collections/docs", status: 403, slug: "forbidden"},
	}
	ct, body := multipartBody(t, "caf"+badUTF8+".jpg", []byte("\xff\xd8\xff\xe0 not really a jpeg"))
	cs = append(cs, hostileCase{name: "photo upload file name FF", method: "POST", path: "/photos", ct: ct, body: body, status: 400, slug: inv, detail: "filename"})
	ct, body = multipartBody(t, "notes.jpg", []byte("plain text, not a photo\n"))
	cs = append(cs, hostileCase{name: "photo upload not an image", method: "POST", path: "/photos", ct: ct, body: body, status: 415, slug: media})
	return cs
}

// TestHostileInput sends every hostileCase and checks each answer: the
// status, problem+json with the type, the title of that type, a detail that
// names the fault, and the database unchanged after all of them.
func TestHostileInput(t *testing.T) {
	t.Parallel()
	k := newKeyedApp(t)
	ctx := context.Background()
	if code, _, m := k.do(t, "POST", "/collections", "application/json", `{"name":"docs"}`); code != 201 {
		t.Fatalf("create collection: %d %v", code, m)
	}
	code, _, m := k.do(t, "POST", "/collections/docs/documents", "application/json", `{"title":"kept","geometry":`+okPoint+`}`)
	if code != 201 {
		t.Fatalf("create document: %d %v", code, m)
	}
	doc := fmt.Sprintf("/collections/docs/documents/%d", int64(m["id"].(float64)))
	item := fmt.Sprintf("/collections/docs/items/%d", int64(m["id"].(float64)))
	_, readKey, err := auth.NewStore(k.db.Pool).Create(ctx, "reader", []auth.Scope{auth.Read})
	if err != nil {
		t.Fatal(err)
	}
	before := dbState(t, k)
	cases := hostileCases(t, doc, item, readKey)
	names := map[string]bool{}
	for _, tc := range cases {
		if names[tc.name] {
			t.Fatalf("two cases named %q", tc.name)
		}
		names[tc.name] = true
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, "/", strings.NewReader(tc.body))
			req.URL.Path, req.URL.RawQuery, _ = strings.Cut(tc.path, "?")
			if p, err := urlUnescape(req.URL.Path); err == nil {
				req.URL.RawPath, req.URL.Path = req.URL.Path, p
			}
			switch tc.auth {
			case "":
				req.Header.Set("Authorization", "Bearer "+k.key)
			case "-":
			default:
				req.Header.Set("Authorization", tc.auth)
			}
			if tc.ct != "" {
				req.Header.Set("Content-Type", tc.ct)
			}
			w := httptest.NewRecorder()
			k.app.Server.Engine().ServeHTTP(w, req)
			var d problem.Details
			err := json.Unmarshal(w.Body.Bytes(), &d)
			short := w.Body.String()
			if len(short) > 300 {
				short = short[:300]
			}
			if w.Code != tc.status || err != nil || w.Header().Get("Content-Type") != problem.ContentType {
				t.Fatalf("%d %s %s; want %d problem+json", w.Code, w.Header().Get("Content-Type"), short, tc.status)
			}
			if d.Type != problem.TypeBase+tc.slug || d.Status != tc.status || d.Title != hostileTitles[tc.slug] {
				t.Fatalf("type %q title %q status %d; want %s, %q, %d", d.Type, d.Title, d.Status, tc.slug, hostileTitles[tc.slug], tc.status)
			}
			if d.Detail == "" || !strings.Contains(d.Detail, tc.detail) || strings.Contains(d.Detail, "SQLSTATE") {
				t.Fatalf("detail %q; want one naming %q", d.Detail, tc.detail)
			}
		})
	}
	if after := dbState(t, k); after != before {
		t.Errorf("the database changed: %s, then %s", before, after)
	}
	if len(cases) < 100 {
		t.Errorf("%d cases; the suite promises at least 100", len(cases))
	}
}

func urlUnescape(p string) (string, error) { return url.PathUnescape(p) }
