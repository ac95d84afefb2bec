package ingest

import (
	"errors"
	"fmt"
	"io"
)

// HEIF (ISO/IEC 23008-12) keeps metadata as items of the top-level `meta`
// box: `iinf` names each item's type (the EXIF item has type "Exif"), `iloc`
// says where its bytes are (extents in the file, or in `idat`), `pitm` names
// the primary image, whose size is its `ispe` property (`iprp`/`ipco` lists
// the properties, `ipma` associates them with items; `irot` rotates).

type box struct {
	typ  string
	body []byte
}

// parseBoxes splits b into boxes. It stops at the first malformed header.
func parseBoxes(b []byte) []box {
	var out []box
	for len(b) >= 8 {
		size := uint64(be32(b[0:4]))
		typ := string(b[4:8])
		hdr := uint64(8)
		switch size {
		case 1:
			if len(b) < 16 {
				return out
			}
			size = uint64(be32(b[8:12]))<<32 | uint64(be32(b[12:16]))
			hdr = 16
		case 0:
			size = uint64(len(b))
		}
		if size < hdr || size > uint64(len(b)) {
			return out
		}
		out = append(out, box{typ: typ, body: b[hdr:size]})
		b = b[size:]
	}
	return out
}

// maxExtents bounds the extents of one item (an EXIF item has one or two).
const maxExtents = 64

// heifItem is an item's location: extents relative to the file (method 0)
// or to the idat box (method 1).
type heifItem struct {
	method  int
	extents [][2]uint64 // offset, length
}

func locateHEIF(r io.ReaderAt, size int64) located {
	var l located
	meta, err := readMetaBox(r, size)
	if err != nil {
		l.exifErr = err
		return l
	}
	if len(meta) < 4 {
		l.exifErr = errors.New("heif: meta box too short")
		return l
	}
	var (
		primary uint32
		exifIDs []uint32
		locs    map[uint32]heifItem
		idat    []byte
		iprp    []byte
	)
	for _, bx := range parseBoxes(meta[4:]) { // meta is a full box
		switch bx.typ {
		case "pitm":
			primary = parsePitm(bx.body)
		case "iinf":
			exifIDs = parseIinf(bx.body)
		case "iloc":
			locs = parseIloc(bx.body)
		case "idat":
			idat = bx.body
		case "iprp":
			iprp = bx.body
		}
	}
	l.width, l.height = heifSize(iprp, primary)
	if len(exifIDs) == 0 {
		return l
	}
	it, ok := locs[exifIDs[0]]
	if !ok {
		l.exifErr = errors.New("heif: Exif item has no location")
		return l
	}
	var data []byte
	for _, e := range it.extents {
		if e[1] > MaxEXIFBytes || uint64(len(data))+e[1] > MaxEXIFBytes+64 {
			l.exifErr = fmt.Errorf("heif: Exif item larger than %d bytes", MaxEXIFBytes)
			return l
		}
		switch it.method {
		case 0:
			b, err := readAt(r, int64(e[0]), int(e[1]))
			if err != nil || e[0] > uint64(size) {
				l.exifErr = fmt.Errorf("heif: Exif item outside the file")
				return l
			}
			data = append(data, b...)
		case 1:
			if e[0] > uint64(len(idat)) || e[1] > uint64(len(idat))-e[0] {
				l.exifErr = fmt.Errorf("heif: Exif item outside idat")
				return l
			}
			data = append(data, idat[e[0]:e[0]+e[1]]...)
		default:
			l.exifErr = fmt.Errorf("heif: Exif item construction method %d not supported", it.method)
			return l
		}
	}
	// The item starts with a 32-bit offset to the TIFF header (past an
	// optional "Exif\0\0").
	if len(data) < 4 {
		l.exifErr = errors.New("heif: Exif item too short")
		return l
	}
	skip := uint64(be32(data[0:4]))
	if skip > uint64(len(data)-4) {
		l.exifErr = errors.New("heif: Exif item TIFF offset out of range")
		return l
	}
	l.exif = trimExifHeader(data[4+skip:])
	return l
}

// readMetaBox finds the top-level meta box and reads it whole (bounded).
func readMetaBox(r io.ReaderAt, size int64) ([]byte, error) {
	pos := int64(0)
	for i := 0; i < maxSegments && pos+8 <= size; i++ {
		h, err := readAt(r, pos, 8)
		if err != nil {
			return nil, err
		}
		n := int64(be32(h[0:4]))
		hdr := int64(8)
		if n == 1 {
			x, err := readAt(r, pos+8, 8)
			if err != nil {
				return nil, err
			}
			n = int64(be32(x[0:4]))<<32 | int64(be32(x[4:8]))
			hdr = 16
		} else if n == 0 {
			n = size - pos
		}
		if n < hdr || n > size-pos {
			return nil, errors.New("heif: malformed top-level box")
		}
		if string(h[4:8]) == "meta" {
			if n-hdr > maxMetaBox {
				return nil, fmt.Errorf("heif: meta box larger than %d bytes", maxMetaBox)
			}
			return readAt(r, pos+hdr, int(n-hdr))
		}
		pos += n
	}
	return nil, errors.New("heif: no meta box")
}

func parsePitm(b []byte) uint32 {
	if len(b) < 6 {
		return 0
	}
	if b[0] == 0 {
		return uint32(be16(b[4:6]))
	}
	if len(b) < 8 {
		return 0
	}
	return be32(b[4:8])
}

// parseIinf returns the IDs of the items whose type is "Exif".
func parseIinf(b []byte) []uint32 {
	if len(b) < 6 {
		return nil
	}
	rest := b[6:]
	if b[0] != 0 {
		if len(b) < 8 {
			return nil
		}
		rest = b[8:]
	}
	var ids []uint32
	for _, infe := range parseBoxes(rest) {
		if infe.typ != "infe" || len(infe.body) < 4 {
			continue
		}
		v, p := infe.body[0], infe.body[4:]
		var id uint32
		switch {
		case v == 2 && len(p) >= 8:
			id, p = uint32(be16(p[0:2])), p[4:]
		case v == 3 && len(p) >= 10:
			id, p = be32(p[0:4]), p[6:]
		default:
			continue
		}
		if string(p[0:4]) == "Exif" {
			ids = append(ids, id)
		}
	}
	return ids
}

// parseIloc reads item locations (versions 0, 1 and 2).
func parseIloc(b []byte) map[uint32]heifItem {
	out := map[uint32]heifItem{}
	if len(b) < 8 {
		return out
	}
	v := b[0]
	offSize, lenSize := int(b[4]>>4), int(b[4]&0xf)
	baseSize, idxSize := int(b[5]>>4), int(b[5]&0xf)
	if v == 0 {
		idxSize = 0
	}
	p := b[6:]
	next := func(n int) (uint64, bool) {
		if n != 0 && n != 4 && n != 8 || len(p) < n {
			return 0, false
		}
		var x uint64
		for i := 0; i < n; i++ {
			x = x<<8 | uint64(p[i])
		}
		p = p[n:]
		return x, true
	}
	var count uint64
	var ok bool
	if v < 2 {
		count, ok = next2(&p)
	} else {
		count, ok = next(4)
	}
	if !ok {
		return out
	}
	for i := uint64(0); i < count && i < 1<<16; i++ {
		var id uint64
		if v < 2 {
			id, ok = next2(&p)
		} else {
			id, ok = next(4)
		}
		if !ok {
			return out
		}
		it := heifItem{}
		if v == 1 || v == 2 {
			cm, ok := next2(&p)
			if !ok {
				return out
			}
			it.method = int(cm & 0xf)
		}
		if _, ok := next2(&p); !ok { // data_reference_index
			return out
		}
		base, ok := next(baseSize)
		if !ok {
			return out
		}
		n, ok := next2(&p)
		if !ok || n > maxExtents {
			// Zero-width offset and length fields consume no bytes, so a
			// large count could otherwise make millions of extents.
			return out
		}
		for j := uint64(0); j < n; j++ {
			if _, ok := next(idxSize); !ok {
				return out
			}
			off, ok1 := next(offSize)
			ln, ok2 := next(lenSize)
			if !ok1 || !ok2 {
				return out
			}
			it.extents = append(it.extents, [2]uint64{base + off, ln})
		}
		out[uint32(id)] = it
	}
	return out
}

func next2(p *[]byte) (uint64, bool) {
	if len(*p) < 2 {
		return 0, false
	}
	x := uint64(be16(*p))
	*p = (*p)[2:]
	return x, true
}

// heifSize returns the primary item's ispe size, swapped for a 90° or 270°
// irot, as viewers (and exiftool) report it.
func heifSize(iprp []byte, primary uint32) (w, h int) {
	var ipco []box
	var ipma []byte
	for _, bx := range parseBoxes(iprp) {
		switch bx.typ {
		case "ipco":
			ipco = parseBoxes(bx.body)
		case "ipma":
			ipma = bx.body
		}
	}
	if len(ipma) < 8 {
		return 0, 0
	}
	v, flags := ipma[0], ipma[3]
	p := ipma[4:]
	count := be32(p[0:4])
	p = p[4:]
	rotated := false
	for i := uint32(0); i < count && len(p) > 0; i++ {
		var id uint32
		if v < 1 {
			if len(p) < 2 {
				return w, h
			}
			id, p = uint32(be16(p)), p[2:]
		} else {
			if len(p) < 4 {
				return w, h
			}
			id, p = be32(p), p[4:]
		}
		if len(p) < 1 {
			return w, h
		}
		n := int(p[0])
		p = p[1:]
		for j := 0; j < n; j++ {
			var idx int
			if flags&1 != 0 {
				if len(p) < 2 {
					return w, h
				}
				idx, p = int(be16(p)&0x7fff), p[2:]
			} else {
				if len(p) < 1 {
					return w, h
				}
				idx, p = int(p[0]&0x7f), p[1:]
			}
			if id != primary || idx < 1 || idx > len(ipco) {
				continue
			}
			prop := ipco[idx-1]
			switch {
			case prop.typ == "ispe" && len(prop.body) >= 12:
				w, h = int(be32(prop.body[4:8])), int(be32(prop.body[8:12]))
			case prop.typ == "irot" && len(prop.body) >= 1:
				rotated = prop.body[0]&1 == 1
			}
		}
	}
	if rotated {
		w, h = h, w
	}
	return w, h
}
