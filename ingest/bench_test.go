package ingest

import (
	"bytes"
	"image"
	"image/jpeg"
	"math"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/image/draw"
)

// BenchmarkReadMeta measures metadata extraction (container walk, EXIF
// sanitize + goexif decode, field checks) per container type.
func BenchmarkReadMeta(b *testing.B) {
	dir := photosDir(b)
	for _, name := range []string{
		"exiftool__Google.jpg", "mei__Sony_DSC-HX5V_2_.jpg", "mei__exif-at-eof.heic",
		"exifr__png_with_exif_and_gps.png", "mei__Issue_473_Java_.webp", "exif-rs__yaminale.tif",
	} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			r := bytes.NewReader(data)
			for b.Loop() {
				if _, err := ReadMeta(r, int64(len(data))); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func photoLike(w, h int) *image.YCbCr {
	img := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Y[y*img.YStride+x] = uint8((x*7 + y*13) % 256)
		}
	}
	for i := range img.Cb {
		img.Cb[i], img.Cr[i] = uint8(i%200), uint8(i%180)
	}
	return img
}

// BenchmarkScaleDown12MP: the thumbnail reduction of a decoded 12-megapixel
// JPEG, with the box pre-shrink and with BiLinear alone.
func BenchmarkScaleDown12MP(b *testing.B) {
	img := photoLike(4000, 3000)
	b.Run("box+bilinear", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			scaleDown(img, 1024)
		}
	})
	b.Run("bilinear", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			dst := image.NewRGBA(image.Rect(0, 0, 1024, 768))
			draw.BiLinear.Scale(dst, dst.Bounds(), img, img.Bounds(), draw.Src, nil)
		}
	})
}

// TestBoxShrinkMatchesBiLinear: the fast path gives (nearly) the picture
// BiLinear alone gives.
func TestBoxShrinkMatchesBiLinear(t *testing.T) {
	t.Parallel()
	f := corpusFile(t, "exif-samples__DSCN0010.jpg") // 640x480
	src, err := jpeg.Decode(bytes.NewReader(f.data))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := src.(*image.YCbCr); !ok {
		t.Fatalf("decoded as %T", src)
	}
	fast := scaleDown(src, 160).(*image.RGBA)
	slow := image.NewRGBA(fast.Bounds())
	draw.BiLinear.Scale(slow, slow.Bounds(), src, src.Bounds(), draw.Src, nil)
	var diff float64
	for i := range fast.Pix {
		diff += math.Abs(float64(fast.Pix[i]) - float64(slow.Pix[i]))
	}
	if mean := diff / float64(len(fast.Pix)); mean > 6 {
		t.Errorf("mean abs difference %.2f per channel", mean)
	}
	if fast.Bounds().Dx() != 160 || fast.Bounds().Dy() != 120 {
		t.Errorf("size %v", fast.Bounds())
	}
}
