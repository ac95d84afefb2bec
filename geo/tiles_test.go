package geo

import (
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/mvt"
	"github.com/paulmach/orb/maptile"
	"github.com/stretchr/testify/require"
)

// placesTile is the URL path of tile in the tests' "places" collection.
func placesTile(tile maptile.Tile) string {
	return fmt.Sprintf("/tiles/places/%d/%d/%d.mvt", tile.Z, tile.X, tile.Y)
}

// decodeMVT decodes a tile's layers (in tile coordinates).
func decodeMVT(t *testing.T, data []byte) mvt.Layers {
	t.Helper()
	layers, err := mvt.Unmarshal(data)
	require.NoError(t, err)
	return layers
}

func TestTiles(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.importSeq(t, "places", []string{
		point(13.4050, 52.5200, `"title":"Berlin"`),
		point(13.4500, 52.5400, `"title":"Berlin 2"`),
		point(2.3522, 48.8566, `"title":"Paris"`),
		point(-74.0060, 40.7128, `"title":"New York"`),
	})
	get := func(path string, hdr ...string) (*http.Response, []byte) { return b.get(t, path, hdr...) }
	decode := func(tile maptile.Tile, data []byte) mvt.Layers {
		layers := decodeMVT(t, data)
		layers.ProjectToWGS84(tile)
		return layers
	}

	// z4: Berlin and Paris share tile 8/5; the two Berlin points form one cluster.
	bt := maptile.At(orb.Point{13.405, 52.52}, 4)
	resp, body := get(placesTile(bt))
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	require.Equal(t, MVT, resp.Header.Get("Content-Type"))
	require.Equal(t, "public, max-age=60", resp.Header.Get("Cache-Control"))
	require.Equal(t, int64(len(body)), resp.ContentLength) // not chunked
	etag := resp.Header.Get("ETag")
	require.NotEmpty(t, etag)
	layers := decode(bt, body)
	require.Len(t, layers, 1)
	require.Equal(t, "places", layers[0].Name)
	counts := map[float64]int{}
	total := 0.0
	for _, f := range layers[0].Features {
		n := f.Properties["count"].(float64)
		counts[n]++
		total += n
		p := f.Geometry.(orb.Point)
		if n == 2 {
			require.InDelta(t, 13.4275, p.Lon(), 0.1)
			require.InDelta(t, 52.53, p.Lat(), 0.1)
			require.Equal(t, true, f.Properties["cluster"])
		}
	}
	require.Equal(t, 3.0, total) // Berlin ×2 + Paris; New York is elsewhere
	require.Equal(t, 1, counts[2])

	// conditional request
	resp, _ = get(placesTile(bt), "If-None-Match", etag)
	require.Equal(t, http.StatusNotModified, resp.StatusCode)

	// z10: clustered from the documents (below the pyramid's reach)
	bt = maptile.At(orb.Point{13.405, 52.52}, 10)
	resp, body = get(placesTile(bt))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	total = 0
	for _, f := range decode(bt, body)[0].Features {
		total += f.Properties["count"].(float64)
	}
	require.Equal(t, 2.0, total)

	// z16: unclustered features with their titles
	bt = maptile.At(orb.Point{13.405, 52.52}, 16)
	resp, body = get(placesTile(bt))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	layers = decode(bt, body)
	require.Len(t, layers[0].Features, 1)
	f := layers[0].Features[0]
	require.Equal(t, "Berlin", f.Properties["title"])
	p := f.Geometry.(orb.Point)
	require.InDelta(t, 13.4050, p.Lon(), 0.0001)
	require.InDelta(t, 52.5200, p.Lat(), 0.0001)

	// empty tile: 204; bad coordinates: 400; TileJSON
	resp, _ = get("/tiles/places/10/0/0.mvt")
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	resp, _ = get("/tiles/places/3/8/0.mvt")
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	resp, _ = get("/tiles/places/3/1/0.png")
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	resp, body = get("/tiles/places.json")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, string(body), `"tiles":["`+b.srv.URL+`/tiles/places/{z}/{x}/{y}.mvt"]`)
	resp, _ = get("/tiles/nope.json")
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
}

// TestGDAL has a real GIS client read the service: GDAL's OAPIF driver lists
// the collections and copies one out with every feature.
func TestGDAL(t *testing.T) {
	t.Parallel()
	ogrinfo, err := exec.LookPath("ogrinfo")
	if err != nil {
		t.Fatal("ogrinfo not found: install GDAL (Debian: apt-get install gdal-bin; `make test` installs it)")
	}
	ogr2ogr, err := exec.LookPath("ogr2ogr")
	if err != nil {
		t.Fatal("ogr2ogr not found: install GDAL (Debian: apt-get install gdal-bin)")
	}
	b := setup(t)
	feats := make([]string, 1234)
	for i := range feats {
		feats[i] = point(float64(i%300)-150+0.25, float64(i%150)-75+0.25, fmt.Sprintf(`"title":"f%d","n":%d`, i, i))
	}
	b.importSeq(t, "places", feats)

	ctx := context.Background()
	out, err := exec.CommandContext(ctx, ogrinfo, "-ro", "-q", "OAPIF:"+b.srv.URL+"/").CombinedOutput()
	require.NoError(t, err, string(out))
	require.Contains(t, string(out), "places")
	require.Contains(t, string(out), "photos")

	dst := filepath.Join(t.TempDir(), "places.geojson")
	out, err = exec.CommandContext(ctx, ogr2ogr, "-f", "GeoJSON", dst, "OAPIF:"+b.srv.URL+"/collections/places", "places").CombinedOutput()
	require.NoError(t, err, string(out))
	out, err = exec.CommandContext(ctx, ogrinfo, "-ro", "-so", "-al", dst).CombinedOutput()
	require.NoError(t, err, string(out))
	require.Contains(t, string(out), "Feature Count: 1234", string(out))
	require.True(t, strings.Contains(string(out), "title: String"), string(out))
}
