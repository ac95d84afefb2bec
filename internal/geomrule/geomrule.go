package geomrule

import (
	"fmt"
	"math"

	"github.com/twpayne/go-geom"
	"github.com/twpayne/go-geom/xy"

	"github.com/geoseek/geoseek/internal/problem"
)

// Default limits for a stored geometry. They sit far above real data: the
// most detailed country outlines have a few hundred thousand vertices, and
// GeometryCollections are rare in GIS data and nested ones rarer still.
const (
	// MaxDepth is how deep GeometryCollections may nest (a collection of
	// points is 1, a collection holding one is 2).
	MaxDepth = 4
	// MaxParts bounds collection members, polygons, rings and lines.
	MaxParts = 100_000
	// MaxVertices bounds the positions of one geometry.
	MaxVertices = 1_000_000
	// MaxQueryVertices bounds the positions of a query geometry (a search
	// filter or a CQL2 literal): it is sent with every request of a page.
	MaxQueryVertices = 10_000
)

// Limits are the complexity limits Check enforces.
type Limits struct {
	MaxDepth    int
	MaxParts    int
	MaxVertices int
}

// Stored returns the limits for geometries that are written to the database.
func Stored() Limits {
	return Limits{MaxDepth: MaxDepth, MaxParts: MaxParts, MaxVertices: MaxVertices}
}

// Query returns the limits for query geometries (search filters, CQL2).
func Query() Limits {
	return Limits{MaxDepth: MaxDepth, MaxParts: MaxParts, MaxVertices: MaxQueryVertices}
}

// Check applies the package's rule to g within lim and rewinds its polygon
// rings in place. A nil g is no geometry and passes. A refusal is a
// *problem.ValidationError for field whose reason names the part of g at
// fault and, for a limit, the limit.
func Check(field string, g geom.T, lim Limits) error {
	if g == nil {
		return nil
	}
	c := checker{field: field, lim: lim}
	return c.check("", g, 0)
}

type checker struct {
	field    string
	lim      Limits
	parts    int
	vertices int
}

func (c *checker) fail(where, format string, args ...any) error {
	reason := fmt.Sprintf(format, args...)
	if where != "" {
		reason = where + ": " + reason
	}
	return problem.Invalid(c.field, "%s", reason)
}

func (c *checker) addParts(where string, n int) error {
	c.parts += n
	if c.parts > c.lim.MaxParts {
		return c.fail(where, "more than %d parts (members, polygons, rings and lines); the limit on geometry parts is %d", c.lim.MaxParts, c.lim.MaxParts)
	}
	return nil
}

func at(where string, format string, args ...any) string {
	s := fmt.Sprintf(format, args...)
	if where == "" {
		return s
	}
	return where + " " + s
}

func (c *checker) check(where string, g geom.T, depth int) error {
	if gc, ok := g.(*geom.GeometryCollection); ok {
		return c.collection(where, gc, depth)
	}
	if g.Empty() {
		return c.fail(where, "empty %s", TypeName(g))
	}
	switch l := g.Layout(); l {
	case geom.XY, geom.XYZ:
	case geom.XYM:
		return c.fail(where, "positions with a measure (M) are not supported; geoseek takes 2 or 3 numbers (longitude, latitude and an optional height)")
	default:
		return c.fail(where, "a position has %d numbers; geoseek takes 2 or 3 (longitude, latitude and an optional height)", l.Stride())
	}
	stride := g.Stride()
	flat := g.FlatCoords()
	c.vertices += len(flat) / stride
	if c.vertices > c.lim.MaxVertices {
		return c.fail(where, "more than %d positions; the limit on geometry vertices is %d", c.lim.MaxVertices, c.lim.MaxVertices)
	}
	if err := c.coords(where, flat, stride); err != nil {
		return err
	}
	return c.shape(where, g)
}

// collection checks a GeometryCollection's depth, parts and members.
func (c *checker) collection(where string, gc *geom.GeometryCollection, depth int) error {
	if depth+1 > c.lim.MaxDepth {
		return c.fail(where, "GeometryCollections nested more than %d deep; the limit on geometry nesting depth is %d", c.lim.MaxDepth, c.lim.MaxDepth)
	}
	n := gc.NumGeoms()
	if n == 0 {
		return c.fail(where, "empty GeometryCollection")
	}
	if err := c.addParts(where, n); err != nil {
		return err
	}
	for i := range n {
		m := gc.Geom(i)
		w := at(where, "member %d", i)
		if m == nil {
			return c.fail(w, "null member")
		}
		if err := c.check(w, m, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// shape checks the lines and rings of a geometry other than a collection.
func (c *checker) shape(where string, g geom.T) error {
	switch t := g.(type) {
	case *geom.Point, *geom.MultiPoint:
		return nil
	case *geom.LineString:
		if t.NumCoords() < 2 {
			return c.fail(where, "a LineString needs at least 2 positions")
		}
		return c.addParts(where, 1)
	case *geom.MultiLineString:
		if err := c.addParts(where, t.NumLineStrings()); err != nil {
			return err
		}
		for i := range t.NumLineStrings() {
			if t.LineString(i).NumCoords() < 2 {
				return c.fail(at(where, "line %d", i), "a LineString needs at least 2 positions")
			}
		}
		return nil
	case *geom.Polygon:
		if err := c.addParts(where, 1+t.NumLinearRings()); err != nil {
			return err
		}
		return c.rings(where, t)
	case *geom.MultiPolygon:
		n := t.NumPolygons()
		if err := c.addParts(where, n); err != nil {
			return err
		}
		for i := range n {
			// Polygon(i) shares t's flat coordinates, so rewinding it
			// rewinds t.
			p := t.Polygon(i)
			if err := c.addParts(where, p.NumLinearRings()); err != nil {
				return err
			}
			if err := c.rings(at(where, "polygon %d", i), p); err != nil {
				return err
			}
		}
		return nil
	}
	return c.fail(where, "unsupported geometry type %s", TypeName(g))
}

func (c *checker) coords(where string, flat []float64, stride int) error {
	for i := 0; i+stride <= len(flat); i += stride {
		for _, v := range flat[i : i+stride] {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return c.fail(where, "position %d is not finite", i/stride)
			}
		}
		x, y := flat[i], flat[i+1]
		if x < -180 || x > 180 {
			return c.fail(where, "position %d: longitude %g outside [-180, 180]", i/stride, x)
		}
		if y < -90 || y > 90 {
			return c.fail(where, "position %d: latitude %g outside [-90, 90]", i/stride, y)
		}
	}
	return nil
}

// rings checks p's rings and rewinds them in place to RFC 7946 order.
func (c *checker) rings(where string, p *geom.Polygon) error {
	layout, stride := p.Layout(), p.Stride()
	flat := p.FlatCoords()
	start := 0
	for i, end := range p.Ends() {
		ring := flat[start:end]
		if len(ring)/stride < 4 {
			return c.fail(where, "polygon ring %d needs at least 4 positions", i)
		}
		last := len(ring) - stride
		if ring[0] != ring[last] || ring[1] != ring[last+1] {
			return c.fail(where, "polygon ring %d is not closed: its first and last positions differ", i)
		}
		if (i == 0) != xy.IsRingCounterClockwise(layout, ring) {
			reverse(ring, stride)
		}
		start = end
	}
	return nil
}

func reverse(ring []float64, stride int) {
	for i, j := 0, len(ring)-stride; i < j; i, j = i+stride, j-stride {
		for k := range stride {
			ring[i+k], ring[j+k] = ring[j+k], ring[i+k]
		}
	}
}

// BBox checks a longitude/latitude box: finite numbers, longitudes in
// [-180, 180], latitudes in [-90, 90] and minY <= maxY. minX > maxX is a box
// crossing the antimeridian. The reason is returned as a plain error for the
// caller to place (a query parameter, a filter field, a CQL2 position).
func BBox(minX, minY, maxX, maxY float64) error {
	for _, v := range [...]float64{minX, minY, maxX, maxY} {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("bbox numbers must be finite")
		}
	}
	if minX < -180 || minX > 180 || maxX < -180 || maxX > 180 {
		return fmt.Errorf("longitudes must be within [-180, 180]")
	}
	if minY < -90 || minY > 90 || maxY < -90 || maxY > 90 {
		return fmt.Errorf("latitudes must be within [-90, 90]")
	}
	if minY > maxY {
		return fmt.Errorf("minimum latitude %g is above maximum latitude %g", minY, maxY)
	}
	return nil
}

// TypeName is g's GeoJSON type name.
func TypeName(g geom.T) string {
	switch g.(type) {
	case *geom.Point:
		return "Point"
	case *geom.LineString:
		return "LineString"
	case *geom.Polygon:
		return "Polygon"
	case *geom.MultiPoint:
		return "MultiPoint"
	case *geom.MultiLineString:
		return "MultiLineString"
	case *geom.MultiPolygon:
		return "MultiPolygon"
	case *geom.GeometryCollection:
		return "GeometryCollection"
	}
	return fmt.Sprintf("%T", g)
}
