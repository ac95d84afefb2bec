package ingest

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"net/http"
	"testing"
)

// storedFor returns the pixels a camera stores for a displayed image when it
// tags them with orientation o: the inverse of orient.
func storedFor(display image.Image, o int) image.Image {
	inverse := map[int]int{1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 8, 7: 7, 8: 6}
	return orient(display, inverse[o])
}

// markedImage is a w×h grey image whose top-left 8×8 corner is red.
func markedImage(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := color.RGBA{128, 128, 128, 255}
			if x < 8 && y < 8 {
				c = color.RGBA{255, 0, 0, 255}
			}
			img.Set(x, y, c)
		}
	}
	return img
}

// jpegWithOrientation encodes img as a JPEG whose APP1 holds an EXIF IFD0
// with Orientation o and, when px > 0, PixelXDimension × PixelYDimension in
// an Exif sub-IFD.
func jpegWithOrientation(t testing.TB, img image.Image, o int, px, py uint32) []byte {
	t.Helper()
	var enc bytes.Buffer
	if err := jpeg.Encode(&enc, img, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	entries := []entry{{0x0112, 3, 1, uint32(o)}}
	var tiff []byte
	if px > 0 {
		// IFD0 at 8 with two entries ends at 8+2+24+4 = 38; the Exif IFD follows.
		entries = append(entries, entry{tagExifIFD, 4, 1, 38})
		tiff = tiffBlock(t, entries, 0)[:38]
		sub := tiffBlock(t, []entry{{0xA002, 4, 1, px}, {0xA003, 4, 1, py}}, 0)[8:]
		tiff = append(tiff, sub...)
	} else {
		tiff = tiffBlock(t, entries, 0)
	}
	app1 := append([]byte("Exif\x00\x00"), tiff...)
	seg := []byte{0xFF, 0xE1, byte((len(app1) + 2) >> 8), byte(len(app1) + 2)}
	out := append([]byte{0xFF, 0xD8}, seg...)
	out = append(out, app1...)
	return append(out, enc.Bytes()[2:]...)
}

func isRed(c color.Color) bool {
	r, g, b, _ := c.RGBA()
	return r > 0xC000 && g < 0x6000 && b < 0x6000
}

// TestThumbnailOrientations: for each of the 8 EXIF orientations, a
// non-square photo whose displayed top-left corner is marked gets a
// thumbnail of the displayed shape with the mark at its top-left.
func TestThumbnailOrientations(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	ctx := context.Background()
	display := markedImage(64, 40)
	for o := 1; o <= 8; o++ {
		data := jpegWithOrientation(t, storedFor(display, o), o, 0, 0)
		p, _, err := b.svc.Ingest(ctx, fmt.Sprintf("o%d.jpg", o), bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		if p.Orientation == nil || *p.Orientation != o {
			t.Errorf("orientation %d: stored %v", o, p.Orientation)
		}
		if err := b.svc.MakeThumbnails(ctx, p.ID); err != nil {
			t.Fatal(err)
		}
		rec := b.do(t, http.MethodGet, fmt.Sprintf("/photos/%d/thumbnail?size=256", p.ID), nil, "")
		thumb, err := jpeg.Decode(rec.Body)
		if err != nil {
			t.Fatalf("orientation %d: %v", o, err)
		}
		bd := thumb.Bounds()
		if bd.Dx() != 64 || bd.Dy() != 40 {
			t.Errorf("orientation %d: thumbnail %dx%d, want 64x40", o, bd.Dx(), bd.Dy())
			continue
		}
		corners := []image.Point{{2, 2}, {61, 2}, {2, 37}, {61, 37}}
		for i, c := range corners {
			if isRed(thumb.At(c.X, c.Y)) != (i == 0) {
				t.Errorf("orientation %d: corner %v red=%v", o, c, !(i == 0))
			}
		}
	}
}

// TestStaleOrientation: a stitched panorama whose EXIF (orientation 6, a
// 3264x2448 frame) was copied from one source frame has upright pixels of
// another shape; its thumbnail is not turned on its side, and a photo whose
// EXIF size matches its pixels keeps its orientation.
func TestStaleOrientation(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	f := corpusFile(t, "goexif__has-lens-info.jpg") // 205x102 equirectangular, EXIF of a 3264x2448 frame
	p := uploaded(t, b.upload(t, f))
	if p.Orientation == nil || *p.Orientation != 1 || p.EXIFError == nil {
		t.Fatalf("orientation %v, exif_error %v; want 1 with a note", p.Orientation, p.EXIFError)
	}
	if err := b.svc.MakeThumbnails(context.Background(), p.ID); err != nil {
		t.Fatal(err)
	}
	rec := b.do(t, http.MethodGet, fmt.Sprintf("/photos/%d/thumbnail?size=256", p.ID), nil, "")
	cfg, err := jpeg.DecodeConfig(rec.Body)
	if err != nil || cfg.Width != 205 || cfg.Height != 102 {
		t.Errorf("thumbnail %dx%d (%v), want 205x102", cfg.Width, cfg.Height, err)
	}

	// The same orientation with a matching EXIF size (scaled, either way
	// round) is applied.
	display := markedImage(40, 64)
	for _, px := range [][2]uint32{{640, 400}, {400, 640}} {
		data := jpegWithOrientation(t, storedFor(display, 6), 6, px[0], px[1])
		m, err := ReadMeta(bytes.NewReader(data), int64(len(data)))
		if err != nil || m.DisplayOrientation() != 6 || m.Width != 64 || m.Height != 40 {
			t.Errorf("exif size %v: %+v %v", px, m, err)
		}
	}
	data := jpegWithOrientation(t, storedFor(display, 6), 6, 3264, 2448)
	m, err := ReadMeta(bytes.NewReader(data), int64(len(data)))
	if err != nil || m.Orientation != 6 || m.DisplayOrientation() != 1 {
		t.Errorf("stale: %+v %v", m, err)
	}
}
