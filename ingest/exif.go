package ingest

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/rwcarlsen/goexif/exif"
	"github.com/rwcarlsen/goexif/tiff"
)

// Meta is what ingest reads from a photo's bytes. Pointer fields are nil when
// the file does not carry a valid value.
type Meta struct {
	Mime          string `json:"mime"`
	Width         int    `json:"width,omitempty"`
	Height        int    `json:"height,omitempty"`
	HasEXIF       bool   `json:"has_exif"`
	Lat           *float64
	Lon           *float64
	AltM          *float64
	ImgDirection  *float64
	GPSRefMissing bool
	// DateTimeOriginal and OffsetTimeOriginal are the EXIF strings as stored
	// (NULs and spaces trimmed); GPSTime is GPSDateStamp+GPSTimeStamp (UTC).
	DateTimeOriginal   string
	OffsetTimeOriginal string
	GPSTime            *time.Time
	Make, Model, Lens  string
	// Orientation is the EXIF Orientation tag (0 when absent).
	Orientation int
	// OrientationStale is set when the EXIF describes an image of another
	// shape than the pixels (checkOrientation): Orientation is then not
	// applied.
	OrientationStale bool
	// Tags is the full tag set, JSON-ready (the exif jsonb column).
	Tags map[string]any
	// EXIFError says why EXIF was missing or partly unreadable ("" if fine).
	EXIFError string
}

// HasGPS reports whether both coordinates are known.
func (m *Meta) HasGPS() bool { return m.Lat != nil && m.Lon != nil }

// exifTimeout bounds one goexif decode. The sanitized input cannot loop, so
// this is a second line of defence; a decode that overruns is abandoned
// (its goroutine cannot be stopped, but it works on at most MaxEXIFBytes).
const exifTimeout = 2 * time.Second

// ReadMeta sniffs the media type of the file in r (size bytes) and reads its
// metadata, touching only the container headers and the EXIF block. It
// returns an error (wrapping problem.ErrUnsupportedMedia, naming the reason)
// only when the file is not an accepted image type or is not a photo of its
// type (checkImage: its header does not parse or gives no image size);
// unreadable EXIF is reported in Meta.EXIFError.
func ReadMeta(r io.ReaderAt, size int64) (*Meta, error) {
	head := make([]byte, SniffLen)
	n, _ := r.ReadAt(head, 0)
	mime, err := Sniff(head[:n])
	if err != nil {
		return nil, err
	}
	m := &Meta{Mime: mime, Tags: map[string]any{}}
	l := locate(r, size, mime)
	m.Width, m.Height = l.width, l.height
	var x *exif.Exif
	var warnings []string
	if l.exif == nil {
		if !errors.Is(l.exifErr, errNoEXIF) {
			warnings = []string{l.exifErr.Error()}
		}
	} else if x, warnings, err = decodeEXIF(l.exif); err != nil {
		warnings = append(append(l.warnings, warnings...), err.Error())
		x = nil
	} else {
		warnings = append(l.warnings, warnings...)
		m.HasEXIF = true
		warnings = append(warnings, m.fill(x)...)
		if mime == MimeTIFF && m.Width == 0 {
			m.Width, m.Height = intTag(x, exif.ImageWidth), intTag(x, exif.ImageLength)
		}
		if w := m.checkOrientation(x); w != "" {
			warnings = append(warnings, w)
		}
	}
	if err := checkImage(r, size, mime, m.Width, m.Height); err != nil {
		return nil, err
	}
	if len(warnings) > 0 {
		m.EXIFError = strings.Join(warnings, "; ")
	}
	return m, nil
}

// decodeEXIF sanitizes block and decodes it with goexif, under recover and a
// time bound. Non-critical goexif errors (a bad sub-IFD) keep the rest.
func decodeEXIF(block []byte) (*exif.Exif, []string, error) {
	clean, warnings, err := sanitizeTIFF(block)
	if err != nil {
		return nil, warnings, fmt.Errorf("exif: %w", err)
	}
	type result struct {
		x   *exif.Exif
		err error
	}
	ch := make(chan result, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				ch <- result{err: fmt.Errorf("exif: decoder panic: %v", p)}
			}
		}()
		x, err := exif.Decode(bytes.NewReader(clean))
		if err == nil {
			loadOffsetTimes(x)
		}
		ch <- result{x, err}
	}()
	t := time.NewTimer(exifTimeout)
	defer t.Stop()
	select {
	case res := <-ch:
		if res.err != nil {
			if res.x == nil || exif.IsCriticalError(res.err) {
				return nil, warnings, fmt.Errorf("exif: %w", res.err)
			}
			warnings = append(warnings, res.err.Error())
			loadOffsetTimes(res.x)
		}
		return res.x, warnings, nil
	case <-t.C:
		return nil, warnings, errors.New("exif: decoding took too long")
	}
}

// Exif 2.31 time offset tags, unknown to goexif.
var offsetFields = map[uint16]exif.FieldName{
	0x9010: "OffsetTime",
	0x9011: "OffsetTimeOriginal",
	0x9012: "OffsetTimeDigitized",
}

// loadOffsetTimes reads the Exif sub-IFD once more with goexif's own decoder
// to pick up the OffsetTime* tags its field table lacks.
func loadOffsetTimes(x *exif.Exif) {
	defer func() { _ = recover() }() // only optional fields are lost
	tag, err := x.Get(exif.ExifIFDPointer)
	if err != nil {
		return
	}
	off, err := tag.Int64(0)
	if err != nil || off <= 0 || off >= int64(len(x.Raw)) {
		return
	}
	r := bytes.NewReader(x.Raw)
	if _, err := r.Seek(off, io.SeekStart); err != nil {
		return
	}
	d, _, err := tiff.DecodeDir(r, x.Tiff.Order)
	if err != nil {
		return
	}
	x.LoadTags(d, offsetFields, false)
}

// fill takes the fields geoseek uses from x, checking each value. It returns
// notes about values it refused.
func (m *Meta) fill(x *exif.Exif) (warnings []string) {
	m.Make = stringTag(x, exif.Make)
	m.Model = stringTag(x, exif.Model)
	m.Lens = stringTag(x, exif.LensModel)
	m.DateTimeOriginal = stringTag(x, exif.DateTimeOriginal)
	m.OffsetTimeOriginal = stringTag(x, "OffsetTimeOriginal")
	if m.OffsetTimeOriginal == "" && m.DateTimeOriginal != "" {
		m.OffsetTimeOriginal = stringTag(x, "OffsetTime")
	}
	if o := intTag(x, exif.Orientation); o >= 1 && o <= 8 {
		m.Orientation = o
	}

	lat, latMissing, err := coordinate(x, exif.GPSLatitude, exif.GPSLatitudeRef, "S", "N", 90)
	if err != nil {
		warnings = append(warnings, "GPSLatitude: "+err.Error())
	}
	lon, lonMissing, err := coordinate(x, exif.GPSLongitude, exif.GPSLongitudeRef, "W", "E", 180)
	if err != nil {
		warnings = append(warnings, "GPSLongitude: "+err.Error())
	}
	if (lat == nil) != (lon == nil) {
		// Half a position is no position: a point on the equator or the
		// prime meridian would be a guess.
		have, lack := "GPSLatitude", "GPSLongitude"
		if lat == nil {
			have, lack = lack, have
		}
		warnings = append(warnings, fmt.Sprintf("GPS position dropped: %s without a usable %s", have, lack))
		lat, lon = nil, nil
	}
	m.Lat, m.Lon = lat, lon
	m.GPSRefMissing = (lat != nil && latMissing) || (lon != nil && lonMissing)

	if tag, err := x.Get(exif.GPSAltitude); err == nil {
		if alt, ok := ratAt(tag, 0); ok && math.Abs(alt) < 1e6 {
			if ref, err := x.Get(exif.GPSAltitudeRef); err == nil {
				if v, err := ref.Int(0); err == nil && v == 1 {
					alt = -alt
				}
			}
			alt += 0 // -0 (below sea level, altitude 0) becomes 0
			m.AltM = &alt
		} else {
			warnings = append(warnings, "GPSAltitude: not a finite rational")
		}
	}
	if tag, err := x.Get(exif.GPSImgDirection); err == nil {
		if d, ok := ratAt(tag, 0); ok && d >= 0 && d <= 360 {
			d = math.Mod(d, 360)
			m.ImgDirection = &d
		} else {
			warnings = append(warnings, "GPSImgDirection: not a rational in [0, 360]")
		}
	}
	m.GPSTime = gpsTime(x)
	m.Tags = tagMap(x)
	return warnings
}

// coordinate reads a GPS latitude or longitude and its reference: negative
// for neg ("S", "W", any case) or for a negative (SRATIONAL) value, positive
// for pos; a missing or unreadable reference on an unsigned value is taken as
// positive and reported in refMissing. Values that are not finite or beyond
// limit are refused.
func coordinate(x *exif.Exif, name, refName exif.FieldName, neg, pos string, limit float64) (v *float64, refMissing bool, err error) {
	tag, err := x.Get(name)
	if err != nil {
		return nil, false, nil // absent
	}
	deg, err := degrees(tag)
	if err != nil {
		return nil, false, err
	}
	if math.IsNaN(deg) || math.IsInf(deg, 0) || math.Abs(deg) > limit {
		return nil, false, fmt.Errorf("%v is not within [-%v, %v]", deg, limit, limit)
	}
	signed := deg < 0
	deg = math.Abs(deg)
	refMissing = true
	if ref, err := x.Get(refName); err == nil {
		if s, err := ref.StringVal(); err == nil {
			s = strings.ToUpper(strings.TrimSpace(strings.Trim(s, "\x00")))
			switch {
			case strings.HasPrefix(s, neg):
				deg, refMissing = -deg, false
			case strings.HasPrefix(s, pos):
				refMissing = false
			}
		}
	}
	if signed && deg > 0 {
		deg, refMissing = -deg, false // a signed value carries its own hemisphere
	}
	deg += 0 // no negative zero
	return &deg, refMissing, nil
}

// degrees reads degrees, minutes and seconds. Rationals are the standard
// form; a zero denominator makes the value unknown (not NaN, not a panic).
// Some phones write an ASCII string instead ("52,00000,50,00000,34,01180"
// with decimal commas, or "52,50,34.0118"): read it like goexif does.
func degrees(tag *tiff.Tag) (float64, error) {
	switch tag.Format() {
	case tiff.RatVal:
		n := min(int(tag.Count), 3)
		if n < 1 {
			return 0, errors.New("no value")
		}
		// SRATIONAL writers sometimes sign the degrees ("-33 52 0"): the
		// magnitude is the sum of the parts, the sign any negative part's.
		var v float64
		scale, negative := 1.0, false
		for i := 0; i < n; i++ {
			f, ok := ratAt(tag, i)
			if !ok {
				return 0, errors.New("zero denominator")
			}
			negative = negative || f < 0
			v += math.Abs(f) / scale
			scale *= 60
		}
		if negative {
			v = -v
		}
		return v, nil
	case tiff.StringVal:
		s, _ := tag.StringVal()
		return degreesString(s)
	}
	return 0, fmt.Errorf("unexpected type %d", tag.Type)
}

func degreesString(s string) (float64, error) {
	parts := strings.FieldsFunc(strings.TrimSpace(s), func(r rune) bool { return r == ',' || r == ';' || r == ' ' })
	var nums []string
	switch len(parts) {
	case 6:
		nums = []string{parts[0] + "." + parts[1], parts[2] + "." + parts[3], parts[4] + "." + parts[5]}
	case 3:
		nums = parts
	default:
		return 0, fmt.Errorf("unknown coordinate format %q", s)
	}
	var v float64
	scale := 1.0
	for _, p := range nums {
		f, err := strconv.ParseFloat(p, 64)
		if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
			return 0, fmt.Errorf("unknown coordinate format %q", s)
		}
		v += f / scale
		scale *= 60
	}
	return v, nil
}

// ratAt is the i'th rational of tag as a float, false when it is not a
// rational, out of range, or has a zero denominator.
func ratAt(tag *tiff.Tag, i int) (float64, bool) {
	if tag.Format() != tiff.RatVal || i >= int(tag.Count) {
		return 0, false
	}
	n, d, err := tag.Rat2(i)
	if err != nil || d == 0 {
		return 0, false
	}
	f := float64(n) / float64(d)
	return f, !math.IsNaN(f) && !math.IsInf(f, 0)
}

func stringTag(x *exif.Exif, name exif.FieldName) string {
	tag, err := x.Get(name)
	if err != nil {
		return ""
	}
	s, err := tag.StringVal()
	if err != nil {
		return ""
	}
	return cleanString(s)
}

// cleanString trims padding and drops what PostgreSQL text and JSON cannot
// hold (NUL, invalid UTF-8).
func cleanString(s string) string {
	s = strings.ToValidUTF8(s, "")
	s = strings.Map(func(r rune) rune {
		if r == 0 {
			return -1
		}
		return r
	}, s)
	return strings.TrimSpace(s)
}

func intTag(x *exif.Exif, name exif.FieldName) int {
	tag, err := x.Get(name)
	if err != nil || tag.Count < 1 {
		return 0
	}
	v, err := tag.Int(0)
	if err != nil {
		return 0
	}
	return v
}

// gpsTime is GPSDateStamp ("2006:01:02") + GPSTimeStamp (h, m, s rationals)
// in UTC, or nil.
func gpsTime(x *exif.Exif) *time.Time {
	ds := stringTag(x, exif.GPSDateStamp)
	tag, err := x.Get(exif.GPSTimeStamp)
	if ds == "" || err != nil || tag.Count < 3 {
		return nil
	}
	d, err := time.Parse("2006:01:02", ds)
	if err != nil {
		return nil
	}
	var secs float64
	for i, lim := range []float64{24, 60, 61} { // 61: leap seconds
		f, ok := ratAt(tag, i)
		if !ok || f < 0 || f >= lim {
			return nil
		}
		secs = secs*60 + f
	}
	t := d.Add(time.Duration(secs * float64(time.Second))).UTC()
	return &t
}

// maxTagValues bounds the values of one tag kept in the JSON tag set.
const maxTagValues = 64

// skippedTags are left out of the JSON tag set: binary blobs and pointers.
var skippedTags = map[exif.FieldName]bool{
	exif.MakerNote: true, exif.ExifIFDPointer: true, exif.GPSInfoIFDPointer: true,
	exif.InteroperabilityIFDPointer: true, exif.ThumbJPEGInterchangeFormat: true,
	exif.ThumbJPEGInterchangeFormatLength: true,
}

type tagWalker map[string]any

func (w tagWalker) Walk(name exif.FieldName, tag *tiff.Tag) error {
	if skippedTags[name] {
		return nil
	}
	if v, ok := tagValue(tag); ok {
		w[string(name)] = v
	}
	return nil
}

// tagMap is the full tag set as JSON-ready values: strings, numbers, "n/d"
// rationals, arrays of those; short undefined values as text or hex.
func tagMap(x *exif.Exif) map[string]any {
	w := tagWalker{}
	_ = x.Walk(w)
	return w
}

func tagValue(tag *tiff.Tag) (any, bool) {
	n := int(tag.Count)
	switch tag.Format() {
	case tiff.StringVal:
		s, _ := tag.StringVal()
		return cleanString(s), true
	case tiff.UndefVal:
		if len(tag.Val) > maxTagValues {
			return nil, false
		}
		v := bytes.TrimRight(tag.Val, "\x00 ")
		if utf8.Valid(v) && isPrintable(v) {
			return string(v), true
		}
		return hex.EncodeToString(tag.Val), true
	case tiff.IntVal, tiff.RatVal, tiff.FloatVal:
		if n > maxTagValues {
			return nil, false
		}
		vals := make([]any, 0, n)
		for i := 0; i < n; i++ {
			switch tag.Format() {
			case tiff.IntVal:
				v, _ := tag.Int64(i)
				vals = append(vals, v)
			case tiff.RatVal:
				num, den, _ := tag.Rat2(i)
				vals = append(vals, strconv.FormatInt(num, 10)+"/"+strconv.FormatInt(den, 10))
			case tiff.FloatVal:
				f, _ := tag.Float(i)
				if math.IsNaN(f) || math.IsInf(f, 0) {
					vals = append(vals, nil)
				} else {
					vals = append(vals, f)
				}
			}
		}
		if len(vals) == 1 {
			return vals[0], true
		}
		return vals, true
	}
	return nil, false
}

func isPrintable(b []byte) bool {
	for _, r := range string(b) {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// orientationTolerance is how far the aspect ratio the EXIF states may be
// from the pixels' (rounding in small resized copies) and still describe
// them.
const orientationTolerance = 0.05

// checkOrientation marks Orientation stale when the EXIF's own image size
// (PixelXDimension × PixelYDimension) has another shape than the pixels,
// either way round. Such EXIF was copied from a source frame into a new
// rendering (a stitched panorama, a crop) whose pixels the tool wrote
// upright, so rotating them again would turn a correct picture on its side.
// It returns a note for EXIFError when it does.
func (m *Meta) checkOrientation(x *exif.Exif) string {
	if m.Orientation < 2 || m.Width <= 0 || m.Height <= 0 {
		return ""
	}
	px, py := intTag(x, exif.PixelXDimension), intTag(x, exif.PixelYDimension)
	if px <= 0 || py <= 0 {
		return ""
	}
	exifRatio := float64(px) / float64(py)
	pixRatio := float64(m.Width) / float64(m.Height)
	if math.Abs(exifRatio/pixRatio-1) <= orientationTolerance || math.Abs(exifRatio*pixRatio-1) <= orientationTolerance {
		return ""
	}
	m.OrientationStale = true
	return fmt.Sprintf("Orientation %d not applied: the EXIF describes a %dx%d image, the pixels are %dx%d", m.Orientation, px, py, m.Width, m.Height)
}

// DisplayOrientation is the EXIF orientation to apply to the pixels for
// display: Orientation, or 1 when it is stale, 0 when there is none.
func (m *Meta) DisplayOrientation() int {
	if m.OrientationStale {
		return 1
	}
	return m.Orientation
}
