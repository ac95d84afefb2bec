package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
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
	} {
		data := []byte("just text")
		if name != "" {
			data = corpusFile(t, name).data
		}
		if err := os.WriteFile(filepath.Join(src, path), data, 0o640); err != nil {
			t.Fatal(err)
		}
	}
	var progress bytes.Buffer
	sum, err := b.svc.ImportDirs(context.Background(), []string{src}, ImportOptions{Concurrency: 2, Progress: &progress})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Files != 4 || sum.Created != 3 || sum.Skipped != 1 || sum.Failed != 0 {
		t.Errorf("summary %+v", sum)
	}
	if !strings.Contains(progress.String(), "4/4 files") || !strings.HasSuffix(progress.String(), "\n") {
		t.Errorf("progress %q", progress.String())
	}
	sum, err = b.svc.ImportDirs(context.Background(), []string{src}, ImportOptions{})
	if err != nil || sum.Existing != 3 || sum.Created != 0 {
		t.Errorf("second import %+v %v", sum, err)
	}
	if !strings.Contains(sum.String(), "3 already stored") {
		t.Errorf("summary text %q", sum.String())
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
	cfg := Config{AfterInsert: func(ctx context.Context, tx pgx.Tx, id int64) error {
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM photos WHERE document_id = $1`, id).Scan(&n); err != nil || n != 1 {
			return fmt.Errorf("photo row not visible in the hook: %d %v", n, err)
		}
		if fail {
			return errors.New("hook failed")
		}
		seen = append(seen, id)
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
