package bench

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"golang.org/x/sync/errgroup"

	"github.com/geoseek/geoseek/cmd/geoseek/app"
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
	posts atomic.Int64 // POST /photos requests
}

func (w *wireCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/photos") {
		w.posts.Add(1)
	}
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

// WriteTo keeps the body's own WriteTo (net/http prefers it to Read), so
// counting does not change how the client sends.
func (c *countBody) WriteTo(w io.Writer) (int64, error) {
	wt, ok := c.ReadCloser.(io.WriterTo)
	if !ok {
		return io.Copy(w, struct{ io.Reader }{c})
	}
	n, err := wt.WriteTo(w)
	c.n.Add(n)
	return n, err
}

// perPhoto is d per photo in milliseconds.
func perPhoto(d time.Duration, n int) float64 {
	return float64(d) / float64(time.Millisecond) / float64(n)
}

func runUploadClient(ctx context.Context, env *Env) ([]Result, error) {
	n, limit, big := 1000, 30*time.Minute, int64(1<<30)
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
	q, err := newQueues(env, paths)
	if err != nil {
		return nil, err
	}
	wire := &wireCounter{rt: &http.Transport{MaxIdleConnsPerHost: 8}}
	opt := upload.Options{Server: env.BaseURL, Key: env.AdminKey, Concurrency: 4, ResumableAbove: 16 << 20,
		StateDir: filepath.Join(env.DataDir, "bench-upload-state"), HTTPClient: &http.Client{Transport: wire}}
	_ = os.RemoveAll(opt.StateDir)

	held, err := transferHeld(ctx, env, q, paths, staging, opt, wire, limit)
	if err != nil {
		return nil, err
	}
	// (b) Until the photos are ready, jobs worked as they come: on a
	// subset in a full run, whose 1,000 thumbnails would take most of an
	// hour on each side.
	m := min(n, 96)
	ingReady, upReady, err := untilReady(ctx, env, q, paths[:m], opt, limit)
	if err != nil {
		return nil, err
	}
	sent, err := resumeBig(ctx, env, opt, paths[0], big)
	if err != nil {
		return nil, err
	}
	note := fmt.Sprintf("n=%d, %.0f MB, --concurrency 4, %d requests, loopback; background jobs held back on both sides", n, float64(folder)/1e6, held.posts)
	first, ing := held.first, held.ing
	res := []Result{
		{Scenario: "upload/photos", Geoseek: float64(first.Created) / first.ElapsedSeconds, Baseline: float64(ing.Created) / ing.Elapsed.Seconds(), Unit: "photos/s", Note: note + fmt.Sprintf("; baseline: geoseek ingest of the same folder, the faster of two passes (%.0f and %.0f photos/s) (target ratio ≥ 0.8)", held.ingRates[0], held.ingRates[1])},
		{Scenario: "upload/photos-of-ceiling", Geoseek: float64(first.Created) / first.ElapsedSeconds, Baseline: float64(n) / held.ceiling.elapsed.Seconds(), Unit: "photos/s",
			Note: "the same upload against upload/ceiling of the same run: how near the upload comes to the least work it must do on this machine"},
		{Scenario: "upload/photos-mb", Geoseek: float64(first.BytesSent) / 1e6 / first.ElapsedSeconds, Baseline: float64(ing.Bytes) / 1e6 / ing.Elapsed.Seconds(), Unit: "MB/s", Note: note},
		{Scenario: "upload/cpu-per-photo", Geoseek: perPhoto(held.upCPU.self+held.upCPU.pg, n), Baseline: perPhoto(ing.cpu.self+ing.cpu.pg, n), Unit: "ms", LowerIsBetter: true,
			Note: fmt.Sprintf("CPU per photo of the first upload (client, server and PostgreSQL) against ingest's; PostgreSQL alone %.1f against %.1f ms", perPhoto(held.upCPU.pg, n), perPhoto(ing.cpu.pg, n))},
		{Scenario: "upload/cpu-floor", Geoseek: perPhoto(ing.cpu.self+ing.cpu.pg+held.hashCPU, n), Baseline: perPhoto(ing.cpu.self+ing.cpu.pg, n), Unit: "ms", LowerIsBetter: true,
			Note: fmt.Sprintf("ingest's CPU per photo plus one SHA-256 pass over the files (%.1f ms), which the client must make before it asks: the least CPU an upload can cost", perPhoto(held.hashCPU, n))},
		{Scenario: "upload/ceiling", Geoseek: float64(n) / held.ceiling.elapsed.Seconds(), Baseline: float64(ing.Created) / ing.Elapsed.Seconds(), Unit: "photos/s",
			Note: fmt.Sprintf("ingest of the folder while each file is hashed once and sent bare over loopback HTTP, 4 at a time: the fastest an upload can be here (%.1f ms CPU a photo); baseline: ingest alone, as upload/photos", perPhoto(held.ceiling.cpu.self+held.ceiling.cpu.pg, n))},
		{Scenario: "upload/cli-photos", Geoseek: float64(held.cli.sum.Created) / held.cli.sum.ElapsedSeconds, Baseline: float64(ing.Created) / ing.Elapsed.Seconds(), Unit: "photos/s",
			Note: "the geoseek upload command in its own process, --concurrency 4, hashes not remembered, jobs held back; baseline: geoseek ingest"},
		{Scenario: "upload/cli-server-cpu", Geoseek: perPhoto(held.cli.server.self+held.cli.server.pg, n), Baseline: perPhoto(ing.cpu.self+ing.cpu.pg, n), Unit: "ms", LowerIsBetter: true,
			Note: fmt.Sprintf("the server's CPU per photo (its process and PostgreSQL) while the command uploads, against ingest's; the command's own process: %.1f ms a photo", perPhoto(held.cli.client, n))},
		{Scenario: "upload/split", Geoseek: float64(held.split.cli.sum.Created) / max(held.split.cli.sum.ElapsedSeconds, 1e-9), Baseline: rate(held.split.ing), Unit: "photos/s",
			Note: fmt.Sprintf("the client on a machine of its own, as scripts run it: the command on the second core, the server and PostgreSQL on the first (server %.1f ms CPU a photo); baseline: geoseek ingest on the first core alone, the faster of two passes (%.0f and %.0f photos/s; %.1f ms)",
				perPhoto(held.split.cli.server.self+held.split.cli.server.pg, n), held.split.ingRates[0], held.split.ingRates[1], perPhoto(held.split.ing.cpu.self+held.split.ing.cpu.pg, n))},
		{Scenario: "upload/photos-c16", Geoseek: float64(held.sixteen.Created) / held.sixteen.ElapsedSeconds, Baseline: float64(ing.Created) / ing.Elapsed.Seconds(), Unit: "photos/s", Note: "--concurrency 16, hashes not remembered, jobs held back; baseline: geoseek ingest"},
		{Scenario: "upload/photos-ready", Geoseek: float64(m) / upReady.Seconds(), Baseline: float64(m) / ingReady.Seconds(), Unit: "photos/s", Note: fmt.Sprintf("n=%d, until their thumbnails and embeddings are done, jobs worked as they come; baseline: geoseek ingest, the same", m)},
		{Scenario: "upload/rerun-time", Geoseek: held.again.ElapsedSeconds, Baseline: first.ElapsedSeconds, Unit: "s", LowerIsBetter: true, Note: "all duplicates; baseline: the first upload (target: ratio ≥ 20)"},
		{Scenario: "upload/rerun-bytes", Geoseek: float64(held.rerunBytes) / 1e6, Baseline: float64(folder) / 1e6, Unit: "MB", LowerIsBetter: true, Note: "request bodies on the wire; baseline: the folder (target: ratio ≥ 100)"},
		{Scenario: "upload/resume-bytes", Geoseek: float64(sent) / 1e6, Baseline: float64(big) / 1e6, Unit: "MB", LowerIsBetter: true, Note: "a file interrupted at 50% then run again: bytes sent in both runs; baseline: the file (target: ratio ≥ 0.95)"},
	}
	if !held.splitOK {
		res = slices.DeleteFunc(res, func(r Result) bool { return r.Scenario == "upload/split" })
	}
	return res, nil
}

// heldRuns are the transfers measured with the job queues paused.
type heldRuns struct {
	ing                   importRun
	first, again, sixteen upload.Summary
	rerunBytes, posts     int64
	// upCPU is the first upload's CPU time (client and server share this
	// process; PostgreSQL's apart); hashCPU one SHA-256 pass over the
	// folder, the part of the client's work no transfer can skip.
	upCPU   cpuTimes
	hashCPU time.Duration
	cli     cliRun
	ceiling ceilingRun
	// ingRates are both ingest passes' photos/s; ing is the faster.
	ingRates [2]float64
	split    splitRun
	splitOK  bool
}

// transferHeld measures (a): ingest of the folder, its upload, the upload
// again (all duplicates) and the upload with 16 requests in flight, each
// with the server's job queues paused, so neither side shares the CPU with
// thumbnails or embeddings. Both sides queue their jobs as in use; the
// jobs held back are discarded with their photos after each pass.
func transferHeld(ctx context.Context, env *Env, q *queues, paths []string, staging string, opt upload.Options, wire *wireCounter, limit time.Duration) (heldRuns, error) {
	var h heldRuns
	if err := q.reset(ctx, env); err != nil {
		return h, err
	}
	if err := q.pause(ctx); err != nil {
		return h, err
	}
	defer q.resume(context.WithoutCancel(ctx))
	svc, err := benchIngest(env, q.ins)
	if err != nil {
		return h, err
	}
	if h.ing, err = importBench(ctx, svc, staging, ingest.ImportOptions{}, len(paths), limit); err != nil {
		return h, err
	}
	if err := q.reset(ctx, env); err != nil {
		return h, err
	}
	if h.ceiling, err = ceilingPass(ctx, svc, staging, paths, limit); err != nil {
		return h, err
	}
	if err := q.reset(ctx, env); err != nil {
		return h, err
	}
	wire.posts.Store(0)
	cpu0 := readCPU()
	if h.first, err = upload.Run(ctx, []string{staging}, opt); err != nil || h.first.Created != len(paths) {
		return h, fmt.Errorf("upload: %v: %s", err, h.first)
	}
	h.upCPU = readCPU().sub(cpu0)
	h.posts = wire.posts.Load()
	if h.hashCPU, err = hashPass(paths); err != nil {
		return h, err
	}
	wire.bytes.Store(0)
	if h.again, err = upload.Run(ctx, []string{staging}, opt); err != nil || h.again.Duplicate != len(paths) {
		return h, fmt.Errorf("re-run: %v: %s", err, h.again)
	}
	h.rerunBytes = wire.bytes.Load()
	// More requests in flight, hashes not remembered: how much of the
	// rest of the gap is the client's.
	if err := q.reset(ctx, env); err != nil {
		return h, err
	}
	wide := opt
	wide.Concurrency, wide.StateDir = 16, filepath.Join(env.DataDir, "bench-upload-state-16")
	_ = os.RemoveAll(wide.StateDir)
	if h.sixteen, err = upload.Run(ctx, []string{staging}, wide); err != nil || h.sixteen.Created != len(paths) {
		return h, fmt.Errorf("upload --concurrency 16: %v: %s", err, h.sixteen)
	}
	if err := q.reset(ctx, env); err != nil {
		return h, err
	}
	if h.cli, err = uploadCLI(ctx, env, staging, len(paths), ""); err != nil {
		return h, err
	}
	if h.split, h.splitOK, err = splitPass(ctx, env, q, svc, staging, paths, limit); err != nil {
		return h, err
	}
	// Ingest again at the end: its rate varies between passes of one run
	// more than the upload's does (its PostgreSQL part most), and the
	// faster pass is the baseline, so a slow one cannot flatter a ratio.
	if err := q.reset(ctx, env); err != nil {
		return h, err
	}
	again, err := importBench(ctx, svc, staging, ingest.ImportOptions{}, len(paths), limit)
	if err != nil {
		return h, err
	}
	h.ingRates = [2]float64{rate(h.ing), rate(again)}
	if rate(again) > rate(h.ing) {
		h.ing = again
	}
	return h, q.reset(ctx, env)
}

// rate is an ingest pass's photos per second.
func rate(r importRun) float64 { return float64(r.Created) / r.Elapsed.Seconds() }

// cliRun is an upload by the `geoseek upload` command in a process of its
// own, as a script runs it: this process then holds only the server.
type cliRun struct {
	sum    upload.Summary
	server cpuTimes      // the server's process and PostgreSQL
	client time.Duration // the command's process
}

// uploadCLI builds geoseek and uploads dir with its upload command
// (--concurrency 4, no remembered hashes), on the CPUs of the list cpus
// (taskset's form) when it is not empty.
func uploadCLI(ctx context.Context, env *Env, dir string, want int, cpus string) (cliRun, error) {
	var run cliRun
	tmp, err := os.MkdirTemp("", "geoseek-bench-cli-")
	if err != nil {
		return run, err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "geoseek")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/geoseek/geoseek/cmd/geoseek").CombinedOutput(); err != nil {
		return run, fmt.Errorf("build geoseek (run the bench inside the geoseek module): %v: %s", err, out)
	}
	args := []string{bin, "upload", "--server", env.BaseURL, "--key", env.AdminKey, "--concurrency", "4",
		"--quiet", "--json", "--state-dir", filepath.Join(tmp, "state"), dir}
	if cpus != "" {
		args = append([]string{"taskset", "-c", cpus}, args...)
	}
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	cpu0 := readCPU()
	err = cmd.Run()
	run.server = readCPU().sub(cpu0)
	if err != nil {
		return run, fmt.Errorf("geoseek upload: %v: %s", err, errb.String())
	}
	run.client = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var last struct {
		Summary *upload.Summary `json:"summary"`
	}
	last.Summary = &run.sum
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil {
		return run, fmt.Errorf("geoseek upload's summary: %w", err)
	}
	if run.sum.Created != want {
		return run, fmt.Errorf("geoseek upload: %s", run.sum)
	}
	return run, nil
}

// hashPass is the CPU time of hashing every file of paths once, two at a
// time, as the client does before it asks the server.
func hashPass(paths []string) (time.Duration, error) {
	cpu0 := readCPU()
	var g errgroup.Group
	g.SetLimit(2)
	for _, p := range paths {
		g.Go(func() error {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = io.CopyBuffer(sha256.New(), struct{ io.Reader }{f}, make([]byte, 128<<10))
			return err
		})
	}
	err := g.Wait()
	return readCPU().sub(cpu0).self, err
}

// untilReady times (b): ingest of paths, then their upload, each until the
// thumbnail and embedding jobs of its photos are done, with the job queues
// working throughout as in use.
func untilReady(ctx context.Context, env *Env, q *queues, paths []string, opt upload.Options, limit time.Duration) (ing, up time.Duration, err error) {
	dir := filepath.Join(env.DataDir, "bench-upload-ready")
	if err := stageLinks(dir, paths); err != nil {
		return 0, 0, err
	}
	defer os.RemoveAll(dir)
	ins, err := jobs.NewInserter(env.Pool, env.Logger)
	if err != nil {
		return 0, 0, err
	}
	svc, err := benchIngest(env, ins)
	if err != nil {
		return 0, 0, err
	}
	if err := q.reset(ctx, env); err != nil {
		return 0, 0, err
	}
	t0 := time.Now()
	if _, err := importBench(ctx, svc, dir, ingest.ImportOptions{}, len(paths), limit); err != nil {
		return 0, 0, err
	}
	if err := jobsDone(ctx, env, true); err != nil {
		return 0, 0, err
	}
	ing = time.Since(t0)
	if err := q.reset(ctx, env); err != nil {
		return 0, 0, err
	}
	opt.StateDir = filepath.Join(env.DataDir, "bench-upload-state-ready")
	_ = os.RemoveAll(opt.StateDir)
	t0 = time.Now()
	sum, err := upload.Run(ctx, []string{dir}, opt)
	if err != nil || sum.Created != len(paths) {
		return 0, 0, fmt.Errorf("upload until ready: %v: %s", err, sum)
	}
	if err := jobsDone(ctx, env, true); err != nil {
		return 0, 0, err
	}
	up = time.Since(t0)
	return ing, up, q.reset(ctx, env)
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

// benchIngest is geoseek ingest's service (app.NewPhotos, as the command
// builds it) in-process, on the bench server's data dir (as the command
// runs next to a server): it queues the thumbnail and embedding jobs the
// server's uploads queue, and the server's workers make its thumbnails
// from the same originals store.
func benchIngest(env *Env, ins *river.Client[pgx.Tx]) (*ingest.Service, error) {
	return app.NewPhotos(app.Options{DataDir: env.DataDir, Ingest: ingest.Config{MaxFileBytes: 300 << 20}}, env.Pool, ins, env.Logger)
}

// queues pauses and resumes the bench server's River queues (River keeps
// a queue's pause in the database and tells its workers, which then fetch
// no job until it is resumed; a job running when it is paused finishes).
type queues struct {
	ins  *river.Client[pgx.Tx]
	sums [][]byte // of the bench's photos
}

func newQueues(env *Env, paths []string) (*queues, error) {
	ins, err := jobs.NewInserter(env.Pool, env.Logger)
	if err != nil {
		return nil, err
	}
	q := &queues{ins: ins}
	for _, p := range paths {
		sum, _, err := hashFile(p)
		if err != nil {
			return nil, err
		}
		q.sums = append(q.sums, sum)
	}
	return q, nil
}

func (q *queues) pause(ctx context.Context) error {
	if err := q.ins.QueuePause(ctx, "*", nil); err != nil {
		return fmt.Errorf("pause the job queues: %w", err)
	}
	return nil
}

func (q *queues) resume(ctx context.Context) {
	_ = q.ins.QueueResume(ctx, "*", nil)
}

// reset removes the bench's photos, their originals on the server (a
// stored original spares an upload its rename) and the jobs waiting (held
// back by a pause), then waits until no job runs: each pass starts alike.
func (q *queues) reset(ctx context.Context, env *Env) error {
	// Rows are locked in id order, as in clearBenchPhotos.
	if _, err := env.Pool.Exec(ctx, `DELETE FROM documents WHERE id IN (
		SELECT id FROM documents WHERE id IN (SELECT document_id FROM photos WHERE sha256 = ANY($1)) ORDER BY id FOR UPDATE)`, q.sums); err != nil {
		return fmt.Errorf("clear photos: %w", err)
	}
	for _, sum := range q.sums {
		err := os.Remove(filepath.Join(env.DataDir, "originals", ingest.Key(sum)))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	if _, err := env.Pool.Exec(ctx, `DELETE FROM river_job WHERE state IN ('available', 'retryable', 'scheduled') AND kind <> 'geoseek.embed_sweep'`); err != nil {
		return fmt.Errorf("discard held jobs: %w", err)
	}
	return jobsDone(ctx, env, true)
}

// resumeBig uploads a file of size bytes, interrupts the run when half is
// sent, runs it again, and returns the bytes sent in both runs.
func resumeBig(ctx context.Context, env *Env, opt upload.Options, photo string, size int64) (int64, error) {
	dir := filepath.Join(env.DataDir, "bench-upload-big")
	_ = os.RemoveAll(dir)
	defer os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return 0, err
	}
	// A photo of the corpus, then random bytes: a file of its own that the
	// server takes for a photo.
	head, err := os.ReadFile(photo)
	if err != nil {
		return 0, err
	}
	path := filepath.Join(dir, "big.jpg")
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
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
