package ingest

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/rwcarlsen/goexif/exif"
)

// seedFiles adds the small files of the photo corpus as fuzz seeds.
func seedFiles(f *testing.F, max int64) {
	dir := photosDir(f)
	ents, err := os.ReadDir(dir)
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range ents {
		info, err := e.Info()
		if err != nil || info.Size() > max || filepath.Ext(e.Name()) == ".json" || filepath.Ext(e.Name()) == ".md" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// FuzzReadMeta: any bytes give a Meta or an unsupported-media error, never a
// panic; coordinates are finite and in range; the tag set marshals to JSON.
func FuzzReadMeta(f *testing.F) {
	seedFiles(f, 12<<10)
	f.Add(tiffBlock(f, []entry{{0x010F, 3, 0x80000001, 8}}, 0))
	f.Add(cycleBlock())
	gps := tiffBlock(f, []entry{{0x0112, 3, 1, 6}, {tagGPSIFD, 4, 1, 30}}, 0)
	f.Add(miniHEIF(gps, 4032, 3024, false, false))
	f.Add(miniHEIF(gps, 640, 480, true, true))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ReadMeta(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			if m != nil {
				t.Fatal("meta with error")
			}
			return
		}
		checkMetaInvariants(t, m)
		if m.Width <= 0 || m.Height <= 0 || m.Width > maxSide || m.Height > maxSide {
			t.Fatalf("a photo of %dx%d", m.Width, m.Height)
		}
	})
}

func checkMetaInvariants(t *testing.T, m *Meta) {
	t.Helper()
	if m.Lat != nil && (math.IsNaN(*m.Lat) || *m.Lat < -90 || *m.Lat > 90) {
		t.Fatalf("lat %v", *m.Lat)
	}
	if m.Lon != nil && (math.IsNaN(*m.Lon) || *m.Lon < -180 || *m.Lon > 180) {
		t.Fatalf("lon %v", *m.Lon)
	}
	if m.AltM != nil && (math.IsNaN(*m.AltM) || math.IsInf(*m.AltM, 0)) {
		t.Fatalf("alt %v", *m.AltM)
	}
	if m.ImgDirection != nil && (*m.ImgDirection < 0 || *m.ImgDirection >= 360) {
		t.Fatalf("direction %v", *m.ImgDirection)
	}
	if m.Orientation < 0 || m.Orientation > 8 {
		t.Fatalf("orientation %d", m.Orientation)
	}
	if _, err := json.Marshal(m.Tags); err != nil {
		t.Fatalf("tags: %v", err)
	}
}

// FuzzSanitizeTIFF: whatever sanitizeTIFF accepts, goexif decodes without
// panicking, hanging or allocating wildly (run here without recover, so a
// goexif failure the sanitizer lets through is found).
func FuzzSanitizeTIFF(f *testing.F) {
	f.Add(tiffBlock(f, []entry{{0x010F, 3, 0x80000001, 8}}, 0))
	f.Add(tiffBlock(f, []entry{{tagExifIFD, 4, 1, 8}, {0x0112, 3, 1, 6}}, 0))
	f.Add(tiffBlock(f, []entry{{tagGPSIFD, 4, 1, 30}, {0x0002, 5, 3, 40}}, 0))
	f.Add(cycleBlock())
	f.Fuzz(func(t *testing.T, b []byte) {
		clean, _, err := sanitizeTIFF(b)
		if err != nil {
			return
		}
		x, err := exif.Decode(bytes.NewReader(clean))
		if err != nil && x == nil {
			return
		}
		m := &Meta{}
		m.fill(x)
		loadOffsetTimes(x)
		checkMetaInvariants(t, m)
	})
}
