package geo

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/maptile"
	"github.com/stretchr/testify/require"
)

// TestImportTitleProperty: features that name themselves with "name" (Natural
// Earth, OSM exports) get that as their title unless they carry a title;
// ?title= picks another property. The title is what tiles and HTML show.
func TestImportTitleProperty(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.importSeq(t, "places", []string{
		point(13.405, 52.52, `"name":"Berlin","pop":3600000`),
		point(2.3522, 48.8566, `"title":"Paris","name":"Lutetia"`),
		point(-74.006, 40.7128, `"name":null`),
	})
	// ?title=name_en, a number, or absent (falls back to the title property).
	resp, body := b.do(t, http.MethodPost, "/collections/places/items?title=name_en", "application/geo+json-seq", strings.NewReader(strings.Join([]string{
		point(12.4964, 41.9028, `"name":"Roma","name_en":"Rome"`),
		point(-0.1276, 51.5072, `"name_en":2012,"name":"London"`),
		point(151.2093, -33.8688, `"title":"Sydney"`),
	}, "\n")))
	require.Equal(t, http.StatusCreated, resp.StatusCode, "%s", body)
	resp, body = b.do(t, http.MethodPost, "/collections/places/items?title=name", GeoJSON,
		strings.NewReader(point(139.69, 35.69, `"name":"Tokyo"`)))
	require.Equal(t, http.StatusCreated, resp.StatusCode, "%s", body)

	var page fc
	b.getJSON(t, "/collections/places/items?sortby=id", &page)
	var titles []any
	for _, f := range page.Features {
		titles = append(titles, f.Properties["title"])
	}
	require.Equal(t, []any{"Berlin", "Paris", "", "Rome", "2012", "Sydney", "Tokyo"}, titles)
	// The property the title came from stays a property.
	require.Equal(t, "Berlin", page.Features[0].Properties["name"])
	require.Equal(t, "Lutetia", page.Features[1].Properties["name"])

	// Tiles and HTML show the title.
	bt := maptile.At(orb.Point{13.405, 52.52}, 16)
	resp, body = b.get(t, placesTile(bt))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	layers := decodeMVT(t, body)
	require.Len(t, layers[0].Features, 1)
	require.Equal(t, "Berlin", layers[0].Features[0].Properties["title"])
	resp, body = b.get(t, "/collections/places/items?f=html")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, string(body), "<td>Berlin</td>")

	// Bad choices are a 400 naming the parameter or the feature.
	for _, tc := range []struct{ query, feature, field string }{
		{"?title=tags", point(0, 0, `"name":"x"`), "title"},
		{"?title=name", point(0, 0, `"name":{"en":"x"}`), "feature.properties.name"},
		{"?title=name", point(0, 0, `"name":"x","title":"y"`), "feature.properties.title"},
	} {
		resp, body := b.do(t, http.MethodPost, "/collections/places/items"+tc.query, GeoJSON, strings.NewReader(tc.feature))
		require.Equal(t, http.StatusBadRequest, resp.StatusCode, "%s", body)
		var p struct{ Field string }
		require.NoError(t, json.Unmarshal(body, &p))
		require.Equal(t, tc.field, p.Field, "%s", body)
	}
}

// TestServerPropertiesOnWrite: created, updated and thumbnail are written by
// the server. A new feature carrying one would lose it, so POST and imports
// refuse it with a 400 naming it; a feature read back and put again keeps
// working (they are ignored there).
func TestServerPropertiesOnWrite(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, tc := range []struct{ ct, body, field string }{
		{GeoJSON, point(1, 2, `"title":"a","created":"2019"`), "feature.properties.created"},
		{"application/geo+json-seq", point(1, 2, `"title":"a"`) + "\n" + point(1, 2, `"updated":"2020-01-01T00:00:00Z"`), "features[1].properties.updated"},
		{GeoJSON, `{"type":"FeatureCollection","features":[` + point(1, 2, `"thumbnail":"x.jpg"`) + `]}`, "features[0].properties.thumbnail"},
	} {
		resp, body := b.do(t, http.MethodPost, "/collections/places/items", tc.ct, strings.NewReader(tc.body))
		require.Equal(t, http.StatusBadRequest, resp.StatusCode, "%s", body)
		var p struct{ Field, Detail string }
		require.NoError(t, json.Unmarshal(body, &p))
		require.Equal(t, tc.field, p.Field, "%s", body)
	}
	var page fc
	b.getJSON(t, "/collections/places/items", &page)
	require.Empty(t, page.Features, "nothing was written")

	// Read back, put again: the server's properties are ignored.
	resp, body := b.do(t, http.MethodPost, "/collections/places/items", GeoJSON, strings.NewReader(point(1, 2, `"title":"a","kind":"k"`)))
	require.Equal(t, http.StatusCreated, resp.StatusCode, "%s", body)
	loc := resp.Header.Get("Location")
	path := loc[strings.Index(loc, "/collections/"):]
	resp, item := b.get(t, path)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, string(item), `"created":`)
	resp, body = b.do(t, http.MethodPut, path, GeoJSON, strings.NewReader(string(item)))
	require.Equal(t, http.StatusNoContent, resp.StatusCode, "%s", body)
	resp, body = b.do(t, http.MethodPatch, path, "application/merge-patch+json", strings.NewReader(`{"properties":{"kind":"j","updated":"2020-01-01T00:00:00Z"}}`))
	require.Equal(t, http.StatusNoContent, resp.StatusCode, "%s", body)
}
