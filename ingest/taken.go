package ingest

import (
	"fmt"
	"math"
	"strings"
	"sync"
	"time"
	_ "time/tzdata" // zone rules must not depend on the host's tzdata

	"github.com/ringsaturn/tzf"
)

// Where a photo's UTC offset came from (photos.tz_source).
const (
	TZOffsetTag = "offset_tag" // OffsetTimeOriginal / OffsetTime
	TZGPSUTC    = "gps_utc"    // GPSDateStamp+GPSTimeStamp against the local time
	TZGPSZone   = "gps_zone"   // the time zone at the GPS position
	TZUnknown   = "unknown"    // local time only; the instant is not known
)

// Taken is when a photo was taken. Local is the camera's wall clock; At and
// OffsetMinutes are nil when Source is TZUnknown: geoseek never assumes UTC.
type Taken struct {
	Local         time.Time // wall clock, in time.UTC as a carrier only
	At            *time.Time
	OffsetMinutes *int
	Source        string
	Zone          string // IANA name, for gps_zone
}

// The finder is ~30 MB and takes most of a second to build: once, on first use.
var zoneFinder = sync.OnceValues(func() (tzf.F, error) { return tzf.NewDefaultFinder() })

// LoadTimeZones builds the time zone finder now, if it is not built yet, and
// waits for it (New starts it in the background).
func LoadTimeZones() error { _, err := zoneFinder(); return err }

// resolveTaken ties the EXIF wall-clock time to an instant: the offset tag
// first, then GPS UTC time, then the zone at the GPS position. ok is false
// when the photo has no usable DateTimeOriginal.
func resolveTaken(m *Meta) (Taken, bool) {
	local, err := parseExifTime(m.DateTimeOriginal)
	if err != nil {
		return Taken{}, false
	}
	t := Taken{Local: local, Source: TZUnknown}
	if off, ok := parseOffset(m.OffsetTimeOriginal); ok {
		t.setOffset(off, TZOffsetTag)
		return t, true
	}
	if m.GPSTime != nil {
		// The GPS fix can lag the shutter by a few minutes; real offsets are
		// multiples of 15 minutes within ±14 h.
		diff := local.Sub(*m.GPSTime).Minutes()
		q := math.Round(diff/15) * 15
		if math.Abs(diff-q) <= 5 && math.Abs(q) <= 14*60 {
			t.setOffset(int(q), TZGPSUTC)
			return t, true
		}
	}
	if m.HasGPS() {
		if f, err := zoneFinder(); err == nil {
			if name := f.GetTimezoneName(*m.Lon, *m.Lat); name != "" {
				if loc, err := time.LoadLocation(name); err == nil {
					in := time.Date(local.Year(), local.Month(), local.Day(), local.Hour(), local.Minute(), local.Second(), local.Nanosecond(), loc)
					_, secs := in.Zone()
					t.setOffset(secs/60, TZGPSZone)
					t.Zone = name
					return t, true
				}
			}
		}
	}
	return t, true
}

func (t *Taken) setOffset(minutes int, source string) {
	at := t.Local.Add(-time.Duration(minutes) * time.Minute)
	t.At, t.OffsetMinutes, t.Source = &at, &minutes, source
}

// parseExifTime reads "2006:01:02 15:04:05" (some writers use '-' in the
// date, or add fractional seconds or a 'T').
func parseExifTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if len(s) < 19 {
		return time.Time{}, fmt.Errorf("short time %q", s)
	}
	b := []byte(s[:19])
	b[4], b[7], b[10] = ':', ':', ' '
	t, err := time.Parse("2006:01:02 15:04:05", string(b))
	if err != nil {
		return time.Time{}, err
	}
	if t.Year() < 1800 {
		return time.Time{}, fmt.Errorf("implausible year in %q", s)
	}
	return t, nil
}

// parseOffset reads "+02:00" / "-04:00" / "+0530" into minutes.
func parseOffset(s string) (int, bool) {
	s = strings.TrimSpace(s)
	if len(s) < 5 || (s[0] != '+' && s[0] != '-') {
		return 0, false
	}
	digits := strings.ReplaceAll(s[1:], ":", "")
	if len(digits) != 4 {
		return 0, false
	}
	var h, m int
	if _, err := fmt.Sscanf(digits, "%02d%02d", &h, &m); err != nil || h > 14 || m >= 60 {
		return 0, false
	}
	off := h*60 + m
	if s[0] == '-' {
		off = -off
	}
	return off, true
}
