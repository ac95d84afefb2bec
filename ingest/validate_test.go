package ingest

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/geoseek/geoseek/internal/problem"
)

// corruptJPEG is a JPEG start marker followed by junk: what a user means by
// "a corrupt file".
func corruptJPEG() []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	b := []byte{0xFF, 0xD8, 0xFF}
	for range 5000 {
		b = append(b, byte(rng.IntN(256)))
	}
	return b
}

// TestCheckImageRefuses: files whose type sniffs but whose header gives no
// image are refused as unsupported media, with the reason named.
func TestCheckImageRefuses(t *testing.T) {
	t.Parallel()
	dir, _ := loadReference(t)
	png, err := os.ReadFile(filepath.Join(dir, "mei__photoshop-8x12-rgb24.png"))
	if err != nil {
		t.Fatal(err)
	}
	badCRC := bytes.Clone(png)
	badCRC[29] ^= 0xFF // IHDR CRC
	cases := []struct {
		name string
		b    []byte
		why  string
	}{
		{"jpeg junk", corruptJPEG(), "JPEG has no readable frame header"},
		{"jpeg start only", []byte{0xFF, 0xD8, 0xFF}, "JPEG has no readable frame header"},
		{"jpeg zero size", []byte("\xFF\xD8\xFF\xC0\x00\x0B\x08\x00\x00\x00\x00\x01\x01\x11\x00\xFF\xD9"), "JPEG has no readable frame header"},
		{"png header only", png[:8], "PNG header does not parse"},
		{"png bad crc", badCRC, "PNG header does not parse"},
		{"webp junk", []byte("RIFF\x20\x00\x00\x00WEBPVP8 junkjunkjunkjunkjunk"), "WebP header does not parse"},
		{"tiff no ifd", []byte("II*\x00\xFF\xFF\x00\x00"), "TIFF has no readable IFD0"},
		{"heic no items", []byte("\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic"), "HEIC has no primary image"},
	}
	for _, c := range cases {
		m, err := ReadMeta(bytes.NewReader(c.b), int64(len(c.b)))
		if m != nil || !errors.Is(err, problem.ErrUnsupportedMedia) || !strings.Contains(err.Error(), c.why) {
			t.Errorf("%s: meta %v err %v, want unsupported media: %s", c.name, m != nil, err, c.why)
		}
	}
}

// TestCheckImageKeepsTruncated: a JPEG cut short after its frame header is a
// photo with a partial image, and keeps its size.
func TestCheckImageKeepsTruncated(t *testing.T) {
	t.Parallel()
	dir, _ := loadReference(t)
	b, err := os.ReadFile(filepath.Join(dir, "exif-samples__DSCN0010.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	cut := b[:len(b)*3/4] // inside the scan, past the EXIF thumbnail
	m, err := ReadMeta(bytes.NewReader(cut), int64(len(cut)))
	if err != nil || m.Width != 640 || m.Height != 480 {
		t.Fatalf("truncated JPEG: %v %v", m, err)
	}
}
