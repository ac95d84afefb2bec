package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

var pipelinePhotos = []string{
	"exiftool__Apple.jpg", "exiftool__GoPro.jpg", "exiftool__Ricoh2.jpg", "exifr__f8t.jpg",
	"exifr__noexif.jpg", "goexif__sample1.jpg", "mei__Nikon_D5000.jpg", "exif-samples__Canon_40D.jpg",
}

// streamBody writes files as a multipart body into a pipe, counting the
// parts written whole; after writing stop parts (if > 0) it writes half of
// the next one and waits for cut, then ends the body with cut's error.
type streamBody struct {
	pr    *io.PipeReader
	ctype string
	whole atomic.Int32
	done  chan struct{}
}

func newStreamBody(files []upFile, stop int, cut <-chan error) *streamBody {
	pr, pw := io.Pipe()
	w := multipart.NewWriter(pw)
	sb := &streamBody{pr: pr, ctype: w.FormDataContentType(), done: make(chan struct{})}
	go func() {
		defer close(sb.done)
		for i, f := range files {
			fw, err := w.CreateFormFile("file", f.name)
			if err != nil {
				return
			}
			if stop > 0 && i == stop {
				_, _ = fw.Write(f.data[:len(f.data)/2])
				pw.CloseWithError(<-cut)
				return
			}
			if _, err := fw.Write(f.data); err != nil {
				return
			}
			sb.whole.Add(1)
		}
		pw.CloseWithError(w.Close())
	}()
	return sb
}

// waitFor polls cond until it holds or a minute passes (a bound on a
// broken server, not a timing assertion).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(time.Minute); !cond(); {
		if time.Now().After(end) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestUploadPipelinesParts holds every commit and checks that the server
// reads the parts of one request ahead of their commits, as far as its
// bound and no further; released, every file is stored. Before the parts
// were pipelined the server read one part and waited for its commit.
func TestUploadPipelinesParts(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var held atomic.Int32
	b := setup(t, Config{PipelineFiles: 3, AfterInsert: func(ctx context.Context, _ pgx.Tx, ids []int64) error {
		held.Add(int32(len(ids)))
		<-release
		return nil
	}})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	t.Cleanup(unblock) // a failed wait must not leave a commit held
	var files []upFile
	for _, n := range pipelinePhotos[:7] {
		files = append(files, corpusFile(t, n))
	}
	sb := newStreamBody(files, 0, nil)
	rec := httptest.NewRecorder()
	served := make(chan struct{})
	go func() {
		defer close(served)
		req := httptest.NewRequest(http.MethodPost, "/photos", sb.pr)
		req.Header.Set("Content-Type", sb.ctype)
		req.Header.Set("Authorization", "Bearer "+b.key)
		b.router.ServeHTTP(rec, req)
	}()
	waitFor(t, "three parts read ahead of their commits", func() bool { return b.svc.pipelined.Load() == 3 })
	// Give an unbounded reader the chance to take more.
	time.Sleep(200 * time.Millisecond)
	if n := b.svc.pipelined.Load(); n != 3 {
		t.Errorf("%d files in flight; want the bound, 3", n)
	}
	if n := sb.whole.Load(); n > 4 {
		t.Errorf("the server took %d whole parts with 3 in flight; want at most 4", n)
	}
	unblock()
	<-served
	var out UploadResult
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || rec.Code != http.StatusCreated || len(out.Results) != 7 {
		t.Fatalf("%d %s", rec.Code, rec.Body.String())
	}
	for i, r := range out.Results {
		if r.File != files[i].name || r.Status != http.StatusCreated || r.Photo == nil {
			t.Errorf("result %d: %+v", i, r)
		}
	}
	if n, tmp := countOriginals(t, b.dir); n != 7 || tmp != 0 {
		t.Errorf("%d originals, %d temps; want 7, 0", n, tmp)
	}
	if b.svc.pipelined.Load() != 0 {
		t.Errorf("%d files still counted in flight", b.svc.pipelined.Load())
	}
}

// TestUploadPipelineByteBound: with a byte bound below one file, one file
// at a time is in flight, and all are stored.
func TestUploadPipelineByteBound(t *testing.T) {
	t.Parallel()
	var most atomic.Int64
	var b *bundle
	b = setup(t, Config{PipelineBytes: 1, AfterInsert: func(context.Context, pgx.Tx, []int64) error {
		if n := b.svc.pipelined.Load(); n > most.Load() {
			most.Store(n)
		}
		return nil
	}})
	var files []upFile
	for _, n := range pipelinePhotos[:4] {
		files = append(files, corpusFile(t, n))
	}
	rec := b.upload(t, files...)
	if rec.Code != http.StatusCreated {
		t.Fatalf("%d %s", rec.Code, rec.Body.String())
	}
	if most.Load() != 1 {
		t.Errorf("%d files in flight at most; want 1", most.Load())
	}
}

// TestUploadPipelineMixed: one request with a good file, a corrupt JPEG, a
// text file, the first file again and another good one: each has its own
// outcome, in order, the repeat found as the first's photo.
func TestUploadPipelineMixed(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	a, c := corpusFile(t, pipelinePhotos[0]), corpusFile(t, pipelinePhotos[1])
	again := upFile{name: "again.jpg", data: a.data}
	rec := b.upload(t, a, upFile{"broken.jpg", corruptJPEG()}, upFile{"notes.txt", []byte("not a photo")}, again, c)
	var out UploadResult
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || rec.Code != http.StatusMultiStatus || len(out.Results) != 5 {
		t.Fatalf("%d %s", rec.Code, rec.Body.String())
	}
	want := []int{201, 415, 415, 200, 201}
	for i, r := range out.Results {
		if r.Status != want[i] {
			t.Errorf("result %d (%s): %d; want %d", i, r.File, r.Status, want[i])
		}
	}
	if p, q := out.Results[0].Photo, out.Results[3].Photo; p == nil || q == nil || p.ID != q.ID {
		t.Errorf("the repeat is not the first's photo: %+v %+v", p, q)
	}
	if n, tmp := countOriginals(t, b.dir); n != 2 || tmp != 0 {
		t.Errorf("%d originals, %d temps; want 2, 0", n, tmp)
	}
}

// TestUploadPipelineCancelled cuts a request in the middle of its fourth
// file: nothing is left half written (no staged file, every original has
// its row), and /photos/check reports the files that were committed.
func TestUploadPipelineCancelled(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	var files []upFile
	for _, n := range pipelinePhotos[:5] {
		files = append(files, corpusFile(t, n))
	}
	cut := make(chan error, 1)
	sb := newStreamBody(files, 3, cut)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	rec := httptest.NewRecorder()
	wg.Go(func() {
		req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/photos", sb.pr)
		req.Header.Set("Content-Type", sb.ctype)
		req.Header.Set("Authorization", "Bearer "+b.key)
		b.router.ServeHTTP(rec, req)
	})
	waitFor(t, "three whole parts sent", func() bool { return sb.whole.Load() == 3 })
	cancel()
	cut <- errors.Join(context.Canceled, io.ErrUnexpectedEOF)
	wg.Wait()
	<-sb.done
	if rec.Code < 400 || rec.Code == http.StatusInternalServerError {
		t.Errorf("cut request answered %d %s", rec.Code, rec.Body.String())
	}
	originals, tmp := countOriginals(t, b.dir)
	if tmp != 0 {
		t.Errorf("%d staged files left", tmp)
	}
	var rows int
	if err := b.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM photos`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != originals || rows > 3 {
		t.Errorf("%d rows, %d originals; want equal, at most 3", rows, originals)
	}
	var check []CheckFile
	for _, f := range files {
		sum := sha256.Sum256(f.data)
		check = append(check, CheckFile{SHA256: sum[:], Size: int64(len(f.data))})
	}
	res, err := b.svc.Check(context.Background(), check)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Existing) != rows {
		t.Errorf("check finds %d of the files; %d rows", len(res.Existing), rows)
	}
}
