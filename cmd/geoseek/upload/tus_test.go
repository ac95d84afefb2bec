package upload

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync"
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

	path := filepath.Join(t.TempDir(), "big")
	if err := os.WriteFile(path, make([]byte, size), 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	stat, _ := statKey(path, st)
	var sent int64
	u := &uploader{c: testClient(t, srv, 1, 10*time.Second), chunk: 1 << 20, sent: func(n int64) { sent += n }}
	f := &file{path: path, size: size, stat: stat}
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
