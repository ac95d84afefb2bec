// Package geomrule is geoseek's one rule for geometries that come from
// outside: GeoJSON bodies (documents, OGC API items, imports, NDJSON bulk),
// search filters and CQL2 literals all pass through Check before anything
// reaches PostGIS, so every entry point accepts and refuses the same shapes.
//
// The rule, in the order Check applies it:
//
//   - nesting: a GeometryCollection may hold collections, at most MaxDepth
//     levels in all. PostGIS walks nested collections recursively in code
//     that does not stop for statement_timeout or pg_cancel_backend, and the
//     work grows steeply with depth, so deep nesting is refused up front.
//
//   - parts: collection members, polygons, rings and lines of the whole
//     geometry together are at most Limits.MaxParts.
//
//   - vertices: positions of the whole geometry together are at most
//     Limits.MaxVertices.
//
//   - positions: 2 or 3 numbers (longitude, latitude and an optional height,
//     as RFC 7946 says); measures and longer positions are refused. Every
//     number is finite, longitude in [-180, 180], latitude in [-90, 90].
//
//   - shapes: no empty geometry or member; a LineString has at least 2
//     positions; a ring is closed and has at least 4 positions.
//
//   - winding: polygon rings are rewound in place to RFC 7946's right-hand
//     rule (exterior counter-clockwise, holes clockwise).
//
//   - validity: a stored geometry must be valid in the OGC Simple Features
//     sense (no self-intersecting ring, no hole outside its shell, no line
//     of one repeated position). This needs GEOS, so it is not in Check:
//     the write SQL runs ValiditySQL (one query per geometry that can be
//     invalid, or one per chunk of a bulk load or import) and refuses the
//     first invalid geometry with NotValid, which carries PostGIS's
//     ST_IsValidReason; a CHECK constraint on documents.geom backs it up
//     for any other writer. Invalid geometries are refused, not repaired:
//     ST_MakeValid can turn a bow-tie polygon into a MultiPolygon or drop
//     parts of it, silently storing something the client did not send,
//     and GEOS operations (intersections, unions, tiles) on invalid input
//     fail or give wrong answers later, far from the write.
//
// Query geometries are made valid by the query itself (ST_MakeValid in the
// search filter's SQL): a search shape is the client's own, not stored.
//
// BBox checks a longitude/latitude box with the same coordinate ranges.
//
// docs/operations.md lists the limits; a refusal is a
// *problem.ValidationError (400 invalid-request) whose reason names the limit.
package geomrule
