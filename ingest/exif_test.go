package ingest

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/geoseek/geoseek/internal/pgtest"
	"github.com/geoseek/geoseek/internal/problem"
)

// reference is one entry of shared/testdata/photos/reference.json
// (exiftool's values).
type reference struct {
	File             string   `json:"file"`
	HasEXIF          bool     `json:"has_exif"`
	HasGPS           bool     `json:"has_gps"`
	Lat              *float64 `json:"lat"`
	Lon              *float64 `json:"lon"`
	AltM             *float64 `json:"alt_m"`
	ImgDirection     *float64 `json:"img_direction"`
	DateTimeOriginal *string  `json:"datetime_original"`
	OffsetOriginal   *string  `json:"offset_time_original"`
	Make             *string  `json:"make"`
	Model            *string  `json:"model"`
	Orientation      *int     `json:"orientation"`
	Width            *int     `json:"width"`
	Height           *int     `json:"height"`
	Mime             string   `json:"mime"`
	Notes            []string `json:"notes"`
}

func (r reference) ambiguous() bool {
	for _, n := range r.Notes {
		if strings.HasPrefix(n, "AMBIGUOUS") {
			return true
		}
	}
	return false
}

// photosDir is the shared photo corpus (outside the repo, beside it).
func photosDir(t testing.TB) string {
	t.Helper()
	root, err := pgtest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "..", "shared", "testdata", "photos")
	if _, err := os.Stat(filepath.Join(dir, "reference.json")); err != nil {
		t.Fatalf("photo corpus missing: %v", err)
	}
	return dir
}

func loadReference(t testing.TB) (string, []reference) {
	dir := photosDir(t)
	b, err := os.ReadFile(filepath.Join(dir, "reference.json"))
	if err != nil {
		t.Fatal(err)
	}
	var refs []reference
	if err := json.Unmarshal(b, &refs); err != nil {
		t.Fatal(err)
	}
	return dir, refs
}

func readMetaFile(t testing.TB, path string) *Meta {
	t.Helper()
	m, err := readMeta(t, path)
	if err != nil {
		t.Fatalf("ReadMeta: %v", err)
	}
	return m
}

func readMeta(t testing.TB, path string) (*Meta, error) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	return ReadMeta(f, st.Size())
}

// exempt lists files whose fields are not compared with exiftool's, and why.
// They must still be read without error.
var exempt = map[string]string{}

// notPhotos lists corpus files geoseek refuses (415), with the reason its
// error names. Neither has an image: the JPEG is cut at 64 KiB inside its
// APP1, before any frame header (exiftool: "JPEG format error", no size); the
// fuzzed TIFF's IFD0 is unreadable (exiftool reads no tags).
var notPhotos = map[string]string{
	"goexif__max_uint32_exif.jpg":                                "JPEG has no readable frame header",
	"mei__crash-15e5cd044a709974fb9a9f73998d3132cecdcbdb.fuzzed": "TIFF has no readable IFD0",
}

// TestReadMetaReference checks every file of the corpus against exiftool.
func TestReadMetaReference(t *testing.T) {
	t.Parallel()
	dir, refs := loadReference(t)
	if len(refs) < 40 {
		t.Fatalf("reference has %d files, want 40", len(refs))
	}
	passed := 0
	for _, ref := range refs {
		ok := t.Run(ref.File, func(t *testing.T) {
			if why, ok := notPhotos[ref.File]; ok {
				_, err := readMeta(t, filepath.Join(dir, ref.File))
				if !errors.Is(err, problem.ErrUnsupportedMedia) || !strings.Contains(err.Error(), why) {
					t.Errorf("err = %v, want unsupported media: %s", err, why)
				}
				return
			}
			m := readMetaFile(t, filepath.Join(dir, ref.File))
			if why, ok := exempt[ref.File]; ok {
				t.Logf("fields not compared: %s", why)
				return
			}
			if m.Mime != ref.Mime {
				t.Errorf("mime = %q, want %q", m.Mime, ref.Mime)
			}
			if m.HasGPS() != ref.HasGPS {
				t.Errorf("has_gps = %v, want %v (lat %v lon %v, exif_error %q)", m.HasGPS(), ref.HasGPS, fp(m.Lat), fp(m.Lon), m.EXIFError)
			}
			switch {
			case (ref.Lat == nil) != (ref.Lon == nil):
				// exiftool shows half a position; geoseek keeps none and says why.
				if m.Lat != nil || m.Lon != nil || !strings.Contains(m.EXIFError, "GPS position dropped") {
					t.Errorf("half position: lat %v lon %v, exif_error %q; want neither, with a reason", fp(m.Lat), fp(m.Lon), m.EXIFError)
				}
			case !ref.ambiguous():
				checkFloat(t, "lat", m.Lat, ref.Lat, 1e-6)
				checkFloat(t, "lon", m.Lon, ref.Lon, 1e-6)
			}
			checkFloat(t, "alt_m", m.AltM, ref.AltM, 0.01)
			checkFloat(t, "img_direction", m.ImgDirection, ref.ImgDirection, 0.01)
			checkString(t, "datetime_original", m.DateTimeOriginal, ref.DateTimeOriginal)
			checkString(t, "offset_time_original", m.OffsetTimeOriginal, ref.OffsetOriginal)
			checkString(t, "make", m.Make, ref.Make)
			checkString(t, "model", m.Model, ref.Model)
			if ref.Orientation != nil && m.Orientation != *ref.Orientation {
				t.Errorf("orientation = %d, want %d", m.Orientation, *ref.Orientation)
			}
			if ref.Width != nil && (m.Width != *ref.Width || m.Height != *ref.Height) {
				t.Errorf("size = %dx%d, want %dx%d", m.Width, m.Height, *ref.Width, *ref.Height)
			}
			if _, err := json.Marshal(m.Tags); err != nil {
				t.Errorf("tags do not marshal: %v", err)
			}
		})
		if ok {
			passed++
		}
	}
	t.Logf("reference accuracy: %d/%d files pass (%d of them refused as not photos, %d exempt from comparison)", passed, len(refs), len(notPhotos), len(exempt))
}

func fp(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

func checkFloat(t *testing.T, name string, got, want *float64, tol float64) {
	t.Helper()
	switch {
	case want == nil && got != nil:
		t.Errorf("%s = %v, want none", name, *got)
	case want != nil && got == nil:
		t.Errorf("%s missing, want %v", name, *want)
	case want != nil && math.Abs(*got-*want) > tol:
		t.Errorf("%s = %v, want %v (±%v)", name, *got, *want, tol)
	}
}

func checkString(t *testing.T, name, got string, want *string) {
	t.Helper()
	w := ""
	if want != nil {
		w = *want
	}
	if got != w {
		t.Errorf("%s = %q, want %q", name, got, w)
	}
}

func TestSniff(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		head string
		want string
	}{
		{"\xff\xd8\xff\xe0", MimeJPEG},
		{"II*\x00\x08\x00\x00\x00", MimeTIFF},
		{"MM\x00*\x00\x00\x00\x08", MimeTIFF},
		{"\x89PNG\r\n\x1a\n\x00", MimePNG},
		{"RIFF\x00\x00\x00\x00WEBPVP8 ", MimeWebP},
		{"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", MimeHEIC},
		{"\x00\x00\x00\x18ftypmif1\x00\x00\x00\x00mif1miaf", MimeHEIF},
		{"\x00\x00\x00\x18ftypavif\x00\x00\x00\x00avifmif1", MimeAVIF},
		{"\x00\x00\x00\x14ftypisom\x00\x00\x00\x00isom", ""},
		{"GIF89a", ""},
		{"%PDF-1.4", ""},
		{"", ""},
	} {
		got, err := Sniff([]byte(tc.head))
		if got != tc.want || (err != nil) != (tc.want == "") {
			t.Errorf("Sniff(%q) = %q, %v; want %q", tc.head, got, err, tc.want)
		}
	}
}

// TestSanitizeTIFFHazards builds the goexif hazards the issue lists and
// checks that decoding survives them with an error or a partial result.
func TestSanitizeTIFFHazards(t *testing.T) {
	t.Parallel()
	for name, block := range map[string][]byte{
		// SHORT tag with count 0x80000001: typeSize*count wraps in uint32.
		"count overflow": tiffBlock(t, []entry{{0x010F, 3, 0x80000001, 8}}, 0),
		// IFD0 -> IFD at 26 -> IFD0: a two-IFD cycle.
		"ifd cycle": cycleBlock(),
		// Exif pointer to itself (IFD0).
		"sub-ifd self": tiffBlock(t, []entry{{tagExifIFD, 4, 1, 8}}, 0),
		// Value past the end.
		"value outside": tiffBlock(t, []entry{{0x010F, 2, 100, 4000}}, 0),
		// Unknown type.
		"unknown type": tiffBlock(t, []entry{{0x010F, 99, 1, 0}}, 0),
	} {
		t.Run(name, func(t *testing.T) {
			x, _, err := decodeEXIF(block)
			if err == nil && x == nil {
				t.Fatal("nil result without error")
			}
		})
	}
}

type entry struct {
	tag, typ uint16
	count    uint32
	value    uint32
}

// tiffBlock is a little-endian TIFF with one IFD0 at offset 8.
func tiffBlock(t testing.TB, entries []entry, next uint32) []byte {
	var b bytes.Buffer
	b.WriteString("II*\x00")
	b.Write([]byte{8, 0, 0, 0})
	w16 := func(v uint16) { b.Write([]byte{byte(v), byte(v >> 8)}) }
	w32 := func(v uint32) { b.Write([]byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)}) }
	w16(uint16(len(entries)))
	for _, e := range entries {
		w16(e.tag)
		w16(e.typ)
		w32(e.count)
		w32(e.value)
	}
	w32(next)
	b.Write(make([]byte, 64))
	return b.Bytes()
}

func cycleBlock() []byte {
	b := tiffBlock(nil, []entry{{0x0112, 3, 1, 1}}, 26)
	// second IFD at 26: one entry, next -> 8
	second := []byte{1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0, 1, 0, 0, 0, 8, 0, 0, 0}
	copy(b[26:], second)
	return b
}

// TestTIFFIFDAtEnd: a large TIFF whose IFDs follow the image data is read
// with a few small reads, wherever its IFDs lie.
func TestTIFFIFDAtEnd(t *testing.T) {
	t.Parallel()
	const dataLen = 3 << 20
	le := binary.LittleEndian
	var b []byte
	b = append(b, "II*\x00"...)
	b = le.AppendUint32(b, 8+dataLen) // IFD0 after 3 MiB of "pixels"
	b = append(b, make([]byte, dataLen)...)
	ifd := uint32(len(b))
	entries := [][3]uint32{ // tag, type, count; values patched below
		{0x0100, 4, 1}, {0x0101, 4, 1}, {0x010F, 2, 6}, {0x0112, 3, 1}, {tagGPSIFD, 4, 1},
		{0x02BC, 1, 100 << 10}, // XMP of 100 KiB: dropped, too large
	}
	valuesAt := ifd + 2 + uint32(len(entries))*12 + 4
	gpsAt := valuesAt + 8
	b = le.AppendUint16(b, uint16(len(entries)))
	for _, e := range entries {
		b = le.AppendUint16(b, uint16(e[0]))
		b = le.AppendUint16(b, uint16(e[1]))
		b = le.AppendUint32(b, e[2])
		switch e[0] {
		case 0x0100:
			b = le.AppendUint32(b, 1700)
		case 0x0101:
			b = le.AppendUint32(b, 1100)
		case 0x010F:
			b = le.AppendUint32(b, valuesAt)
		case 0x0112:
			b = le.AppendUint32(b, 3)
		case tagGPSIFD:
			b = le.AppendUint32(b, gpsAt)
		default:
			b = le.AppendUint32(b, 0)
		}
	}
	b = le.AppendUint32(b, 0)
	b = append(b, "Nikon\x00\x00\x00"...) // Make (6 bytes + padding)
	// GPS IFD: GPSLatitudeRef "S", GPSLatitude 33/1 52/1 0/1.
	b = le.AppendUint16(b, 2)
	b = append(b, 1, 0, 2, 0, 2, 0, 0, 0, 'S', 0, 0, 0)
	latAt := gpsAt + 2 + 2*12 + 4
	b = append(b, 2, 0, 5, 0, 3, 0, 0, 0)
	b = le.AppendUint32(b, latAt)
	b = le.AppendUint32(b, 0)
	for _, v := range []uint32{33, 1, 52, 1, 0, 1} {
		b = le.AppendUint32(b, v)
	}
	r := &countingReader{r: bytes.NewReader(b)}
	m, err := ReadMeta(r, int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	// The GPS IFD holds a latitude only: it was read (exif_error names it),
	// and half a position is dropped.
	if m.Make != "Nikon" || m.Orientation != 3 || m.Width != 1700 || m.Height != 1100 || m.Lat != nil || !strings.Contains(m.EXIFError, "GPSLatitude without") {
		t.Errorf("got make %q orientation %d size %dx%d lat %v (%s)", m.Make, m.Orientation, m.Width, m.Height, fp(m.Lat), m.EXIFError)
	}
	if !strings.Contains(m.EXIFError, "0x02bc dropped") {
		t.Errorf("exif_error %q does not mention the dropped XMP", m.EXIFError)
	}
	if r.n > 64<<10 {
		t.Errorf("read %d bytes of a %d-byte file", r.n, len(b))
	}
}

type countingReader struct {
	r *bytes.Reader
	n int
}

func (c *countingReader) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.n += n
	return n, err
}

func pngChunk(typ string, data []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	b = append(append(b, typ...), data...)
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(append([]byte(typ), data...)))
}

// TestPNGRawProfile: EXIF kept as ImageMagick's hex "Raw profile type exif"
// in tEXt, zTXt or iTXt is read when there is no eXIf chunk.
func TestPNGRawProfile(t *testing.T) {
	t.Parallel()
	block := append([]byte("Exif\x00\x00"), tiffBlock(t, []entry{{0x0112, 3, 1, 8}}, 0)...)
	h := hex.EncodeToString(block)
	text := fmt.Sprintf("\nexif\n%8d\n%s\n%s\n", len(block), h[:72], h[72:])
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	_, _ = zw.Write([]byte(text))
	_ = zw.Close()
	ihdr := pngChunk("IHDR", []byte{0, 0, 0, 7, 0, 0, 0, 5, 8, 2, 0, 0, 0})
	for name, chunk := range map[string][]byte{
		"tEXt": pngChunk("tEXt", append([]byte("Raw profile type exif\x00"), text...)),
		"zTXt": pngChunk("zTXt", append([]byte("Raw profile type exif\x00\x00"), z.Bytes()...)),
		"iTXt": pngChunk("iTXt", append([]byte("Raw profile type APP1\x00\x01\x00en\x00\x00"), z.Bytes()...)),
	} {
		b := append([]byte("\x89PNG\r\n\x1a\n"), ihdr...)
		b = append(append(b, chunk...), pngChunk("IEND", nil)...)
		m, err := ReadMeta(bytes.NewReader(b), int64(len(b)))
		if err != nil || !m.HasEXIF || m.Orientation != 8 || m.Width != 7 || m.Height != 5 {
			t.Errorf("%s: %+v %v", name, m, err)
		}
	}
}

// gpsBlock is a little-endian TIFF whose IFD0 holds one GPS pointer of type
// typ and count cnt, pointing at a GPS IFD with the latitude 10°30' N and,
// when withLon, the longitude 20°15' W.
func gpsBlock(t testing.TB, typ uint16, cnt uint32, withLat, withLon bool) []byte {
	le := binary.LittleEndian
	b := tiffBlock(t, []entry{{tagGPSIFD, typ, cnt, 26}}, 0)[:26]
	type ent struct {
		tag, typ uint16
		cnt      uint32
		val      []byte // inline (≤ 4 bytes) or out of line
	}
	rat := func(v ...uint32) []byte {
		var out []byte
		for _, x := range v {
			out = le.AppendUint32(out, x)
		}
		return out
	}
	var es []ent
	if withLat {
		es = append(es, ent{1, 2, 2, []byte("N\x00")}, ent{2, 5, 3, rat(10, 1, 30, 1, 0, 1)})
	}
	if withLon {
		es = append(es, ent{3, 2, 2, []byte("W\x00")}, ent{4, 5, 3, rat(20, 1, 15, 1, 0, 1)})
	}
	valuesAt := uint32(26 + 2 + len(es)*12 + 4)
	var values []byte
	b = le.AppendUint16(b, uint16(len(es)))
	for _, e := range es {
		b = le.AppendUint16(b, e.tag)
		b = le.AppendUint16(b, e.typ)
		b = le.AppendUint32(b, e.cnt)
		if len(e.val) <= 4 {
			b = append(b, append(e.val, make([]byte, 4-len(e.val))...)...)
			continue
		}
		b = le.AppendUint32(b, valuesAt+uint32(len(values)))
		values = append(values, e.val...)
	}
	b = le.AppendUint32(b, 0)
	return append(b, values...)
}

// exifJPEG is an 8×8 JPEG header (no scan) whose APP1 holds the EXIF
// block tiff: what ReadMeta reads of a photo, for synthetic EXIF.
func exifJPEG(tiff []byte) []byte {
	app1 := append([]byte("Exif\x00\x00"), tiff...)
	b := []byte{0xFF, 0xD8, 0xFF, 0xE1, byte((len(app1) + 2) >> 8), byte(len(app1) + 2)}
	b = append(b, app1...)
	return append(b, 0xFF, 0xC0, 0x00, 0x0B, 0x08, 0x00, 0x08, 0x00, 0x08, 0x01, 0x01, 0x11, 0x00, 0xFF, 0xD9)
}

// TestGPSPointerTypes: the GPS pointer is followed when it is one SHORT,
// LONG, SLONG or TIFF-EP IFD value, as exiftool and exiv2 follow it, and
// dropped with a reason otherwise.
func TestGPSPointerTypes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		typ    uint16
		cnt    uint32
		follow bool
	}{
		{"SHORT", 3, 1, true},
		{"LONG", 4, 1, true},
		{"SLONG", 9, 1, true},
		{"IFD", 13, 1, true},
		{"SSHORT", 8, 1, false},
		{"RATIONAL", 5, 1, false},
		{"two LONGs", 4, 2, false},
		{"two SLONGs", 9, 2, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := exifJPEG(gpsBlock(t, tc.typ, tc.cnt, true, true))
			m, err := ReadMeta(bytes.NewReader(b), int64(len(b)))
			if err != nil {
				t.Fatal(err)
			}
			if !tc.follow {
				if m.Lat != nil || m.Lon != nil || !strings.Contains(m.EXIFError, "0x8825") {
					t.Fatalf("lat %v lon %v, exif_error %q: want the pointer dropped with a reason", fp(m.Lat), fp(m.Lon), m.EXIFError)
				}
				return
			}
			if m.Lat == nil || m.Lon == nil || math.Abs(*m.Lat-10.5) > 1e-9 || math.Abs(*m.Lon+20.25) > 1e-9 {
				t.Fatalf("lat %v lon %v (%s)", fp(m.Lat), fp(m.Lon), m.EXIFError)
			}
			if m.EXIFError != "" {
				t.Errorf("exif_error %q on a valid pointer", m.EXIFError)
			}
		})
	}
	// A negative SLONG is an offset outside the data: dropped, no panic.
	b := gpsBlock(t, 9, 1, true, true)
	binary.LittleEndian.PutUint32(b[8+2+8:], uint32(0xFFFFFFF0))
	b = exifJPEG(b)
	m, err := ReadMeta(bytes.NewReader(b), int64(len(b)))
	if err != nil || m.Lat != nil || !strings.Contains(m.EXIFError, "0x8825") {
		t.Fatalf("negative SLONG: lat %v, %v, exif_error %q", fp(m.Lat), err, m.EXIFError)
	}
}

// TestHalfPosition: a latitude without a longitude (or the reverse) is no
// position at all, and exif_error says why.
func TestHalfPosition(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct{ lat, lon bool }{
		"latitude only":  {true, false},
		"longitude only": {false, true},
	} {
		b := exifJPEG(gpsBlock(t, 4, 1, tc.lat, tc.lon))
		m, err := ReadMeta(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			t.Fatal(err)
		}
		if m.Lat != nil || m.Lon != nil || m.HasGPS() {
			t.Errorf("%s: lat %v lon %v, want neither", name, fp(m.Lat), fp(m.Lon))
		}
		if !strings.Contains(m.EXIFError, "GPS position dropped") {
			t.Errorf("%s: exif_error %q does not say why the position is missing", name, m.EXIFError)
		}
	}
}
