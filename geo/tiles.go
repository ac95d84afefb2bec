package geo

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"strconv"

	"github.com/cespare/xxhash/v2"
	"github.com/jackc/pgx/v5"

	"github.com/geoseek/geoseek/internal/pg"
	"github.com/geoseek/geoseek/internal/problem"
)

// Tile and cluster tuning.
const (
	// MaxZoom is the deepest tile or cluster zoom served.
	MaxZoom = 22
	// ClusterMaxZoom: tiles below it carry clustered points, tiles at or
	// above it carry the features themselves.
	ClusterMaxZoom = 14
	// tileExtent is the MVT coordinate extent of a tile; tileCells the number
	// of cluster cells along a tile side (so a cell is 16 px of a 512 px tile).
	tileExtent = 4096
	tileCells  = 32
	// clusterCellDeg is the size of a /clusters cell at zoom 0, in degrees;
	// at zoom z it is clusterCellDeg / 2^z (64 px of a 256 px web tile).
	clusterCellDeg = 90.0
	// maxTileFeatures bounds the features of an unclustered tile.
	maxTileFeatures = 50000
)

// TileCoord is a z/x/y tile.
type TileCoord struct{ Z, X, Y int }

// ParseTile validates z, x and "y.mvt".
func ParseTile(zs, xs, yfile string) (TileCoord, error) {
	ys, ok := cutSuffix(yfile, ".mvt")
	if !ok {
		ys, ok = cutSuffix(yfile, ".pbf")
	}
	if !ok {
		return TileCoord{}, fmt.Errorf("tile %q: %w", yfile, problem.ErrNotFound)
	}
	z, err1 := strconv.Atoi(zs)
	x, err2 := strconv.Atoi(xs)
	y, err3 := strconv.Atoi(ys)
	if err1 != nil || err2 != nil || err3 != nil {
		return TileCoord{}, problem.Invalid("tile", "z, x and y must be integers")
	}
	if z < 0 || z > MaxZoom {
		return TileCoord{}, problem.Invalid("z", "zoom must be 0 to %d", MaxZoom)
	}
	n := 1 << z
	if x < 0 || x >= n || y < 0 || y >= n {
		return TileCoord{}, problem.Invalid("tile", "x and y must be 0 to %d at zoom %d", n-1, z)
	}
	return TileCoord{z, x, y}, nil
}

func cutSuffix(s, suf string) (string, bool) {
	if len(s) > len(suf) && s[len(s)-len(suf):] == suf {
		return s[:len(s)-len(suf)], true
	}
	return "", false
}

// Tile is an encoded vector tile; ETag is a strong validator of its bytes.
// Gzip, when set, is Data gzipped, a representation of its own with the
// validator GzipETag (ETag with "-gz").
type Tile struct {
	Data, Gzip     []byte
	ETag, GzipETag string
}

// The clustered tile: points grouped in a grid of tileCells² cells per tile
// in Web Mercator, one MVT point per cell at the mean position of its
// members, with count, a representative id and the members' extent.
const clusterTileSQL = `
WITH env AS (SELECT ST_TileEnvelope($2, $3, $4) AS e),
pts AS (
    SELECT d.id, ST_Transform(ST_PointOnSurface(d.geom), 3857) AS p,
           ST_XMin(d.geom) AS x0, ST_YMin(d.geom) AS y0, ST_XMax(d.geom) AS x1, ST_YMax(d.geom) AS y1
      FROM documents d, env
     WHERE d.collection_id = $1 AND d.geom && ST_Transform(env.e, 4326)
),
cells AS (
    SELECT count(*) AS count, min(id) AS id, avg(ST_X(p)) AS x, avg(ST_Y(p)) AS y,
           min(x0) AS minx, min(y0) AS miny, max(x1) AS maxx, max(y1) AS maxy
      FROM pts, env
     WHERE ST_Intersects(p, env.e)
     GROUP BY floor((ST_X(p) - ST_XMin(env.e)) / $5), floor((ST_Y(p) - ST_YMin(env.e)) / $5)
)
SELECT ST_AsMVT(t, $6, 4096, 'geom', 'fid') FROM (
    SELECT c.id AS fid, c.count, c.id, c.count > 1 AS cluster,
           format('%s,%s,%s,%s', c.minx, c.miny, c.maxx, c.maxy) AS extent,
           ST_AsMVTGeom(ST_SetSRID(ST_MakePoint(c.x, c.y), 3857), env.e, 4096, 64, true) AS geom
      FROM cells c, env
) t`

// The clustered tile of low zooms, from the cluster pyramid: one point per
// cell, at the mean position of its members, kept in the one tile that holds
// that position.
const cellsTileSQL = `
SELECT ST_AsMVT(t, $10, 4096, 'geom', 'fid') FROM (
    SELECT c.rep_id AS fid, c.count, c.rep_id AS id, c.count > 1 AS cluster,
           format('%s,%s,%s,%s', c.minx, c.miny, c.maxx, c.maxy) AS extent,
           ST_AsMVTGeom(ST_Transform(ST_SetSRID(ST_MakePoint(c.sumx / c.count, c.sumy / c.count), 4326), 3857),
                        ST_TileEnvelope($2, $3, $4), 4096, 0, true) AS geom
      FROM geo_cluster_cells_at($1, $5, $6, $7, $8, $9) c
     WHERE c.sumx / c.count >= $11 AND c.sumx / c.count < $12
       AND c.sumy / c.count >= $13 AND c.sumy / c.count < $14
) t WHERE t.geom IS NOT NULL`

// The unclustered tile: each feature clipped to the tile with its id and title.
const featureTileSQL = `
WITH env AS (SELECT ST_TileEnvelope($2, $3, $4) AS e)
SELECT ST_AsMVT(t, $6, 4096, 'geom', 'fid') FROM (
    SELECT d.id AS fid, d.id, d.title, 1 AS count, false AS cluster,
           ST_AsMVTGeom(ST_Transform(d.geom, 3857), env.e, 4096, 64, true) AS geom
      FROM documents d, env
     WHERE d.collection_id = $1 AND d.geom && ST_Transform(env.e, 4326)
     LIMIT $5
) t WHERE t.geom IS NOT NULL`

// TileSQL returns the SQL and arguments that render tile tc of a
// collection (for benchmarks comparing the service with the bare query).
// The first argument is the pgx.QueryExecMode the service runs it with.
func (s *Service) TileSQL(ctx context.Context, collection string, tc TileCoord) (string, []any, error) {
	col, err := s.cachedCollection(ctx, collection)
	if err != nil {
		return "", nil, err
	}
	sql, args := tileSQL(col, tc)
	return sql, args, nil
}

// tileSQL returns the statement of tile tc and its arguments, the first of
// which is the pgx.QueryExecMode to run it with.
//
// The pyramid's statement of low zooms is prepared once per connection
// (QueryExecModeCacheStatement): its plan is the same for every tile (a
// function scan whose own statements PL/pgSQL caches), and parsing and
// planning it for each tile was a third of its cost. The other statements
// stay unnamed (CacheDescribe), planned with each tile's envelope: a
// prepared one switches to a generic plan after five runs, which is slower
// at high zooms (docs/performance.md, "Tile statements").
func tileSQL(col *Collection, tc TileCoord) (string, []any) {
	if tc.Z+1 <= cellsZoom {
		// 64 px cells of a 512 px tile are the pyramid's level z + 1.
		k := tc.Z + 1
		size := CellSize(k)
		n := float64(int(1) << tc.Z)
		lon0, lon1 := float64(tc.X)/n*360-180, float64(tc.X+1)/n*360-180
		latN := math.Atan(math.Sinh(math.Pi*(1-2*float64(tc.Y)/n))) * 180 / math.Pi
		latS := math.Atan(math.Sinh(math.Pi*(1-2*float64(tc.Y+1)/n))) * 180 / math.Pi
		return cellsTileSQL, []any{pgx.QueryExecModeCacheStatement, col.ID, tc.Z, tc.X, tc.Y, k,
			int(math.Floor(lon0 / size)), int(math.Floor(lon1 / size)), int(math.Floor(latS / size)), int(math.Floor(latN / size)),
			col.Name, lon0, lon1, latS, latN}
	}
	if tc.Z < ClusterMaxZoom {
		// Web Mercator world width / 2^z, split into tileCells cells.
		cell := 2 * math.Pi * 6378137 / float64(int(1)<<tc.Z) / tileCells
		return clusterTileSQL, []any{pgx.QueryExecModeCacheDescribe, col.ID, tc.Z, tc.X, tc.Y, cell, col.Name}
	}
	return featureTileSQL, []any{pgx.QueryExecModeCacheDescribe, col.ID, tc.Z, tc.X, tc.Y, maxTileFeatures, col.Name}
}

// tileETag is a strong validator of a tile's bytes: their 64-bit xxHash.
// A validator only has to tell two versions of the same URL apart, which
// 64 bits do (a collision needs about 2^32 versions of one tile); SHA-256
// of a z4 tile was a tenth of the tile handler's CPU (geo/tiles bench
// profile), xxHash runs about ten times as fast.
func tileETag(data []byte) string {
	var sum [8]byte
	binary.BigEndian.PutUint64(sum[:], xxhash.Sum64(data))
	var b [18]byte
	b[0], b[17] = '"', '"'
	hex.Encode(b[1:17], sum[:])
	return string(b[:])
}

// Cluster is one grid cell of /clusters: Count members around (X, Y) (their
// mean position), a representative member id and the members' extent.
type Cluster struct {
	Count                  int64
	ID                     int64
	X, Y                   float64
	MinX, MinY, MaxX, MaxY float64
	// Title is set for single-member cells.
	Title string
}

// ClusterResult is a clustering of a bbox at a zoom.
type ClusterResult struct {
	// BBox is the query box widened to whole grid cells: what the clusters
	// count. Widening is what keeps a cell's count the same wherever the
	// map is panned.
	BBox     BBox
	CellSize float64
	Clusters []Cluster
}

// CellSize is the /clusters grid cell in degrees at zoom z.
func CellSize(z int) float64 { return clusterCellDeg / float64(int64(1)<<z) }

// alignOut widens b to the grid of cell, anchored at (0, 0).
func alignOut(b BBox, cell float64) BBox {
	return BBox{
		MinX: math.Max(-180, math.Floor(b.MinX/cell)*cell),
		MinY: math.Max(-90, math.Floor(b.MinY/cell)*cell),
		MaxX: math.Min(180, math.Ceil(b.MaxX/cell)*cell),
		MaxY: math.Min(90, math.Ceil(b.MaxY/cell)*cell),
	}
}

// An item belongs to the cell holding the centre of its bounding box; the
// grid is anchored at lon 0, lat 0, so cells are the same for every bbox.
const clusterSQL = `
SELECT count(*), min(id), avg(cx), avg(cy), min(x0), min(y0), max(x1), max(y1),
       CASE WHEN count(*) = 1 THEN min(title) ELSE '' END
  FROM (SELECT d.id, d.title, ST_XMin(d.geom) AS x0, ST_YMin(d.geom) AS y0, ST_XMax(d.geom) AS x1, ST_YMax(d.geom) AS y1,
               (ST_XMin(d.geom) + ST_XMax(d.geom)) / 2 AS cx, (ST_YMin(d.geom) + ST_YMax(d.geom)) / 2 AS cy
          FROM documents d
         WHERE d.collection_id = $1 AND d.geom && ST_MakeEnvelope($2, $3, $4, $5, 4326)) s
 WHERE cx >= $2 AND cx < $4 + CASE WHEN $4 >= 180 THEN 1e-9 ELSE 0 END
   AND cy >= $3 AND cy < $5 + CASE WHEN $5 >= 90 THEN 1e-9 ELSE 0 END
 GROUP BY floor(cx / $6), floor(cy / $6)
 ORDER BY floor(cy / $6), floor(cx / $6)`

// cellsZoom is the deepest zoom stored in geo_cluster_cells (migration
// 00021): clusters at this zoom or below are rows of that table, read with
// the deltas not folded yet (geo_cluster_cells_at, migration 00024).
const cellsZoom = 8

const cellsClusterSQL = `
SELECT c.count, c.rep_id, c.sumx / c.count, c.sumy / c.count, c.minx, c.miny, c.maxx, c.maxy,
       CASE WHEN c.count = 1 THEN COALESCE((SELECT d.title FROM documents d WHERE d.id = c.rep_id), '') ELSE '' END
  FROM geo_cluster_cells_at($1, $6, $2, $3, $4, $5) c
 ORDER BY c.gy, c.gx`

// clusterQuery is the statement for one (non-crossing, aligned) box.
func clusterQuery(colID int64, a BBox, zoom int) (string, []any) {
	cell := CellSize(zoom)
	if zoom > cellsZoom {
		return clusterSQL, []any{colID, a.MinX, a.MinY, a.MaxX, a.MaxY, cell}
	}
	gx0, gy0 := int(math.Floor(a.MinX/cell)), int(math.Floor(a.MinY/cell))
	gx1, gy1 := int(math.Ceil(a.MaxX/cell))-1, int(math.Ceil(a.MaxY/cell))-1
	// Items exactly on the east or north edge of the world belong to the
	// cell beyond it, as in the direct query.
	if a.MaxX >= 180 {
		gx1 = int(math.Round(180 / cell))
	}
	if a.MaxY >= 90 {
		gy1 = int(math.Round(90 / cell))
	}
	return cellsClusterSQL, []any{colID, gx0, gx1, gy0, gy1, zoom}
}

// ClustersSQL returns the statements and arguments Clusters runs (one per
// half of an antimeridian-crossing bbox), for benchmarks.
func (s *Service) ClustersSQL(ctx context.Context, collection string, bbox BBox, zoom int) ([]string, [][]any, error) {
	col, err := s.cachedCollection(ctx, collection)
	if err != nil {
		return nil, nil, err
	}
	var sqls []string
	var args [][]any
	for _, b := range bbox.Boxes() {
		q, a := clusterQuery(col.ID, alignOut(b, CellSize(zoom)), zoom)
		sqls = append(sqls, q)
		args = append(args, a)
	}
	return sqls, args, nil
}

// Clusters groups the items of bbox at zoom into grid cells computed in SQL:
// from the geo_cluster_cells pyramid at zoom <= 6, from the documents (GiST
// on the bbox) above. An antimeridian-crossing bbox is clustered as its two
// halves.
func (s *Service) Clusters(ctx context.Context, collection string, bbox BBox, zoom int) (*ClusterResult, error) {
	col, err := s.cachedCollection(ctx, collection)
	if err != nil {
		return nil, err
	}
	cell := CellSize(zoom)
	res := &ClusterResult{CellSize: cell}
	for i, b := range bbox.Boxes() {
		a := alignOut(b, cell)
		if i == 0 {
			res.BBox = a
		} else {
			res.BBox.MaxX = a.MaxX // crossing: MinX > MaxX again
		}
		sql, args := clusterQuery(col.ID, a, zoom)
		rows, err := s.pool.Query(ctx, sql, append([]any{pgx.QueryExecModeCacheDescribe}, args...)...)
		if err != nil {
			return nil, fmt.Errorf("geo: clusters: %w", pg.Interpret(err))
		}
		for rows.Next() {
			var c Cluster
			if err := rows.Scan(&c.Count, &c.ID, &c.X, &c.Y, &c.MinX, &c.MinY, &c.MaxX, &c.MaxY, &c.Title); err != nil {
				rows.Close()
				return nil, fmt.Errorf("geo: clusters: %w", err)
			}
			res.Clusters = append(res.Clusters, c)
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("geo: clusters: %w", pg.Interpret(err))
		}
	}
	return res, nil
}
