package geomrule_test

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/twpayne/go-geom"
	"github.com/twpayne/go-geom/encoding/geojson"

	"github.com/geoseek/geoseek/internal/geomrule"
	"github.com/geoseek/geoseek/internal/problem"
)

// nestedGC returns a GeoJSON GeometryCollection nested depth deep around a
// point (depth 0 is the bare point).
func nestedGC(depth int) string {
	s := `{"type":"Point","coordinates":[1,2]}`
	for range depth {
		s = `{"type":"GeometryCollection","geometries":[` + s + `]}`
	}
	return s
}

func decode(t testing.TB, s string) geom.T {
	t.Helper()
	var g geom.T
	require.NoError(t, geojson.Unmarshal([]byte(s), &g), s)
	return g
}

// square returns a closed ring of n positions (n >= 4) around (0, 0).
func ring(n int) []float64 {
	flat := make([]float64, 0, 2*n)
	for i := range n - 1 {
		a := 2 * math.Pi * float64(i) / float64(n-1)
		flat = append(flat, math.Cos(a), math.Sin(a))
	}
	return append(flat, flat[0], flat[1])
}

func multiPoint(n int) geom.T {
	flat := make([]float64, 2*n)
	return geom.NewMultiPointFlat(geom.XY, flat)
}

func TestCheck(t *testing.T) {
	t.Parallel()
	lim := geomrule.Limits{MaxDepth: 3, MaxParts: 10, MaxVertices: 25}
	mpoly := func(polys int) geom.T {
		mp := geom.NewMultiPolygon(geom.XY)
		for range polys {
			require.NoError(t, mp.Push(geom.NewPolygonFlat(geom.XY, ring(4), []int{8})))
		}
		return mp
	}
	lines := func(n int) geom.T {
		flat := make([]float64, 0, 4*n)
		ends := make([]int, 0, n)
		for range n {
			flat = append(flat, 0, 0, 1, 1)
			ends = append(ends, len(flat))
		}
		return geom.NewMultiLineStringFlat(geom.XY, flat, ends)
	}
	cases := map[string]struct {
		g      geom.T
		reason string // "" when g passes
	}{
		"point":                 {decode(t, `{"type":"Point","coordinates":[180,-90]}`), ""},
		"point xyz":             {decode(t, `{"type":"Point","coordinates":[1,2,3]}`), ""},
		"point xyzm":            {decode(t, `{"type":"Point","coordinates":[1,2,3,4]}`), "4 numbers"},
		"point 5 numbers":       {decode(t, `{"type":"Point","coordinates":[1,2,3,4,5]}`), "5 numbers"},
		"point xym":             {geom.NewPointFlat(geom.XYM, []float64{1, 2, 3}), "measure"},
		"lon > 180":             {decode(t, `{"type":"Point","coordinates":[180.000001,0]}`), "longitude"},
		"lon < -180":            {decode(t, `{"type":"Point","coordinates":[-181,0]}`), "longitude"},
		"lat > 90":              {decode(t, `{"type":"Point","coordinates":[0,90.5]}`), "latitude"},
		"NaN":                   {geom.NewPointFlat(geom.XY, []float64{math.NaN(), 0}), "not finite"},
		"Inf height":            {geom.NewPointFlat(geom.XYZ, []float64{0, 0, math.Inf(1)}), "not finite"},
		"empty point":           {geom.NewPointEmpty(geom.XY), "empty Point"},
		"empty collection":      {decode(t, `{"type":"GeometryCollection","geometries":[]}`), "empty GeometryCollection"},
		"empty member":          {geom.NewGeometryCollection().MustPush(geom.NewLineString(geom.XY)), "member 0: empty LineString"},
		"line of 1":             {decode(t, `{"type":"LineString","coordinates":[[0,0]]}`), "at least 2"},
		"line of 2":             {decode(t, `{"type":"LineString","coordinates":[[0,0],[1,1]]}`), ""},
		"multiline short":       {decode(t, `{"type":"MultiLineString","coordinates":[[[0,0],[1,1]],[[0,0]]]}`), "line 1"},
		"ring of 3":             {decode(t, `{"type":"Polygon","coordinates":[[[0,0],[1,0],[0,0]]]}`), "at least 4"},
		"ring of 4":             {decode(t, `{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]]]}`), ""},
		"open ring":             {decode(t, `{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,1]]]}`), "not closed"},
		"open hole":             {decode(t, `{"type":"MultiPolygon","coordinates":[[[[0,0],[9,0],[9,9],[0,0]],[[1,1],[2,1],[2,2],[1,2]]]]}`), "polygon 0: polygon ring 1 is not closed"},
		"self-intersecting":     {decode(t, `{"type":"Polygon","coordinates":[[[0,0],[1,1],[1,0],[0,1],[0,0]]]}`), ""},
		"depth 3":               {decode(t, nestedGC(3)), ""},
		"depth 4":               {decode(t, nestedGC(4)), "nesting depth is 3"},
		"vertices 25":           {multiPoint(25), ""},
		"vertices 26":           {multiPoint(26), "vertices is 25"},
		"vertices over members": {geom.NewGeometryCollection().MustPush(multiPoint(12), multiPoint(14)), "vertices is 25"},
		"parts 10 polygons":     {mpoly(5), ""}, // 5 polygons + 5 rings
		"parts 11":              {geom.NewGeometryCollection().MustPush(mpoly(5)), "parts is 10"},
		"parts 10 lines":        {lines(10), ""},
		"parts 11 lines":        {lines(11), "parts is 10"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			err := geomrule.Check("geometry", tc.g, lim)
			if tc.reason == "" {
				require.NoError(t, err)
				return
			}
			var ve *problem.ValidationError
			require.ErrorAs(t, err, &ve)
			require.Equal(t, "geometry", ve.Field)
			require.Contains(t, ve.Reason, tc.reason)
		})
	}
}

func TestCheckNil(t *testing.T) {
	t.Parallel()
	require.NoError(t, geomrule.Check("geometry", nil, geomrule.Stored()))
}

// TestDefaultLimits pins the documented defaults (docs/operations.md) at ±1.
func TestDefaultLimits(t *testing.T) {
	t.Parallel()
	lim := geomrule.Stored()
	require.NoError(t, geomrule.Check("g", decode(t, nestedGC(geomrule.MaxDepth)), lim))
	require.ErrorContains(t, geomrule.Check("g", decode(t, nestedGC(geomrule.MaxDepth+1)), lim), "nesting depth")
	for _, d := range []int{40, 200} {
		require.ErrorContains(t, geomrule.Check("g", decode(t, nestedGC(d)), lim), "nesting depth is 4")
	}
	require.NoError(t, geomrule.Check("g", multiPoint(geomrule.MaxVertices), lim))
	require.ErrorContains(t, geomrule.Check("g", multiPoint(geomrule.MaxVertices+1), lim), "vertices")
	q := geomrule.Query()
	require.NoError(t, geomrule.Check("g", multiPoint(geomrule.MaxQueryVertices), q))
	require.ErrorContains(t, geomrule.Check("g", multiPoint(geomrule.MaxQueryVertices+1), q), "vertices is 10000")
	gc := func(n int) geom.T {
		c := geom.NewGeometryCollection()
		for range n {
			c.MustPush(geom.NewPointFlat(geom.XY, []float64{0, 0}))
		}
		return c
	}
	require.NoError(t, geomrule.Check("g", gc(geomrule.MaxParts), lim))
	require.ErrorContains(t, geomrule.Check("g", gc(geomrule.MaxParts+1), lim), "parts")
}

func TestCheckRewinds(t *testing.T) {
	t.Parallel()
	// Clockwise exterior with a counter-clockwise hole: both wrong per RFC 7946.
	g := decode(t, `{"type":"MultiPolygon","coordinates":[[[[0,0],[0,10],[10,10],[10,0],[0,0]],[[2,2],[4,2],[4,4],[2,4],[2,2]]]]}`)
	require.NoError(t, geomrule.Check("geometry", g, geomrule.Stored()))
	b, err := geojson.Marshal(g)
	require.NoError(t, err)
	require.JSONEq(t, `{"type":"MultiPolygon","coordinates":[[[[0,0],[10,0],[10,10],[0,10],[0,0]],[[2,2],[2,4],[4,4],[4,2],[2,2]]]]}`, string(b))
}

func TestBBox(t *testing.T) {
	t.Parallel()
	for _, ok := range [][4]float64{{-180, -90, 180, 90}, {170, -10, -170, 10}, {0, 5, 1, 5}} {
		require.NoError(t, geomrule.BBox(ok[0], ok[1], ok[2], ok[3]), ok)
	}
	for _, bad := range [][4]float64{{-180.1, 0, 0, 1}, {0, 0, 180.1, 1}, {0, -90.1, 1, 1}, {0, 0, 1, 90.1}, {0, 2, 1, 1}, {math.NaN(), 0, 1, 1}, {0, 0, math.Inf(1), 1}} {
		require.Error(t, geomrule.BBox(bad[0], bad[1], bad[2], bad[3]), bad)
	}
}

// FuzzCheck: any GeoJSON geometry go-geom decodes is either refused with a
// validation error or passes with every position in range, at most 3 numbers
// a position and the nesting, part and vertex limits kept; never a panic.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{
		`{"type":"Point","coordinates":[1,2]}`,
		`{"type":"Point","coordinates":[1,2,3,4,5]}`,
		`{"type":"Polygon","coordinates":[[[0,0],[0,1],[1,1],[0,0]]]}`,
		`{"type":"MultiPolygon","coordinates":[[[[0,0],[1,0],[1,1],[0,0]]],[[[5,5],[5,6],[6,6],[5,5]]]]}`,
		`{"type":"MultiLineString","coordinates":[[[0,0],[1,1]]]}`,
		nestedGC(3), nestedGC(6), nestedGC(40),
	} {
		f.Add(s)
	}
	lim := geomrule.Limits{MaxDepth: 4, MaxParts: 50, MaxVertices: 100}
	f.Fuzz(func(t *testing.T, s string) {
		var gg geojson.Geometry
		if json.Unmarshal([]byte(s), &gg) != nil {
			return
		}
		g, err := safeDecode(&gg)
		if err != nil || g == nil {
			return
		}
		err = geomrule.Check("geometry", g, lim)
		if err != nil {
			var ve *problem.ValidationError
			if !errors.As(err, &ve) || ve.Field != "geometry" || strings.TrimSpace(ve.Reason) == "" {
				t.Fatalf("not a validation error: %T %v", err, err)
			}
			return
		}
		depth, vertices := walk(t, g, 0)
		if depth > lim.MaxDepth || vertices > lim.MaxVertices {
			t.Fatalf("passed with depth %d, %d vertices", depth, vertices)
		}
	})
}

func safeDecode(gg *geojson.Geometry) (g geom.T, err error) {
	defer func() {
		if recover() != nil {
			g, err = nil, errors.New("panic")
		}
	}()
	return gg.Decode()
}

func walk(t *testing.T, g geom.T, depth int) (maxDepth, vertices int) {
	if gc, ok := g.(*geom.GeometryCollection); ok {
		maxDepth = depth + 1
		for _, m := range gc.Geoms() {
			d, v := walk(t, m, depth+1)
			maxDepth, vertices = max(maxDepth, d), vertices+v
		}
		return maxDepth, vertices
	}
	if g.Stride() > 3 {
		t.Fatalf("stride %d passed", g.Stride())
	}
	flat := g.FlatCoords()
	for i := 0; i+1 < len(flat); i += g.Stride() {
		if !(flat[i] >= -180 && flat[i] <= 180 && flat[i+1] >= -90 && flat[i+1] <= 90) {
			t.Fatalf("position (%g, %g) passed", flat[i], flat[i+1])
		}
	}
	return depth, len(flat) / g.Stride()
}
