package ingest

import (
	"bytes"
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/geoseek/geoseek/internal/jobs"
	"github.com/geoseek/geoseek/internal/pgtest"
)

// TestThumbnailJob: an upload queues its thumbnail job in the same
// transaction, and a River runner with AddWorkers makes the thumbnails and
// the perceptual hash.
func TestThumbnailJob(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	logger := slog.New(slog.DiscardHandler)
	ins, err := jobs.NewInserter(db.Pool, logger)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := New(Config{DataDir: t.TempDir()}, db.Pool, ins, logger)
	if err != nil {
		t.Fatal(err)
	}
	jpg := corpusFile(t, "mei__Samsung_GT-I9000_Galaxy_S_.jpg") // 640x480, orientation 6
	heic := corpusFile(t, "mei__exif-at-eof.heic")
	p, _, err := svc.Ingest(ctx, jpg.name, bytes.NewReader(jpg.data))
	if err != nil {
		t.Fatal(err)
	}
	h, _, err := svc.Ingest(ctx, heic.name, bytes.NewReader(heic.data))
	if err != nil {
		t.Fatal(err)
	}
	var queued int
	_ = db.Pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = $1 AND queue = 'thumbnails'`, ThumbnailArgs{}.Kind()).Scan(&queued)
	if queued != 2 {
		t.Fatalf("%d thumbnail jobs queued, want 2", queued)
	}

	workers := river.NewWorkers()
	AddWorkers(workers, svc)
	runner, err := jobs.NewRunner(db.Pool, workers, nil, logger)
	if err != nil {
		t.Fatal(err)
	}
	if err := runner.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer runner.Stop(5 * time.Second)
	// Wait (bounded) for both jobs to finish: the JPEG completes, the HEIC
	// (no pure-Go decoder) is cancelled rather than retried.
	var states []string
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		states = states[:0]
		rows, _ := db.Pool.Query(ctx, `SELECT state::text FROM river_job WHERE kind = $1 ORDER BY args->>'photo_id'`, ThumbnailArgs{}.Kind())
		for rows.Next() {
			var s string
			_ = rows.Scan(&s)
			states = append(states, s)
		}
		rows.Close()
		if len(states) == 2 && states[0] != "available" && states[0] != "running" && states[1] != "available" && states[1] != "running" {
			break
		}
	}
	got, err := svc.Get(ctx, p.ID)
	if err != nil || got.PHash == nil {
		t.Fatalf("phash not set (%v); job states %v", err, states)
	}
	want := map[int64]string{p.ID: "completed", h.ID: "cancelled"}
	rows, _ := db.Pool.Query(ctx, `SELECT (args->>'photo_id')::bigint, state::text FROM river_job WHERE kind = $1`, ThumbnailArgs{}.Kind())
	for rows.Next() {
		var id int64
		var s string
		_ = rows.Scan(&id, &s)
		if want[id] != s {
			t.Errorf("job of photo %d: %s, want %s", id, s, want[id])
		}
	}
	rows.Close()
}
