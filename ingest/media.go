package ingest

import (
	"bytes"
	"fmt"

	"github.com/geoseek/geoseek/internal/problem"
)

// Media types geoseek stores.
const (
	MimeJPEG = "image/jpeg"
	MimeTIFF = "image/tiff"
	MimePNG  = "image/png"
	MimeWebP = "image/webp"
	MimeHEIC = "image/heic"
	MimeHEIF = "image/heif"
	MimeAVIF = "image/avif"
)

// SniffLen is how many leading bytes Sniff looks at.
const SniffLen = 32

// heicBrands are ISOBMFF brands of HEVC-coded HEIF images; heifBrands those of
// HEIF in general. AVIF is HEIF with AV1 coding: same container, same Exif
// item, so it is accepted and read the same way (its major brand decides).
var (
	heicBrands = map[string]bool{"heic": true, "heix": true, "heim": true, "heis": true, "hevc": true, "hevx": true}
	heifBrands = map[string]bool{"mif1": true, "msf1": true, "mif2": true}
	avifBrands = map[string]bool{"avif": true, "avis": true}
)

// Sniff returns the media type of a file from its first bytes (at least
// SniffLen of them when the file is that long). It never trusts a name or a
// client's Content-Type. It returns an error wrapping
// problem.ErrUnsupportedMedia for anything but JPEG, TIFF, PNG, WebP and
// HEIC/HEIF (AVIF included).
func Sniff(head []byte) (string, error) {
	switch {
	case len(head) >= 3 && head[0] == 0xFF && head[1] == 0xD8 && head[2] == 0xFF:
		return MimeJPEG, nil
	case bytes.HasPrefix(head, []byte("II*\x00")), bytes.HasPrefix(head, []byte("MM\x00*")):
		return MimeTIFF, nil
	case bytes.HasPrefix(head, []byte("\x89PNG\r\n\x1a\n")):
		return MimePNG, nil
	case len(head) >= 12 && string(head[0:4]) == "RIFF" && string(head[8:12]) == "WEBP":
		return MimeWebP, nil
	case len(head) >= 12 && string(head[4:8]) == "ftyp":
		if m := heifMime(head); m != "" {
			return m, nil
		}
	}
	return "", fmt.Errorf("%w: not a JPEG, TIFF, HEIC/HEIF/AVIF, PNG or WebP image", problem.ErrUnsupportedMedia)
}

// heifMime looks at the ftyp box's major brand and the compatible brands that
// fit in head.
func heifMime(head []byte) string {
	size := int(be32(head[0:4]))
	if size < 16 || size > len(head) {
		size = len(head)
	}
	if avifBrands[string(head[8:12])] {
		return MimeAVIF
	}
	brands := []string{string(head[8:12])}
	for i := 16; i+4 <= size; i += 4 {
		brands = append(brands, string(head[i:i+4]))
	}
	for _, b := range brands {
		if heicBrands[b] {
			return MimeHEIC
		}
	}
	for _, b := range brands {
		if heifBrands[b] {
			return MimeHEIF
		}
	}
	return ""
}

// Ext is the usual file name extension of a media type, for
// Content-Disposition names.
func Ext(mime string) string {
	switch mime {
	case MimeJPEG:
		return ".jpg"
	case MimeTIFF:
		return ".tif"
	case MimePNG:
		return ".png"
	case MimeWebP:
		return ".webp"
	case MimeHEIC:
		return ".heic"
	case MimeHEIF:
		return ".heif"
	case MimeAVIF:
		return ".avif"
	}
	return ""
}

func be16(b []byte) uint16 { return uint16(b[0])<<8 | uint16(b[1]) }
func be32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}
func le16(b []byte) uint16 { return uint16(b[0]) | uint16(b[1])<<8 }
func le24(b []byte) uint32 { return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 }
func le32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}
