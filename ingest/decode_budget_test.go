package ingest

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"strings"
	"testing"
	"time"

	"github.com/geoseek/geoseek/internal/problem"
)

func pngOf(t testing.TB, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestDecodeBytes(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		data func() []byte
		want int64
	}{
		{"rgba16 png", func() []byte { return pngOf(t, image.NewRGBA64(image.Rect(0, 0, 100, 50))) }, 100 * 50 * 8},
		{"gray png", func() []byte { return pngOf(t, image.NewGray(image.Rect(0, 0, 100, 50))) }, 100 * 50},
		{"jpeg", func() []byte {
			var buf bytes.Buffer
			_ = jpeg.Encode(&buf, image.NewRGBA(image.Rect(0, 0, 100, 50)), nil)
			return buf.Bytes()
		}, 100 * 50 * 3},
	} {
		b := c.data()
		cfg, format, err := image.DecodeConfig(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		if got := decodeBytes(cfg) * decodeFactor(bytes.NewReader(b), format); got != c.want {
			t.Errorf("%s: %d bytes, want %d", c.name, got, c.want)
		}
	}
	// A progressive JPEG (SOF2) holds its coefficients too; a baseline one
	// (SOF0, what image/jpeg writes) does not.
	prog := []byte{0xFF, 0xD8, 0xFF, 0xE0, 0, 4, 'J', 'F', 0xFF, 0xC2, 0, 11}
	if !jpegProgressive(bytes.NewReader(prog)) || decodeFactor(bytes.NewReader(prog), "jpeg") != 5 {
		t.Error("SOF2 not seen as progressive")
	}
	if jpegProgressive(bytes.NewReader(corpusFile(t, "exif-samples__DSCN0010.jpg").data)) {
		t.Error("a baseline JPEG seen as progressive")
	}
}

// TestDecodeBudget: a 16-bit RGBA PNG is small on disk and large decoded.
// Its decode is refused when it needs more than the whole budget, and waits
// while other decodes hold the budget, across thumbnail jobs.
func TestDecodeBudget(t *testing.T) {
	t.Parallel()
	img := image.NewRGBA64(image.Rect(0, 0, 1000, 1000)) // 8 MB decoded
	for y := range 1000 {
		img.SetRGBA64(y, y, color.RGBA64{R: 0xffff, A: 0xffff})
	}
	data := pngOf(t, img)

	b := setup(t, Config{DecodeBudget: 4 << 20})
	p := uploaded(t, b.upload(t, upFile{name: "wide.png", data: data}))
	err := b.svc.MakeThumbnails(t.Context(), p.ID)
	if !errors.Is(err, problem.ErrTooLarge) || !strings.Contains(err.Error(), "decode budget") {
		t.Fatalf("over the whole budget: %v", err)
	}

	b2 := setup(t, Config{DecodeBudget: 10 << 20})
	p2 := uploaded(t, b2.upload(t, upFile{name: "wide.png", data: data}))
	// Another decode holds 5 MB: this one (8 MB) waits, until its context ends.
	if err := b2.svc.decodeBudget.sem.Acquire(t.Context(), 5<<20); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if err := b2.svc.MakeThumbnails(ctx, p2.ID); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("while the budget is held: %v", err)
	}
	b2.svc.decodeBudget.sem.Release(5 << 20)
	if err := b2.svc.MakeThumbnails(t.Context(), p2.ID); err != nil {
		t.Fatalf("once the budget is free: %v", err)
	}
	// The budget is whole again.
	if !b2.svc.decodeBudget.sem.TryAcquire(10 << 20) {
		t.Fatal("decode budget not given back")
	}
}
