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
WITH added AS (
    INSERT INTO places (dataset, kind, name, country, country_code, geom, area)
    SELECT 'Test', $1, $2, $3, upper(left($3, 2)), g, ST_Area(g) FROM ST_Multi(ST_GeomFromText($4, 4326)) g
    RETURNING id, geom
)
INSERT INTO place_parts (place_id, geom) SELECT id, ST_Subdivide(geom, 128) FROM added`, kind, name, country, wkt)
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

	// decode returns the tile's areas (name: kind) and the number of points
	// of its border lines.
	decode := func(tile maptile.Tile) (map[string]string, int) {
		t.Helper()
		resp, body := b.get(t, "/basemap/"+tilePath(tile), "Accept-Encoding", "identity")
		require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
		require.Equal(t, MVT, resp.Header.Get("Content-Type"))
		require.Equal(t, "public, max-age=86400", resp.Header.Get("Cache-Control"))
		require.NotEmpty(t, resp.Header.Get("ETag"))
		kinds, points := map[string]string{}, 0
		for _, l := range decodeMVT(t, body) {
			switch l.Name {
			case "areas":
				for _, f := range l.Features {
					kinds[f.Properties["name"].(string)] = f.Properties["kind"].(string)
					require.Contains(t, []string{"Germany", "France"}, f.Properties["country"])
					require.Contains(t, []string{"Polygon", "MultiPolygon"}, f.Geometry.GeoJSONType())
				}
			case "borders":
				for _, f := range l.Features {
					require.Contains(t, []string{"LineString", "MultiLineString"}, f.Geometry.GeoJSONType())
					points += countPoints(f.Geometry)
				}
			default:
				t.Fatalf("tile %v: unexpected layer %q", tile, l.Name)
			}
		}
		return kinds, points
	}
	areas := func(tile maptile.Tile) map[string]string {
		t.Helper()
		kinds, _ := decode(tile)
		return kinds
	}
	// The whole world, and a quarter of it: countries, each the union of
	// its regions; no urban areas and no border lines.
	countries := map[string]string{"Germany": "country", "France": "country"}
	for _, tile := range []maptile.Tile{maptile.New(0, 0, 0), maptile.At(orb.Point{11, 50}, 1), maptile.At(orb.Point{11, 50}, 3)} {
		kinds, points := decode(tile)
		require.Equal(t, countries, kinds)
		require.Zero(t, points, "below zoom 4 the countries' outlines are the borders")
	}
	var germany struct{ parts, regions int }
	require.NoError(t, b.db.Pool.QueryRow(ctx, `SELECT ST_NumGeometries(geom), (SELECT count(*) FROM places WHERE country = 'Germany' AND kind = 'region')
  FROM basemap_countries WHERE country = 'Germany'`).Scan(&germany.parts, &germany.regions))
	require.Equal(t, struct{ parts, regions int }{2, 2}, germany, "Germany: its two (separate) regions in one multipolygon")
	// From zoom 4: the same countries filled, and the regions' outlines as
	// lines over them.
	require.Equal(t, countries, areas(maptile.At(orb.Point{11.5, 50.5}, 4)))
	kinds, points := decode(maptile.At(orb.Point{11.5, 50.5}, 5))
	require.Equal(t, map[string]string{"Germany": "country"}, kinds)
	require.Positive(t, points, "the regions' borders")
	// Zoomed in over Munich: Germany and the urban area.
	require.Equal(t, map[string]string{"Germany": "country", "Munich": "city"}, areas(maptile.At(orb.Point{11.5, 48.1}, 8)))

	// Two regions sharing a border: the line is there once, and the
	// countries' pieces cover the land.
	insertPlace(t, b, "region", "Gelderland", "Netherlands", "POLYGON((5 51.7, 6 51.7, 6 52.3, 5 52.3, 5 51.7))")
	insertPlace(t, b, "region", "Overijssel", "Netherlands", "POLYGON((6 51.7, 7 51.7, 7 52.3, 6 52.3, 6 51.7))")
	_, err = b.db.Pool.Exec(ctx, `SELECT basemap_countries_refresh(false)`)
	require.NoError(t, err)
	var shared, outline float64
	var land bool
	require.NoError(t, b.db.Pool.QueryRow(ctx, `
SELECT sum(ST_Length(geom)), (SELECT ST_Perimeter(ST_Union(geom)) FROM places WHERE country = 'Netherlands'),
       (SELECT ST_Equals(ST_Union(geom), (SELECT geom FROM basemap_countries WHERE country = 'Netherlands')) FROM basemap_land WHERE country = 'Netherlands')
  FROM basemap_borders WHERE country = 'Netherlands'`).Scan(&shared, &outline, &land))
	require.InDelta(t, outline+0.6, shared, 1e-9, "the outline and the shared border (0.6 degrees) once each")
	require.True(t, land, "the land's pieces make up the country")

	// With country polygons loaded, low zooms draw them instead, and the
	// regions' borders over them further in.
	insertPlace(t, b, "country", "Germany", "Germany", "POLYGON((6 47.3, 15 47.3, 15 55, 6 55, 6 47.3))")
	_, err = b.db.Pool.Exec(ctx, `INSERT INTO places_loaded (dataset, features) VALUES ('Countries', 1)`)
	require.NoError(t, err)
	b.h.svc.basemap.mu.Lock()
	b.h.svc.basemap.kinds = nil
	b.h.svc.basemap.mu.Unlock()
	require.Equal(t, map[string]string{"Germany": "country"}, areas(maptile.At(orb.Point{11, 50}, 2)))
	kinds, points = decode(maptile.At(orb.Point{11, 48.5}, 6))
	require.Equal(t, map[string]string{"Germany": "country"}, kinds)
	require.Positive(t, points)

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

func countPoints(g orb.Geometry) int {
	switch g := g.(type) {
	case orb.LineString:
		return len(g)
	case orb.MultiLineString:
		n := 0
		for _, l := range g {
			n += len(l)
		}
		return n
	}
	return 0
}
