package ingest

import (
	"fmt"
	"image/png"
	"io"

	"golang.org/x/image/webp"

	"github.com/geoseek/geoseek/internal/problem"
)

// maxSide bounds either side of an image geoseek calls a photo: the largest
// side JPEG, WebP and HEIF's ispe can state is far above any camera, so a
// larger value is a corrupt header rather than a picture.
const maxSide = 1 << 20

// checkImage is geoseek's rule for what a photo is, once its type is sniffed:
// the format's header parses and gives the image's size. JPEG needs a frame
// header (SOFn) before its scan; PNG an IHDR that image/png accepts (CRC
// included); WebP a VP8, VP8L or VP8X header that x/image/webp accepts;
// HEIC/HEIF/AVIF a primary item with an ispe box; TIFF (and TIFF-based raw
// files) a readable IFD0 with ImageWidth and ImageLength. The pixel data is
// not decoded: a file cut short after its header is a photo whose image is
// partial (it gets no thumbnail if the decoder gives up). Anything else is
// refused with an error wrapping problem.ErrUnsupportedMedia naming the
// reason; width and height are the size the header states.
func checkImage(r io.ReaderAt, size int64, mime string, width, height int) error {
	var err error
	switch mime {
	case MimePNG:
		_, err = png.DecodeConfig(io.NewSectionReader(r, 0, size))
	case MimeWebP:
		_, err = webp.DecodeConfig(io.NewSectionReader(r, 0, size))
	}
	if err != nil {
		return fmt.Errorf("%w: %s header does not parse: %v", problem.ErrUnsupportedMedia, formatName(mime), err)
	}
	if width <= 0 || height <= 0 {
		return fmt.Errorf("%w: %s", problem.ErrUnsupportedMedia, noSizeReason(mime))
	}
	if width > maxSide || height > maxSide {
		return fmt.Errorf("%w: %s header states an image of %dx%d pixels", problem.ErrUnsupportedMedia, formatName(mime), width, height)
	}
	return nil
}

// noSizeReason says, per format, which header a file without an image size
// lacks.
func noSizeReason(mime string) string {
	switch mime {
	case MimeJPEG:
		return "JPEG has no readable frame header (SOF) giving the image size: corrupt or not an image"
	case MimeTIFF:
		return "TIFF has no readable IFD0 giving the image size (ImageWidth, ImageLength)"
	case MimeHEIC, MimeHEIF, MimeAVIF:
		return formatName(mime) + " has no primary image with a size (ispe box)"
	}
	return formatName(mime) + " header gives no image size"
}

// formatName is the short name of a media type, for messages.
func formatName(mime string) string {
	switch mime {
	case MimeJPEG:
		return "JPEG"
	case MimeTIFF:
		return "TIFF"
	case MimePNG:
		return "PNG"
	case MimeWebP:
		return "WebP"
	case MimeHEIC:
		return "HEIC"
	case MimeHEIF:
		return "HEIF"
	case MimeAVIF:
		return "AVIF"
	}
	return mime
}
