// Package geo serves geoseek's documents to map frontends and GIS clients:
// OGC API – Features Part 1 (landing page, conformance, collections, items),
// CQL2 text filters (package geo/cql2), GeoJSON writes and bulk imports,
// server-side point clustering and Mapbox vector tiles.
//
// Geometries pass through go-geom: incoming GeoJSON is decoded and validated
// by internal/geomrule, the rule every entry point shares (nesting, part and
// vertex limits, 2 or 3 numbers a position, finite WGS84 coordinates, closed
// rings, RFC 7946 right-hand winding fixed; Z dropped because documents.geom
// is a 2D column), outgoing geometries
// are read from PostGIS in binary (EWKB) and written as GeoJSON while rows
// arrive: a 2D point (every photo) straight from its bytes, anything else
// after go-geom decodes it (AppendGeoJSON). A FeatureCollection of 10,000
// features needs no more memory than one of 100 (the writer flushes every
// 48 KiB; encoding a point feature allocates nothing).
//
// Decisions worth knowing:
//   - GeoJSON is built in Go, not with ST_AsGeoJSON in PostgreSQL: the
//     two are at parity in throughput (geo/items/encode-1000; figures in
//     docs/performance.md, "GeoJSON in Go or in PostgreSQL"), and at
//     parity the Go side wins: the database is the one shared,
//     hard-to-scale resource, app servers are not.
//   - Every query whose plan depends on its parameters (items, counts,
//     tiles, clusters) runs on the unnamed prepared statement
//     (pgx.QueryExecModeCacheDescribe), so PostgreSQL plans it with the
//     actual bbox, datetime and filter values each time instead of settling on
//     a generic plan after five runs.
//   - Paging is keyset on (sort key, id) with an opaque cursor; a prev page is
//     the reverse query re-sorted in SQL, so it streams too.
//   - numberMatched is free and exact when the first page holds every
//     match; otherwise the planner's estimate decides: at most
//     max(Options.CountCap, limit) expected matches are counted exactly
//     (counting then costs no more than the page), more are reported as the
//     estimate with "numberMatchedEstimated": true. This runs on a second
//     connection while the features stream.
//   - Collection extents and props keys (queryables) are kept by
//     statement-level triggers (migration 00020) that only grow them,
//     so /collections costs one indexed read; after deletes an extent may be
//     larger than the data, which OGC API allows, and RefreshStats fixes it.
//     A writer that finds another one updating the stats row appends its
//     growth to geo_collection_stats_pending instead of waiting (00025);
//     readers merge it in.
//   - Clusters use a grid anchored at lon 0 / lat 0 whose cell at zoom z is
//     90/2^z degrees (64 px of a 256 px web tile); the requested bbox is
//     widened to whole cells, so a cell's count does not change as the map
//     pans. Zooms 0–8 read the cluster pyramid geo_cluster_cells (migration
//     00021, kept exact by statement-level triggers); deeper zooms group the
//     documents in the bbox directly. Inserts append their cell deltas to
//     geo_cluster_pending and fold them into the cells when no other writer
//     is folding (00024), so concurrent writers do not queue; readers go
//     through geo_cluster_cells_at, which adds deltas not folded yet.
//   - Tiles: zooms 0–7 are clustered from the pyramid (level z + 1: 64 px
//     cells of a 512 px tile), 8–13 clustered from the documents in the tile
//     (32 × 32 cells), 14 and deeper carry the features. ETag is a hash of the
//     bytes; an empty tile is 204.
//   - Collection rows come from package document's one collections cache
//     (document.CollectionTTL, 2 s) on the hot paths (items, tiles,
//     clusters); the metadata endpoints always read them fresh.
//   - Bulk imports (FeatureCollection or GeoJSON sequence) stream through
//     COPY into a temporary table and one INSERT … ON CONFLICT, in one
//     transaction: all or nothing, and idempotent for features with ids.
//
// The package knows nothing of Gin except in http*.go and html.go.
package geo
