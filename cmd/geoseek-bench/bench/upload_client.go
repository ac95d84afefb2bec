package bench

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/geoseek/geoseek/cmd/geoseek/upload"
	"github.com/geoseek/geoseek/ingest"
	"github.com/geoseek/geoseek/internal/jobs"
)

// The upload scenario (upload.go has upload/tus) runs `geoseek upload`'s client against the bench
// server over loopback:
//
//   - upload/photos: n distinct ≥3 MB photos (Quick: 24) with
//     --concurrency 4, photos/s and MB/s, against `geoseek ingest` of the
//     same folder in the same run (target ratio ≥ 0.8);
//   - upload/rerun: the same folder again (all duplicates): elapsed against
//     the first upload's (target ≤ 5%), bytes on the wire against the
//     folder's (target ≤ 1%);
//   - upload/resume: a 1 GB file (Quick: 64 MB) interrupted at 50% and run
//     again: bytes sent in both runs against the file (target ≤ 1.05).
func init() {
	Register(Scenario{Name: "upload", Run: runUploadClient})
}

// wireCounter counts the bytes of request bodies a client sends.
type wireCounter struct {
	rt    http.RoundTripper
	bytes atomic.Int64
}

func (w *wireCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = &countBody{ReadCloser: r.Body, n: &w.bytes}
	}
	return w.rt.RoundTrip(r)
}

type countBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (c *countBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func runUploadClient(ctx context.Context, env *Env) ([]Result, error) {
	n, limit, big := 1000, 20*time.Minute, int64(1<<30)
	if env.Quick {
		n, limit, big = 24, 10*time.Minute, 64<<20
	}
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	paths, staging, folder, err := uploadFolder(ctx, env, n)
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(staging)

	// Quick runs also time both until their thumbnail and embedding jobs
	// are done; a full run cannot wait that long (see ingestBaseline).
	ready := env.Quick
	ing, ingReady, err := ingestBaseline(ctx, env, paths, staging, ready, n, limit)
	if err != nil {
		return nil, err
	}

	wire := &wireCounter{rt: &http.Transport{MaxIdleConnsPerHost: 8}}
	opt := upload.Options{Server: env.BaseURL, Key: env.AdminKey, Concurrency: 4, ResumableAbove: 16 << 20,
		StateDir: filepath.Join(env.DataDir, "bench-upload-state"), HTTPClient: &http.Client{Transport: wire}}
	t0 := time.Now()
	first, err := upload.Run(ctx, []string{staging}, opt)
	if err != nil || first.Created != n {
		return nil, fmt.Errorf("upload: %v: %s", err, first)
	}
	if err := jobsDone(ctx, env, ready); err != nil {
		return nil, err
	}
	upReady := time.Since(t0)
	wire.bytes.Store(0)
	again, err := upload.Run(ctx, []string{staging}, opt)
	if err != nil || again.Duplicate != n {
		return nil, fmt.Errorf("re-run: %v: %s", err, again)
	}
	rerunBytes := wire.bytes.Load()

	// The same upload with more files in flight, hashes not remembered:
	// shows how much of the gap to ingest is each request's own commit
	// on the server rather than the client.
	if err := clearBenchPhotos(ctx, env, paths); err != nil {
		return nil, err
	}
	wide := opt
	wide.Concurrency, wide.StateDir = 16, filepath.Join(env.DataDir, "bench-upload-state-16")
	_ = os.RemoveAll(wide.StateDir)
	sixteen, err := upload.Run(ctx, []string{staging}, wide)
	if err != nil || sixteen.Created != n {
		return nil, fmt.Errorf("upload --concurrency 16: %v: %s", err, sixteen)
	}

	sent, err := resumeBig(ctx, env, opt, big)
	if err != nil {
		return nil, err
	}
	ingRate := float64(ing.Created) / ing.Elapsed.Seconds()
	upRate := float64(first.Created) / first.ElapsedSeconds
	note := fmt.Sprintf("n=%d, %.0f MB, --concurrency 4, loopback", n, float64(folder)/1e6)
	rs := []Result{
		{Scenario: "upload/photos", Geoseek: upRate, Baseline: ingRate, Unit: "photos/s", Note: note + "; baseline: geoseek ingest of the same folder"},
	}
	rs = append(rs, Result{Scenario: "upload/photos-c16", Geoseek: float64(sixteen.Created) / sixteen.ElapsedSeconds, Baseline: ingRate, Unit: "photos/s", Note: "--concurrency 16, hashes not remembered; baseline: geoseek ingest"})
	if ready {
		rs = append(rs, Result{Scenario: "upload/photos-ready", Geoseek: float64(n) / upReady.Seconds(), Baseline: float64(n) / ingReady.Seconds(), Unit: "photos/s", Note: "until their thumbnails and embeddings are done; baseline: geoseek ingest, the same"})
	}
	return append(rs, []Result{
		{Scenario: "upload/photos-mb", Geoseek: float64(first.BytesSent) / 1e6 / first.ElapsedSeconds, Baseline: float64(ing.Bytes) / 1e6 / ing.Elapsed.Seconds(), Unit: "MB/s", Note: note},
		{Scenario: "upload/rerun-time", Geoseek: again.ElapsedSeconds, Baseline: first.ElapsedSeconds, Unit: "s", LowerIsBetter: true, Note: "all duplicates; baseline: the first upload (target: ratio ≥ 20)"},
		{Scenario: "upload/rerun-bytes", Geoseek: float64(rerunBytes) / 1e6, Baseline: float64(folder) / 1e6, Unit: "MB", LowerIsBetter: true, Note: "request bodies on the wire; baseline: the folder (target: ratio ≥ 100)"},
		{Scenario: "upload/resume-bytes", Geoseek: float64(sent) / 1e6, Baseline: float64(big) / 1e6, Unit: "MB", LowerIsBetter: true, Note: "a file interrupted at 50% then run again: bytes sent in both runs; baseline: the file (target: ratio ≥ 0.95)"},
	}...), nil
}

// uploadFolder makes (or reuses) the photo corpus of n files and a folder of
// links to it, and returns the files, the folder and their total size.
func uploadFolder(ctx context.Context, env *Env, n int) (paths []string, staging string, folder int64, err error) {
	paths, err = PhotoCorpus(ctx, filepath.Join(env.DataDir, "bench-photo-corpus"), n, 3<<20)
	if err != nil {
		return nil, "", 0, fmt.Errorf("make photos: %w", err)
	}
	staging = filepath.Join(env.DataDir, "bench-upload-staging")
	if err := stageLinks(staging, paths); err != nil {
		return nil, "", 0, err
	}
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, "", 0, err
		}
		folder += st.Size()
	}
	return paths, staging, folder, nil
}

// ingestBaseline runs geoseek ingest of the folder in-process and clears
// its photos again. With ready it queues thumbnail and embedding jobs as
// the command does, the bench server works them as it works those of
// uploads, and the run is also timed until its jobs are done (photos ready
// to show), so neither side is charged the other's thumbnails. Without it
// (the full run, whose thumbnails would take too long to wait for) ingest
// queues none, and the uploads share the CPU with the server's thumbnails,
// as they do in use.
func ingestBaseline(ctx context.Context, env *Env, paths []string, staging string, ready bool, n int, limit time.Duration) (importRun, time.Duration, error) {
	var none importRun
	var inserter ingest.JobInserter
	if ready {
		ins, err := jobs.NewInserter(env.Pool, env.Logger)
		if err != nil {
			return none, 0, err
		}
		inserter = ins
	}
	dir := filepath.Join(env.DataDir, "bench-upload-ingest")
	_ = os.RemoveAll(dir)
	svc, err := ingest.New(ingest.Config{DataDir: dir, MaxFileBytes: 300 << 20}, env.Pool, inserter, env.Logger)
	if err != nil {
		return none, 0, err
	}
	if err := clearBenchPhotos(ctx, env, paths); err != nil {
		return none, 0, err
	}
	if err := jobsDone(ctx, env, ready); err != nil {
		return none, 0, err
	}
	t0 := time.Now()
	ing, err := importBench(ctx, svc, staging, ingest.ImportOptions{}, n, limit)
	if err != nil {
		return none, 0, err
	}
	if err := jobsDone(ctx, env, ready); err != nil {
		return none, 0, err
	}
	took := time.Since(t0)
	if err := clearBenchPhotos(ctx, env, paths); err != nil {
		return none, 0, err
	}
	return ing, took, jobsDone(ctx, env, ready)
}

// resumeBig uploads a file of size bytes, interrupts the run when half is
// sent, runs it again, and returns the bytes sent in both runs.
func resumeBig(ctx context.Context, env *Env, opt upload.Options, size int64) (int64, error) {
	dir := filepath.Join(env.DataDir, "bench-upload-big")
	_ = os.RemoveAll(dir)
	defer os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return 0, err
	}
	path := filepath.Join(dir, "big.jpg")
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	head := []byte{0xFF, 0xD8, 0xFF, 0xD9} // an empty JPEG, then random bytes: a file of its own
	_, err = f.Write(head)
	if err == nil {
		_, err = io.CopyN(f, rand.Reader, size-int64(len(head)))
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, err
	}
	cut, stop := context.WithCancel(ctx)
	defer stop()
	opt.Progress = &stopAt{at: size / 2, stop: stop}
	first, err := upload.Run(cut, []string{path}, opt)
	if !errors.Is(err, context.Canceled) {
		return 0, fmt.Errorf("interrupted upload: %v: %s", err, first)
	}
	opt.Progress = nil
	second, err := upload.Run(ctx, []string{path}, opt)
	if err != nil || second.Created != 1 {
		return 0, fmt.Errorf("resumed upload: %v: %s", err, second)
	}
	return first.BytesSent + second.BytesSent, nil
}

// stopAt cancels a run when at bytes are sent.
type stopAt struct {
	n    atomic.Int64
	at   int64
	stop context.CancelFunc
}

func (s *stopAt) Total(int, int64) {}
func (s *stopAt) File(bool)        {}
func (s *stopAt) Bytes(n int64) {
	if s.n.Add(n) >= s.at {
		s.stop()
	}
}

// jobsDone waits until the job queue has no work left (thumbnails,
// embeddings), for at most ten minutes.
func jobsDone(ctx context.Context, env *Env, wait bool) error {
	if !wait {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	for {
		var n int
		err := env.Pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE state IN ('available', 'running', 'retryable', 'pending') AND kind <> 'geoseek.embed_sweep'`).Scan(&n)
		if err != nil {
			return fmt.Errorf("wait for jobs: %w", err)
		}
		if n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for jobs: %d left: %w", n, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
