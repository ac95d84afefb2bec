package ingest

import (
	"net/http"
	"sort"
	"strconv"
	"strings"
)

// MaxRanges is the most byte ranges one request for a file may ask for.
const MaxRanges = 16

// limitRanges drops the Range header of a request for a file of size bytes
// when it asks for more than MaxRanges ranges or for ranges that overlap:
// the file is then sent whole, once (200), as RFC 9110 section 14.2 allows.
// Otherwise a request for thousands of tiny or overlapping ranges gets
// many times the file's bytes, each part with its own headers. Ranges
// that do not parse are left to http.ServeContent (416).
func limitRanges(r *http.Request, size int64) {
	h := r.Header.Get("Range")
	spec, ok := strings.CutPrefix(h, "bytes=")
	if !ok {
		return
	}
	parts := strings.Split(spec, ",")
	if len(parts) > MaxRanges {
		r.Header.Del("Range")
		return
	}
	type span struct{ start, end int64 } // inclusive
	spans := make([]span, 0, len(parts))
	for _, p := range parts {
		first, last, ok := strings.Cut(strings.TrimSpace(p), "-")
		if !ok {
			return
		}
		var sp span
		switch {
		case first == "": // the last n bytes
			n, err := strconv.ParseInt(last, 10, 64)
			if err != nil || n <= 0 {
				return
			}
			sp = span{max(size-n, 0), size - 1}
		default:
			start, err := strconv.ParseInt(first, 10, 64)
			if err != nil || start < 0 {
				return
			}
			end := size - 1
			if last != "" {
				if end, err = strconv.ParseInt(last, 10, 64); err != nil || end < start {
					return
				}
			}
			if start >= size {
				continue // unsatisfiable: ServeContent skips it
			}
			sp = span{start, min(end, size-1)}
		}
		spans = append(spans, sp)
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].start < spans[j].start })
	for i := 1; i < len(spans); i++ {
		if spans[i].start <= spans[i-1].end {
			r.Header.Del("Range")
			return
		}
	}
}
