package upload

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeServer answers /photos/check and multipart POST /photos like
// geoseek, from memory: a part named bad-* is refused (415), one named
// busy-* gets a 503 of its own the first time; cut, when it returns true
// for a request (by its number, from 1), stores the request's files and
// then drops the connection without an answer.
type fakeServer struct {
	mu       sync.Mutex
	stored   map[string]int64 // sha → id
	sends    map[string]int   // sha → times its bytes arrived
	busy     map[string]bool
	requests int
	inFlight int
	most     int // requests in flight at once
	parts    []int
	bytes    []int64
	cut      func(n int) bool
}

func newFakeServer(t *testing.T, f *fakeServer) *httptest.Server {
	f.stored, f.sends, f.busy = map[string]int64{}, map[string]int{}, map[string]bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/photos/check":
			f.check(w, r)
		case "/photos":
			f.photos(w, r)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func (f *fakeServer) check(w http.ResponseWriter, r *http.Request) {
	var req checkRequest
	_ = json.NewDecoder(r.Body).Decode(&req)
	f.mu.Lock()
	defer f.mu.Unlock()
	ans := map[string]any{}
	var existing []map[string]any
	for _, c := range req.Files {
		if id, ok := f.stored[c.SHA256]; ok {
			existing = append(existing, map[string]any{"sha256": c.SHA256, "id": id})
		}
	}
	ans["existing"], ans["missing"] = existing, []string{}
	_ = json.NewEncoder(w).Encode(ans)
}

func (f *fakeServer) photos(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests++
	n := f.requests
	f.inFlight++
	f.most = max(f.most, f.inFlight)
	f.mu.Unlock()
	defer func() { f.mu.Lock(); f.inFlight--; f.mu.Unlock() }()
	time.Sleep(10 * time.Millisecond) // let requests overlap
	mr, err := r.MultipartReader()
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var results []map[string]any
	var size int64
	for {
		p, err := mr.NextPart()
		if err != nil {
			break
		}
		h := sha256.New()
		k, _ := io.Copy(h, p)
		size += k
		sum := hex.EncodeToString(h.Sum(nil))
		results = append(results, f.store(p.FileName(), sum))
	}
	f.mu.Lock()
	f.parts, f.bytes = append(f.parts, len(results)), append(f.bytes, size)
	f.mu.Unlock()
	if f.cut != nil && f.cut(n) {
		c, _, _ := w.(http.Hijacker).Hijack()
		c.Close()
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusMultiStatus)
	_ = json.NewEncoder(w).Encode(map[string]any{"results": results})
}

// store is the result of one part.
func (f *fakeServer) store(name, sum string) map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sends[sum]++
	switch {
	case strings.HasPrefix(name, "bad-"):
		return map[string]any{"file": name, "status": 415, "error": map[string]any{"title": "Unsupported Media Type", "detail": "not a photo", "status": 415}}
	case strings.HasPrefix(name, "busy-") && !f.busy[sum]:
		f.busy[sum] = true
		return map[string]any{"file": name, "status": 503, "error": map[string]any{"title": "Service Unavailable", "status": 503}}
	}
	status := 200
	id, ok := f.stored[sum]
	if !ok {
		id, status = int64(len(f.stored)+1), 201
		f.stored[sum] = id
	}
	return map[string]any{"file": name, "status": status, "photo": map[string]any{"id": id, "sha256": sum}}
}

// jpegs writes files named name-i.jpg of size bytes each, distinct.
func jpegs(t *testing.T, dir, name string, n, size int) {
	t.Helper()
	for i := range n {
		b := make([]byte, size)
		_, _ = rand.Read(b)
		copy(b, []byte{0xFF, 0xD8, 0xFF, 0xE0})
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s-%02d.jpg", name, i)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func runFake(t *testing.T, srv *httptest.Server, dir string, opt Options) (map[string]Result, Summary, error) {
	t.Helper()
	var mu sync.Mutex
	results := map[string]Result{}
	opt.Server, opt.StateDir = srv.URL, ""
	opt.Retry = Retry{Attempts: 3, Base: time.Millisecond, Max: time.Millisecond}
	opt.OnResult = func(r Result) {
		mu.Lock()
		defer mu.Unlock()
		if _, dup := results[filepath.Base(r.Path)]; dup {
			t.Errorf("%s reported twice", r.Path)
		}
		results[filepath.Base(r.Path)] = r
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sum, err := Run(ctx, []string{dir}, opt)
	return results, sum, err
}

// TestBatchesAreBounded: requests carry at most BatchFiles files and
// BatchBytes bytes (a larger file alone), at most Concurrency at once, and
// each file gets its own outcome from its part's result.
func TestBatchesAreBounded(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	jpegs(t, dir, "ok", 23, 10<<10)
	jpegs(t, dir, "bad", 3, 10<<10)
	jpegs(t, dir, "big", 1, 100<<10)
	for _, c := range []struct {
		name              string
		files             int
		bytes             int64
		wantParts         int
		wantBytesPerBatch int64
	}{
		{"by files", 4, 1 << 30, 4, 1 << 30},
		{"by bytes", 100, 35 << 10, 3, 100 << 10},
	} {
		fs := &fakeServer{}
		srv := newFakeServer(t, fs)
		results, sum, err := runFake(t, srv, dir, Options{Concurrency: 2, BatchFiles: c.files, BatchBytes: c.bytes, ResumableAbove: 1 << 30})
		if err != nil || sum.Created != 24 || sum.Failed != 3 || len(results) != 27 {
			t.Fatalf("%s: %v %+v", c.name, err, sum)
		}
		for name, r := range results {
			bad := strings.HasPrefix(name, "bad-")
			if bad != (r.Outcome == Failed) || (bad && !strings.Contains(r.Reason, "not a photo")) || (!bad && fs.stored[r.SHA256] != r.PhotoID) {
				t.Errorf("%s: %s: %+v", c.name, name, r)
			}
		}
		if fs.most > 2 {
			t.Errorf("%s: %d requests at once, want at most 2", c.name, fs.most)
		}
		for i, n := range fs.parts {
			if n > c.wantParts || (n > 1 && fs.bytes[i] > c.wantBytesPerBatch) {
				t.Errorf("%s: a request of %d files, %d bytes", c.name, n, fs.bytes[i])
			}
		}
		if len(fs.parts) >= 27 {
			t.Errorf("%s: %d requests for 27 files: not batched", c.name, len(fs.parts))
		}
	}
}

// TestBatchRetriesOnlyUnsettledFiles: the first request stores its files
// and loses its answer; a busy file gets a 503 of its own. The retries send
// only the files without an answer; those the lost request stored are found
// by a check and reported created, as this run stored them; nothing stored
// is sent again.
func TestBatchRetriesOnlyUnsettledFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	jpegs(t, dir, "ok", 6, 8<<10)
	jpegs(t, dir, "busy", 1, 8<<10)
	fs := &fakeServer{cut: func(n int) bool { return n == 1 }}
	srv := newFakeServer(t, fs)
	results, sum, err := runFake(t, srv, dir, Options{Concurrency: 1, BatchFiles: 4, ResumableAbove: 1 << 30, HashConcurrency: 1})
	if err != nil || sum.Created != 7 || len(results) != 7 {
		t.Fatalf("%v %+v %v", err, sum, results)
	}
	for name, r := range results {
		if r.Outcome != Created || fs.stored[r.SHA256] != r.PhotoID {
			t.Errorf("%s: %+v", name, r)
		}
	}
	for sha, n := range fs.sends {
		want := 1
		if strings.HasPrefix(nameOf(results, sha), "busy-") {
			want = 2 // refused once with a 503
		}
		if n != want {
			t.Errorf("%s sent %d times, want %d", nameOf(results, sha), n, want)
		}
	}
}

func nameOf(results map[string]Result, sha string) string {
	for n, r := range results {
		if r.SHA256 == sha {
			return n
		}
	}
	return sha
}
