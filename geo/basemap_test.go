package geo

import (
	"context"
	"net/http"
	"testing"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/maptile"
	"github.com/stretchr/testify/require"
)

// insertPlace adds a Natural Earth-like polygon to places, as the loader does.
func insertPlace(t *testing.T, b *testBundle, kind, name, country, wkt string) {
	t.Helper()
	_, err := b.db.Pool.Exec(context.Background(), `
INSERT INTO places (dataset, kind, name, country, country_code, geom, area)
SELECT 'Test', $1, $2, $3, upper(left($3, 2)), g, ST_Area(g) FROM ST_Multi(ST_GeomFromText($4, 4326)) g`, kind, name, country, wkt)
	require.NoError(t, err)
}

func TestBasemap(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()

	// Before any place is loaded every tile is empty, not an error.
	resp, body := b.get(t, "/basemap/0/0/0.mvt")
	require.Equal(t, http.StatusNoContent, resp.StatusCode, string(body))

	insertPlace(t, b, "region", "Bavaria", "Germany", "POLYGON((9 47, 13.8 47, 13.8 50.5, 9 50.5, 9 47))")
	insertPlace(t, b, "region", "Brandenburg", "Germany", "POLYGON((11.3 51.4, 14.7 51.4, 14.7 53.5, 11.3 53.5, 11.3 51.4))")
	insertPlace(t, b, "region", "Île-de-France", "France", "POLYGON((1.5 48.1, 3.5 48.1, 3.5 49.2, 1.5 49.2, 1.5 48.1))")
	insertPlace(t, b, "city", "Munich", "Germany", "POLYGON((11.4 48.05, 11.75 48.05, 11.75 48.25, 11.4 48.25, 11.4 48.05))")
	_, err := b.db.Pool.Exec(ctx, `INSERT INTO places_loaded (dataset, features) VALUES ('Test', 4)`)
	require.NoError(t, err)
	// As the loader does after a region dataset: the countries, dissolved.
	_, err = b.db.Pool.Exec(ctx, `SELECT basemap_countries_refresh(false)`)
	require.NoError(t, err)
	// The loaded datasets are read again after basemapVersionTTL; a test
	// does not wait for it.
	b.h.svc.basemap.mu.Lock()
	b.h.svc.basemap.kinds = nil
	b.h.svc.basemap.mu.Unlock()

	decode := func(tile maptile.Tile) map[string]string {
		t.Helper()
		resp, body := b.get(t, "/basemap/"+tilePath(tile), "Accept-Encoding", "identity")
		require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
		require.Equal(t, MVT, resp.Header.Get("Content-Type"))
		require.Equal(t, "public, max-age=86400", resp.Header.Get("Cache-Control"))
		require.NotEmpty(t, resp.Header.Get("ETag"))
		layers := decodeMVT(t, body)
		require.Len(t, layers, 1)
		require.Equal(t, "areas", layers[0].Name)
		kinds := map[string]string{}
		for _, f := range layers[0].Features {
			kinds[f.Properties["name"].(string)] = f.Properties["kind"].(string)
			require.Contains(t, []string{"Germany", "France"}, f.Properties["country"])
			require.Contains(t, []string{"Polygon", "MultiPolygon"}, f.Geometry.GeoJSONType())
		}
		return kinds
	}
	// The whole world, and a quarter of it: countries, each the union of
	// its regions; no urban areas.
	countries := map[string]string{"Germany": "country", "France": "country"}
	require.Equal(t, countries, decode(maptile.New(0, 0, 0)))
	require.Equal(t, countries, decode(maptile.At(orb.Point{11, 50}, 1)))
	require.Equal(t, countries, decode(maptile.At(orb.Point{11, 50}, 3)))
	var germany struct{ parts, regions int }
	require.NoError(t, b.db.Pool.QueryRow(ctx, `SELECT ST_NumGeometries(geom), (SELECT count(*) FROM places WHERE country = 'Germany' AND kind = 'region')
  FROM basemap_countries WHERE country = 'Germany'`).Scan(&germany.parts, &germany.regions))
	require.Equal(t, struct{ parts, regions int }{2, 2}, germany, "Germany: its two (separate) regions in one multipolygon")
	// From zoom 4: the regions, coloured by country.
	require.Equal(t, map[string]string{"Bavaria": "region", "Brandenburg": "region", "Île-de-France": "region"}, decode(maptile.At(orb.Point{11.5, 50.5}, 4)))
	require.Equal(t, map[string]string{"Bavaria": "region", "Brandenburg": "region"}, decode(maptile.At(orb.Point{11.5, 50.5}, 5)))
	// Zoomed in over Munich: Bavaria and the urban area.
	require.Equal(t, map[string]string{"Bavaria": "region", "Munich": "city"}, decode(maptile.At(orb.Point{11.5, 48.1}, 8)))

	// With country polygons loaded, low zooms draw them instead.
	insertPlace(t, b, "country", "Germany", "Germany", "POLYGON((6 47.3, 15 47.3, 15 55, 6 55, 6 47.3))")
	_, err = b.db.Pool.Exec(ctx, `INSERT INTO places_loaded (dataset, features) VALUES ('Countries', 1)`)
	require.NoError(t, err)
	b.h.svc.basemap.mu.Lock()
	b.h.svc.basemap.kinds = nil
	b.h.svc.basemap.mu.Unlock()
	require.Equal(t, map[string]string{"Germany": "country"}, decode(maptile.At(orb.Point{11, 50}, 2)))
	require.Equal(t, map[string]string{"Bavaria": "region"}, decode(maptile.At(orb.Point{11, 48.5}, 6)))

	// Bad input is a 4xx problem, never a 500.
	for path, status := range map[string]int{
		"/basemap/11/0/0.mvt": http.StatusBadRequest,
		"/basemap/2/9/0.mvt":  http.StatusBadRequest,
		"/basemap/a/0/0.mvt":  http.StatusBadRequest,
		"/basemap/0/0/0.png":  http.StatusNotFound,
	} {
		resp, body := b.get(t, path)
		require.Equal(t, status, resp.StatusCode, path+": "+string(body))
		require.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"), path)
	}
}

func tilePath(tile maptile.Tile) string {
	return placesTile(tile)[len("/tiles/places/"):]
}
