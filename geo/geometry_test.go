package geo

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/twpayne/go-geom"
	"github.com/twpayne/go-geom/encoding/ewkb"
)

// TestAppendEWKBMatchesGoGeom: the direct point path writes exactly what
// decoding with go-geom and AppendGeoJSON writes, for every byte order, with
// and without SRID, at any precision; other geometries take go-geom's path.
func TestAppendEWKBMatchesGoGeom(t *testing.T) {
	t.Parallel()
	gs := []geom.T{
		geom.NewPointFlat(geom.XY, []float64{13.404954, 52.520008}).SetSRID(4326),
		geom.NewPointFlat(geom.XY, []float64{-180, -90}),
		geom.NewPointFlat(geom.XY, []float64{1e-7, 0.1 + 0.2}).SetSRID(4326),
		geom.NewPointFlat(geom.XYZ, []float64{1, 2, 3}).SetSRID(4326),
		geom.NewPointFlat(geom.XYM, []float64{1, 2, 3}),
		geom.NewPointEmpty(geom.XY).SetSRID(4326),
		geom.NewLineStringFlat(geom.XY, []float64{0, 0, 1, 1}).SetSRID(4326),
		geom.NewPolygonFlat(geom.XY, []float64{0, 0, 1, 0, 1, 1, 0, 0}, []int{8}).SetSRID(4326),
	}
	for _, g := range gs {
		for _, bo := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
			data, err := ewkb.Marshal(g, bo)
			if err != nil {
				t.Fatal(err)
			}
			for _, prec := range []int{-1, 0, 3, 6} {
				dec, err := ewkb.Unmarshal(data)
				if err != nil {
					t.Fatal(err)
				}
				want, err := AppendGeoJSON(nil, dec, prec)
				if err != nil {
					t.Fatal(err)
				}
				got, err := appendEWKB(nil, data, prec)
				if err != nil {
					t.Fatal(err)
				}
				if string(got) != string(want) {
					t.Errorf("%T %v precision %d: got %s, want %s", g, bo, prec, got, want)
				}
			}
		}
	}
}

func TestEWKBPointRejects(t *testing.T) {
	t.Parallel()
	pt := func(typ uint32, n int) []byte {
		b := []byte{1}
		b = binary.LittleEndian.AppendUint32(b, typ)
		for range n {
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(1))
		}
		return b
	}
	for name, data := range map[string][]byte{
		"nil":         nil,
		"short":       pt(1, 1),
		"long":        pt(1, 3),
		"byte order":  append([]byte{7}, pt(1, 2)[1:]...),
		"z flag":      pt(1|0x80000000, 3),
		"m flag":      pt(1|0x40000000, 3),
		"line string": pt(2, 2),
	} {
		if _, _, ok := ewkbPoint(data); ok {
			t.Errorf("%s: taken as a point", name)
		}
	}
	if x, y, ok := ewkbPoint(pt(1, 2)); !ok || x != 1 || y != 1 {
		t.Errorf("plain point: %v %v %v", x, y, ok)
	}
}

// TestTimeCacheMatchesAppendTime: cached or not, a time is written as
// RFC 3339 with nanoseconds, in UTC, as appendTime writes it.
func TestTimeCacheMatchesAppendTime(t *testing.T) {
	t.Parallel()
	berlin := time.FixedZone("CET", 3600)
	base := time.Date(2024, 2, 29, 23, 59, 59, 0, berlin)
	times := []time.Time{base, base, base.Add(time.Nanosecond), base.Add(120 * time.Millisecond), base.Add(time.Second),
		base.Add(999999999), time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(1969, 12, 31, 23, 59, 59, 500, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC), base.Add(time.Second + 10*time.Microsecond)}
	// Every day of 1600-2400 at a varying clock, and random instants over
	// the four-digit years and beyond them (AppendFormat's territory).
	for d := time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC); d.Year() < 2400; d = d.AddDate(0, 0, 1) {
		times = append(times, d.Add(time.Duration(d.YearDay()*997)*time.Second))
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 100000 {
		times = append(times, time.Unix(r.Int64N(800000000000)-400000000000, r.Int64N(1e9)))
	}
	var c timeCache
	for _, tm := range append(times, times...) {
		if got, want := string(c.append(nil, tm)), string(appendTime(nil, tm)); got != want {
			t.Errorf("%v: got %s, want %s", tm, got, want)
		}
	}
}
