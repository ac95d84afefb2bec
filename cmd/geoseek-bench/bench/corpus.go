package bench

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"image"
	"image/jpeg"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync"
)

// corpusBases is how many distinct noise images a PhotoCorpus draws on;
// each file differs from every other by its EXIF (position, comment).
const corpusBases = 8

// PhotoCorpus returns the paths of n distinct JPEGs of at least minBytes
// each in dir, making those missing (once: later calls reuse the files).
// Each is a real JPEG of random noise (which compresses like a detailed
// photo) with an EXIF segment carrying a GPS position, different for every
// file, so every file is a distinct photo with a point on the map. The
// upload scenarios (tus, multipart, the `geoseek upload` client) share it.
func PhotoCorpus(ctx context.Context, dir string, n int, minBytes int64) ([]string, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("bench: corpus dir: %w", err)
	}
	paths := make([]string, n)
	var missing []int
	for i := range paths {
		paths[i] = filepath.Join(dir, fmt.Sprintf("photo-%05d.jpg", i))
		if fi, err := os.Stat(paths[i]); err != nil || fi.Size() < minBytes {
			missing = append(missing, i)
		}
	}
	if len(missing) == 0 {
		return paths, nil
	}
	bases, err := noiseBases(ctx, corpusBases, minBytes)
	if err != nil {
		return nil, err
	}
	for _, i := range missing {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		base := bases[i%len(bases)]
		var b bytes.Buffer
		b.Write(base[:2]) // SOI
		b.Write(gpsEXIF(i))
		b.Write(base[2:])
		// Written whole, then renamed: an interrupted run leaves no short file.
		tmp := paths[i] + ".tmp"
		if err := os.WriteFile(tmp, b.Bytes(), 0o640); err != nil {
			return nil, fmt.Errorf("bench: corpus: %w", err)
		}
		if err := os.Rename(tmp, paths[i]); err != nil {
			return nil, fmt.Errorf("bench: corpus: %w", err)
		}
	}
	return paths, nil
}

// noiseBases encodes k JPEGs of random noise, each at least minBytes: the
// size is grown until the encoding is large enough.
func noiseBases(ctx context.Context, k int, minBytes int64) ([][]byte, error) {
	out := make([][]byte, k)
	errs := make([]error, k)
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for j := range out {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			r := rand.New(rand.NewPCG(uint64(j), 7))
			// Noise at quality 90 takes about 1.5 bytes a pixel.
			px := float64(minBytes) / 1.5 * 1.05
			for ctx.Err() == nil {
				w := int(math.Sqrt(px * 4 / 3))
				h := w * 3 / 4
				img := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
				for i := range img.Y {
					img.Y[i] = uint8(r.UintN(256))
				}
				for i := range img.Cb {
					img.Cb[i], img.Cr[i] = uint8(96+r.UintN(64)), uint8(96+r.UintN(64))
				}
				var b bytes.Buffer
				if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 90}); err != nil {
					errs[j] = err
					return
				}
				if int64(b.Len()) >= minBytes {
					out[j] = b.Bytes()
					return
				}
				px *= float64(minBytes) / float64(b.Len()) * 1.05
			}
			errs[j] = ctx.Err()
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("bench: noise JPEG: %w", err)
		}
	}
	return out, nil
}

// gpsEXIF is an APP1 Exif segment for file i: IFD0 with Make, Model and
// the GPS IFD pointer; the GPS IFD with a position spread over Europe.
func gpsEXIF(i int) []byte {
	r := rand.New(rand.NewPCG(uint64(i), 11))
	lat, lon := 36+24*r.Float64(), -10+40*r.Float64()
	lonRef := "E\x00"
	if lon < 0 {
		lonRef, lon = "W\x00", -lon
	}
	le := binary.LittleEndian
	dms := func(v float64) []byte {
		d, m := math.Floor(v), math.Floor((v-math.Floor(v))*60)
		s := math.Round(((v-d)*60 - m) * 60 * 1000)
		b := make([]byte, 24)
		for k, x := range []uint32{uint32(d), 1, uint32(m), 1, uint32(s), 1000} {
			le.PutUint32(b[4*k:], x)
		}
		return b
	}
	ifd0 := []tiffEntry{
		{tag: 0x010F, typ: 2, count: 7, data: []byte("GeoCam\x00")},
		{tag: 0x0110, typ: 2, count: 8, data: []byte("Bench 1\x00")},
		{tag: 0x8825, typ: 4, count: 1}, // GPS IFD offset, filled below
	}
	gps := []tiffEntry{
		{tag: 0x0000, typ: 1, count: 4, data: []byte{2, 3, 0, 0}},
		{tag: 0x0001, typ: 2, count: 2, data: []byte("N\x00")},
		{tag: 0x0002, typ: 5, count: 3, data: dms(lat)},
		{tag: 0x0003, typ: 2, count: 2, data: []byte(lonRef)},
		{tag: 0x0004, typ: 5, count: 3, data: dms(lon)},
	}
	gpsAt := 8 + ifdSize(ifd0)
	ifd0[2].data = le.AppendUint32(nil, gpsAt)
	tiff := []byte{'I', 'I', 42, 0, 8, 0, 0, 0}
	tiff = appendIFD(tiff, ifd0, 8)
	tiff = appendIFD(tiff, gps, gpsAt)
	payload := append([]byte("Exif\x00\x00"), tiff...)
	seg := []byte{0xFF, 0xE1, 0, 0}
	binary.BigEndian.PutUint16(seg[2:], uint16(len(payload)+2))
	return append(seg, payload...)
}

type tiffEntry struct {
	tag, typ uint16
	count    uint32
	data     []byte
}

// ifdSize is the bytes an IFD and its out-of-line values take.
func ifdSize(es []tiffEntry) uint32 {
	n := uint32(2 + 12*len(es) + 4)
	for _, e := range es {
		if len(e.data) > 4 {
			n += uint32(len(e.data)+1) &^ 1
		}
	}
	return n
}

// appendIFD writes an IFD that starts at offset at (little-endian), its
// values longer than 4 bytes right after it.
func appendIFD(b []byte, es []tiffEntry, at uint32) []byte {
	le := binary.LittleEndian
	extra := at + uint32(2+12*len(es)+4)
	var tail []byte
	b = le.AppendUint16(b, uint16(len(es)))
	for _, e := range es {
		b = le.AppendUint16(b, e.tag)
		b = le.AppendUint16(b, e.typ)
		b = le.AppendUint32(b, e.count)
		if len(e.data) <= 4 {
			v := make([]byte, 4)
			copy(v, e.data)
			b = append(b, v...)
			continue
		}
		b = le.AppendUint32(b, extra+uint32(len(tail)))
		tail = append(tail, e.data...)
		if len(e.data)%2 == 1 {
			tail = append(tail, 0)
		}
	}
	b = le.AppendUint32(b, 0) // no next IFD
	return append(b, tail...)
}
