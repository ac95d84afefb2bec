package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/geoseek/geoseek/internal/problem"
	"image"
	"image/jpeg"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/geoseek/geoseek/internal/auth"
	"github.com/geoseek/geoseek/internal/pgtest"
)

type bundle struct {
	db     *pgtest.DB
	svc    *Service
	router *gin.Engine
	key    string
	dir    string
}

func setup(t *testing.T, cfg Config) *bundle {
	t.Helper()
	db := pgtest.New(t)
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	svc, err := New(cfg, db.Pool, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	gin.SetMode(gin.TestMode)
	r := gin.New()
	store := auth.NewStore(db.Pool)
	r.Use(auth.Middleware(store, false))
	NewHandler(svc).Register(r)
	_, secret, err := store.Create(context.Background(), "test", []auth.Scope{auth.Write, auth.Read})
	if err != nil {
		t.Fatal(err)
	}
	return &bundle{db: db, svc: svc, router: r, key: secret, dir: cfg.DataDir}
}

type upFile struct {
	name string
	data []byte
}

func multipartBody(t testing.TB, files ...upFile) (io.Reader, string) {
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	_ = w.WriteField("note", "ignored form field")
	for _, f := range files {
		fw, err := w.CreateFormFile("file", f.name)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = fw.Write(f.data)
	}
	_ = w.Close()
	return &b, w.FormDataContentType()
}

func (b *bundle) do(t testing.TB, method, path string, body io.Reader, ctype string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, body)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	req.Header.Set("Authorization", "Bearer "+b.key)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	b.router.ServeHTTP(rec, req)
	return rec
}

func (b *bundle) upload(t testing.TB, files ...upFile) *httptest.ResponseRecorder {
	body, ct := multipartBody(t, files...)
	return b.do(t, http.MethodPost, "/photos", body, ct)
}

func corpusFile(t testing.TB, name string) upFile {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(photosDir(t), name))
	if err != nil {
		t.Fatal(err)
	}
	return upFile{name: name, data: data}
}

// uploaded is the photo of a one-file upload's answer.
func uploaded(t testing.TB, rec *httptest.ResponseRecorder) *Photo {
	t.Helper()
	var out UploadResult
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || len(out.Results) != 1 || out.Results[0].Photo == nil {
		t.Fatalf("upload answer %d %s: %v", rec.Code, rec.Body.String(), err)
	}
	return out.Results[0].Photo
}

func decodePhoto(t testing.TB, rec *httptest.ResponseRecorder) *Photo {
	t.Helper()
	var p Photo
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatalf("decode %s: %v", rec.Body.String(), err)
	}
	return &p
}

// countOriginals counts files in the originals store (excluding tmp/).
func countOriginals(t testing.TB, dir string) (originals, temps int) {
	root := filepath.Join(dir, "originals")
	_ = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if rel, _ := filepath.Rel(root, path); strings.HasPrefix(rel, "tmp"+string(filepath.Separator)) {
				temps++
			} else {
				originals++
			}
		}
		return nil
	})
	return
}

// TestUploadCorpus uploads the whole photo corpus in one request: every
// photo is created (malformed EXIF never fails a file) and the two files
// without an image (notPhotos) are refused, in a 207.
func TestUploadCorpus(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	dir, refs := loadReference(t)
	var files []upFile
	for _, r := range refs {
		data, err := os.ReadFile(filepath.Join(dir, r.File))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, upFile{r.File, data})
	}
	rec := b.upload(t, files...)
	if rec.Code != http.StatusMultiStatus {
		t.Fatalf("status %d: %s", rec.Code, rec.Body.String())
	}
	var out UploadResult
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Results) != len(refs) {
		t.Fatalf("%d results, want %d", len(out.Results), len(refs))
	}
	byName := map[string]*Photo{}
	for i, r := range out.Results {
		if _, bad := notPhotos[r.File]; bad {
			if r.Status != http.StatusUnsupportedMediaType || r.Error == nil || r.Photo != nil {
				t.Errorf("%s: status %d, want 415", r.File, r.Status)
			}
			continue
		}
		if r.Status != http.StatusCreated || r.Photo == nil {
			t.Errorf("%s: status %d %+v", r.File, r.Status, r.Error)
			continue
		}
		if r.Photo.Mime != refs[i].Mime {
			t.Errorf("%s: mime %s, want %s", r.File, r.Photo.Mime, refs[i].Mime)
		}
		if _, ex := exempt[r.File]; !ex && (string(r.Photo.Geometry) != "null") != refs[i].HasGPS {
			t.Errorf("%s: geometry %s, has_gps %v", r.File, r.Photo.Geometry, refs[i].HasGPS)
		}
		byName[r.File] = r.Photo
	}
	if n, tmp := countOriginals(t, b.dir); n != len(refs)-len(notPhotos) || tmp != 0 {
		t.Errorf("%d originals and %d temp files, want %d and 0", n, tmp, len(refs)-len(notPhotos))
	}

	// Time: offset tag, GPS UTC, GPS zone, unknown.
	g := byName["exiftool__Google.jpg"]
	if g.TZSource != TZOffsetTag || g.TakenAt == nil || !g.TakenAt.Equal(time.Date(2023, 10, 6, 20, 53, 51, 0, time.UTC)) || *g.UTCOffsetMinutes != 120 {
		t.Errorf("Google.jpg taken %v %v %v", g.TZSource, g.TakenAt, g.UTCOffsetMinutes)
	}
	sources := map[string]int{}
	for _, p := range byName {
		sources[p.TZSource]++
		if p.TZSource == TZUnknown && p.TakenAt != nil {
			t.Errorf("%s: unknown zone but taken_at %v", p.OriginalName, p.TakenAt)
		}
	}
	for _, s := range []string{TZOffsetTag, TZGPSUTC, TZGPSZone, TZUnknown} {
		if sources[s] == 0 {
			t.Errorf("no photo with tz_source %s (%v)", s, sources)
		}
	}
	canon := byName["exif-samples__Canon_40D.jpg"]
	if canon.TZSource != TZUnknown || canon.TakenLocal == nil || *canon.TakenLocal != "2008-05-30T15:56:01" {
		t.Errorf("Canon_40D: %v %v", canon.TZSource, canon.TakenLocal)
	}

	// Each photo is a document of the photos collection with the photo's point.
	var docs, withGeom int
	if err := b.db.Pool.QueryRow(context.Background(), `
SELECT count(*), count(d.geom) FROM documents d JOIN collections c ON c.id = d.collection_id
 WHERE c.name = 'photos'`).Scan(&docs, &withGeom); err != nil {
		t.Fatal(err)
	}
	hasGPS := 0
	for _, r := range refs {
		if _, ex := exempt[r.File]; r.HasGPS || (ex && string(byName[r.File].Geometry) != "null") {
			hasGPS++
		}
	}
	if docs != len(refs)-len(notPhotos) || withGeom != hasGPS {
		t.Errorf("%d documents (%d with geometry), want %d (%d)", docs, withGeom, len(refs)-len(notPhotos), hasGPS)
	}

	// Same bytes again: 200 with the existing photo, nothing new stored.
	again := b.upload(t, corpusFile(t, "exiftool__Google.jpg"))
	if again.Code != http.StatusOK || uploaded(t, again).ID != g.ID {
		t.Errorf("re-upload: %d %s", again.Code, again.Body.String())
	}
	if n, _ := countOriginals(t, b.dir); n != len(refs)-len(notPhotos) {
		t.Errorf("%d originals after re-upload", n)
	}
}

// TestUploadOneShape: one file or several, created or failed, the answer
// has a results array; failures are problem+json as well.
func TestUploadOneShape(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{MaxFileBytes: 1 << 20, MaxFiles: 3})
	type answer struct {
		Type    string       `json:"type"`
		Results []FileResult `json:"results"`
	}
	cases := []struct {
		name   string
		files  []upFile
		status int
		n      int
		ctype  string
	}{
		{"one new", []upFile{corpusFile(t, "exiftool__Apple.jpg")}, http.StatusCreated, 1, "application/json"},
		{"one again", []upFile{corpusFile(t, "exiftool__Apple.jpg")}, http.StatusOK, 1, "application/json"},
		{"two new", []upFile{corpusFile(t, "exiftool__GoPro.jpg"), corpusFile(t, "exiftool__Ricoh2.jpg")}, http.StatusCreated, 2, "application/json"},
		{"one bad", []upFile{{"notes.txt", []byte("plain text, not a photo")}}, http.StatusUnsupportedMediaType, 1, problem.ContentType},
		{"two bad", []upFile{{"a.txt", []byte("plain text, not a photo")}, {"b.txt", []byte("more text")}}, http.StatusUnsupportedMediaType, 2, problem.ContentType},
		{"corrupt jpeg", []upFile{{"broken.jpg", corruptJPEG()}}, http.StatusUnsupportedMediaType, 1, problem.ContentType},
	}
	for _, c := range cases {
		rec := b.upload(t, c.files...)
		var out answer
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("%s: %v: %s", c.name, err, rec.Body.String())
		}
		if rec.Code != c.status || len(out.Results) != c.n || !strings.HasPrefix(rec.Header().Get("Content-Type"), c.ctype) {
			t.Errorf("%s: %d %s %s; want %d with %d results, %s", c.name, rec.Code, rec.Header().Get("Content-Type"), rec.Body.String(), c.status, c.n, c.ctype)
			continue
		}
		for _, r := range out.Results {
			if r.Status != c.status || (r.Photo == nil) != (c.status >= 400) || (r.Error == nil) != (c.status < 400) {
				t.Errorf("%s: result %+v", c.name, r)
			}
		}
		if c.status >= 400 && out.Type != problem.TypeBase+"unsupported-media-type" {
			t.Errorf("%s: problem type %q", c.name, out.Type)
		}
	}
}

func TestUploadErrors(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{MaxFileBytes: 50 << 10, MaxFiles: 3})

	// Not an image: 415 problem, nothing stored.
	rec := b.upload(t, upFile{"notes.txt", []byte("hello, not a photo at all, but text")})
	if rec.Code != http.StatusUnsupportedMediaType || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/problem+json") {
		t.Errorf("text: %d %s", rec.Code, rec.Body.String())
	}
	// Too large.
	rec = b.upload(t, corpusFile(t, "exif-samples__DSCN0010.jpg"))
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("large: %d %s", rec.Code, rec.Body.String())
	}
	// Mixed: one good, one bad: 207, the good one stored.
	rec = b.upload(t, corpusFile(t, "exiftool__Apple.jpg"), upFile{"x.gif", []byte("GIF89a.............")})
	if rec.Code != http.StatusMultiStatus {
		t.Fatalf("mixed: %d %s", rec.Code, rec.Body.String())
	}
	var out UploadResult
	_ = json.Unmarshal(rec.Body.Bytes(), &out)
	if len(out.Results) != 2 || out.Results[0].Status != 201 || out.Results[1].Status != 415 || out.Results[1].Error == nil {
		t.Errorf("mixed results: %s", rec.Body.String())
	}
	// Too many files: the extra ones are refused, the first ones kept.
	rec = b.upload(t, corpusFile(t, "exiftool__GoPro.jpg"), corpusFile(t, "exiftool__Ricoh2.jpg"),
		corpusFile(t, "exifr__f8t.jpg"), corpusFile(t, "exifr__noexif.jpg"))
	_ = json.Unmarshal(rec.Body.Bytes(), &out)
	if rec.Code != http.StatusMultiStatus || len(out.Results) != 4 || out.Results[3].Status != 413 {
		t.Errorf("too many: %d %s", rec.Code, rec.Body.String())
	}
	if n, tmp := countOriginals(t, b.dir); n != 4 || tmp != 0 {
		t.Errorf("%d originals, %d temps; want 4, 0", n, tmp)
	}
	// Not multipart; no files; no key.
	if rec := b.do(t, http.MethodPost, "/photos", strings.NewReader("{}"), "application/json"); rec.Code != 415 {
		t.Errorf("json body: %d", rec.Code)
	}
	body, ct := multipartBody(t)
	if rec := b.do(t, http.MethodPost, "/photos", body, ct); rec.Code != 400 {
		t.Errorf("no files: %d", rec.Code)
	}
	req := httptest.NewRequest(http.MethodPost, "/photos", strings.NewReader(""))
	rr := httptest.NewRecorder()
	b.router.ServeHTTP(rr, req)
	if rr.Code != http.StatusUnauthorized {
		t.Errorf("no key: %d", rr.Code)
	}
	for _, path := range []string{"/photos/abc", "/photos/0", "/photos/99999", "/photos/1/thumbnail?size=77", "/photos/1/similar?max_distance=99", "/photos/sha256/xyz"} {
		rec := b.do(t, http.MethodGet, path, nil, "")
		if rec.Code < 400 || rec.Code >= 500 {
			t.Errorf("%s: %d", path, rec.Code)
		}
	}
}

func TestOriginalThumbnailDelete(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	f := corpusFile(t, "mei__Samsung_GT-I9000_Galaxy_S_.jpg") // 640x480, orientation 6
	p := uploaded(t, b.upload(t, f))
	if p.Orientation == nil || *p.Orientation != 6 {
		t.Fatalf("orientation %v", p.Orientation)
	}

	// Range request on the original.
	rec := b.do(t, http.MethodGet, fmt.Sprintf("/photos/%d/original", p.ID), nil, "", "Range", "bytes=0-9")
	if rec.Code != http.StatusPartialContent || !bytes.Equal(rec.Body.Bytes(), f.data[:10]) {
		t.Errorf("range: %d %q", rec.Code, rec.Body.Bytes())
	}
	if rec.Header().Get("ETag") != `"`+p.SHA256+`"` || rec.Header().Get("Content-Type") != "image/jpeg" ||
		!strings.Contains(rec.Header().Get("Content-Disposition"), "Samsung") {
		t.Errorf("headers: %v", rec.Header())
	}
	rec = b.do(t, http.MethodGet, fmt.Sprintf("/photos/%d/original", p.ID), nil, "", "If-None-Match", `"`+p.SHA256+`"`)
	if rec.Code != http.StatusNotModified {
		t.Errorf("if-none-match: %d", rec.Code)
	}

	// Thumbnail with the orientation applied: portrait.
	rec = b.do(t, http.MethodGet, fmt.Sprintf("/photos/%d/thumbnail?size=256", p.ID), nil, "")
	if rec.Code != 200 {
		t.Fatalf("thumbnail: %d %s", rec.Code, rec.Body.String())
	}
	cfg, err := jpeg.DecodeConfig(rec.Body)
	if err != nil || cfg.Width != 192 || cfg.Height != 256 {
		t.Errorf("thumbnail %dx%d (%v), want 192x256", cfg.Width, cfg.Height, err)
	}

	// The sha256 check for bulk clients.
	if rec := b.do(t, http.MethodHead, "/photos/sha256/"+strings.ToUpper(p.SHA256), nil, ""); rec.Code != 200 || rec.Body.Len() != 0 {
		t.Errorf("HEAD sha: %d", rec.Code)
	}
	if rec := b.do(t, http.MethodHead, "/photos/sha256/"+strings.Repeat("0", 64), nil, ""); rec.Code != 404 {
		t.Errorf("HEAD unknown sha: %d", rec.Code)
	}
	if rec := b.do(t, http.MethodGet, "/photos/sha256/"+p.SHA256, nil, ""); rec.Code != 200 || decodePhoto(t, rec).ID != p.ID {
		t.Errorf("GET sha: %d", rec.Code)
	}

	// Delete: row, document and file go.
	if rec := b.do(t, http.MethodDelete, fmt.Sprintf("/photos/%d", p.ID), nil, ""); rec.Code != http.StatusNoContent {
		t.Fatalf("delete: %d %s", rec.Code, rec.Body.String())
	}
	if rec := b.do(t, http.MethodGet, fmt.Sprintf("/photos/%d", p.ID), nil, ""); rec.Code != 404 {
		t.Errorf("get after delete: %d", rec.Code)
	}
	if n, _ := countOriginals(t, b.dir); n != 0 {
		t.Errorf("%d originals after delete", n)
	}
	if rec := b.do(t, http.MethodDelete, fmt.Sprintf("/photos/%d", p.ID), nil, ""); rec.Code != 404 {
		t.Errorf("second delete: %d", rec.Code)
	}
}

// TestConcurrentSameBytes: two uploads of equal bytes give one photo.
func TestConcurrentSameBytes(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	f := corpusFile(t, "mei__Issue_508.jpg")
	var wg sync.WaitGroup
	created := make([]bool, 4)
	ids := make([]int64, 4)
	for i := range created {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, c, err := b.svc.Ingest(context.Background(), f.name, bytes.NewReader(f.data))
			if err != nil {
				t.Error(err)
				return
			}
			created[i], ids[i] = c, p.ID
		}()
	}
	wg.Wait()
	n := 0
	for i := range created {
		if created[i] {
			n++
		}
		if ids[i] != ids[0] {
			t.Errorf("ids differ: %v", ids)
		}
	}
	var rows int
	_ = b.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM photos`).Scan(&rows)
	if n != 1 || rows != 1 {
		t.Errorf("%d created, %d rows; want 1, 1", n, rows)
	}
	if files, tmp := countOriginals(t, b.dir); files != 1 || tmp != 0 {
		t.Errorf("%d files, %d temps", files, tmp)
	}
}

// TestSimilar: a re-encoded copy is a near duplicate; another photo is not.
func TestSimilar(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	orig := corpusFile(t, "exif-samples__DSCN0010.jpg")
	img, err := jpeg.Decode(bytes.NewReader(orig.data))
	if err != nil {
		t.Fatal(err)
	}
	var re bytes.Buffer
	small := scaleDown(img, 400)
	if err := jpeg.Encode(&re, small, &jpeg.Options{Quality: 40}); err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, f := range []upFile{orig, {"copy.jpg", re.Bytes()}, corpusFile(t, "goexif__sample1.jpg")} {
		p, _, err := b.svc.Ingest(context.Background(), f.name, bytes.NewReader(f.data))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, p.ID)
	}
	path := fmt.Sprintf("/photos/%d/similar?max_distance=10", ids[0])
	if rec := b.do(t, http.MethodGet, path, nil, ""); rec.Code != http.StatusServiceUnavailable {
		t.Errorf("before hashing: %d", rec.Code)
	}
	for _, id := range ids {
		if err := b.svc.MakeThumbnails(context.Background(), id); err != nil {
			t.Fatal(err)
		}
	}
	rec := b.do(t, http.MethodGet, path, nil, "")
	var out struct {
		Similar []Similar
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || rec.Code != 200 {
		t.Fatalf("%d %s", rec.Code, rec.Body.String())
	}
	if len(out.Similar) != 1 || out.Similar[0].Photo.ID != ids[1] {
		t.Errorf("similar: %s", rec.Body.String())
	}
}

// TestDecodeBomb: a tiny JPEG declaring a huge size is refused before Decode.
func TestDecodeBomb(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	_ = jpeg.Encode(&buf, image.NewGray(image.Rect(0, 0, 16, 16)), nil)
	b := buf.Bytes()
	// Patch the SOF0 height/width to 60000×60000.
	i := bytes.Index(b, []byte{0xFF, 0xC0})
	b[i+5], b[i+6], b[i+7], b[i+8] = 0xEA, 0x60, 0xEA, 0x60
	_, _, err := decodeBounded(context.Background(), bytes.NewReader(b), 100_000_000, newDecodeBudget(1<<30))
	if err == nil || !strings.Contains(err.Error(), "decode limit") {
		t.Fatalf("err = %v", err)
	}
}

func TestPlacesAndSearch(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	ctx := context.Background()
	// Real Natural Earth countries (small set), plus a hand-made city.
	if err := LoadPlaces(ctx, b.db.Pool, []string{"Countries110"}); err != nil {
		t.Fatal(err)
	}
	if err := LoadPlaces(ctx, b.db.Pool, []string{"Countries110"}); err != nil { // idempotent
		t.Fatal(err)
	}
	madrid := `{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"name_conve":"Madrid2"},
"geometry":{"type":"Polygon","coordinates":[[[-3.9,40.3],[-3.5,40.3],[-3.5,40.6],[-3.9,40.6],[-3.9,40.3]]]}}]}`
	if err := LoadPlacesGeoJSON(ctx, b.db.Pool, "test-cities", "city", strings.NewReader(madrid)); err != nil {
		t.Fatal(err)
	}
	p := uploaded(t, b.upload(t, corpusFile(t, "exiftool__Google.jpg"))) // 40.40, -3.71
	if p.Place == nil || p.Place.City != "Madrid" || p.Place.Country != "Spain" {
		t.Fatalf("place %+v", p.Place)
	}
	// The committer's one-statement lookup names each point as the
	// one-point lookup does (Madrid, Lisbon, mid-Atlantic, Madrid again).
	lons, lats := []float64{-3.71, -9.14, -30, -3.6}, []float64{40.40, 38.71, 30, 40.5}
	many, err := lookupPlacesAt(ctx, b.db.Pool, lons, lats)
	if err != nil {
		t.Fatal(err)
	}
	for i := range lons {
		one, err := lookupPlaceAt(ctx, b.db.Pool, lons[i], lats[i])
		if err != nil {
			t.Fatal(err)
		}
		if many[i] != one {
			t.Errorf("point %d: batch %+v, alone %+v", i, many[i], one)
		}
	}
	if many[1].Country != "Portugal" || !many[2].empty() || many[3].City != "Madrid" {
		t.Errorf("places %+v", many)
	}
	var found int64
	if err := b.db.Pool.QueryRow(ctx, `SELECT id FROM documents WHERE search @@ websearch_to_tsquery('simple', 'madrid spain')`).Scan(&found); err != nil || found != p.ID {
		t.Errorf("keyword search: %v %v", found, err)
	}
	var n int
	_ = b.db.Pool.QueryRow(ctx, `SELECT features FROM places_loaded WHERE dataset = 'Countries110'`).Scan(&n)
	if n < 100 {
		t.Errorf("Countries110 loaded %d features", n)
	}
}

func TestSweep(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	ctx := context.Background()
	kept := uploaded(t, b.upload(t, corpusFile(t, "exiftool__Apple.jpg")))
	// An original without a row (crash between rename and commit), a file
	// whose name does not match its bytes, and a stale temp file.
	orphan := corpusFile(t, "exiftool__Ricoh2.jpg")
	up, err := b.svc.originals.Receive(bytes.NewReader(orphan.data), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := up.Commit(); err != nil {
		t.Fatal(err)
	}
	bad, _ := b.svc.originals.Path(Key(bytes.Repeat([]byte{0xab}, 32)))
	_ = os.MkdirAll(filepath.Dir(bad), 0o750)
	_ = os.WriteFile(bad, orphan.data, 0o640)
	stale := filepath.Join(b.dir, "originals", "tmp", "up-1.part")
	_ = os.WriteFile(stale, []byte("partial"), 0o640)
	old := time.Now().Add(-2 * time.Hour)
	_ = os.Chtimes(stale, old, old)
	fresh := filepath.Join(b.dir, "originals", "tmp", "up-2.part")
	_ = os.WriteFile(fresh, []byte("in progress"), 0o640)

	rep, err := b.svc.Sweep(ctx, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if rep != (SweepReport{TempRemoved: 1, Adopted: 1, Deleted: 1, Kept: 1}) {
		t.Errorf("report %+v", rep)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("fresh temp file removed: %v", err)
	}
	var names []string
	rows, _ := b.db.Pool.Query(ctx, `SELECT camera_model FROM photos ORDER BY document_id`)
	for rows.Next() {
		var s string
		_ = rows.Scan(&s)
		names = append(names, s)
	}
	if len(names) != 2 || names[1] != "Caplio Pro G3" {
		t.Errorf("photos after sweep: %v (kept %d)", names, kept.ID)
	}
}

// TestUploadTruncated: a multipart body cut inside a file is the client's
// fault: 400, nothing stored, no temp file left.
func TestUploadTruncated(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	body, ct := multipartBody(t, corpusFile(t, "exif-samples__DSCN0010.jpg"))
	all, _ := io.ReadAll(body)
	rec := b.do(t, http.MethodPost, "/photos", bytes.NewReader(all[:len(all)/2]), ct)
	if rec.Code != http.StatusBadRequest {
		t.Errorf("truncated: %d %s", rec.Code, rec.Body.String())
	}
	if n, tmp := countOriginals(t, b.dir); n != 0 || tmp != 0 {
		t.Errorf("%d originals, %d temps", n, tmp)
	}
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for i := 0; i <= maxFormFields; i++ {
		_ = w.WriteField("f", "x")
	}
	_ = w.Close()
	if rec := b.do(t, http.MethodPost, "/photos", &buf, w.FormDataContentType()); rec.Code != http.StatusBadRequest {
		t.Errorf("many fields: %d", rec.Code)
	}
}

// TestRegionsGiveTheBaseMapCountries: loading regions fills the base map's
// countries, each the union of its regions, and a start fills them for
// regions loaded before (an empty table).
func TestRegionsGiveTheBaseMapCountries(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	ctx := context.Background()
	loadBoxes(t, b.db.Pool, "test-regions", "region",
		placeBox{"West", "Testland", "TL", 0, 0, 1, 1}, placeBox{"East", "Testland", "TL", 1, 0, 2, 1},
		placeBox{"Isle", "Otherland", "OL", 5, 5, 6, 6}, placeBox{"Border", "Nextland", "NX", 2, 0, 3, 1})
	check := func() {
		t.Helper()
		requireRows(t, b.db.Pool, "basemap_countries", `SELECT country || ' ' || country_code || ' ' || ST_AsText(ST_Normalize(ST_Envelope(geom))) || ' ' || ST_NumGeometries(geom) || ' ' || round(area::numeric, 3)
  FROM basemap_countries ORDER BY country`,
			"Nextland NX POLYGON((2 0,2 1,3 1,3 0,2 0)) 1 1.000", "Otherland OL POLYGON((5 5,5 6,6 6,6 5,5 5)) 1 1.000", "Testland TL POLYGON((0 0,0 1,2 1,2 0,0 0)) 1 2.000")
		// The lines where areas meet, each once: West and East (1 degree),
		// Testland and Nextland (1 degree); no coast. And the land.
		requireRows(t, b.db.Pool, "basemap_borders and basemap_land", `SELECT kind || ' ' || country || ' ' || round(sum(ST_Length(geom))::numeric, 3)
  FROM basemap_borders GROUP BY kind, country
 UNION ALL
SELECT 'land ' || country || ' ' || round(sum(ST_Area(geom))::numeric, 3) FROM basemap_land GROUP BY country
 ORDER BY 1`,
			"country Nextland / Testland 1.000", "land Nextland 1.000", "land Otherland 1.000", "land Testland 2.000", "region Testland 1.000")
	}
	check()
	// A database whose regions came before the tables: a start fills them,
	// whichever is empty.
	for _, table := range []string{"basemap_countries", "basemap_borders", "basemap_land"} {
		if _, err := b.db.Pool.Exec(ctx, `DELETE FROM `+table); err != nil {
			t.Fatal(err)
		}
		if err := LoadPlaces(ctx, b.db.Pool, nil); err != nil {
			t.Fatal(err)
		}
		check()
	}
}

// TestDuplicateRegionsAreDropped: a region that repeats its country's other
// regions under another spelling of the country's name (as Natural Earth's
// "Czechia" over "Czech Republic"'s regions) is dropped at load, and at the
// next start on a database loaded before; the base map then has one
// country, with no national border inside it.
func TestDuplicateRegionsAreDropped(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	ctx := context.Background()
	loadBoxes(t, b.db.Pool, "test-regions", "region",
		placeBox{"West", "Testland", "TL", 0, 0, 1, 1}, placeBox{"East", "Testland", "TL", 1, 0, 2, 1},
		placeBox{"Testlandia", "Testlandia", "TL", 0, 0, 2, 1},
		placeBox{"Isle", "Otherland", "OL", 5, 5, 6, 6}, placeBox{"Isle", "Otherlandia", "OL", 5, 5, 6, 6},
		placeBox{"Lone", "Loneland", "LL", 8, 8, 9, 9})
	check := func() {
		t.Helper()
		requireRows(t, b.db.Pool, "places", `SELECT p.name || ' ' || p.country || ' ' || (SELECT count(*) FROM place_parts pp WHERE pp.place_id = p.id) FROM places p ORDER BY p.name`,
			"East Testland 1", "Isle Otherland 1", "Lone Loneland 1", "West Testland 1")
		requireRows(t, b.db.Pool, "base map", `SELECT 'country ' || country || ' ' || round(area::numeric, 3) FROM basemap_countries
 UNION ALL SELECT kind || ' ' || country || ' ' || round(sum(ST_Length(geom))::numeric, 3) FROM basemap_borders GROUP BY kind, country ORDER BY 1`,
			"country Loneland 1.000", "country Otherland 1.000", "country Testland 2.000", "region Testland 1.000")
	}
	check()
	// A database loaded before: the duplicate and its base map country are
	// there; the next start drops it and draws the base map again.
	if _, err := b.db.Pool.Exec(ctx, `INSERT INTO places (dataset, kind, name, country, country_code, region, geom, area)
		SELECT 'test-regions', 'region', 'Testlandia', 'Testlandia', 'TL', 'Testlandia', ST_Multi(ST_MakeEnvelope(0, 0, 2, 1, 4326)), 2;
		SELECT basemap_countries_refresh(false)`); err != nil {
		t.Fatal(err)
	}
	requireRows(t, b.db.Pool, "countries before the start", `SELECT country FROM basemap_countries ORDER BY 1`, "Loneland", "Otherland", "Testland", "Testlandia")
	if err := LoadPlaces(ctx, b.db.Pool, nil); err != nil {
		t.Fatal(err)
	}
	check()
}

// A country dataset alone (as --places Countries110) gives the base map
// the lines where its countries meet.
func TestCountriesGiveTheBaseMapBorders(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	loadBoxes(t, b.db.Pool, "test-countries", "country",
		placeBox{"Westland", "Westland", "WL", 0, 0, 1, 2}, placeBox{"Eastland", "Eastland", "EL", 1, 0, 2, 2})
	requireRows(t, b.db.Pool, "basemap_borders", `SELECT kind || ' ' || country || ' ' || round(sum(ST_Length(geom))::numeric, 3) FROM basemap_borders GROUP BY kind, country ORDER BY 1`,
		"country Eastland / Westland 2.000")
}

// placeBox is a rectangular place of a test dataset.
type placeBox struct {
	name, admin, code      string
	minX, minY, maxX, maxY float64
}

// loadBoxes loads boxes as the place dataset name of kind, as Natural
// Earth's GeoJSON has them (name, admin, iso_a2).
func loadBoxes(t *testing.T, pool *pgxpool.Pool, name, kind string, boxes ...placeBox) {
	t.Helper()
	var fs []string
	for _, b := range boxes {
		fs = append(fs, fmt.Sprintf(`{"type":"Feature","properties":{"name":%q,"admin":%q,"iso_a2":%q},"geometry":{"type":"Polygon","coordinates":[[[%g,%g],[%g,%g],[%g,%g],[%g,%g],[%g,%g]]]}}`,
			b.name, b.admin, b.code, b.minX, b.minY, b.maxX, b.minY, b.maxX, b.maxY, b.minX, b.maxY, b.minX, b.minY))
	}
	fc := `{"type":"FeatureCollection","features":[` + strings.Join(fs, ",") + `]}`
	if err := LoadPlacesGeoJSON(context.Background(), pool, name, kind, strings.NewReader(fc)); err != nil {
		t.Fatal(err)
	}
}

// requireRows fails t unless sql's one text column holds want, row by row.
func requireRows(t *testing.T, pool *pgxpool.Pool, what, sql string, want ...string) {
	t.Helper()
	rows, err := pool.Query(context.Background(), sql)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("%s:\n got %q\nwant %q", what, got, want)
	}
}
