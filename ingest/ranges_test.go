package ingest

import (
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestLimitRanges(t *testing.T) {
	t.Parallel()
	var many []string
	for i := range 2000 {
		many = append(many, fmt.Sprintf("%d-%d", i, i))
	}
	for _, c := range []struct {
		in   string
		kept bool
	}{
		{"bytes=0-99", true},
		{"bytes=0-9,20-29,-10", true},
		{"bytes=0-9, 10-19", true},
		{"bytes=" + strings.Join(many[:MaxRanges], ","), true},
		{"bytes=" + strings.Join(many[:MaxRanges+1], ","), false},
		{"bytes=" + strings.Join(many, ","), false},
		{"bytes=0-100,50-150", false},
		{"bytes=0-,0-", false},
		{"bytes=-500,900-999", false}, // the last 500 bytes hold 900-999
		{"bytes=5000-6000", true},     // unsatisfiable: ServeContent's 416
		{"bytes=abc", true},
		{"items=0-1", true},
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Range", c.in)
		limitRanges(r, 1000)
		if kept := r.Header.Get("Range") != ""; kept != c.kept {
			t.Errorf("%.40s: kept %v, want %v", c.in, kept, c.kept)
		}
	}
}

func FuzzLimitRanges(f *testing.F) {
	for _, s := range []string{"bytes=0-1", "bytes=-5,0-", "bytes=1-0", "bytes=0-1,1-2", "bytes=99999999999999999999-"} {
		f.Add(s, int64(1000))
	}
	f.Fuzz(func(t *testing.T, h string, size int64) {
		if size < 0 {
			size = -size
		}
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Range", h)
		limitRanges(r, size)
		if kept := r.Header.Get("Range"); kept != "" && strings.Count(kept, ",") >= MaxRanges && strings.HasPrefix(kept, "bytes=") {
			t.Fatalf("kept %d ranges", strings.Count(kept, ",")+1)
		}
	})
}

// TestOriginalRanges: thousands of one-byte ranges, or overlapping ones,
// get the file once; a few distinct ranges get a multipart answer.
func TestOriginalRanges(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	f := corpusFile(t, "exiftool__Apple.jpg")
	p := uploaded(t, b.upload(t, f))
	path := fmt.Sprintf("/photos/%d/original", p.ID)
	var many []string
	for i := range 2000 {
		many = append(many, fmt.Sprintf("%d-%d", i, i))
	}
	for _, rng := range []string{"bytes=" + strings.Join(many, ","), "bytes=0-1000,500-1500,0-"} {
		rec := b.do(t, http.MethodGet, path, nil, "", "Range", rng)
		if rec.Code != http.StatusOK || rec.Body.Len() != len(f.data) {
			t.Errorf("%.30s: %d, %d bytes, want 200 and %d", rng, rec.Code, rec.Body.Len(), len(f.data))
		}
	}
	rec := b.do(t, http.MethodGet, path, nil, "", "Range", "bytes=0-9,100-109,-10")
	_, params, _ := mime.ParseMediaType(rec.Header().Get("Content-Type"))
	if rec.Code != http.StatusPartialContent || params["boundary"] == "" {
		t.Fatalf("three ranges: %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	mr := multipart.NewReader(rec.Body, params["boundary"])
	total := 0
	for {
		part, err := mr.NextPart()
		if err != nil {
			break
		}
		n, _ := io.Copy(io.Discard, part)
		total += int(n)
	}
	if total != 30 {
		t.Errorf("three ranges: %d bytes", total)
	}
}
