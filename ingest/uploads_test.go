package ingest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/geoseek/geoseek/internal/problem"
)

// tusClient speaks tus 1.0 to a test server.
type tusClient struct {
	t   testing.TB
	url string
	key string
}

func (b *bundle) tusServer(t testing.TB) *tusClient {
	// As internal/server runs it: deadlines reset between requests.
	srv := httptest.NewUnstartedServer(b.router)
	srv.Config.ReadHeaderTimeout, srv.Config.IdleTimeout = 10*time.Second, time.Minute
	srv.Start()
	t.Cleanup(srv.Close)
	return &tusClient{t: t, url: srv.URL, key: b.key}
}

func (tc *tusClient) do(method, path string, body io.Reader, hdr ...string) (*http.Response, []byte) {
	tc.t.Helper()
	req, err := http.NewRequest(method, tc.url+path, body)
	if err != nil {
		tc.t.Fatal(err)
	}
	req.Header.Set("Tus-Resumable", "1.0.0")
	if tc.key != "" {
		req.Header.Set("Authorization", "Bearer "+tc.key)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tc.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// create creates an upload of size bytes named name and returns its path.
func (tc *tusClient) create(name string, size int) string {
	tc.t.Helper()
	resp, body := tc.do(http.MethodPost, "/uploads/", nil, "Upload-Length", strconv.Itoa(size),
		"Upload-Metadata", "filename "+base64.StdEncoding.EncodeToString([]byte(name))+",filetype aW1hZ2UvanBlZw==")
	if resp.StatusCode != http.StatusCreated {
		tc.t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	loc := resp.Header.Get("Location")
	if !strings.HasPrefix(loc, "/uploads/") || resp.Header.Get("Upload-Expires") == "" {
		tc.t.Fatalf("create: Location %q, Upload-Expires %q", loc, resp.Header.Get("Upload-Expires"))
	}
	return loc
}

func (tc *tusClient) patch(loc string, offset int, data []byte) (*http.Response, []byte) {
	tc.t.Helper()
	return tc.do(http.MethodPatch, loc, bytes.NewReader(data), "Upload-Offset", strconv.Itoa(offset),
		"Content-Type", "application/offset+octet-stream")
}

func (tc *tusClient) offset(loc string) int {
	tc.t.Helper()
	resp, _ := tc.do(http.MethodHead, loc, nil)
	if resp.StatusCode != http.StatusOK {
		tc.t.Fatalf("HEAD %s: %d", loc, resp.StatusCode)
	}
	n, err := strconv.Atoi(resp.Header.Get("Upload-Offset"))
	if err != nil {
		tc.t.Fatalf("HEAD %s: Upload-Offset %q", loc, resp.Header.Get("Upload-Offset"))
	}
	return n
}

// startPatch opens a connection of its own and sends a PATCH at offset 0
// announcing size bytes, of which it sends only part; the caller reads the
// answer from the connection (closed when the test ends).
func (tc *tusClient) startPatch(loc string, size int, part []byte) net.Conn {
	tc.t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(tc.url, "http://"))
	if err != nil {
		tc.t.Fatal(err)
	}
	tc.t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "PATCH %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nTus-Resumable: 1.0.0\r\n"+
		"Upload-Offset: 0\r\nContent-Type: application/offset+octet-stream\r\nContent-Length: %d\r\n\r\n",
		loc, tc.key, size)
	if _, err := conn.Write(part); err != nil {
		tc.t.Fatal(err)
	}
	return conn
}

// result reads an upload's outcome.
func (tc *tusClient) result(loc string) (int, UploadResult, problem.Details) {
	tc.t.Helper()
	resp, body := tc.do(http.MethodGet, loc+"/result", nil)
	var out UploadResult
	var d problem.Details
	if resp.StatusCode < 300 {
		if err := json.Unmarshal(body, &out); err != nil || len(out.Results) != 1 {
			tc.t.Fatalf("result %s: %d %s", loc, resp.StatusCode, body)
		}
	} else if err := json.Unmarshal(body, &d); err != nil || resp.Header.Get("Content-Type") != problem.ContentType {
		tc.t.Fatalf("result %s: %d %s %s", loc, resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	return resp.StatusCode, out, d
}

// uploadFiles lists the files in the uploads directory but the uploads'
// lock files, and fails the test for a lock file whose upload has no other
// file left.
func uploadFiles(t testing.TB, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(dir, "uploads"))
	if err != nil {
		t.Fatal(err)
	}
	var names, locks []string
	ids := map[string]bool{}
	for _, e := range ents {
		id, _, _ := strings.Cut(e.Name(), ".")
		if strings.HasSuffix(e.Name(), ".lock") {
			locks = append(locks, id)
			continue
		}
		names = append(names, e.Name())
		ids[id] = true
	}
	for _, id := range locks {
		if !ids[id] {
			t.Fatalf("lock file of upload %s outlived its upload (files: %v)", id, names)
		}
	}
	return names
}

// TestTusUpload sends a photo in three PATCHes with an interruption, and
// reads the outcome: the same photo as a multipart upload, the file moved
// (not copied) into the store, and the same bytes again are a duplicate.
func TestTusUpload(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	tc := b.tusServer(t)
	f := corpusFile(t, "exif-samples__DSCN0010.jpg")
	loc := tc.create("holiday/"+f.name, len(f.data))

	// Discovery is open and names the extensions.
	resp, _ := (&tusClient{t: t, url: tc.url}).do(http.MethodOptions, "/uploads/", nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Tus-Extension"), "expiration") ||
		!strings.Contains(resp.Header.Get("Tus-Extension"), "termination") || resp.Header.Get("Tus-Max-Size") == "" {
		t.Fatalf("OPTIONS: %d %v", resp.StatusCode, resp.Header)
	}

	third := len(f.data) / 3
	if resp, body := tc.patch(loc, 0, f.data[:third]); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("patch 1: %d %s", resp.StatusCode, body)
	}
	// The outcome of an unfinished upload says how far it got.
	if code, _, d := tc.result(loc); code != http.StatusConflict || !strings.Contains(d.Detail, strconv.Itoa(third)+" of") {
		t.Fatalf("early result: %d %+v", code, d)
	}
	// A PATCH at a wrong offset is refused with a problem.
	if resp, body := tc.patch(loc, 1, f.data[1:third]); resp.StatusCode != http.StatusConflict ||
		resp.Header.Get("Content-Type") != problem.ContentType || !strings.Contains(string(body), "upload-mismatched-offset") {
		t.Fatalf("wrong offset: %d %s", resp.StatusCode, body)
	}
	off := tc.offset(loc)
	if off != third {
		t.Fatalf("offset %d, want %d", off, third)
	}
	if resp, _ := tc.patch(loc, off, f.data[off:2*third]); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("patch 2: %d", resp.StatusCode)
	}
	resp, body := tc.patch(loc, 2*third, f.data[2*third:])
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Upload-Offset") != strconv.Itoa(len(f.data)) {
		t.Fatalf("final patch: %d %s", resp.StatusCode, body)
	}
	// The final PATCH answered: the row is committed.
	var n int
	if err := b.db.Pool.QueryRow(t.Context(), `SELECT count(*) FROM photos`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("photos after the final PATCH: %d, %v", n, err)
	}
	code, res, _ := tc.result(loc)
	r := res.Results[0]
	if code != http.StatusCreated || r.Status != http.StatusCreated || r.Photo == nil || r.File != f.name ||
		r.Photo.OriginalName != f.name || r.Photo.Lat == nil {
		t.Fatalf("result: %d %+v", code, r)
	}
	// The bytes moved into the store; the upload stays visible, complete.
	if origs, temps := countOriginals(t, b.dir); origs != 1 || temps != 0 {
		t.Fatalf("originals %d, temps %d", origs, temps)
	}
	if got := tc.offset(loc); got != len(f.data) {
		t.Fatalf("offset after completion %d", got)
	}
	if resp, _ := tc.patch(loc, len(f.data), nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("repeated final patch: %d", resp.StatusCode)
	}
	if code, again, _ := tc.result(loc); code != http.StatusCreated || again.Results[0].Photo.ID != r.Photo.ID {
		t.Fatalf("result again: %d %+v", code, again)
	}

	// The same bytes in one request (creation-with-upload): a duplicate.
	resp, body = tc.do(http.MethodPost, "/uploads/", bytes.NewReader(f.data), "Upload-Length", strconv.Itoa(len(f.data)),
		"Content-Type", "application/offset+octet-stream")
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("creation with upload: %d %s", resp.StatusCode, body)
	}
	loc2 := resp.Header.Get("Location")
	if code, res, _ := tc.result(loc2); code != http.StatusOK || res.Results[0].Photo.ID != r.Photo.ID {
		t.Fatalf("duplicate result: %d %+v", code, res)
	}
	// Terminating an upload removes its files, never its photo.
	if resp, _ := tc.do(http.MethodDelete, loc2, nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("terminate: %d", resp.StatusCode)
	}
	if code, _, _ := tc.result(loc2); code != http.StatusNotFound {
		t.Fatalf("result of a terminated upload: %d", code)
	}
	if got := uploadFiles(t, b.dir); len(got) != 3 { // loc's bytes (the original's second name), .info and .result
		t.Fatalf("upload files: %v", got)
	}
	if !b.svc.Uploads().isOriginal(filepath.Join(b.dir, "uploads", strings.TrimPrefix(loc, "/uploads/")), r.Photo.SHA256) {
		t.Fatal("the upload's bytes are not the original's")
	}
	if rec := b.do(t, http.MethodGet, fmt.Sprintf("/photos/%d", r.Photo.ID), nil, ""); rec.Code != http.StatusOK {
		t.Fatalf("photo after terminate: %d", rec.Code)
	}
}

// TestTusRejectsCorruptJPEG: a JPEG start marker followed by junk is refused
// at completion like any file that is not a photo, and nothing is stored.
func TestTusRejectsCorruptJPEG(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{MaxFileBytes: 1 << 20})
	tc := b.tusServer(t)
	data := corruptJPEG()
	loc := tc.create("broken.jpg", len(data))
	if resp, body := tc.patch(loc, 0, data); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("final patch: %d %s", resp.StatusCode, body)
	}
	code, _, d := tc.result(loc)
	if code != http.StatusUnsupportedMediaType || d.Type != problem.ErrUnsupportedMedia.Type() || !strings.Contains(d.Detail, "frame header") {
		t.Fatalf("result: %d %+v", code, d)
	}
	if origs, _ := countOriginals(t, b.dir); origs != 0 {
		t.Fatalf("originals: %d", origs)
	}
}

// TestTusRejects: a file that is not an image is refused at its result with
// the problem POST /photos gives, nothing is stored and its bytes are gone;
// bad requests are problems, and the write scope is required.
func TestTusRejects(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{MaxFileBytes: 1 << 20})
	tc := b.tusServer(t)
	data := []byte("this is not an image, just text")
	loc := tc.create("notes.txt", len(data))
	if resp, body := tc.patch(loc, 0, data); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("final patch: %d %s", resp.StatusCode, body)
	}
	code, _, d := tc.result(loc)
	if code != http.StatusUnsupportedMediaType || d.Type != problem.ErrUnsupportedMedia.Type() {
		t.Fatalf("result: %d %+v", code, d)
	}
	if origs, _ := countOriginals(t, b.dir); origs != 0 {
		t.Fatalf("originals: %d", origs)
	}
	if got := uploadFiles(t, b.dir); len(got) != 2 {
		t.Fatalf("upload files: %v", got)
	}

	for _, c := range []struct {
		name, method, path string
		hdr                []string
		status             int
	}{
		{"too large", http.MethodPost, "/uploads/", []string{"Upload-Length", strconv.Itoa(2 << 20)}, http.StatusRequestEntityTooLarge},
		{"no length", http.MethodPost, "/uploads/", nil, http.StatusBadRequest},
		{"bad id", http.MethodHead, "/uploads/..%2F..%2Fetc", nil, http.StatusNotFound},
		{"bad id patch", http.MethodPatch, "/uploads/..", []string{"Upload-Offset", "0", "Content-Type", "application/offset+octet-stream"}, http.StatusNotFound},
		{"unknown id", http.MethodPatch, "/uploads/0123456789abcdef0123456789abcdef", []string{"Upload-Offset", "0", "Content-Type", "application/offset+octet-stream"}, http.StatusNotFound},
		{"unknown result", http.MethodGet, "/uploads/0123456789abcdef0123456789abcdef/result", nil, http.StatusNotFound},
	} {
		resp, body := tc.do(c.method, c.path, nil, c.hdr...)
		if resp.StatusCode != c.status || (c.method != http.MethodHead && resp.Header.Get("Content-Type") != problem.ContentType) {
			t.Errorf("%s: %d %s %s, want %d problem+json", c.name, resp.StatusCode, resp.Header.Get("Content-Type"), body, c.status)
		}
	}
	anon := &tusClient{t: t, url: tc.url}
	if resp, _ := anon.do(http.MethodPost, "/uploads/", nil, "Upload-Length", "10"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("anonymous create: %d", resp.StatusCode)
	}
}

// age sets the modification time of every file of upload loc to d ago.
func age(t testing.TB, dir, loc string, d time.Duration) {
	t.Helper()
	id := strings.TrimPrefix(loc, "/uploads/")
	matches, _ := filepath.Glob(filepath.Join(dir, "uploads", id+"*"))
	if len(matches) == 0 {
		t.Fatalf("no files of upload %s", id)
	}
	old := time.Now().Add(-d)
	for _, m := range matches {
		if err := os.Chtimes(m, old, old); err != nil {
			t.Fatal(err)
		}
	}
}

// sweeper runs the upload sweeps of u every few milliseconds and returns
// their reports, and a stop function.
func sweeper(t testing.TB, u *Uploads) (<-chan UploadSweepReport, func()) {
	return runSweeps(t, func(ctx context.Context, done func(UploadSweepReport, error)) {
		u.RunSweeps(ctx, 5*time.Millisecond, done)
	})
}

// next waits for a sweep whose report satisfies ok.
func next(t testing.TB, reports <-chan UploadSweepReport, ok func(UploadSweepReport) bool) UploadSweepReport {
	t.Helper()
	return nextSweep(t, reports, ok)
}

// TestUploadExpiry runs the upload sweep over several periods and a
// restart: uploads not written to for the expiry go, finished or not,
// live ones stay, and a finished upload a crash left unstored is stored.
func TestUploadExpiry(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	b := setup(t, Config{DataDir: dir, UploadExpiry: time.Hour})
	tc := b.tusServer(t)
	f := corpusFile(t, "exif-samples__DSCN0010.jpg")
	stale, live := tc.create("a.jpg", len(f.data)), tc.create("b.jpg", len(f.data))
	tc.patch(stale, 0, f.data[:100])
	tc.patch(live, 0, f.data[:100])
	done := tc.create("c.jpg", len(f.data))
	tc.patch(done, 0, f.data)
	age(t, dir, stale, 2*time.Hour)

	reports, stop := sweeper(t, b.svc.Uploads())
	next(t, reports, func(r UploadSweepReport) bool { return r.Expired == 1 })
	if resp, _ := tc.do(http.MethodHead, stale, nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("expired upload: HEAD %d", resp.StatusCode)
	}
	// Periods go by: the live upload goes on, then falls silent and goes.
	for i := 1; i <= 3; i++ {
		next(t, reports, func(r UploadSweepReport) bool { return r.Expired == 0 && r.Kept == 2 })
		off := tc.offset(live)
		if resp, _ := tc.patch(live, off, f.data[off:off+100]); resp.StatusCode != http.StatusNoContent {
			t.Fatalf("period %d: patch %d", i, resp.StatusCode)
		}
	}
	age(t, dir, live, 2*time.Hour)
	next(t, reports, func(r UploadSweepReport) bool { return r.Expired == 1 })
	if code, _, _ := tc.result(live); code != http.StatusNotFound {
		t.Fatalf("expired upload: result %d", code)
	}
	stop()

	// While geoseek is down: the finished upload's result ages, and a
	// crash leaves an upload whose last bytes were written but not stored.
	age(t, dir, done, 2*time.Hour)
	other := corpusFile(t, "exifr__issue-exifr-13.jpg")
	crashed := tc.create("d.jpg", len(other.data))
	bin := filepath.Join(dir, "uploads", strings.TrimPrefix(crashed, "/uploads/"))
	if err := os.WriteFile(bin, other.data, 0o600); err != nil {
		t.Fatal(err)
	}

	// Restart: a new service on the same directory.
	svc2, err := New(Config{DataDir: dir, UploadExpiry: time.Hour}, b.db.Pool, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	reports, stop = sweeper(t, svc2.Uploads())
	defer stop()
	rep := next(t, reports, func(r UploadSweepReport) bool { return r.Expired+r.Stored > 0 })
	if rep.Expired != 1 || rep.Stored != 1 {
		t.Fatalf("first sweep after the restart: %+v", rep)
	}
	res, err := svc2.Uploads().Result(t.Context(), strings.TrimPrefix(crashed, "/uploads/"))
	if err != nil || res.Status != http.StatusCreated || res.Photo == nil || res.File != "d.jpg" {
		t.Fatalf("stored after the restart: %+v %v", res, err)
	}
	if got := uploadFiles(t, dir); len(got) != 3 {
		t.Fatalf("upload files after the restart: %v", got)
	}
	next(t, reports, func(r UploadSweepReport) bool { return r.Expired == 0 && r.Kept == 1 })
}

// TestUploadIdleClient: a PATCH whose client falls silent is ended after
// UploadIdleTimeout, keeping the bytes that arrived; the client resumes on
// its kept-alive connection, and gets the answer to its final PATCH even
// when storing the photo outlasts the idle bound.
func TestUploadIdleClient(t *testing.T) {
	t.Parallel()
	idle := 200 * time.Millisecond
	b := setup(t, Config{UploadIdleTimeout: idle, AfterInsert: func(context.Context, pgx.Tx, []int64) error {
		time.Sleep(3 * idle) // a slow commit
		return nil
	}})
	tc := b.tusServer(t)
	f := corpusFile(t, "exif-samples__DSCN0010.jpg")
	loc := tc.create("slow.jpg", len(f.data))

	conn := tc.startPatch(loc, len(f.data), f.data[:5000])
	// Then nothing: the server gives up on the silent client by itself.
	_ = conn.SetReadDeadline(time.Now().Add(time.Minute))
	_, err := io.ReadAll(conn)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("the server kept waiting for the silent client")
	}
	if off := tc.offset(loc); off != 5000 {
		t.Fatalf("offset after the silent client: %d, want 5000", off)
	}
	if resp, _ := tc.patch(loc, 5000, f.data[5000:10000]); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("resume: %d", resp.StatusCode)
	}
	time.Sleep(2 * idle) // the client pauses longer than the idle bound
	if resp, _ := tc.patch(loc, 10000, f.data[10000:]); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("final patch: %d", resp.StatusCode)
	}
	if code, _, _ := tc.result(loc); code != http.StatusCreated {
		t.Fatalf("result: %d", code)
	}
}

// TestUploadTakenOver: a PATCH interrupted by a newer request for its
// upload (here a HEAD) answers 423 with Retry-After, keeping what arrived,
// so a live client resumes instead of failing the file.
func TestUploadTakenOver(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	tc := b.tusServer(t)
	f := corpusFile(t, "exif-samples__DSCN0010.jpg")
	loc := tc.create("taken.jpg", len(f.data))
	conn := tc.startPatch(loc, len(f.data), f.data[:5000])
	time.Sleep(300 * time.Millisecond) // the PATCH holds the upload
	off := tc.offset(loc)
	_ = conn.SetReadDeadline(time.Now().Add(time.Minute))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	var d map[string]any
	if resp.StatusCode != http.StatusLocked || resp.Header.Get("Retry-After") == "" || json.Unmarshal(body, &d) != nil ||
		d["tus_error"] != "ERR_UPLOAD_INTERRUPTED" || d["type"] != problem.TypeBase+"upload-upload-interrupted" || !strings.Contains(fmt.Sprint(d["detail"]), "resume") {
		t.Fatalf("interrupted PATCH: %s %v %s", resp.Status, resp.Header, body)
	}
	if off <= 0 || off > 5000 {
		t.Fatalf("offset after the take-over: %d, want what arrived (at most 5000)", off)
	}
	if resp, body := tc.patch(loc, off, f.data[off:]); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("resume: %d %s", resp.StatusCode, body)
	}
	if code, _, _ := tc.result(loc); code != http.StatusCreated {
		t.Fatalf("result: %d", code)
	}
}

// TestUploadStoreRetried: storing a finished upload fails once (a passing
// fault): the final PATCH answers 503 and nothing is stored; the client's
// repeated final PATCH stores it before answering 204.
func TestUploadStoreRetried(t *testing.T) {
	t.Parallel()
	var fail atomic.Bool
	fail.Store(true)
	b := setup(t, Config{AfterInsert: func(context.Context, pgx.Tx, []int64) error {
		if fail.Load() {
			return errors.New("the embedding queue is away")
		}
		return nil
	}})
	tc := b.tusServer(t)
	f := corpusFile(t, "exif-samples__DSCN0010.jpg")
	loc := tc.create(f.name, len(f.data))
	resp, body := tc.patch(loc, 0, f.data)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Content-Type") != problem.ContentType {
		t.Fatalf("final patch with a failing store: %d %s", resp.StatusCode, body)
	}
	count := func() (n int) {
		_ = b.db.Pool.QueryRow(t.Context(), `SELECT count(*) FROM photos`).Scan(&n)
		return n
	}
	if n := count(); n != 0 {
		t.Fatalf("photos after the failed store: %d", n)
	}
	if resp, _ := tc.patch(loc, len(f.data), nil); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("repeated final patch, store still failing: %d", resp.StatusCode)
	}
	fail.Store(false)
	if resp, body := tc.patch(loc, len(f.data), nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("repeated final patch: %d %s", resp.StatusCode, body)
	}
	if n := count(); n != 1 {
		t.Fatalf("photos after the repeated final patch: %d", n)
	}
	if code, res, _ := tc.result(loc); code != http.StatusCreated || res.Results[0].Photo == nil {
		t.Fatalf("result: %d %+v", code, res)
	}
}
