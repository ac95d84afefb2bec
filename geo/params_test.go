package geo

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
	"github.com/twpayne/go-geom"

	"github.com/geoseek/geoseek/internal/problem"
)

func TestParseBBox(t *testing.T) {
	t.Parallel()
	b, err := ParseBBox("bbox", "1,2,3,4")
	require.NoError(t, err)
	require.Equal(t, BBox{1, 2, 3, 4}, b)
	require.Len(t, b.Boxes(), 1)

	b, err = ParseBBox("bbox", "170,-10,-170,10")
	require.NoError(t, err)
	require.True(t, b.Crosses())
	require.Equal(t, []BBox{{170, -10, 180, 10}, {-180, -10, -170, 10}}, b.Boxes())

	b, err = ParseBBox("bbox", "1,2,0,3,4,10")
	require.NoError(t, err)
	require.Equal(t, BBox{1, 2, 3, 4}, b)

	for _, bad := range []string{"", "1,2,3", "1,2,3,x", "1,2,3,NaN", "1,2,3,Inf", "-181,0,0,1", "0,5,1,4", "0,-91,1,0", "1,2,3,4,5"} {
		_, err := ParseBBox("bbox", bad)
		var ve *problem.ValidationError
		require.True(t, errors.As(err, &ve), "%q: %v", bad, err)
		require.Equal(t, "bbox", ve.Field)
	}
}

func TestParseDatetime(t *testing.T) {
	t.Parallel()
	t1 := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	t2 := time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		in         string
		start, end *time.Time
	}{
		{"2024-05-01T12:00:00Z", &t1, &t1},
		{"2024-05-01T12:00:00Z/2024-06-01T00:00:00Z", &t1, &t2},
		{"../2024-06-01", nil, &t2},
		{"2024-05-01T12:00:00Z/..", &t1, nil},
		{"2024-05-01T12:00:00Z/", &t1, nil},
		{"/2024-06-01", nil, &t2},
	}
	for _, c := range cases {
		iv, err := ParseDatetime("datetime", c.in)
		require.NoError(t, err, c.in)
		if c.start == nil {
			require.Nil(t, iv.Start, c.in)
		} else {
			require.True(t, c.start.Equal(*iv.Start), c.in)
		}
		if c.end == nil {
			require.Nil(t, iv.End, c.in)
		} else {
			require.True(t, c.end.Equal(*iv.End), c.in)
		}
	}
	for _, bad := range []string{"", "yesterday", "../..", "/", "2024-06-01/2024-05-01", "2024-05-01/nope"} {
		_, err := ParseDatetime("datetime", bad)
		require.Error(t, err, bad)
	}
	_, err := ParseDatetime("datetime", "2024-05-01/nope")
	var ve *problem.ValidationError
	require.ErrorAs(t, err, &ve)
	require.Equal(t, 11, ve.Pos)
}

func TestParseLimitSortProps(t *testing.T) {
	t.Parallel()
	n, err := ParseLimit("limit", "")
	require.NoError(t, err)
	require.Equal(t, DefaultLimit, n)
	n, err = ParseLimit("limit", "10000")
	require.NoError(t, err)
	require.Equal(t, 10000, n)
	for _, bad := range []string{"0", "-1", "10001", "x", "1e3"} {
		_, err := ParseLimit("limit", bad)
		require.Error(t, err, bad)
	}
	s, err := ParseSortby("sortby", "-datetime")
	require.NoError(t, err)
	require.Equal(t, Sort{Key: SortDatetime, Desc: true}, s)
	s, err = ParseSortby("sortby", " title") // "+title" decoded from a query string
	require.NoError(t, err)
	require.Equal(t, Sort{Key: SortTitle}, s)
	_, err = ParseSortby("sortby", "geom; DROP TABLE documents")
	require.Error(t, err)

	p, err := ParseProperties("properties", "title,camera:make")
	require.NoError(t, err)
	require.Equal(t, []string{"title", "camera:make"}, p)
	_, err = ParseProperties("properties", "title,a'b")
	var ve *problem.ValidationError
	require.ErrorAs(t, err, &ve)
	require.Equal(t, 6, ve.Pos)
}

func TestValidateGeometryRewinds(t *testing.T) {
	t.Parallel()
	// Clockwise exterior with a counter-clockwise hole: both wrong per RFC 7946.
	raw := `{"type":"Polygon","coordinates":[[[0,0],[0,10],[10,10],[10,0],[0,0]],[[2,2],[4,2],[4,4],[2,4],[2,2]]]}`
	g, err := DecodeGeometry("geometry", json.RawMessage(raw))
	require.NoError(t, err)
	require.Equal(t, SRID, g.SRID())
	b, err := AppendGeoJSON(nil, g, -1)
	require.NoError(t, err)
	require.Equal(t, `{"type":"Polygon","coordinates":[[[0,0],[10,0],[10,10],[0,10],[0,0]],[[2,2],[2,4],[4,4],[4,2],[2,2]]]}`, string(b))
}

func TestRewindMultiPolygon(t *testing.T) {
	t.Parallel()
	raw := `{"type":"MultiPolygon","coordinates":[[[[0,0],[1,0],[1,1],[0,0]]],[[[5,5],[5,6],[6,6],[5,5]]]]}`
	g, err := DecodeGeometry("geometry", json.RawMessage(raw))
	require.NoError(t, err)
	b, err := AppendGeoJSON(nil, g, -1)
	require.NoError(t, err)
	require.Equal(t, `{"type":"MultiPolygon","coordinates":[[[[0,0],[1,0],[1,1],[0,0]]],[[[5,5],[6,6],[5,6],[5,5]]]]}`, string(b))
}

func TestDecodeGeometryRejects(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{
		`{"type":"Point","coordinates":[181,0]}`,
		`{"type":"Point","coordinates":[0,91]}`,
		`{"type":"Point","coordinates":[0]}`,
		`{"type":"Point","coordinates":[]}`,
		`{"type":"LineString","coordinates":[[0,0]]}`,
		`{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,1]]]}`,
		`{"type":"Polygon","coordinates":[[[0,0],[1,0],[0,0]]]}`,
		`{"type":"Circle","coordinates":[0,0]}`,
		`{"coordinates":[0,0]}`,
		`{"type":"GeometryCollection","geometries":[{"type":"Point","coordinates":[0,100]}]}`,
		`[1,2]`,
	} {
		_, err := DecodeGeometry("geometry", json.RawMessage(bad))
		var ve *problem.ValidationError
		require.ErrorAs(t, err, &ve, bad)
	}
}

func TestAppendGeoJSONPrecision(t *testing.T) {
	t.Parallel()
	p := geom.NewPointFlat(geom.XYZ, []float64{12.3456789, -0.0000001, 100})
	b, err := AppendGeoJSON(nil, p, 3)
	require.NoError(t, err)
	require.Equal(t, `{"type":"Point","coordinates":[12.346,0,100]}`, string(b))
	pm := geom.NewPointFlat(geom.XYM, []float64{1, 2, 3})
	b, err = AppendGeoJSON(nil, pm, -1)
	require.NoError(t, err)
	require.Equal(t, `{"type":"Point","coordinates":[1,2]}`, string(b))
}

func FuzzParseBBox(f *testing.F) {
	for _, s := range []string{"1,2,3,4", "170,-10,-170,10", "1,2,0,3,4,5", "a,b", "-180,-90,180,90"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, err := ParseBBox("bbox", s)
		if err != nil {
			return
		}
		for _, x := range b.Boxes() {
			if x.MinX > x.MaxX || x.MinX < -180 || x.MaxX > 180 || x.MinY < -90 || x.MaxY > 90 || x.MinY > x.MaxY {
				t.Fatalf("%q -> bad box %+v", s, x)
			}
		}
	})
}

func FuzzParseDatetime(f *testing.F) {
	for _, s := range []string{"2024-05-01T12:00:00Z", "../2024-01-01", "2024-01-01/..", "a/b", "/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		iv, err := ParseDatetime("datetime", s)
		if err != nil {
			return
		}
		if iv.Start == nil && iv.End == nil {
			t.Fatalf("%q: unbounded", s)
		}
		if iv.Start != nil && iv.End != nil && iv.End.Before(*iv.Start) {
			t.Fatalf("%q: reversed", s)
		}
	})
}

func FuzzDecodeGeometry(f *testing.F) {
	for _, s := range []string{
		`{"type":"Point","coordinates":[1,2]}`,
		`{"type":"Polygon","coordinates":[[[0,0],[0,10],[10,10],[10,0],[0,0]]]}`,
		`{"type":"GeometryCollection","geometries":[{"type":"LineString","coordinates":[[0,0],[1,1,1]]}]}`,
		`{"type":"MultiPolygon","coordinates":[[[[0,0],[1,0],[1,1],[0,0]]],[]]}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		g, err := DecodeGeometry("geometry", json.RawMessage(s))
		if err != nil || g == nil {
			return
		}
		if _, ok := g.(*geom.GeometryCollection); ok {
			return
		}
		flat := g.FlatCoords()
		for i := 0; i+1 < len(flat) && g.Stride() > 1; i += g.Stride() {
			if flat[i] < -180 || flat[i] > 180 || flat[i+1] < -90 || flat[i+1] > 90 {
				t.Fatalf("%q: out of range position accepted", s)
			}
		}
		b, err := AppendGeoJSON(nil, g, -1)
		if err != nil {
			t.Fatalf("%q: encode: %v", s, err)
		}
		if !json.Valid(b) {
			t.Fatalf("%q: invalid JSON %s", s, b)
		}
		if !strings.HasPrefix(string(b), `{"type":"`) {
			t.Fatalf("%q: %s", s, b)
		}
	})
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"plain", `q"uote`, "<b>&", "tab\there", "ünï", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := appendJSONString(nil, s)
		var back string
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("%q -> %s: %v", s, b, err)
		}
		if utf8.ValidString(s) && back != s {
			t.Fatalf("%q -> %s -> %q", s, b, back)
		}
	})
}

func TestOpenAPIPaths(t *testing.T) {
	t.Parallel()
	p := OpenAPIPaths()
	b, err := json.Marshal(p)
	require.NoError(t, err)
	for _, path := range []string{"/", "/conformance", "/collections", "/collections/{collection}/items", "/collections/{collection}/items/{id}", "/tiles/{collection}/{z}/{x}/{y}.mvt"} {
		require.Contains(t, p, path)
	}
	require.True(t, json.Valid(b))
}
