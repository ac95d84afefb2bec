package geo

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/maypok86/otter/v2"

	"github.com/geoseek/geoseek/internal/pg"
	"github.com/geoseek/geoseek/internal/problem"
)

// The base map is drawn from the Natural Earth polygons geoseek loads for
// place names (table places, ingest.LoadPlaces): countries zoomed out
// (a country dataset, or else the regions dissolved by country, table
// basemap_countries), zoomed in the same countries with their regions'
// borders as lines (table basemap_borders), and urban areas further in.
// It needs no internet.
const (
	// BasemapMaxZoom is the deepest base map tile; clients overzoom it.
	BasemapMaxZoom = 10
	// basemapCityZoom is the first zoom that draws urban areas.
	basemapCityZoom = 6
	// basemapCountryZoom: below it, countries are drawn instead of
	// regions (cheaper and cleaner).
	basemapCountryZoom = 4
	// basemapCacheBytes is the memory for rendered base map tiles.
	basemapCacheBytes = 32 << 20
	// basemapVersionTTL is how long the loaded datasets are trusted
	// before they are read again (a new load changes the tiles).
	basemapVersionTTL = 30 * time.Second
)

// The polygons are clipped to the tile (with a margin), simplified to about
// a pixel of a 512 px tile, and those smaller than a few pixels are left
// out; c is a colour index that tells neighbouring countries apart. {areas}
// selects the land's polygons of kind $5; urban areas, from zoom $6, come
// from the pieces the place lookup uses (place_parts: a tile clips a few
// pieces, not a city's whole outline) and are drawn last, over the land.
// {borders} adds the layer of lines.
const basemapTemplate = `
WITH env AS (
    SELECT ST_TileEnvelope($1, $2, $3) AS e, ST_MakeEnvelope($7, $8, $9, $10, 4326) AS g
)
SELECT COALESCE((SELECT ST_AsMVT(t, 'areas', 4096, 'geom') FROM (
    SELECT a.kind, a.name, a.country, a.cc, abs(hashtext(a.country)) % 7 AS c,
           ST_AsMVTGeom(ST_Transform(ST_Simplify(ST_ClipByBox2D(a.geom, env.g::box2d), $4, false), 3857), env.e, 4096, 16, true) AS geom
      FROM ({areas}
            UNION ALL
            SELECT p.kind, p.name, p.country, p.country_code, pp.geom, p.area
              FROM place_parts pp JOIN places p ON p.id = pp.place_id, env
             WHERE $1::int >= $6::int AND p.kind = 'city' AND pp.geom && env.g AND p.area > $4::float8 * $4::float8 * 4
           ) a (kind, name, country, cc, geom, area), env
     ORDER BY a.kind = 'city', a.area DESC
) t WHERE geom IS NOT NULL), ''){borders}`

// basemapBordersLayer is the layer "borders": lines where two countries
// meet (kind country) and, from basemapCountryZoom, where two regions do
// (kind region), each once (table basemap_borders).
var basemapBordersLayer = ` || COALESCE((SELECT ST_AsMVT(b, 'borders', 4096, 'geom') FROM (
    SELECT l.kind, ST_AsMVTGeom(ST_Transform(ST_Simplify(ST_ClipByBox2D(l.geom, env.g::box2d), $4, false), 3857), env.e, 4096, 16, true) AS geom
      FROM basemap_borders l, env
     WHERE l.geom && env.g AND (l.kind = 'country' OR $1 >= ` + strconv.Itoa(basemapCountryZoom) + `)
) b WHERE geom IS NOT NULL), '')`

// The land's polygons: the loaded places of kind $5 (regions, or a country
// dataset), the regions dissolved by country when no country dataset is
// loaded (migration 00056), or from basemapCountryZoom the same countries
// in pieces (migration 00057).
const (
	placesAreas    = `SELECT kind, name, country, country_code, geom, area FROM places, env WHERE kind = $5 AND geom && env.g AND area > $4::float8 * $4::float8 * 4`
	countriesAreas = `SELECT $5::text, country, country, country_code, geom, area FROM basemap_countries, env WHERE geom && env.g AND area > $4::float8 * $4::float8 * 4`
	landAreas      = `SELECT $5::text, country, country, country_code, geom, area FROM basemap_land, env WHERE geom && env.g AND area > $4::float8 * $4::float8 * 4`
)

// The base map's statements, by the land they fill: the loaded places (a
// country dataset, or regions until the countries are derived), the
// derived countries, or the same in pieces; each with the border lines.
var (
	basemapSQL          = basemapStatement(placesAreas)
	basemapCountriesSQL = basemapStatement(countriesAreas)
	basemapLandSQL      = basemapStatement(landAreas)
)

func basemapStatement(areas string) string {
	return strings.NewReplacer("{areas}", areas, "{borders}", basemapBordersLayer).Replace(basemapTemplate)
}

type basemapKey struct {
	version string
	z, x, y int
}

// basemap renders and caches the base map tiles.
type basemap struct {
	cache *otter.Cache[basemapKey, Tile]

	mu      sync.Mutex
	version string
	kinds   map[string]bool
	checked time.Time
}

func newBasemap() (*basemap, error) {
	c, err := otter.New(&otter.Options[basemapKey, Tile]{
		MaximumWeight: basemapCacheBytes,
		Weigher: func(k basemapKey, t Tile) uint32 {
			return uint32(len(t.Data) + len(t.Gzip) + len(k.version) + tileEntryOverhead)
		},
	})
	if err != nil {
		return nil, fmt.Errorf("geo: basemap cache: %w", err)
	}
	return &basemap{cache: c}, nil
}

// state is the loaded datasets (the cache key's version) and the kinds of
// polygons they hold, read at most every basemapVersionTTL.
func (s *Service) basemapState(ctx context.Context) (string, map[string]bool, error) {
	b := s.basemap
	if b == nil {
		b = &basemap{}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.kinds != nil && time.Since(b.checked) < basemapVersionTTL {
		return b.version, b.kinds, nil
	}
	var version string
	var country, region, derived, land, lines bool
	err := s.pool.QueryRow(ctx, `
SELECT COALESCE(string_agg(dataset || ':' || features || ':' || loaded_at, ',' ORDER BY dataset), ''),
       EXISTS (SELECT 1 FROM places WHERE kind = 'country'), EXISTS (SELECT 1 FROM places WHERE kind = 'region'),
       EXISTS (SELECT 1 FROM basemap_countries), EXISTS (SELECT 1 FROM basemap_land), EXISTS (SELECT 1 FROM basemap_borders)
  FROM places_loaded`).Scan(&version, &country, &region, &derived, &land, &lines)
	if err != nil {
		return "", nil, fmt.Errorf("geo: basemap datasets: %w", pg.Interpret(err))
	}
	if derived {
		// Filled after its regions by a start (ingest.LoadPlaces): the
		// tiles drawn before hold regions where countries belong.
		version += "|countries"
	}
	if land {
		version += "|land"
	}
	if lines {
		// Filled by a start for places loaded before them, as above.
		version += "|lines"
	}
	b.version, b.kinds, b.checked = version, map[string]bool{"country": country, "region": region, "derived": derived, "land": land}, time.Now()
	return b.version, b.kinds, nil
}

// BasemapTile renders base map tile tc (cached until other place datasets
// are loaded). A tile with nothing in it has empty Data.
func (s *Service) BasemapTile(ctx context.Context, tc TileCoord) (Tile, error) {
	if tc.Z > BasemapMaxZoom {
		return Tile{}, problem.Invalid("z", "the base map goes to zoom %d; clients draw deeper zooms from it", BasemapMaxZoom)
	}
	version, kinds, err := s.basemapState(ctx)
	if err != nil {
		return Tile{}, err
	}
	// The land is countries wherever they are known (regions filled are
	// the fallback); the lines come from basemap_borders.
	kind, sql := "region", basemapSQL
	switch {
	case kinds["country"] && (tc.Z < basemapCountryZoom || !kinds["region"] || kinds["land"]):
		kind = "country"
	case kinds["derived"] && tc.Z < basemapCountryZoom:
		kind, sql = "country", basemapCountriesSQL
	case kinds["land"]:
		kind, sql = "country", basemapLandSQL
	}
	if s.basemap == nil {
		return s.renderBasemap(ctx, tc, kind, sql)
	}
	key := basemapKey{version: version, z: tc.Z, x: tc.X, y: tc.Y}
	return s.basemap.cache.Get(ctx, key, otter.LoaderFunc[basemapKey, Tile](func(ctx context.Context, _ basemapKey) (Tile, error) {
		// One rendering for concurrent requests, within the first
		// requester's deadline but not its cancellation.
		rctx := context.WithoutCancel(ctx)
		if dl, ok := ctx.Deadline(); ok {
			var cancel context.CancelFunc
			rctx, cancel = context.WithDeadline(rctx, dl)
			defer cancel()
		}
		return s.renderBasemap(rctx, tc, kind, sql)
	}))
}

func (s *Service) renderBasemap(ctx context.Context, tc TileCoord, kind, sql string) (Tile, error) {
	// About one pixel of a 512 px tile, in degrees.
	n := math.Exp2(float64(tc.Z))
	tol := 360 / n / 512
	// The tile in lon/lat with a margin of 2% (so clipped edges fall
	// outside it), kept within the Web Mercator world: a margin across
	// the antimeridian or a pole would turn the box inside out.
	lat := func(y float64) float64 { return math.Atan(math.Sinh(math.Pi*(1-2*y/n))) * 180 / math.Pi }
	const m = 0.02
	x0, x1 := max(-180, (float64(tc.X)-m)/n*360-180), min(180, (float64(tc.X)+1+m)/n*360-180)
	yS, yN := max(-85.06, lat(float64(tc.Y)+1+m)), min(85.06, lat(float64(tc.Y)-m))
	var data []byte
	err := s.pool.QueryRow(ctx, sql, pgx.QueryExecModeCacheDescribe, tc.Z, tc.X, tc.Y, tol, kind, basemapCityZoom,
		x0, yS, x1, yN).Scan(&data)
	if err != nil {
		return Tile{}, fmt.Errorf("geo: basemap tile %d/%d/%d: %w", tc.Z, tc.X, tc.Y, pg.Interpret(err))
	}
	if len(data) == 0 {
		return Tile{}, nil
	}
	t := Tile{Data: data, ETag: tileETag(data), Gzip: gzipTile(data)}
	t.GzipETag = t.ETag[:len(t.ETag)-1] + `-gz"`
	return t, nil
}
