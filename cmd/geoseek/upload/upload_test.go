package upload

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/geoseek/geoseek/ingest"
	"github.com/geoseek/geoseek/internal/pgtest"
)

func photosDir(t *testing.T) string {
	t.Helper()
	root, err := pgtest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, "..", "shared", "testdata", "photos")
}

// TestSniffAgreesWithTheServer: the client keeps exactly the files the
// server's ingest accepts, judged by content.
func TestSniffAgreesWithTheServer(t *testing.T) {
	t.Parallel()
	des, err := os.ReadDir(photosDir(t))
	if err != nil {
		t.Fatal(err)
	}
	heads := [][]byte{nil, []byte("RIFF\x00\x00\x00\x00WEBP"), []byte("\x00\x00\x00\x18ftypmif1\x00\x00\x00\x00heic"), []byte("\x00\x00\x00\x18ftypisom\x00\x00\x00\x00mp41")}
	for _, de := range des {
		b, err := os.ReadFile(filepath.Join(photosDir(t), de.Name()))
		if err != nil {
			t.Fatal(err)
		}
		heads = append(heads, b[:min(len(b), sniffLen)])
	}
	for _, h := range heads {
		got, gerr := sniff(h)
		want, werr := ingest.Sniff(h)
		if got != want || (gerr == nil) != (werr == nil) {
			t.Errorf("%q: client %q %v, server %q %v", h, got, gerr, want, werr)
		}
	}
}

func TestWalkFilters(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, p := range []string{"a.jpg", "b.xmp", ".hidden.jpg", ".cache/c.jpg", "@eaDir/d.jpg", "sub/e.jpg", "sub/f.png"} {
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, p), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(dir, filepath.Join(dir, "sub", "up")); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		f    Filter
		want string
	}{
		{Filter{}, "@eaDir/d.jpg a.jpg b.xmp sub/e.jpg sub/f.png"},
		{Filter{Hidden: true}, ".cache/c.jpg .hidden.jpg @eaDir/d.jpg a.jpg b.xmp sub/e.jpg sub/f.png"},
		{Filter{Exclude: []string{"*.xmp", "@eaDir"}}, "a.jpg sub/e.jpg sub/f.png"},
		{Filter{Include: []string{"*.jpg"}, Exclude: []string{"sub"}}, "@eaDir/d.jpg a.jpg"},
		{Filter{Include: []string{"sub/*.png"}}, "sub/f.png"},
	}
	for _, c := range cases {
		es, err := walk([]string{dir}, c.f)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range es {
			rel, _ := filepath.Rel(dir, e.path)
			got = append(got, rel)
		}
		if strings.Join(got, " ") != c.want {
			t.Errorf("%+v: %q, want %q", c.f, strings.Join(got, " "), c.want)
		}
	}
	if err := (Filter{Include: []string{"["}}).Validate(); err == nil {
		t.Error("a malformed glob is accepted")
	}
}

// testClient is a client of srv that does not wait between tries.
func testClient(t *testing.T, srv *httptest.Server, attempts int, timeout time.Duration) *client {
	t.Helper()
	u, _ := url.Parse(srv.URL + "/")
	return &client{base: u, http: newHTTPClient(timeout, 1), retry: Retry{Attempts: attempts, Base: time.Millisecond, Max: 10 * time.Millisecond}, timeout: timeout,
		sleep: func(ctx context.Context, _ time.Duration) error { return ctx.Err() }}
}

// TestRetries: transient answers are tried again, honouring Retry-After;
// a 4xx that will not change is not.
func TestRetries(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		status, tries int
		ok            bool
	}{
		{http.StatusServiceUnavailable, 3, true},
		{http.StatusTooManyRequests, 3, true},
		{http.StatusBadGateway, 3, true},
		{http.StatusBadRequest, 1, false},
		{http.StatusUnprocessableEntity, 1, false},
		{http.StatusUnauthorized, 1, false},
	} {
		var n atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if n.Add(1) < 3 {
				w.Header().Set("Retry-After", "7")
				w.WriteHeader(c.status)
				return
			}
			w.Write([]byte(`{}`))
		}))
		cl := testClient(t, srv, 5, time.Minute)
		cl.retry.Max = time.Second // Retry-After is honoured up to ten times this
		var slept time.Duration
		cl.sleep = func(_ context.Context, d time.Duration) error { slept += d; return nil }
		err := cl.sendJSON(context.Background(), http.MethodPost, "/photos/check", map[string]any{}, &struct{}{}, http.StatusOK)
		srv.Close()
		if int(n.Load()) != c.tries || (err == nil) != c.ok {
			t.Errorf("%d: %d tries, %v; want %d tries", c.status, n.Load(), err, c.tries)
		}
		if c.ok && (slept < 14*time.Second || slept > 20*time.Second) {
			t.Errorf("%d: waited %s in all, want Retry-After (7s) twice", c.status, slept)
		}
	}
}

// TestRetryAfterIsCapped: a server asking for an hour gets ten times the
// longest backoff.
func TestRetryAfterIsCapped(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "3600")
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	cl := testClient(t, srv, 2, time.Minute)
	cl.retry.Max = time.Second
	var slept time.Duration
	cl.sleep = func(_ context.Context, d time.Duration) error { slept += d; return nil }
	if err := cl.sendJSON(context.Background(), http.MethodGet, "/x", nil, nil, http.StatusOK); err == nil || slept != 10*time.Second {
		t.Fatalf("%v after waiting %s, want 10s", err, slept)
	}
}

func TestBackoffIsCappedAndJittered(t *testing.T) {
	t.Parallel()
	r := Retry{Attempts: 20, Base: 100 * time.Millisecond, Max: 2 * time.Second}
	seen := map[time.Duration]bool{}
	for n := 1; n < 20; n++ {
		d := r.backoff(n)
		if d <= 0 || d > r.Max {
			t.Fatalf("backoff(%d) = %s, want in (0, %s]", n, d, r.Max)
		}
		seen[d] = true
	}
	if len(seen) < 10 {
		t.Fatalf("backoffs %v: no jitter", seen)
	}
}

// TestASilentServerIsBounded: a server that takes the request and never
// answers, or stops reading a body, fails the request after the timeout
// instead of hanging.
func TestASilentServerIsBounded(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release // neither reads the body nor answers
	}))
	defer srv.Close()
	defer close(release)
	cl := testClient(t, srv, 1, 300*time.Millisecond)
	done := make(chan error, 1)
	go func() {
		done <- cl.sendJSON(context.Background(), http.MethodPost, "/photos/check", map[string]any{}, &struct{}{}, http.StatusOK)
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("no error from a server that never answered")
		}
	case <-time.After(time.Minute):
		t.Fatal("the client waited on a silent server without bound")
	}

	// A body the server stops reading: the idle watch cancels the request.
	u := &uploader{c: cl, chunk: 64 << 20, sent: func(int64) {}}
	dir := t.TempDir()
	f := &file{path: filepath.Join(dir, "big"), size: 64 << 20, sha: "x"}
	if err := os.WriteFile(f.path, make([]byte, f.size), 0o644); err != nil {
		t.Fatal(err)
	}
	go func() {
		_, err := u.patchChunk(context.Background(), mustOpen(t, f.path), srv.URL+"/uploads/x", 0, f.size)
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("no error from a server that stopped reading")
		}
	case <-time.After(time.Minute):
		t.Fatal("the client waited on a stalled body without bound")
	}
}

func mustOpen(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestStateSurvivesAndIsKeyedByServerAndContent(t *testing.T) {
	t.Parallel()
	s := stateStore{dir: t.TempDir()}
	st := uploadState{URL: "http://a/uploads/1", Size: 10, SHA256: "ab"}
	if err := s.save("http://a/", st); err != nil {
		t.Fatal(err)
	}
	if got, ok := (stateStore{dir: s.dir}).load("http://a/", "ab", 10); !ok || got.URL != st.URL {
		t.Fatalf("load after save: %v %+v", ok, got)
	}
	for _, c := range []struct {
		server, sha string
		size        int64
	}{{"http://b/", "ab", 10}, {"http://a/", "cd", 10}, {"http://a/", "ab", 11}} {
		if _, ok := s.load(c.server, c.sha, c.size); ok {
			t.Errorf("%+v: found another upload's state", c)
		}
	}
	s.drop("http://a/", "ab")
	if _, ok := s.load("http://a/", "ab", 10); ok {
		t.Fatal("dropped state still found")
	}
	var none stateStore
	if err := none.save("x", st); err != nil {
		t.Fatal(err)
	}
	if _, ok := none.load("x", "ab", 10); ok {
		t.Fatal("an empty state dir keeps state")
	}
}

func TestRunRejectsABadServerURL(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "ftp://x", "127.0.0.1:8080"} {
		if _, err := Run(context.Background(), []string{t.TempDir()}, Options{Server: s}); err == nil || errors.Is(err, ErrServer) {
			t.Errorf("%q: %v", s, err)
		}
	}
}

// TestHashCache: an unchanged file is not read again; any write to it (even
// one that keeps its size and modification time) is seen.
func TestHashCache(t *testing.T) {
	t.Parallel()
	dir, state := t.TempDir(), t.TempDir()
	path := filepath.Join(dir, "a.jpg")
	b, err := os.ReadFile(filepath.Join(photosDir(t), "exif-samples__DSCN0010.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	c := openHashCache(state)
	f := &file{path: path, size: int64(len(b))}
	if err := c.hashFile(f); err != nil || f.mime != "image/jpeg" {
		t.Fatal(err, f.mime)
	}
	want := f.sha
	c.close()

	c = openHashCache(state) // another run
	st, _ := os.Stat(path)
	if sha, _, ok := c.lookup(path, st); !ok || sha != want {
		t.Fatalf("unchanged file not found in the cache: %v %s", ok, sha)
	}
	b[len(b)-3] ^= 0xFF
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, st.ModTime(), st.ModTime()); err != nil {
		t.Fatal(err)
	}
	f = &file{path: path, size: int64(len(b))}
	if err := c.hashFile(f); err != nil || f.sha == want {
		t.Fatalf("a rewritten file kept its old hash: %v", err)
	}
	c.close()
}

// TestAFileChangedAfterHashingIsNotSent: a file rewritten between its hash
// and its upload fails the request (the server never sees its end) instead
// of being stored under a stale hash.
func TestAFileChangedAfterHashingIsNotSent(t *testing.T) {
	t.Parallel()
	var complete atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mr, err := r.MultipartReader()
		if err != nil {
			return
		}
		for {
			p, err := mr.NextPart()
			if err != nil {
				if err.Error() == "EOF" {
					complete.Add(1)
				}
				return
			}
			if _, err := io.Copy(io.Discard, p); err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	path := filepath.Join(t.TempDir(), "a.jpg")
	if err := os.WriteFile(path, []byte("\xFF\xD8\xFF\xE0 first version"), 0o644); err != nil {
		t.Fatal(err)
	}
	f := &file{path: path, size: 20}
	if err := openHashCache("").hashFile(f); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("\xFF\xD8\xFF\xE0 second version, longer"), 0o644); err != nil {
		t.Fatal(err)
	}
	u := &uploader{c: testClient(t, srv, 1, time.Minute), sent: func(int64) {}}
	answers, err := u.postBatch(context.Background(), []*file{f})
	if err != nil || !errors.Is(answers[0].err, errChanged) {
		t.Fatalf("got %v, %v, want errChanged", answers, err)
	}
	if complete.Load() != 0 {
		t.Fatal("the server received a complete body")
	}
}
