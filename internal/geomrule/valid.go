package geomrule

import (
	"github.com/twpayne/go-geom"

	"github.com/geoseek/geoseek/internal/problem"
)

// ValiditySQL returns ST_IsValidReason of the geometry in $1 (anything that
// casts to geometry: go-geom through pgx-geom, EWKB) when it is not valid,
// and no row when it is.
const ValiditySQL = `SELECT ST_IsValidReason(g) FROM (SELECT $1::geometry AS g) s WHERE NOT ST_IsValid(g)`

// MayBeInvalid reports whether g, having passed Check, can still be invalid
// in the OGC sense: points never are; lines, polygons and collections
// holding them can be.
func MayBeInvalid(g geom.T) bool {
	switch t := g.(type) {
	case nil, *geom.Point, *geom.MultiPoint:
		return false
	case *geom.GeometryCollection:
		for i := range t.NumGeoms() {
			if MayBeInvalid(t.Geom(i)) {
				return true
			}
		}
		return false
	}
	return true
}

// NotValid is the refusal of a geometry PostGIS found invalid; reason is
// ST_IsValidReason's ("Self-intersection[0.5 0.5]").
func NotValid(field, reason string) *problem.ValidationError {
	return problem.Invalid(field, "not a valid geometry (%s); geoseek stores only geometries valid in the OGC Simple Features sense, see docs/shapes.md (ST_MakeValid or a GIS's fix-geometries tool repairs most)", reason)
}
