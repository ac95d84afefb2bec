package ingest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/geoseek/geoseek/internal/pg"
	"github.com/geoseek/geoseek/internal/pgtest"
)

func TestImportDirs(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	src := t.TempDir()
	_ = os.MkdirAll(filepath.Join(src, "2023", "trip"), 0o750)
	_ = os.MkdirAll(filepath.Join(src, ".cache"), 0o750)
	for path, name := range map[string]string{
		"a.jpg":                "exiftool__Apple.jpg",
		"2023/b.png":           "exifr__png_with_exif_and_gps.png",
		"2023/trip/c.webp":     "mei__Issue_473_Java_.webp",
		".cache/hidden.jpg":    "exiftool__GoPro.jpg",
		"2023/trip/readme.txt": "",
		"2023/broken.jpg":      "corrupt",
	} {
		data := []byte("just text")
		switch name {
		case "corrupt":
			data = corruptJPEG()
		case "":
		default:
			data = corpusFile(t, name).data
		}
		if err := os.WriteFile(filepath.Join(src, path), data, 0o640); err != nil {
			t.Fatal(err)
		}
	}
	var progress bytes.Buffer
	var mu sync.Mutex
	files := map[string][]ImportFile{}
	onFile := func(f ImportFile) {
		mu.Lock()
		defer mu.Unlock()
		files[f.Outcome] = append(files[f.Outcome], f)
	}
	sum, err := b.svc.ImportDirs(context.Background(), []string{src}, ImportOptions{Concurrency: 2, Progress: &progress, OnFile: onFile})
	if err != nil {
		t.Fatal(err)
	}
	checkImportIDs(t, b, files["created"], 3)
	if sum.Files != 5 || sum.Created != 3 || sum.Skipped != 2 || sum.Failed != 0 {
		t.Errorf("summary %+v", sum)
	}
	for _, f := range files["skipped"] {
		if strings.HasSuffix(f.Path, "broken.jpg") && !strings.Contains(f.Reason, "frame header") {
			t.Errorf("broken.jpg skipped for %q", f.Reason)
		}
	}
	if !strings.Contains(progress.String(), "(5/5, ") || !strings.HasSuffix(progress.String(), "\n") {
		t.Errorf("progress %q", progress.String())
	}
	sum, err = b.svc.ImportDirs(context.Background(), []string{src}, ImportOptions{OnFile: onFile})
	if err != nil || sum.Existing != 3 || sum.Created != 0 {
		t.Errorf("second import %+v %v", sum, err)
	}
	checkImportIDs(t, b, files["duplicate"], 3)
	for _, f := range files["skipped"] {
		if f.PhotoID != 0 {
			t.Errorf("skipped %s has photo id %d", f.Path, f.PhotoID)
		}
	}
	if !strings.Contains(sum.String(), "3 already stored") {
		t.Errorf("summary text %q", sum.String())
	}
}

// checkImportIDs: each reported file has the id of the photo stored with
// its bytes.
func checkImportIDs(t *testing.T, b *bundle, files []ImportFile, want int) {
	t.Helper()
	if len(files) != want {
		t.Fatalf("%d files reported, want %d", len(files), want)
	}
	for _, f := range files {
		var id int64
		if err := b.db.Pool.QueryRow(context.Background(), `SELECT document_id FROM photos WHERE encode(sha256, 'hex') = $1`, f.SHA256).Scan(&id); err != nil {
			t.Fatalf("%s: %v", f.Path, err)
		}
		if f.PhotoID != id {
			t.Errorf("%s (%s): photo_id %d, stored as %d", f.Path, f.Outcome, f.PhotoID, id)
		}
	}
}

func TestRefreshPlaces(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	ctx := context.Background()
	p, _, err := b.svc.Ingest(ctx, "madrid.jpg", bytes.NewReader(corpusFile(t, "exiftool__Google.jpg").data))
	if err != nil {
		t.Fatal(err)
	}
	if p.Place != nil {
		t.Fatalf("place before any places are loaded: %+v", p.Place)
	}
	city := `{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"NAME_CONVE":"Madrid"},
"geometry":{"type":"MultiPolygon","coordinates":[[[[-3.9,40.3],[-3.5,40.3],[-3.5,40.6],[-3.9,40.6],[-3.9,40.3]]]]}}]}`
	if err := LoadPlacesGeoJSON(ctx, b.db.Pool, "test-cities", "city", strings.NewReader(city)); err != nil {
		t.Fatal(err)
	}
	n, err := b.svc.RefreshPlaces(ctx)
	if err != nil || n != 1 {
		t.Fatalf("refreshed %d, %v", n, err)
	}
	got, err := b.svc.Get(ctx, p.ID)
	if err != nil || got.Place == nil || got.Place.City != "Madrid" || string(got.Geometry) == "null" {
		t.Fatalf("after refresh: %+v %v", got, err)
	}
	var hit bool
	_ = b.db.Pool.QueryRow(ctx, `SELECT search @@ to_tsquery('simple', 'madrid') FROM documents WHERE id = $1`, p.ID).Scan(&hit)
	if !hit {
		t.Error("keyword madrid does not match after refresh")
	}
	if n, err := b.svc.RefreshPlaces(ctx); err != nil || n != 0 {
		t.Errorf("second refresh %d %v", n, err)
	}
}

// TestAfterInsert: the hook runs in the photo's transaction; its error rolls
// the photo back and leaves no row (the original stays for the sweeper).
func TestAfterInsert(t *testing.T) {
	t.Parallel()
	var seen []int64
	fail := false
	cfg := Config{AfterInsert: func(ctx context.Context, tx pgx.Tx, ids []int64) error {
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM photos WHERE document_id = ANY($1)`, ids).Scan(&n); err != nil || n != len(ids) {
			return fmt.Errorf("photo rows not visible in the hook: %d of %d, %v", n, len(ids), err)
		}
		if fail {
			return errors.New("hook failed")
		}
		seen = append(seen, ids...)
		return nil
	}}
	b := setup(t, cfg)
	ctx := context.Background()
	p, _, err := b.svc.Ingest(ctx, "a.jpg", bytes.NewReader(corpusFile(t, "exiftool__Apple.jpg").data))
	if err != nil || len(seen) != 1 || seen[0] != p.ID {
		t.Fatalf("hook saw %v for %v (%v)", seen, p, err)
	}
	fail = true
	if _, _, err := b.svc.Ingest(ctx, "b.jpg", bytes.NewReader(corpusFile(t, "exiftool__GoPro.jpg").data)); err == nil {
		t.Fatal("no error from a failing hook")
	}
	var n int
	_ = b.db.Pool.QueryRow(ctx, `SELECT count(*) FROM photos`).Scan(&n)
	if n != 1 {
		t.Errorf("%d photos, want 1", n)
	}
	if files, tmp := countOriginals(t, b.dir); files != 1 || tmp != 0 {
		t.Errorf("%d originals, %d temp files; want 1, 0", files, tmp)
	}
}

// TestImportDirsMove: --move renames stored files into the store (same
// bytes, source gone); files not stored (other types, duplicates, failed
// rows) stay where they were.
func TestImportDirsMove(t *testing.T) {
	t.Parallel()
	fail := false
	b := setup(t, Config{AfterInsert: func(context.Context, pgx.Tx, []int64) error {
		if fail {
			return errors.New("hook failed")
		}
		return nil
	}})
	ctx := context.Background()
	src := t.TempDir()
	apple := corpusFile(t, "exiftool__Apple.jpg").data
	files := map[string][]byte{
		"a.jpg":      apple,
		"sub/b.png":  corpusFile(t, "exifr__png_with_exif_and_gps.png").data,
		"notes.txt":  []byte("just text"),
		"copy-a.jpg": apple,
	}
	for name, data := range files {
		_ = os.MkdirAll(filepath.Dir(filepath.Join(src, name)), 0o750)
		if err := os.WriteFile(filepath.Join(src, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sum, err := b.svc.ImportDirs(ctx, []string{src}, ImportOptions{Move: true})
	if err != nil || sum.Created != 2 || sum.Existing != 1 || sum.Skipped != 1 || sum.Failed != 0 {
		t.Fatalf("summary %+v, %v", sum, err)
	}
	left := 0
	for name := range files {
		if _, err := os.Stat(filepath.Join(src, name)); err == nil {
			left++
		}
	}
	// notes.txt and one of the two equal JPEGs (whichever came second) stay.
	if left != 2 {
		t.Errorf("%d source files left, want 2", left)
	}
	if _, err := os.Stat(filepath.Join(src, "notes.txt")); err != nil {
		t.Errorf("unsupported file moved: %v", err)
	}
	sum256 := sha256.Sum256(apple)
	p, err := b.svc.BySHA256(ctx, sum256[:])
	if err != nil {
		t.Fatal(err)
	}
	f, err := b.svc.originals.Open(p.StorageKey)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, _ := io.ReadAll(f)
	if !bytes.Equal(got, apple) {
		t.Error("stored original differs from the moved file")
	}
	if files, tmp := countOriginals(t, b.dir); files != 2 || tmp != 0 {
		t.Errorf("%d originals, %d temp files; want 2, 0", files, tmp)
	}

	// A row that fails to commit puts the file back.
	fail = true
	gopro := filepath.Join(src, "gopro.jpg")
	if err := os.WriteFile(gopro, corpusFile(t, "exiftool__GoPro.jpg").data, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.svc.IngestMove(ctx, gopro); err == nil {
		t.Fatal("no error from a failing hook")
	}
	if data, err := os.ReadFile(gopro); err != nil || !bytes.Equal(data, corpusFile(t, "exiftool__GoPro.jpg").data) {
		t.Errorf("file not moved back after a failed insert: %v", err)
	}
	if files, _ := countOriginals(t, b.dir); files != 2 {
		t.Errorf("%d originals after a failed insert, want 2", files)
	}
}

// TestStageLocalChanged: a file that changes between hashing and the move is
// refused and left in place.
func TestStageLocalChanged(t *testing.T) {
	t.Parallel()
	o, err := NewOriginals(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(o.root, "..", "photo.jpg")
	if err := os.WriteFile(path, []byte("\xff\xd8\xff first bytes"), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := o.StageLocal(path, 1<<20)
	if err != nil || l == nil {
		t.Fatalf("stage: %v %v", l, err)
	}
	defer l.Abort()
	if err := os.WriteFile(path, []byte("\xff\xd8\xff other bytes, longer"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Commit(); err == nil || !strings.Contains(err.Error(), "changed") {
		t.Fatalf("commit of a changed file: %v", err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("changed file not left in place: %v", err)
	}
}

// TestImportSmallPool: more files at once than pool connections must not
// deadlock (a worker holding its hash-lock connection never waits for a
// second one).
func TestImportSmallPool(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	pool, err := pg.Open(context.Background(), pg.Config{URL: db.URL, MaxConns: 2}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	svc, err := New(Config{DataDir: t.TempDir()}, pool, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	src := t.TempDir()
	for i, name := range []string{"exiftool__Apple.jpg", "exiftool__GoPro.jpg", "exiftool__Google.jpg", "exifr__png_with_exif_and_gps.png", "mei__Issue_473_Java_.webp"} {
		if err := os.WriteFile(filepath.Join(src, fmt.Sprintf("%d-%s", i, name)), corpusFile(t, name).data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sum, err := svc.ImportDirs(ctx, []string{src}, ImportOptions{Concurrency: 8})
	if err != nil || sum.Created != 5 {
		t.Fatalf("import with 8 workers on 2 connections: %+v %v", sum, err)
	}
}

// TestPhotoDocumentGeom: a geotagged photo's document is written with the
// photo's point, so the sync trigger updates nothing (an update would
// re-index the whole document).
func TestPhotoDocumentGeom(t *testing.T) {
	t.Parallel()
	var updated int64 = -1
	b := setup(t, Config{AfterInsert: func(ctx context.Context, tx pgx.Tx, _ []int64) error {
		return tx.QueryRow(ctx, `SELECT pg_stat_get_xact_tuples_updated('documents'::regclass)`).Scan(&updated)
	}})
	ctx := context.Background()
	p, _, err := b.svc.Ingest(ctx, "gps.jpg", bytes.NewReader(corpusFile(t, "exiftool__Apple.jpg").data))
	if err != nil {
		t.Fatal(err)
	}
	var same bool
	if err := b.db.Pool.QueryRow(ctx, `SELECT d.geom = p.geom FROM photos p JOIN documents d ON d.id = p.document_id WHERE p.document_id = $1`, p.ID).Scan(&same); err != nil || !same {
		t.Fatalf("document geometry equals the photo's point: %v %v", same, err)
	}
	if updated != 0 {
		t.Errorf("%d document rows updated while ingesting, want 0", updated)
	}
	// Writing lat/lon later still moves the document (the trigger's job).
	if _, err := b.db.Pool.Exec(ctx, `UPDATE photos SET lat = 10, lon = 20 WHERE document_id = $1`, p.ID); err != nil {
		t.Fatal(err)
	}
	var x, y float64
	if err := b.db.Pool.QueryRow(ctx, `SELECT ST_X(geom), ST_Y(geom) FROM documents WHERE id = $1`, p.ID).Scan(&x, &y); err != nil || x != 20 || y != 10 {
		t.Errorf("document point after a lat/lon update: %v %v %v", x, y, err)
	}
}

// TestImportDirsCancelled: an import stopped half way returns the
// context's error after every photo it handed to a committer is settled:
// the summary counts exactly the rows written, each row has its original,
// and no staged file is left behind.
func TestImportDirsCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b := setup(t, Config{AfterInsert: func(context.Context, pgx.Tx, []int64) error {
		cancel() // the first batch still commits: it outlives the import's context
		return nil
	}})
	src := t.TempDir()
	entries, err := os.ReadDir(photosDir(t))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if e.IsDir() || filepath.Ext(e.Name()) == ".json" || filepath.Ext(e.Name()) == ".md" {
			continue
		}
		data, err := os.ReadFile(filepath.Join(photosDir(t), e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(src, e.Name()), data, 0o640); err != nil {
			t.Fatal(err)
		}
		n++
	}
	sum, err := b.svc.ImportDirs(ctx, []string{src}, ImportOptions{Concurrency: 2})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled (summary %+v)", err, sum)
	}
	var rows int
	if err := b.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM photos`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	// Usually 2-33 of the 40: the readers stop at once, photos already
	// handed over may still be taken by a committer.
	t.Logf("%d of %d photos stored", rows, n)
	if rows == 0 {
		t.Error("the batch that cancelled the import was not stored")
	}
	if sum.Created+sum.Existing != rows {
		t.Errorf("summary counts %d created + %d existing, %d rows written", sum.Created, sum.Existing, rows)
	}
	if originals, temps := countOriginals(t, b.dir); originals != rows || temps != 0 {
		t.Errorf("%d originals and %d staged files for %d rows", originals, temps, rows)
	}
}
