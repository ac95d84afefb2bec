package geo

import (
	"encoding/binary"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/twpayne/go-geom"
	"github.com/twpayne/go-geom/encoding/ewkb"
)

// The HTML items page names each geometry's type from its EWKB header.
func TestGeometryTypeName(t *testing.T) {
	t.Parallel()
	for _, g := range []geom.T{
		geom.NewPointFlat(geom.XY, []float64{1, 2}).SetSRID(4326),
		geom.NewPointFlat(geom.XYZ, []float64{1, 2, 3}).SetSRID(4326),
		geom.NewLineStringFlat(geom.XY, []float64{0, 0, 1, 1}),
		geom.NewPolygonFlat(geom.XY, []float64{0, 0, 1, 0, 1, 1, 0, 0}, []int{8}).SetSRID(4326),
		geom.NewMultiPointFlat(geom.XYM, []float64{0, 0, 5}),
		geom.NewGeometryCollection().SetSRID(4326),
	} {
		for _, bo := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
			b, err := ewkb.Marshal(g, bo)
			require.NoError(t, err)
			require.Equal(t, typeName(g), geometryTypeName(&Feature{EWKB: b}))
		}
		require.Equal(t, typeName(g), geometryTypeName(&Feature{Geometry: g}))
	}
	require.Equal(t, "none", geometryTypeName(&Feature{}))
	require.Equal(t, "unknown", geometryTypeName(&Feature{EWKB: []byte{1, 99, 0, 0, 0}}))
}

// The items page shows typed properties in columns, pages by next/prev
// links, and carries the map and the nonce of its policy; user text is
// escaped everywhere.
func TestHTMLItemsPage(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.h.svc.opts.PageMap = PageMap{Script: "/map/assets/features-X.js", Style: "/map/assets/features-Y.css"}
	b.importSeq(t, "places", []string{
		point(13.4, 52.5, `"title":"Berlin","population":3645000,"capital":true,"tags":["de","city"],"mayor":{"name":"K. Wegner"},"url":"https://berlin.de"`),
		point(2.35, 48.85, `"title":"<script>alert(1)</script>","population":2161000,"capital":true`),
		point(-74, 40.7, `"title":"New York","population":8336000,"capital":false,"note":null`),
	})
	resp, body := b.get(t, "/collections/places/items?f=html&limit=2&properties=title,population,capital,mayor,url,note")
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	page := string(body)
	require.Contains(t, page, `<th>capital</th><th>mayor</th><th>population</th><th>tags</th><th>url</th>`)
	require.Contains(t, page, `<span class="chip">de</span><span class="chip">city</span>`)
	require.Contains(t, page, `<span class="n">3645000</span>`)
	require.Contains(t, page, `<span class="b">true</span>`)
	require.Contains(t, page, `<dl class="o"><dt>name</dt><dd>K. Wegner</dd></dl>`)
	require.Contains(t, page, `<a href="https://berlin.de" rel="noopener noreferrer">https://berlin.de</a>`)
	require.Contains(t, page, `&lt;script&gt;alert(1)&lt;/script&gt;`)
	require.NotContains(t, page, `<script>alert`)
	require.Contains(t, page, `rel="next"`)
	require.Contains(t, page, `<div id="features-map"`)
	require.Regexp(t, `data-src="[^"]*/collections/places/items\?[^"]*f=json`, page)
	n := regexp.MustCompile(`<script type="module" src="/map/assets/features-X.js" nonce="([^"]+)">`).FindStringSubmatch(page)
	require.NotNil(t, n, page)
	require.Contains(t, resp.Header.Get("Content-Security-Policy"), "'nonce-"+n[1]+"'")

	// The next page, as linked, holds the third feature.
	next := regexp.MustCompile(`<a href="([^"]+)" rel="next">`).FindStringSubmatch(page)
	require.NotNil(t, next)
	href := strings.ReplaceAll(next[1], "&amp;", "&")
	href = href[strings.Index(href, "/collections/"):]
	_, body = b.get(t, href)
	require.Contains(t, string(body), "New York")
	require.Contains(t, string(body), `rel="prev"`)

	// One feature: its properties, typed, and its map.
	id := regexp.MustCompile(`<a href="items/(\d+)\?f=html">`).FindStringSubmatch(page)
	require.NotNil(t, id)
	resp, body = b.get(t, "/collections/places/items/"+id[1]+"?f=html")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, string(body), `<th>population</th><td><span class="n">3645000</span></td>`)
	require.Contains(t, string(body), `data-src="/collections/places/items/`+id[1]+`?f=json"`)

	// Without the map's assets the pages are tables alone.
	b.h.svc.opts.PageMap = PageMap{}
	_, body = b.get(t, "/collections/places/items?f=html")
	require.NotContains(t, string(body), `id="features-map"`)
	require.NotContains(t, string(body), "<script")
}
