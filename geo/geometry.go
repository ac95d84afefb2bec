package geo

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	"github.com/twpayne/go-geom"
	"github.com/twpayne/go-geom/encoding/ewkb"

	"github.com/geoseek/geoseek/internal/geomrule"
	"github.com/geoseek/geoseek/internal/problem"
)

// SRID is the only coordinate reference system geoseek stores: WGS84 lon/lat.
const SRID = 4326

// DecodeGeometry decodes a GeoJSON geometry object and validates it as
// ValidateGeometry does. A JSON null yields (nil, nil): a feature without geometry.
func DecodeGeometry(field string, raw json.RawMessage) (geom.T, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil //nolint:nilnil // null geometry is valid GeoJSON
	}
	g, err := geomrule.DecodeGeoJSON(field, raw, geomrule.Stored())
	if err != nil {
		return nil, err
	}
	if _, err := geom.SetSRID(g, SRID); err != nil {
		return nil, problem.Invalid(field, "%v", err)
	}
	return g, nil
}

// ValidateGeometry checks g with geomrule's rule for stored geometries
// (nesting, parts, vertices, 2 or 3 numbers a position, coordinate ranges,
// line and ring shapes), rewinds its polygon rings to RFC 7946's right-hand
// rule in place and sets SRID 4326.
func ValidateGeometry(field string, g geom.T) error {
	if g == nil {
		return nil
	}
	if err := geomrule.Check(field, g, geomrule.Stored()); err != nil {
		return err // a *problem.ValidationError, field and reason as they are
	}
	if _, err := geom.SetSRID(g, SRID); err != nil {
		return problem.Invalid(field, "%v", err)
	}
	return nil
}

// Force2D returns g with only x and y: documents.geom is a 2D column
// (geometry(Geometry, 4326)), so heights and measures are dropped on write.
func Force2D(g geom.T) geom.T {
	if g == nil || g.Layout() == geom.XY {
		return g
	}
	if gc, ok := g.(*geom.GeometryCollection); ok {
		out := geom.NewGeometryCollection().SetSRID(gc.SRID())
		for i := range gc.NumGeoms() {
			_ = out.Push(Force2D(gc.Geom(i))) // all members are XY now
		}
		return out
	}
	stride := g.Stride()
	src := g.FlatCoords()
	flat := make([]float64, 0, len(src)/stride*2)
	for i := 0; i+1 < len(src); i += stride {
		flat = append(flat, src[i], src[i+1])
	}
	scale := func(ends []int) []int {
		out := make([]int, len(ends))
		for i, e := range ends {
			out[i] = e / stride * 2
		}
		return out
	}
	var out geom.T
	switch t := g.(type) {
	case *geom.Point:
		out = geom.NewPointFlat(geom.XY, flat)
	case *geom.LineString:
		out = geom.NewLineStringFlat(geom.XY, flat)
	case *geom.MultiPoint:
		out = geom.NewMultiPointFlat(geom.XY, flat)
	case *geom.Polygon:
		out = geom.NewPolygonFlat(geom.XY, flat, scale(t.Ends()))
	case *geom.MultiLineString:
		out = geom.NewMultiLineStringFlat(geom.XY, flat, scale(t.Ends()))
	case *geom.MultiPolygon:
		endss := make([][]int, len(t.Endss()))
		for i, e := range t.Endss() {
			endss[i] = scale(e)
		}
		out = geom.NewMultiPolygonFlat(geom.XY, flat, endss)
	default:
		return g
	}
	out, _ = geom.SetSRID(out, g.SRID())
	return out
}

func typeName(g geom.T) string { return geomrule.TypeName(g) }

// AppendGeoJSON appends g as a GeoJSON geometry object. precision < 0 keeps
// every digit (shortest representation that round-trips); otherwise
// coordinates are rounded to that many decimals. It writes directly into b,
// which is what keeps streaming 10,000 features cheap: no intermediate
// structs, no reflection.
func AppendGeoJSON(b []byte, g geom.T, precision int) ([]byte, error) {
	if g == nil {
		return append(b, "null"...), nil
	}
	b = append(b, `{"type":"`...)
	b = append(b, typeName(g)...)
	switch t := g.(type) {
	case *geom.GeometryCollection:
		b = append(b, `","geometries":[`...)
		for i := range t.NumGeoms() {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = AppendGeoJSON(b, t.Geom(i), precision); err != nil {
				return b, err
			}
		}
		return append(b, "]}"...), nil
	case *geom.Point:
		b = append(b, `","coordinates":`...)
		if t.Empty() {
			b = append(b, "[]"...)
		} else {
			b = appendPos(b, t.FlatCoords(), dimsOf(t.Layout()), precision)
		}
	case *geom.LineString, *geom.MultiPoint:
		b = append(b, `","coordinates":`...)
		b = appendPositions(b, g.FlatCoords(), g.Stride(), dimsOf(g.Layout()), precision)
	case *geom.Polygon:
		b = append(b, `","coordinates":`...)
		b = appendRings(b, t.FlatCoords(), 0, t.Ends(), t.Stride(), dimsOf(t.Layout()), precision)
	case *geom.MultiLineString:
		b = append(b, `","coordinates":`...)
		b = appendRings(b, t.FlatCoords(), 0, t.Ends(), t.Stride(), dimsOf(t.Layout()), precision)
	case *geom.MultiPolygon:
		b = append(b, `","coordinates":[`...)
		start := 0
		for i, ends := range t.Endss() {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendRings(b, t.FlatCoords(), start, ends, t.Stride(), dimsOf(t.Layout()), precision)
			if len(ends) > 0 {
				start = ends[len(ends)-1]
			}
		}
		b = append(b, ']')
	default:
		return b, fmt.Errorf("geo: cannot encode %T", g)
	}
	return append(b, '}'), nil
}

// appendEWKB writes an EWKB geometry (as PostGIS sends it in binary) as a
// GeoJSON geometry, like AppendGeoJSON. A 2D point, by far the commonest
// geometry (every photo), is read straight from its 21 or 25 bytes; every
// other geometry is decoded by go-geom first. Skipping the decoding is most
// of the Go-side cost of a page of points: it allocates nothing. data must
// come from PostGIS: go-geom trusts the element counts it reads.
func appendEWKB(b, data []byte, precision int) ([]byte, error) {
	if x, y, ok := ewkbPoint(data); ok {
		b = append(b, `{"type":"Point","coordinates":[`...)
		b = appendFloat(b, x, precision)
		b = append(b, ',')
		b = appendFloat(b, y, precision)
		return append(b, "]}"...), nil
	}
	g, err := ewkb.Unmarshal(data)
	if err != nil {
		return b, fmt.Errorf("geo: decode geometry: %w", err)
	}
	return AppendGeoJSON(b, g, precision)
}

// ewkbSRID flags an EWKB type word followed by an SRID (PostGIS liblwgeom);
// the Z and M flags are 0x80000000 and 0x40000000.
const ewkbSRID = 0x20000000

// ewkbPoint returns the coordinates of a non-empty 2D EWKB point; ok is false
// for anything else (other types, Z or M, the empty point's NaNs, short or
// malformed input), which then takes go-geom's path.
func ewkbPoint(data []byte) (x, y float64, ok bool) {
	if len(data) < 21 {
		return 0, 0, false
	}
	var bo binary.ByteOrder
	switch data[0] {
	case 0:
		bo = binary.BigEndian
	case 1:
		bo = binary.LittleEndian
	default:
		return 0, 0, false
	}
	t := bo.Uint32(data[1:5])
	off := 5
	if t&ewkbSRID != 0 {
		off += 4
		t &^= ewkbSRID
	}
	if t != 1 || len(data) != off+16 { // Z or M set, or not a point
		return 0, 0, false
	}
	x = math.Float64frombits(bo.Uint64(data[off:]))
	y = math.Float64frombits(bo.Uint64(data[off+8:]))
	if math.IsNaN(x) || math.IsNaN(y) {
		return 0, 0, false
	}
	return x, y, true
}

func appendRings(b []byte, flat []float64, start int, ends []int, stride, dims, precision int) []byte {
	b = append(b, '[')
	for i, end := range ends {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendPositions(b, flat[start:end], stride, dims, precision)
		start = end
	}
	return append(b, ']')
}

func appendPositions(b []byte, flat []float64, stride, dims, precision int) []byte {
	b = append(b, '[')
	for i := 0; i+stride <= len(flat); i += stride {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendPos(b, flat[i:i+stride], dims, precision)
	}
	return append(b, ']')
}

// appendPos writes the first dims ordinates (x, y and maybe z).
func appendPos(b []byte, c []float64, dims, precision int) []byte {
	b = append(b, '[')
	for i := range min(dims, len(c)) {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendFloat(b, c[i], precision)
	}
	return append(b, ']')
}

// dimsOf is how many ordinates a GeoJSON position gets: x, y and z when the
// layout has one; RFC 7946 positions carry no measure, so M is dropped.
func dimsOf(l geom.Layout) int {
	if l.ZIndex() >= 0 {
		return 3
	}
	return 2
}

func appendFloat(b []byte, f float64, precision int) []byte {
	if precision < 0 {
		return strconv.AppendFloat(b, f, 'f', -1, 64)
	}
	// Round, then print the shortest form, so 1.5 with precision 6 stays
	// "1.5" rather than "1.500000".
	p := math.Pow10(precision)
	r := math.Round(f*p) / p
	if r == 0 {
		r = 0 // no "-0"
	}
	return strconv.AppendFloat(b, r, 'f', -1, 64)
}
