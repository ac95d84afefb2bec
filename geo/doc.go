// Package geo serves geoseek's documents to map frontends and GIS clients:
// OGC API – Features Part 1 (landing page, conformance, collections, items),
// CQL2 text filters (package geo/cql2), GeoJSON writes and bulk imports,
// server-side point clustering and Mapbox vector tiles.
//
// Geometries pass through go-geom: incoming GeoJSON is decoded and validated
// (finite WGS84 coordinates, closed rings, RFC 7946 right-hand winding fixed),
// outgoing geometries are scanned from PostGIS in binary (EWKB, decoded by
// pgx-geom) and written as GeoJSON by this package while rows arrive, so a
// FeatureCollection of 10,000 features needs no more memory than one of 100.
// Building the GeoJSON in Go instead of with ST_AsGeoJSON was chosen by
// measurement (see internal/bench/geo.go and docs in the lead's report).
//
// Decisions worth knowing:
//   - Every query that filters on parameters runs with the unnamed prepared
//     statement (pgx.QueryExecModeCacheDescribe), so PostgreSQL plans it with
//     the actual bbox, datetime and filter values each time instead of
//     settling on a generic plan after five runs.
//   - Paging is keyset on (sort key, id); the cursor is opaque base64 JSON.
//   - numberMatched is exact when a capped count finishes under the cap and
//     the planner's estimate otherwise; the response then carries
//     "numberMatchedEstimated": true.
//   - Collection extents are kept by statement-level triggers (migration
//     00020) that only grow them, so /collections costs one indexed read;
//     after deletes an extent may be larger than the data, which OGC API
//     allows (it is an extent, not a tight bound) and RefreshExtent fixes.
//
// The package knows nothing of Gin except in http.go.
package geo
