package geo

import (
	"bytes"
	"testing"
	"unicode/utf8"

	"github.com/twpayne/go-geom"

	"github.com/geoseek/geoseek/internal/textcheck"
)

// FuzzImportStream runs an import's staging pass (the one that reads a
// client's body: UTF-8 check, FeatureCollection or GeoJSON-sequence
// reader, feature decoding and the geometry rule) over arbitrary bytes.
// Malformed input must end in an error, never a panic or a hang; what
// passes must be valid UTF-8 with positions on the globe.
func FuzzImportStream(f *testing.F) {
	for _, s := range []string{
		`{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"Point","coordinates":[1,2]},"properties":{"title":"a"}}]}`,
		`{"type":"Feature","geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]]]},"properties":{"name":"b","tags":["x"]}}` + "\n" +
			"\x1e" + `{"type":"Feature","geometry":null,"properties":{"start":"2024-01-01","end":null}}` + "\n",
		`{"features":[{"type":"Feature","geometry":{"type":"GeometryCollection","geometries":[{"type":"Point","coordinates":[1,2,3]}]},"properties":{}}],"type":"FeatureCollection","bbox":[0,0,1,1]}`,
		`{"type":"FeatureCollection","features":[` + "\xff" + `]}`,
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, b []byte, sequence bool) {
		format := FormatFeatureCollection
		if sequence {
			format = FormatSeq
		}
		src := newFeatureSource("c", format, "", textcheck.NewReader(bytes.NewReader(b), "body"))
		var rows [][]any
		for n := 0; src.Next(); n++ {
			if n > len(b) {
				t.Fatalf("more features than bytes")
			}
			rows = append(rows, src.row)
		}
		if src.finish() != nil {
			return
		}
		if !utf8.Valid(b) {
			t.Fatalf("invalid UTF-8 accepted")
		}
		for _, r := range rows {
			if g, _ := r[8].(geom.T); g != nil {
				onGlobe(t, g)
			}
		}
	})
}

func onGlobe(t *testing.T, g geom.T) {
	if gc, ok := g.(*geom.GeometryCollection); ok {
		for i := range gc.NumGeoms() {
			onGlobe(t, gc.Geom(i))
		}
		return
	}
	flat, stride := g.FlatCoords(), g.Stride()
	for i := 0; i+1 < len(flat); i += stride {
		if flat[i] < -180 || flat[i] > 180 || flat[i+1] < -90 || flat[i+1] > 90 {
			t.Fatalf("position %v off the globe accepted", flat[i:i+2])
		}
	}
}
