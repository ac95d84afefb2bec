package ingest

import (
	"bytes"
	"compress/zlib"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// MaxEXIFBytes bounds the EXIF block read from a file and handed to goexif.
// Real EXIF (JPEG APP1 is at most 64 KiB) is far smaller; a larger block is
// refused rather than read.
const MaxEXIFBytes = 256 << 10

// maxMetaBox bounds an ISOBMFF `meta` box read into memory (item info and
// locations of a HEIC; a few KiB in practice, more for many-tile grids).
const maxMetaBox = 4 << 20

// maxSegments bounds how many JPEG segments or PNG/WebP chunks are walked
// before giving up, so a file made of millions of empty chunks costs little.
const maxSegments = 1 << 16

var errNoEXIF = errors.New("no EXIF block")

// located is what a container walk found: the EXIF block as TIFF bytes
// (starting "II*\0" or "MM\0*"), and the pixel size of the main image.
type located struct {
	exif          []byte
	exifErr       error    // why no EXIF block was taken (errNoEXIF when simply absent)
	warnings      []string // entries dropped while locating (TIFF files)
	width, height int
}

// readAt reads exactly n bytes at off.
func readAt(r io.ReaderAt, off int64, n int) ([]byte, error) {
	if off < 0 || n < 0 {
		return nil, io.ErrUnexpectedEOF
	}
	b := make([]byte, n)
	got, err := r.ReadAt(b, off)
	if got == n {
		return b, nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return nil, err
}

// locate walks the container of a file of the given media type, reading only
// the headers it needs, and returns the EXIF block and the image's size.
func locate(r io.ReaderAt, size int64, mime string) located {
	var l located
	switch mime {
	case MimeJPEG:
		l = locateJPEG(r, size)
	case MimeTIFF:
		l = locateTIFF(r, size)
	case MimePNG:
		l = locatePNG(r, size)
	case MimeWebP:
		l = locateWebP(r, size)
	case MimeHEIC, MimeHEIF, MimeAVIF:
		l = locateHEIF(r, size)
	default:
		l.exifErr = fmt.Errorf("no EXIF reader for %s", mime)
	}
	if l.exif == nil && l.exifErr == nil {
		l.exifErr = errNoEXIF
	}
	return l
}

var exifHeader = []byte("Exif\x00\x00")

// trimExifHeader drops what some writers put before the TIFF header: the
// "Exif\0\0" prefix (WebP and PNG should not have it; many files do) or a few
// other bytes (a wrong HEIF header offset): the TIFF header is looked for in
// the first 64 bytes.
func trimExifHeader(b []byte) []byte {
	b = bytes.TrimPrefix(b, exifHeader)
	if bytes.HasPrefix(b, []byte("II*\x00")) || bytes.HasPrefix(b, []byte("MM\x00*")) {
		return b
	}
	head := b[:min(len(b), 64)]
	for _, magic := range []string{"II*\x00", "MM\x00*"} {
		if i := bytes.Index(head, []byte(magic)); i > 0 {
			return b[i:]
		}
	}
	return b
}

// locateJPEG walks the marker segments up to the start of scan. Every APP1
// segment is looked at (XMP often comes before EXIF); the first one with the
// "Exif\0\0" header is taken. The size comes from the first SOFn.
func locateJPEG(r io.ReaderAt, size int64) located {
	var l located
	pos := int64(2)
	for i := 0; i < maxSegments && pos+4 <= size; i++ {
		h, err := readAt(r, pos, 4)
		if err != nil {
			break
		}
		if h[0] != 0xFF {
			break // lost sync: not a marker where one must be
		}
		marker := h[1]
		if marker == 0xFF { // fill byte
			pos++
			continue
		}
		if marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7) { // no length
			pos += 2
			continue
		}
		if marker == 0xD9 || marker == 0xDA { // EOI, SOS: metadata is over
			break
		}
		segLen := int64(be16(h[2:4]))
		if segLen < 2 {
			break
		}
		body := pos + 4
		n := segLen - 2
		switch {
		case marker == 0xE1 && l.exif == nil && n >= 8+int64(len(exifHeader)):
			hdr, err := readAt(r, body, len(exifHeader))
			if err == nil && bytes.Equal(hdr, exifHeader) {
				b, err := readAt(r, body+6, int(n-6))
				if err != nil {
					l.exifErr = fmt.Errorf("EXIF segment truncated: %w", err)
				} else {
					l.exif = b
				}
			}
		case isSOF(marker) && l.width == 0 && n >= 5:
			b, err := readAt(r, body, 5)
			if err == nil {
				l.height, l.width = int(be16(b[1:3])), int(be16(b[3:5]))
			}
		}
		pos = body + n
	}
	return l
}

func isSOF(m byte) bool {
	return m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC
}

// locateTIFF rebuilds a TIFF file's metadata IFDs into a compact EXIF block
// (IFD0 of a TIFF is the EXIF IFD0). Only the IFDs and their small values are
// read, wherever they lie, so a large TIFF with its IFDs at the end costs a
// few small reads; the image data is never touched.
func locateTIFF(r io.ReaderAt, size int64) located {
	b, warnings, err := rebuildTIFF(r, size)
	if err != nil {
		return located{exifErr: err, warnings: warnings}
	}
	return located{exif: b, warnings: warnings}
}

// locatePNG walks the chunks: IHDR gives the size, eXIf the EXIF block (it
// may come after IDAT), or failing that a "Raw profile type exif" text chunk.
func locatePNG(r io.ReaderAt, size int64) located {
	var l located
	var raw []byte
	pos := int64(8)
	for i := 0; i < maxSegments && pos+8 <= size; i++ {
		h, err := readAt(r, pos, 8)
		if err != nil {
			break
		}
		n := int64(be32(h[0:4]))
		typ := string(h[4:8])
		switch typ {
		case "IHDR":
			if b, err := readAt(r, pos+8, 8); err == nil {
				l.width, l.height = int(be32(b[0:4])), int(be32(b[4:8]))
			}
		case "eXIf":
			if l.exif != nil {
				break
			}
			if n > MaxEXIFBytes {
				l.exifErr = fmt.Errorf("eXIf chunk of %d bytes is larger than %d", n, MaxEXIFBytes)
				break
			}
			if b, err := readAt(r, pos+8, int(n)); err == nil {
				l.exif = trimExifHeader(b)
			} else {
				l.exifErr = fmt.Errorf("eXIf chunk truncated: %w", err)
			}
		case "tEXt", "zTXt", "iTXt":
			// Older writers (ImageMagick, exiv2) keep EXIF as hex text under
			// "Raw profile type exif"; used only when there is no eXIf chunk.
			if raw == nil && n <= 2*MaxEXIFBytes+4096 {
				if b, err := readAt(r, pos+8, int(n)); err == nil {
					raw = rawProfileEXIF(typ, b)
				}
			}
		case "IEND":
			pos = size
			continue
		}
		pos += 12 + n
	}
	if l.exif == nil && raw != nil {
		l.exif, l.exifErr = raw, nil
	}
	return l
}

// rawProfileEXIF decodes a PNG text chunk holding an ImageMagick raw profile
// ("\nexif\n   <length>\n<hex digits>"), or returns nil.
func rawProfileEXIF(typ string, b []byte) []byte {
	kw, rest, ok := bytes.Cut(b, []byte{0})
	if !ok {
		return nil
	}
	if k := string(kw); k != "Raw profile type exif" && k != "Raw profile type APP1" {
		return nil
	}
	compressed := typ == "zTXt"
	if typ == "iTXt" { // flag, method, language\0, translated keyword\0, text
		if len(rest) < 2 {
			return nil
		}
		compressed = rest[0] == 1
		rest = rest[2:]
		for i := 0; i < 2; i++ {
			if _, rest, ok = bytes.Cut(rest, []byte{0}); !ok {
				return nil
			}
		}
	} else if compressed {
		if len(rest) < 1 {
			return nil
		}
		rest = rest[1:] // compression method 0: zlib
	}
	if compressed {
		zr, err := zlib.NewReader(bytes.NewReader(rest))
		if err != nil {
			return nil
		}
		rest, err = io.ReadAll(io.LimitReader(zr, 2*MaxEXIFBytes+4096))
		if err != nil {
			return nil
		}
	}
	// "\n<name>\n<spaces><decimal length>\n<hex, wrapped>"
	fields := bytes.Fields(rest)
	if len(fields) < 3 {
		return nil
	}
	want, err := strconv.Atoi(string(fields[1]))
	if err != nil || want <= 0 || want > MaxEXIFBytes+len(exifHeader) {
		return nil
	}
	out := make([]byte, 0, want)
	for _, f := range fields[2:] {
		d := make([]byte, hex.DecodedLen(len(f)))
		if _, err := hex.Decode(d, f); err != nil {
			return nil
		}
		out = append(out, d...)
	}
	if len(out) < want {
		return nil
	}
	return trimExifHeader(out[:want])
}

// locateWebP walks the RIFF chunks: VP8X gives the canvas size (VP8 and VP8L
// the frame size of simple files), EXIF the EXIF block.
func locateWebP(r io.ReaderAt, size int64) located {
	var l located
	pos := int64(12)
	for i := 0; i < maxSegments && pos+8 <= size; i++ {
		h, err := readAt(r, pos, 8)
		if err != nil {
			break
		}
		fourcc := string(h[0:4])
		n := int64(le32(h[4:8]))
		body := pos + 8
		switch fourcc {
		case "VP8X":
			if b, err := readAt(r, body, 10); err == nil {
				l.width, l.height = int(le24(b[4:7]))+1, int(le24(b[7:10]))+1
			}
		case "VP8 ":
			// frame tag (3), start code 9d 01 2a (3), then 14-bit sizes.
			if b, err := readAt(r, body, 10); err == nil && l.width == 0 && b[3] == 0x9d && b[4] == 0x01 && b[5] == 0x2a {
				l.width, l.height = int(le16(b[6:8])&0x3fff), int(le16(b[8:10])&0x3fff)
			}
		case "VP8L":
			if b, err := readAt(r, body, 5); err == nil && l.width == 0 && b[0] == 0x2f {
				bits := le32(b[1:5])
				l.width, l.height = int(bits&0x3fff)+1, int((bits>>14)&0x3fff)+1
			}
		case "EXIF":
			if l.exif != nil {
				break
			}
			if n > MaxEXIFBytes {
				l.exifErr = fmt.Errorf("EXIF chunk of %d bytes is larger than %d", n, MaxEXIFBytes)
				break
			}
			if b, err := readAt(r, body, int(n)); err == nil {
				l.exif = trimExifHeader(b)
			} else {
				l.exifErr = fmt.Errorf("EXIF chunk truncated: %w", err)
			}
		}
		pos = body + n + n&1 // chunks are padded to even sizes
	}
	return l
}
