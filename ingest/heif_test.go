package ingest

import (
	"bytes"
	"encoding/binary"
	"testing"
)

func mkbox(typ string, parts ...[]byte) []byte {
	body := bytes.Join(parts, nil)
	b := binary.BigEndian.AppendUint32(nil, uint32(8+len(body)))
	return append(append(b, typ...), body...)
}

func u16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }
func u32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

// miniHEIF builds a small HEIC: item 1 is the primary image (ispe w×h,
// optionally rotated by irot), item 2 the Exif item holding tiffData, stored
// in mdat (construction method 0) or in idat (method 1).
func miniHEIF(tiffData []byte, w, h uint32, rotate, inIdat bool) []byte {
	exifItem := append(u32(6), append([]byte("Exif\x00\x00"), tiffData...)...)
	ftyp := mkbox("ftyp", []byte("heic"), u32(0), []byte("mif1heic"))
	infe := func(id uint16, typ string) []byte {
		return mkbox("infe", []byte{2, 0, 0, 0}, u16(id), u16(0), []byte(typ), []byte{0})
	}
	iinf := mkbox("iinf", []byte{0, 0, 0, 0}, u16(2), infe(1, "hvc1"), infe(2, "Exif"))
	pitm := mkbox("pitm", []byte{0, 0, 0, 0}, u16(1))
	props := [][]byte{mkbox("ispe", []byte{0, 0, 0, 0}, u32(w), u32(h))}
	assoc := []byte{1, 1} // one association: property 1 (index bytes are 1-based)
	if rotate {
		props = append(props, mkbox("irot", []byte{1}))
		assoc = []byte{2, 1, 2}
	}
	ipma := mkbox("ipma", []byte{0, 0, 0, 0}, u32(1), u16(1), assoc)
	iprp := mkbox("iprp", mkbox("ipco", props...), ipma)
	// iloc v1: offset_size 4, length_size 4, base_offset_size 0, index_size 0.
	iloc := func(method uint16, off uint32) []byte {
		return mkbox("iloc", []byte{1, 0, 0, 0}, []byte{0x44, 0x00}, u16(1),
			u16(2), u16(method), u16(0), u16(1), u32(off), u32(uint32(len(exifItem))))
	}
	var idat []byte
	if inIdat {
		idat = mkbox("idat", exifItem)
		meta := mkbox("meta", []byte{0, 0, 0, 0}, pitm, iinf, iloc(1, 0), iprp, idat)
		return append(ftyp, meta...)
	}
	metaLen := len(mkbox("meta", []byte{0, 0, 0, 0}, pitm, iinf, iloc(0, 0), iprp))
	off := uint32(len(ftyp) + metaLen + 8)
	meta := mkbox("meta", []byte{0, 0, 0, 0}, pitm, iinf, iloc(0, off), iprp)
	return append(append(ftyp, meta...), mkbox("mdat", exifItem)...)
}

func TestHEIFContainer(t *testing.T) {
	t.Parallel()
	tiffData := tiffBlock(t, []entry{{0x0112, 3, 1, 6}}, 0) // Orientation 6
	for _, tc := range []struct {
		name           string
		rotate, inIdat bool
		w, h           int
	}{
		{"mdat", false, false, 4032, 3024},
		{"idat rotated", true, true, 3024, 4032},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := miniHEIF(tiffData, 4032, 3024, tc.rotate, tc.inIdat)
			m, err := ReadMeta(bytes.NewReader(b), int64(len(b)))
			if err != nil {
				t.Fatal(err)
			}
			if m.Mime != MimeHEIC || !m.HasEXIF || m.Orientation != 6 || m.Width != tc.w || m.Height != tc.h {
				t.Errorf("got %s exif=%v orientation=%d %dx%d (%s)", m.Mime, m.HasEXIF, m.Orientation, m.Width, m.Height, m.EXIFError)
			}
		})
	}
}
