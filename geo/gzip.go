package geo

import (
	"bytes"
	"io"
	"sync"

	"github.com/klauspost/compress/gzip"
)

// Responses are gzipped with klauspost/compress at its fastest level (twice
// the speed of compress/gzip on MVT and GeoJSON here) by pooled writers: a
// new writer allocates most of a MiB of state, more than most responses.
var gzipPool = sync.Pool{New: func() any {
	w, _ := gzip.NewWriterLevel(io.Discard, gzip.BestSpeed)
	return w
}}

func getGzip(w io.Writer) *gzip.Writer {
	z := gzipPool.Get().(*gzip.Writer)
	z.Reset(w)
	return z
}

// putGzip returns a closed writer to the pool.
func putGzip(z *gzip.Writer) {
	z.Reset(io.Discard)
	gzipPool.Put(z)
}

// minGzipTile is the smallest tile worth compressing: below it the gzip
// header and trailer eat most of what is saved.
const minGzipTile = 1024

// gzipTile returns data gzipped, or nil when that would not make it smaller.
func gzipTile(data []byte) []byte {
	if len(data) < minGzipTile {
		return nil
	}
	var buf bytes.Buffer
	buf.Grow(len(data)/2 + 64)
	z := getGzip(&buf)
	_, _ = z.Write(data) // a bytes.Buffer does not fail
	_ = z.Close()
	putGzip(z)
	if buf.Len() >= len(data) {
		return nil
	}
	return buf.Bytes()
}
