package geo

import (
	"encoding/binary"
	"encoding/json"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/twpayne/go-geom"
	"github.com/twpayne/go-geom/encoding/ewkb"
	"github.com/twpayne/go-geom/encoding/geojson"

	"github.com/geoseek/geoseek/geo/cql2"
)

func benchFeature() *Feature {
	now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	return &Feature{ID: 123456, ExternalID: []byte("ext-1"), Title: []byte("A photo of the harbour"), Tags: []byte(`["sea","boat"]`),
		Props:    []byte(`{"camera": "X100V", "iso": 200}`),
		PeriodLo: pgtype.Timestamptz{Time: now, Valid: true}, PeriodHi: pgtype.Timestamptz{Time: now, Valid: true},
		Geometry: geom.NewPointFlat(geom.XY, []float64{13.404954, 52.520008}).SetSRID(4326),
		Created:  now, Updated: now}
}

// BenchmarkAppendFeature is the per-feature cost of the items stream.
func BenchmarkAppendFeature(b *testing.B) {
	s := NewService(nil, nil, Options{})
	f := benchFeature()
	col := &Collection{Name: "places"}
	sel := newSelector(nil)
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		buf, err = s.appendFeature(buf[:0], f, col, -1, sel)
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppendFeatureEWKB is the same feature as the items stream reads
// it: the point still in EWKB.
func BenchmarkAppendFeatureEWKB(b *testing.B) {
	s := NewService(nil, nil, Options{})
	f := benchFeature()
	var err error
	if f.EWKB, err = ewkb.Marshal(f.Geometry, binary.LittleEndian); err != nil {
		b.Fatal(err)
	}
	f.Geometry = nil
	col := &Collection{Name: "places"}
	sel := newSelector(nil)
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		buf, err = s.appendFeature(buf[:0], f, col, -1, sel)
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGeometryGoGeomGeoJSON is go-geom's own encoder, for comparison
// with AppendGeoJSON.
func BenchmarkGeometryGoGeomGeoJSON(b *testing.B) {
	g := geom.NewPolygonFlat(geom.XY, []float64{0, 0, 1, 0, 1, 1, 0, 1, 0, 0}, []int{10})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := geojson.Marshal(g); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendGeoJSON(b *testing.B) {
	g := geom.NewPolygonFlat(geom.XY, []float64{0, 0, 1, 0, 1, 1, 0, 1, 0, 0}, []int{10})
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = AppendGeoJSON(buf[:0], g, -1); err != nil {
			b.Fatal(err)
		}
	}
	if !json.Valid(buf) {
		b.Fatal("invalid")
	}
}

func BenchmarkCQL2Compile(b *testing.B) {
	const f = `iso > 100 AND S_INTERSECTS(geometry, BBOX(1,2,3,4)) AND T_INTERSECTS(datetime, INTERVAL('2024-01-01','..')) AND title LIKE 'A%'`
	b.ReportAllocs()
	for b.Loop() {
		if _, err := cql2.Compile(f, cql2.Env{}, 1); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFeatureDoc converts a Feature with a point, an id, a period and
// a few properties into a document (the write path of POST items and
// imports).
func BenchmarkFeatureDoc(b *testing.B) {
	raw := []byte(`{"type":"Feature","id":"tram-28","geometry":{"type":"Point","coordinates":[-9.14,38.71]},
		"properties":{"title":"Tram 28","body":"yellow tram","tags":["tram","city"],"start":"2024-05-01T12:00:00Z",
		"end":"2024-05-01T13:00:00Z","color":"yellow","line":28,"wheelchair":false}}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := FeatureDoc("feature", "photos", raw, FeatureOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
