package geo

import (
	"context"
	"maps"
	"net/http"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"
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
	// of its border lines by kind.
	decode := func(tile maptile.Tile) (map[string]string, map[string]int) {
		t.Helper()
		resp, body := b.get(t, "/basemap/"+tilePath(tile), "Accept-Encoding", "identity")
		require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
		require.Equal(t, MVT, resp.Header.Get("Content-Type"))
		require.Equal(t, "public, max-age=86400", resp.Header.Get("Cache-Control"))
		require.NotEmpty(t, resp.Header.Get("ETag"))
		kinds, points := map[string]string{}, map[string]int{}
		for _, l := range decodeMVT(t, body) {
			switch l.Name {
			case "areas":
				for _, f := range l.Features {
					kinds[f.Properties["name"].(string)] = f.Properties["kind"].(string)
					require.Contains(t, []string{"Germany", "France", "Netherlands"}, f.Properties["country"])
					require.Contains(t, []string{"Polygon", "MultiPolygon"}, f.Geometry.GeoJSONType())
				}
			case "borders":
				for _, f := range l.Features {
					require.Contains(t, []string{"LineString", "MultiLineString"}, f.Geometry.GeoJSONType())
					points[f.Properties["kind"].(string)] += countPoints(f.Geometry)
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
	// its regions; no urban areas. Germany and France do not touch: no
	// line (coasts are the land's edge).
	countries := map[string]string{"Germany": "country", "France": "country"}
	for _, tile := range []maptile.Tile{maptile.New(0, 0, 0), maptile.At(orb.Point{11, 50}, 1), maptile.At(orb.Point{11, 50}, 3)} {
		kinds, points := decode(tile)
		require.Equal(t, countries, kinds)
		require.Empty(t, points)
	}
	var germany struct{ parts, regions int }
	require.NoError(t, b.db.Pool.QueryRow(ctx, `SELECT ST_NumGeometries(geom), (SELECT count(*) FROM places WHERE country = 'Germany' AND kind = 'region')
  FROM basemap_countries WHERE country = 'Germany'`).Scan(&germany.parts, &germany.regions))
	require.Equal(t, struct{ parts, regions int }{2, 2}, germany, "Germany: its two (separate) regions in one multipolygon")
	// From zoom 4: the same countries, filled from their pieces.
	require.Equal(t, countries, areas(maptile.At(orb.Point{11.5, 50.5}, 4)))
	require.Equal(t, map[string]string{"Germany": "country"}, areas(maptile.At(orb.Point{11.5, 50.5}, 5)))
	// Zoomed in over Munich: Germany and the urban area.
	require.Equal(t, map[string]string{"Germany": "country", "Munich": "city"}, areas(maptile.At(orb.Point{11.5, 48.1}, 8)))

	// Two regions sharing a border, and a country beside them: each line
	// once, no coast, and the countries' pieces cover the land.
	insertPlace(t, b, "region", "Gelderland", "Netherlands", "POLYGON((5 51.7, 6 51.7, 6 52.3, 5 52.3, 5 51.7))")
	insertPlace(t, b, "region", "Overijssel", "Netherlands", "POLYGON((6 51.7, 7 51.7, 7 52.3, 6 52.3, 6 51.7))")
	insertPlace(t, b, "region", "Westphalia", "Germany", "POLYGON((7 51.4, 8 51.4, 8 52.3, 7 52.3, 7 51.4))")
	// As the loader does: a dataset loaded (which the tiles' cache key
	// follows), the base map's tables filled again.
	_, err = b.db.Pool.Exec(ctx, `INSERT INTO places_loaded (dataset, features) VALUES ('Test 2', 3)`)
	require.NoError(t, err)
	_, err = b.db.Pool.Exec(ctx, `SELECT basemap_countries_refresh(false)`)
	require.NoError(t, err)
	rows, err := b.db.Pool.Query(ctx, `SELECT kind || ' ' || country || ' ' || round(sum(ST_Length(geom))::numeric, 3) FROM basemap_borders GROUP BY kind, country ORDER BY 1`)
	require.NoError(t, err)
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Equal(t, []string{"country Germany / Netherlands 0.600", "region Netherlands 0.600"}, lines)
	var land bool
	require.NoError(t, b.db.Pool.QueryRow(ctx, `
SELECT ST_Equals(ST_Union(l.geom), c.geom) FROM basemap_land l JOIN basemap_countries c USING (country)
 WHERE country = 'Netherlands' GROUP BY c.geom`).Scan(&land))
	require.True(t, land, "the land's pieces make up the country")
	b.h.svc.basemap.mu.Lock()
	b.h.svc.basemap.kinds = nil
	b.h.svc.basemap.mu.Unlock()
	// Below zoom 4 the border between countries; from 4 the regions' too.
	_, points := decode(maptile.At(orb.Point{6.5, 52}, 3))
	require.Equal(t, []string{"country"}, slices.Sorted(maps.Keys(points)))
	_, points = decode(maptile.At(orb.Point{6.5, 52}, 6))
	require.Equal(t, []string{"country", "region"}, slices.Sorted(maps.Keys(points)))

	// With country polygons loaded, low zooms draw them instead, and the
	// regions' borders over them further in.
	insertPlace(t, b, "country", "Germany", "Germany", "POLYGON((6 47.3, 15 47.3, 15 55, 6 55, 6 47.3))")
	_, err = b.db.Pool.Exec(ctx, `INSERT INTO places_loaded (dataset, features) VALUES ('Countries', 1)`)
	require.NoError(t, err)
	b.h.svc.basemap.mu.Lock()
	b.h.svc.basemap.kinds = nil
	b.h.svc.basemap.mu.Unlock()
	require.Equal(t, map[string]string{"Germany": "country"}, areas(maptile.At(orb.Point{11, 50}, 2)))
	require.Equal(t, map[string]string{"Germany": "country"}, areas(maptile.At(orb.Point{11, 48.5}, 6)))

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
