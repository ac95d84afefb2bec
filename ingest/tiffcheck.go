package ingest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// tiffTypeSize is the byte size of each TIFF field type (TIFF 6.0 §2).
var tiffTypeSize = [13]uint64{0, 1, 1, 2, 4, 8, 1, 1, 2, 4, 8, 4, 8}

// Sub-IFD pointer tags goexif follows.
const (
	tagExifIFD    = 0x8769
	tagGPSIFD     = 0x8825
	tagInteropIFD = 0xA005
)

// Bounds of a rebuilt EXIF block.
const (
	maxIFDEntries = 4096     // a real IFD has tens
	maxTagValue   = 64 << 10 // larger values (strip tables, ICC, XMP) are dropped
)

// sanitizeTIFF checks an EXIF block's TIFF structure and returns a rebuilt
// copy that goexif can decode safely; see rebuildTIFF.
func sanitizeTIFF(in []byte) (out []byte, warnings []string, err error) {
	if len(in) > MaxEXIFBytes {
		return nil, nil, fmt.Errorf("tiff: block larger than %d bytes", MaxEXIFBytes)
	}
	return rebuildTIFF(bytes.NewReader(in), int64(len(in)))
}

// rebuildTIFF reads the TIFF structure at the start of r (size bytes) and
// writes a new, compact TIFF holding IFD0 and its Exif, GPS and Interop
// sub-IFDs, which goexif can decode safely:
//
//   - the IFD chain ends after IFD0 (IFD1 is the thumbnail), and each
//     sub-IFD is followed at most once and at most three levels deep, so no
//     chain can cycle;
//   - entries of unknown type, with a zero or overflowing size (count × type
//     size is computed in 64 bits; goexif's uint32 product wraps), whose
//     value lies outside r, or whose value is larger than 64 KiB are dropped;
//   - a sub-IFD pointer that is not a single SHORT, LONG, SLONG or IFD
//     value, or points to a bad IFD, is dropped;
//   - the result is at most MaxEXIFBytes.
//
// Because the result is rebuilt rather than trusted, IFDs and values may lie
// anywhere in r: a TIFF file whose IFDs sit at its end is read with a few
// small reads, never whole. The dropped entries are reported as warnings. An
// error means there is no usable IFD0.
func rebuildTIFF(r io.ReaderAt, size int64) (out []byte, warnings []string, err error) {
	hdr, err := readAt(r, 0, 8)
	if err != nil {
		return nil, nil, errors.New("tiff: block shorter than its header")
	}
	var order byteOrder
	switch string(hdr[0:2]) {
	case "II":
		order = binary.LittleEndian
	case "MM":
		order = binary.BigEndian
	default:
		return nil, nil, errors.New("tiff: bad byte order mark")
	}
	if order.Uint16(hdr[2:4]) != 42 {
		return nil, nil, errors.New("tiff: bad magic number")
	}
	b := &tiffBuilder{r: r, size: size, order: order, visited: map[uint32]bool{}}
	b.out = append(b.out, hdr[0:4]...)
	b.out = order.AppendUint32(b.out, 8)
	if _, err := b.ifd(order.Uint32(hdr[4:8]), 0); err != nil {
		return nil, b.warnings, fmt.Errorf("tiff: IFD0: %w", err)
	}
	return b.out, b.warnings, nil
}

// byteOrder reads and appends (binary.LittleEndian and BigEndian are both).
type byteOrder interface {
	binary.ByteOrder
	binary.AppendByteOrder
}

type tiffBuilder struct {
	r        io.ReaderAt
	size     int64
	order    byteOrder
	out      []byte
	visited  map[uint32]bool
	warnings []string
}

func (b *tiffBuilder) warn(format string, args ...any) {
	if len(b.warnings) < 32 {
		b.warnings = append(b.warnings, fmt.Sprintf(format, args...))
	}
}

type tiffEntry struct {
	raw   [12]byte
	value []byte // for values longer than 4 bytes
	sub   uint32 // source offset of a sub-IFD, for pointer tags
}

// ifd copies the IFD at source offset off to the end of b.out and returns its
// new offset: its table, then its values, then its sub-IFDs.
func (b *tiffBuilder) ifd(off uint32, depth int) (uint32, error) {
	kept, err := b.entries(off, depth)
	if err != nil {
		return 0, err
	}
	tableAt := len(b.out)
	need := 2 + len(kept)*12 + 4
	if tableAt+need > MaxEXIFBytes {
		return 0, fmt.Errorf("EXIF larger than %d bytes", MaxEXIFBytes)
	}
	b.out = b.order.AppendUint16(b.out, uint16(len(kept)))
	for _, e := range kept {
		b.out = append(b.out, e.raw[:]...)
	}
	b.out = b.order.AppendUint32(b.out, 0) // no next IFD
	dropped := map[int]bool{}
	b.appendValues(tableAt, kept, dropped)
	b.appendSubIFDs(tableAt, kept, dropped, depth)
	if len(dropped) > 0 {
		b.compact(tableAt, len(kept), dropped)
	}
	return uint32(tableAt), nil
}

// entries reads the table of the IFD at source offset off and returns the
// entries kept (see entry), refusing an IFD seen before, nested too deep,
// outside the data or with too many entries.
func (b *tiffBuilder) entries(off uint32, depth int) ([]tiffEntry, error) {
	if depth > 3 {
		return nil, errors.New("sub-IFDs nested too deep")
	}
	if b.visited[off] {
		return nil, fmt.Errorf("IFD at %d visited twice", off)
	}
	b.visited[off] = true
	if off < 8 || int64(off)+2 > b.size {
		return nil, fmt.Errorf("offset %d outside the data", off)
	}
	cb, err := readAt(b.r, int64(off), 2)
	if err != nil {
		return nil, err
	}
	count := int(b.order.Uint16(cb))
	if count > maxIFDEntries {
		return nil, fmt.Errorf("entry count %d too large", count)
	}
	table, err := readAt(b.r, int64(off)+2, count*12)
	if err != nil {
		return nil, fmt.Errorf("table of %d entries runs past the data", count)
	}
	var kept []tiffEntry
	for i := 0; i < count; i++ {
		var e tiffEntry
		copy(e.raw[:], table[i*12:i*12+12])
		if b.entry(&e) {
			kept = append(kept, e)
		}
	}
	return kept, nil
}

// entry reads e's value and, for a sub-IFD pointer, its target; it reports
// false (with a warning) when e is dropped.
func (b *tiffBuilder) entry(e *tiffEntry) bool {
	tag, typ, cnt := b.order.Uint16(e.raw[0:2]), b.order.Uint16(e.raw[2:4]), b.order.Uint32(e.raw[4:8])
	isPointer := tag == tagExifIFD || tag == tagGPSIFD || tag == tagInteropIFD
	// A pointer written as SLONG or as TIFF-EP's IFD type holds the same
	// 32-bit offset as a LONG (exiftool and exiv2 follow it); goexif reads
	// it as a LONG. A negative SLONG becomes an offset outside the data.
	if isPointer && (typ == 9 || typ == 13) {
		typ = 4
		b.order.PutUint16(e.raw[2:4], typ)
	}
	if reason := b.readValue(e, typ, cnt); reason != "" {
		b.warn("tag 0x%04x dropped: %s", tag, reason)
		return false
	}
	if !isPointer {
		return true
	}
	// goexif follows a pointer of any integer type, reading its first
	// value; accept only one SHORT or 32-bit value.
	if (typ != 3 && typ != 4) || cnt != 1 {
		b.warn("sub-IFD pointer 0x%04x dropped: type %d, count %d", tag, typ, cnt)
		return false
	}
	e.sub = b.order.Uint32(e.raw[8:12])
	if typ == 3 {
		e.sub = uint32(b.order.Uint16(e.raw[8:10]))
		// Rewrite as LONG: the new offset may not fit a SHORT.
		b.order.PutUint16(e.raw[2:4], 4)
	}
	return true
}

// appendValues appends the values longer than 4 bytes of the table at
// tableAt and points their entries at them; a value past MaxEXIFBytes is
// dropped.
func (b *tiffBuilder) appendValues(tableAt int, kept []tiffEntry, dropped map[int]bool) {
	for i, e := range kept {
		if e.value == nil {
			continue
		}
		if len(b.out)%2 == 1 {
			b.out = append(b.out, 0) // values start on word boundaries
		}
		if len(b.out)+len(e.value) > MaxEXIFBytes {
			b.warn("tag 0x%04x dropped: EXIF larger than %d bytes", b.order.Uint16(e.raw[0:2]), MaxEXIFBytes)
			dropped[i] = true
			continue
		}
		b.order.PutUint32(b.out[tableAt+2+i*12+8:], uint32(len(b.out)))
		b.out = append(b.out, e.value...)
	}
}

// appendSubIFDs copies the sub-IFDs the pointers of the table at tableAt
// point to and points the entries at the copies; a bad sub-IFD is dropped.
func (b *tiffBuilder) appendSubIFDs(tableAt int, kept []tiffEntry, dropped map[int]bool, depth int) {
	for i, e := range kept {
		tag := b.order.Uint16(e.raw[0:2])
		if tag != tagExifIFD && tag != tagGPSIFD && tag != tagInteropIFD {
			continue
		}
		at, err := b.ifd(e.sub, depth+1)
		if err != nil {
			b.warn("sub-IFD 0x%04x dropped: %v", tag, err)
			dropped[i] = true
			continue
		}
		b.order.PutUint32(b.out[tableAt+2+i*12+8:], at)
	}
}

// compact removes dropped entries from the table at tableAt (values stay
// where they are, unreferenced).
func (b *tiffBuilder) compact(tableAt, n int, dropped map[int]bool) {
	k := 0
	for i := 0; i < n; i++ {
		if dropped[i] {
			continue // warned where it was dropped
		}
		copy(b.out[tableAt+2+k*12:tableAt+2+k*12+12], b.out[tableAt+2+i*12:tableAt+2+i*12+12])
		k++
	}
	b.order.PutUint16(b.out[tableAt:], uint16(k))
	for i := k; i < n; i++ {
		copy(b.out[tableAt+2+i*12:tableAt+2+i*12+12], make([]byte, 12))
	}
	b.order.PutUint32(b.out[tableAt+2+k*12:], 0)
}

// readValue reads an entry's value when it does not fit in the entry, and
// says why the entry cannot be kept, or "".
func (b *tiffBuilder) readValue(e *tiffEntry, typ uint16, cnt uint32) string {
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
	case size > maxTagValue:
		return fmt.Sprintf("value of %d bytes is larger than %d", size, maxTagValue)
	}
	valOff := uint64(b.order.Uint32(e.raw[8:12]))
	if valOff+size > uint64(b.size) {
		return fmt.Sprintf("value of %d bytes at %d outside the data", size, valOff)
	}
	v, err := readAt(b.r, int64(valOff), int(size))
	if err != nil {
		return "value unreadable: " + err.Error()
	}
	e.value = v
	return ""
}
