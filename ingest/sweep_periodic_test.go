package ingest

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// orphanSweeper runs the originals sweeps of svc every few milliseconds
// and returns their reports, and a stop function.
func orphanSweeper(t testing.TB, svc *Service) (<-chan SweepReport, func()) {
	return runSweeps(t, func(ctx context.Context, done func(SweepReport, error)) {
		svc.RunSweeps(ctx, 5*time.Millisecond, time.Hour, done)
	})
}

// runSweeps runs a periodic sweep (run, until its context ends) and hands
// its reports over a channel; the stop function ends it and waits, and runs
// at cleanup too, before the pool closes.
func runSweeps[R any](t testing.TB, run func(ctx context.Context, done func(R, error))) (<-chan R, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	reports := make(chan R)
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		run(ctx, func(rep R, err error) {
			if err != nil {
				t.Errorf("sweep: %v", err)
			}
			select {
			case reports <- rep:
			case <-ctx.Done():
			}
		})
	}()
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); <-finished }) }
	t.Cleanup(stop)
	return reports, stop
}

// nextSweep waits up to a minute for a sweep whose report satisfies ok.
func nextSweep[R any](t testing.TB, reports <-chan R, ok func(R) bool) R {
	t.Helper()
	deadline := time.After(time.Minute)
	for {
		select {
		case rep := <-reports:
			if ok(rep) {
				return rep
			}
		case <-deadline:
			t.Fatal("no such sweep within a minute")
		}
	}
}

// staleTemp writes a temp file last written two hours ago.
func staleTemp(t testing.TB, dir, name string) string {
	t.Helper()
	p := filepath.Join(dir, "originals", "tmp", name)
	if err := os.WriteFile(p, []byte("left by a crash"), 0o600); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(p, old, old); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSweepPeriodic runs the originals sweep over several periods and a
// restart: crash leftovers go whenever they appear, an upload in progress
// keeps its temp file however old it looks, an original without a row is
// adopted.
func TestSweepPeriodic(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	b := setup(t, Config{DataDir: dir})
	reports, stop := orphanSweeper(t, b.svc)

	// An upload whose client is slow: its temp file has not been written
	// to for longer than the age, but the upload still holds it.
	pr, pw := io.Pipe()
	received := make(chan error, 1)
	go func() {
		up, err := b.svc.originals.Receive(pr, 1<<20)
		if err == nil {
			up.Abort()
		}
		received <- err
	}()
	if _, err := pw.Write([]byte("first bytes")); err != nil {
		t.Fatal(err)
	}
	var live string
	for live == "" { // wait until the bytes are in the file
		ents, _ := os.ReadDir(filepath.Join(dir, "originals", "tmp"))
		if len(ents) == 1 {
			if fi, err := ents[0].Info(); err == nil && fi.Size() == int64(len("first bytes")) {
				live = filepath.Join(dir, "originals", "tmp", ents[0].Name())
				break
			}
		}
		time.Sleep(time.Millisecond)
	}
	old := time.Now().Add(-2 * time.Hour)
	_ = os.Chtimes(live, old, old)

	for i := range 3 {
		stale := staleTemp(t, dir, "up-crash.part")
		nextSweep(t, reports, func(r SweepReport) bool { return r.TempRemoved == 1 && r.TempInUse == 1 })
		if _, err := os.Stat(stale); !os.IsNotExist(err) {
			t.Fatalf("period %d: stale temp file still there: %v", i, err)
		}
		if _, err := os.Stat(live); err != nil {
			t.Fatalf("period %d: the live upload's temp file was removed: %v", i, err)
		}
	}
	pw.CloseWithError(io.ErrUnexpectedEOF)
	if err := <-received; err == nil {
		t.Fatal("the cut upload was accepted")
	}

	// An original without a row (its commit failed): adopted.
	f := corpusFile(t, "exiftool__Ricoh2.jpg")
	up, err := b.svc.originals.Receive(bytes.NewReader(f.data), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := up.Commit(); err != nil {
		t.Fatal(err)
	}
	nextSweep(t, reports, func(r SweepReport) bool { return r.Adopted == 1 })
	nextSweep(t, reports, func(r SweepReport) bool { return r.Adopted == 0 && r.Kept == 1 })
	stop()

	// Down: a crash leaves a temp file. Restarted: the first sweep takes it.
	stale := staleTemp(t, dir, "up-down.part")
	svc2, err := New(Config{DataDir: dir}, b.db.Pool, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	reports, stop = orphanSweeper(t, svc2)
	defer stop()
	rep := nextSweep(t, reports, func(SweepReport) bool { return true })
	if rep.TempRemoved != 1 || rep.Kept != 1 {
		t.Fatalf("first sweep after the restart: %+v", rep)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Fatalf("stale temp file still there after the restart: %v", err)
	}
}
