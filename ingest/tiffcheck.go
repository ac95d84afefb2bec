package ingest

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// tiffTypeSize is the byte size of each TIFF field type (TIFF 6.0 §2).
var tiffTypeSize = [13]uint64{0, 1, 1, 2, 4, 8, 1, 1, 2, 4, 8, 4, 8}

// Sub-IFD pointer tags goexif follows.
const (
	tagExifIFD    = 0x8769
	tagGPSIFD     = 0x8825
	tagInteropIFD = 0xA005
)

// sanitizeTIFF checks an EXIF block's TIFF structure and returns a copy that
// goexif can decode safely:
//
//   - only IFD0 is kept in the IFD chain (its next-IFD offset is zeroed), so
//     no chain can cycle; sub-IFDs (Exif, GPS, Interop) are followed at most
//     a few levels deep and each at most once;
//   - every IFD's table lies inside the block and overlaps no other IFD
//     table, so rewriting one never changes another;
//   - entries of unknown type, with a zero or overflowing size (count ×
//     type size is computed in 64 bits; goexif's uint32 product wraps), or
//     whose value lies outside the block are dropped, by compacting the
//     table and lowering its entry count;
//   - a sub-IFD pointer to a bad IFD is dropped.
//
// The dropped entries are reported as warnings. An error means there is no
// usable IFD0.
func sanitizeTIFF(in []byte) (out []byte, warnings []string, err error) {
	if len(in) < 8 {
		return nil, nil, errors.New("tiff: block shorter than its header")
	}
	if len(in) > MaxEXIFBytes {
		return nil, nil, fmt.Errorf("tiff: block larger than %d bytes", MaxEXIFBytes)
	}
	var order binary.ByteOrder
	switch string(in[0:2]) {
	case "II":
		order = binary.LittleEndian
	case "MM":
		order = binary.BigEndian
	default:
		return nil, nil, errors.New("tiff: bad byte order mark")
	}
	if order.Uint16(in[2:4]) != 42 {
		return nil, nil, errors.New("tiff: bad magic number")
	}
	s := &tiffSanitizer{b: append([]byte(nil), in...), order: order}
	ifd0 := order.Uint32(in[4:8])
	if err := s.ifd(ifd0, 0); err != nil {
		return nil, s.warnings, fmt.Errorf("tiff: IFD0: %w", err)
	}
	return s.b, s.warnings, nil
}

type tiffSanitizer struct {
	b        []byte
	order    binary.ByteOrder
	claimed  [][2]uint64 // IFD tables already accepted: [start, end)
	warnings []string
}

// ifd validates and compacts the IFD at off in place.
func (s *tiffSanitizer) ifd(off uint32, depth int) error {
	if depth > 3 {
		return errors.New("sub-IFDs nested too deep")
	}
	n64 := uint64(len(s.b))
	start := uint64(off)
	if start < 8 || start+2 > n64 {
		return fmt.Errorf("offset %d outside the block", off)
	}
	count := uint64(s.order.Uint16(s.b[start : start+2]))
	// goexif reads the count as int16; the 6-byte tail is the next-IFD offset.
	if count > 0x7fff {
		return fmt.Errorf("entry count %d too large", count)
	}
	end := start + 2 + count*12 + 4
	if end > n64 {
		return fmt.Errorf("table of %d entries runs past the block", count)
	}
	for _, c := range s.claimed {
		if start < c[1] && c[0] < end {
			return fmt.Errorf("table at %d overlaps another IFD", off)
		}
	}
	s.claimed = append(s.claimed, [2]uint64{start, end})

	kept := uint64(0)
	for i := uint64(0); i < count; i++ {
		e := s.b[start+2+i*12 : start+2+i*12+12]
		tag, typ, cnt := s.order.Uint16(e[0:2]), s.order.Uint16(e[2:4]), s.order.Uint32(e[4:8])
		if reason := s.entryProblem(typ, cnt, e); reason != "" {
			s.warnings = append(s.warnings, fmt.Sprintf("tag 0x%04x dropped: %s", tag, reason))
			continue
		}
		if tag == tagExifIFD || tag == tagGPSIFD || tag == tagInteropIFD {
			// goexif follows a pointer of any integer type, reading its first
			// value; accept only the regular one-value SHORT or LONG.
			if (typ != 3 && typ != 4) || cnt != 1 {
				s.warnings = append(s.warnings, fmt.Sprintf("sub-IFD pointer 0x%04x dropped: type %d, count %d", tag, typ, cnt))
				continue
			}
			sub := s.order.Uint32(e[8:12])
			if typ == 3 {
				sub = uint32(s.order.Uint16(e[8:10]))
			}
			if err := s.ifd(sub, depth+1); err != nil {
				s.warnings = append(s.warnings, fmt.Sprintf("sub-IFD 0x%04x dropped: %v", tag, err))
				continue
			}
		}
		if kept != i {
			copy(s.b[start+2+kept*12:], e)
		}
		kept++
	}
	s.order.PutUint16(s.b[start:start+2], uint16(kept))
	// Zero the next-IFD offset: goexif would follow the chain (and only a
	// self-pointing cycle is caught there); IFD1 is the thumbnail, not needed.
	s.order.PutUint32(s.b[start+2+kept*12:], 0)
	return nil
}

// entryProblem says why an entry cannot be handed to goexif, or "".
func (s *tiffSanitizer) entryProblem(typ uint16, cnt uint32, e []byte) string {
	if typ == 0 || int(typ) >= len(tiffTypeSize) {
		return fmt.Sprintf("unknown type %d", typ)
	}
	size := tiffTypeSize[typ] * uint64(cnt)
	switch {
	case size == 0:
		return "zero-length value"
	case cnt == 0xFFFFFFFF:
		return "count 0xFFFFFFFF"
	case size <= 4:
		return ""
	}
	valOff := uint64(s.order.Uint32(e[8:12]))
	if valOff+size > uint64(len(s.b)) {
		return fmt.Sprintf("value of %d bytes at %d outside the block", size, valOff)
	}
	return ""
}
