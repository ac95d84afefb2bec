package bench

import (
	"bytes"
	"image/jpeg"
	"os"
	"testing"

	"github.com/geoseek/geoseek/ingest"
)

// TestPhotoCorpus: the files are real JPEGs of at least minBytes, distinct,
// with a GPS position geoseek reads; a second call reuses them.
func TestPhotoCorpus(t *testing.T) {
	dir := t.TempDir()
	paths, err := PhotoCorpus(t.Context(), dir, 3, 200<<10)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) < 200<<10 || seen[string(b)] {
			t.Fatalf("%s: %d bytes, duplicate %v", p, len(b), seen[string(b)])
		}
		seen[string(b)] = true
		if _, err := jpeg.DecodeConfig(bytes.NewReader(b)); err != nil {
			t.Fatal(err)
		}
		m, err := ingest.ReadMeta(bytes.NewReader(b), int64(len(b)))
		if err != nil || !m.HasGPS() || *m.Lat < 36 || *m.Lat > 60 || m.Make != "GeoCam" {
			t.Fatalf("%s: meta %+v, %v", p, m, err)
		}
	}
	fi, _ := os.Stat(paths[0])
	again, err := PhotoCorpus(t.Context(), dir, 3, 200<<10)
	fi2, _ := os.Stat(again[0])
	if err != nil || !fi.ModTime().Equal(fi2.ModTime()) {
		t.Fatalf("second call remade the files: %v", err)
	}
}
