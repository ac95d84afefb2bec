package upload

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestPatchAsksAgainOnOffsetMismatch: the server's offset moved after the
// client asked (a cut request of an earlier run that it was still
// finishing): the client asks again and sends from there, without
// spending a retry and without sending the bytes the server has, nor the
// body of the chunk refused (it waits for 100 Continue).
func TestPatchAsksAgainOnOffsetMismatch(t *testing.T) {
	t.Parallel()
	const size, have, stale = 1000, 600, 400
	var mu sync.Mutex
	offset, heads, received := int64(have), 0, 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		switch r.Method {
		case http.MethodHead:
			heads++
			off := offset
			if heads == 1 {
				off = stale // what the server held before the cut request ended
			}
			w.Header().Set("Upload-Offset", strconv.FormatInt(off, 10))
			w.WriteHeader(http.StatusOK)
		case http.MethodPatch:
			at, _ := strconv.ParseInt(r.Header.Get("Upload-Offset"), 10, 64)
			if at != offset {
				http.Error(w, "mismatched offset", http.StatusConflict)
				return
			}
			n, _ := io.Copy(io.Discard, r.Body)
			received += int(n)
			offset += n
			w.Header().Set("Upload-Offset", strconv.FormatInt(offset, 10))
			w.WriteHeader(http.StatusNoContent)
		}
	}))
	t.Cleanup(srv.Close)

	f := zeroFile(t, size)
	var sent int64
	u := &uploader{c: testClient(t, srv, 1, 10*time.Second), chunk: 1 << 20, sent: func(n int64) { sent += n }}
	ctx := context.Background()
	off, err := u.tusOffset(ctx, srv.URL+"/uploads/x", size)
	if err != nil || off != stale {
		t.Fatalf("first offset %d, %v", off, err)
	}
	if err := u.patchFrom(ctx, f, srv.URL+"/uploads/x", &off); err != nil {
		t.Fatalf("patch with one attempt: %v", err)
	}
	if off != size || received != size-have || heads != 2 || sent != size-have {
		t.Errorf("offset %d (want %d), server received %d bytes (want %d), client sent %d, %d HEADs (want 2)", off, size, received, size-have, sent, heads)
	}
}

// TestPatchWithoutContinue: a server (or a proxy before it) that never
// answers Expect: 100-continue still gets the first chunk, after the
// client's bounded wait, and the next ones without it.
func TestPatchWithoutContinue(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var received, expects atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					req, err := http.ReadRequest(br) // reads the body without a word of 100 Continue
					if err != nil {
						return
					}
					if req.Header.Get("Expect") != "" {
						expects.Add(1)
					}
					at, _ := strconv.ParseInt(req.Header.Get("Upload-Offset"), 10, 64)
					n, err := io.Copy(io.Discard, req.Body)
					if err != nil {
						return
					}
					received.Add(n)
					fmt.Fprintf(c, "HTTP/1.1 204 No Content\r\nUpload-Offset: %d\r\n\r\n", at+n)
				}
			}()
		}
	}()
	const size = 3000
	f := zeroFile(t, size)
	base, _ := url.Parse("http://" + ln.Addr().String() + "/")
	c := &client{base: base, http: newHTTPClient(10*time.Second, 1), retry: Retry{Attempts: 1}, timeout: 10 * time.Second,
		sleep: func(ctx context.Context, _ time.Duration) error { return ctx.Err() }}
	u := &uploader{c: c, chunk: 1000, sent: func(int64) {}}
	var off int64
	start := time.Now()
	if err := u.patchFrom(context.Background(), f, base.String()+"uploads/x", &off); err != nil {
		t.Fatal(err)
	}
	t.Logf("3 chunks in %v", time.Since(start).Round(time.Millisecond))
	if off != size || received.Load() != size || expects.Load() != 1 {
		t.Fatalf("offset %d, server received %d of %d bytes, %d of 3 chunks asked for 100 Continue (want the first only)", off, received.Load(), size, expects.Load())
	}
}

// zeroFile is a file of size zero bytes, as the uploader sees it.
func zeroFile(t *testing.T, size int64) *file {
	t.Helper()
	path := filepath.Join(t.TempDir(), "big")
	if err := os.WriteFile(path, make([]byte, size), 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	stat, _ := statKey(path, st)
	return &file{path: path, size: size, stat: stat}
}
