package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/geoseek/geoseek/ingest"
)

// The ingest scenarios run the pipeline in-process on a data dir of
// their own, so thumbnails (River jobs in the server) stay out of the ingest
// figure:
//
//   - ingest/local: hash + EXIF + durable store + rows for ≥1,000 distinct
//     ≥3 MB camera-size JPEGs (Quick: 24), photos/s and MB/s, against reading
//     and SHA-256-hashing the same files in the same run (target ratio ≥ 0.6);
//   - ingest/thumbnails: thumbnails + dHash of 12-megapixel JPEGs on one
//     goroutine (photos/s per core), against plain decoding of the same files;
//   - ingest/rss-200mb: peak RSS above idle while ingesting 200 MB files
//     (Quick: 20 MB), against the file size (the figure a buffering
//     implementation would need).
func init() {
	Register(Scenario{Name: "ingest/local", Run: runIngestLocal})
	Register(Scenario{Name: "ingest/thumbnails", Run: runIngestThumbs})
	Register(Scenario{Name: "ingest/rss-200mb", Run: runIngestRSS})
}

// benchPhotos makes (once; kept under the data dir) n distinct camera-size
// JPEGs: a few 12-megapixel bases with photo-like noise, each file carrying
// a real camera's EXIF segment from the shared corpus (when present) and a
// unique comment so no two files have equal bytes.
func benchPhotos(env *Env, n int) ([]string, error) {
	dir := filepath.Join(env.DataDir, "bench-ingest-src-v2")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	paths := make([]string, n)
	missing := false
	for i := range paths {
		paths[i] = filepath.Join(dir, fmt.Sprintf("photo-%05d.jpg", i))
		if _, err := os.Stat(paths[i]); err != nil {
			missing = true
		}
	}
	if !missing {
		return paths, nil
	}
	bases, err := benchBases(4)
	if err != nil {
		return nil, err
	}
	exifs := corpusEXIF()
	for i, p := range paths {
		if _, err := os.Stat(p); err == nil {
			continue
		}
		base := bases[i%len(bases)]
		var b bytes.Buffer
		b.Write(base[:2]) // SOI
		if len(exifs) > 0 {
			b.Write(exifs[i%len(exifs)])
		}
		com := fmt.Sprintf("geoseek bench photo %d", i)
		b.Write([]byte{0xFF, 0xFE, byte((len(com) + 2) >> 8), byte(len(com) + 2)})
		b.WriteString(com)
		b.Write(base[2:])
		if err := os.WriteFile(p, b.Bytes(), 0o640); err != nil {
			return nil, err
		}
	}
	return paths, nil
}

// benchBases encodes k 4000×3000 JPEGs with enough texture to weigh ~3.3 MB
// (a 12-megapixel camera JPEG is 3–6 MB).
func benchBases(k int) ([][]byte, error) {
	out := make([][]byte, k)
	var wg sync.WaitGroup
	var firstErr atomic.Value
	for j := range out {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(j), 42))
			img := image.NewYCbCr(image.Rect(0, 0, 4000, 3000), image.YCbCrSubsampleRatio420)
			for y := 0; y < 3000; y++ {
				for x := 0; x < 4000; x++ {
					v := 128 + 60*((x/(200+50*j))%2) - 30*((y/150)%2) + r.IntN(20)
					img.Y[y*img.YStride+x] = uint8(min(255, max(0, v)))
				}
			}
			for i := range img.Cb {
				img.Cb[i] = uint8(100 + r.IntN(16))
				img.Cr[i] = uint8(110 + r.IntN(16))
			}
			var b bytes.Buffer
			if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 90}); err != nil {
				firstErr.Store(err)
				return
			}
			out[j] = b.Bytes()
		}()
	}
	wg.Wait()
	if err, ok := firstErr.Load().(error); ok {
		return nil, err
	}
	return out, nil
}

// corpusEXIF returns the EXIF APP1 segments (marker included) of the shared
// photo corpus's JPEGs, found beside the repository.
func corpusEXIF() [][]byte {
	dir := ""
	if wd, err := os.Getwd(); err == nil {
		for d := wd; d != filepath.Dir(d); d = filepath.Dir(d) {
			if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
				dir = filepath.Join(d, "..", "shared", "testdata", "photos")
				break
			}
		}
	}
	ents, _ := os.ReadDir(dir)
	var out [][]byte
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".jpg") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil || len(b) < 4 {
			continue
		}
		// Walk to the first APP1 "Exif" segment.
		for pos := 2; pos+4 <= len(b) && b[pos] == 0xFF && b[pos+1] != 0xDA; {
			n := int(b[pos+2])<<8 | int(b[pos+3])
			if pos+2+n > len(b) {
				break
			}
			if b[pos+1] == 0xE1 && bytes.HasPrefix(b[pos+4:], []byte("Exif\x00\x00")) {
				out = append(out, append([]byte(nil), b[pos:pos+2+n]...))
				break
			}
			pos += 2 + n
		}
	}
	return out
}

func benchService(env *Env, name string) (*ingest.Service, error) {
	dir := filepath.Join(env.DataDir, name)
	_ = os.RemoveAll(dir) // each run starts with an empty store
	return ingest.New(ingest.Config{DataDir: dir, MaxFileBytes: 300 << 20}, env.Pool, nil, env.Logger)
}

// clearBenchPhotos deletes the photos of earlier runs of these files so that
// every run measures real ingests, not the dedupe fast path.
func clearBenchPhotos(ctx context.Context, env *Env, paths []string) error {
	var sums [][]byte
	for _, p := range paths {
		s, _, err := hashFile(p)
		if err != nil {
			return err
		}
		sums = append(sums, s)
	}
	// Rows are locked in id order, the order the embedding jobs write
	// vectors in: a delete in any other order deadlocks with them.
	_, err := env.Pool.Exec(ctx, `DELETE FROM documents WHERE id IN (
		SELECT id FROM documents WHERE id IN (SELECT document_id FROM photos WHERE sha256 = ANY($1)) ORDER BY id FOR UPDATE)`, sums)
	return err
}

func hashFile(path string) ([]byte, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	return h.Sum(nil), n, err
}

// parallel runs fn over items with workers goroutines, bounded by d.
func parallel(ctx context.Context, workers int, items []string, d time.Duration, fn func(ctx context.Context, p string) (int64, error)) (n int, bytes int64, el time.Duration, err error) {
	var next, done, total atomic.Int64
	var firstErr atomic.Value
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if i >= int64(len(items)) {
					return
				}
				b, err := fn(ctx, items[i])
				if err != nil {
					if ctx.Err() == nil {
						firstErr.CompareAndSwap(nil, err)
					}
					return
				}
				done.Add(1)
				total.Add(b)
			}
		}()
	}
	wg.Wait()
	if e, ok := firstErr.Load().(error); ok {
		err = e
	}
	return int(done.Load()), total.Load(), time.Since(start), err
}

func runIngestLocal(ctx context.Context, env *Env) ([]Result, error) {
	n, limit := 1000, 10*time.Minute
	if env.Quick {
		n, limit = 24, time.Minute
	}
	paths, err := benchPhotos(env, n)
	if err != nil {
		return nil, fmt.Errorf("make photos: %w", err)
	}
	svc, err := benchService(env, "bench-ingest-local")
	if err != nil {
		return nil, err
	}
	// The server loads the place polygons at start-up and every geotagged
	// photo is looked up in them: the bench database has them too.
	if err := svc.LoadPlaces(ctx); err != nil {
		return nil, fmt.Errorf("load places: %w", err)
	}
	if err := clearBenchPhotos(ctx, env, paths); err != nil {
		return nil, err
	}
	hb := &hashBaseline{workers: runtime.GOMAXPROCS(0), paths: paths, limit: limit}
	if err := hb.pass(ctx); err != nil {
		return nil, err
	}
	durable, err := durableCopy(ctx, env, paths, limit)
	if err != nil {
		return nil, err
	}
	// geoseek ingest DIR: copies into the store, default concurrency. The
	// files are hard-linked (untimed) into a dir of their own, which holds
	// just these n.
	staging := filepath.Join(env.DataDir, "bench-ingest-staging")
	defer os.RemoveAll(staging)
	if err := stageLinks(staging, paths); err != nil {
		return nil, err
	}
	copied, err := importBench(ctx, svc, staging, ingest.ImportOptions{}, n, limit)
	if err != nil {
		return nil, err
	}
	if err := hb.pass(ctx); err != nil {
		return nil, err
	}
	moved, err := importMoved(ctx, env, paths, staging, n, limit, hb)
	if err != nil {
		return nil, err
	}
	return ingestLocalResults(copied, moved, hb, durable), nil
}

// hashBaseline is the baseline: read + SHA-256 of the same files, one
// goroutine per core (the fastest it goes: it is CPU-bound). The page cache
// is warm for every pass: clear just hashed every file. A pass is short
// enough for a load spike to halve it, so it runs before, between and after
// the imports and the fastest pass counts.
type hashBaseline struct {
	workers int
	paths   []string
	limit   time.Duration
	// The fastest pass: files, bytes, elapsed time and the process's CPU.
	n   int
	b   int64
	el  time.Duration
	cpu time.Duration
}

func (h *hashBaseline) pass(ctx context.Context) error {
	cpu0 := readCPU()
	n, b, el, err := parallel(ctx, h.workers, h.paths, h.limit, func(_ context.Context, p string) (int64, error) {
		_, size, err := hashFile(p)
		return size, err
	})
	if err == nil && (h.el == 0 || float64(b)/el.Seconds() > float64(h.b)/h.el.Seconds()) {
		h.n, h.b, h.el, h.cpu = n, b, el, readCPU().sub(cpu0).self
	}
	return err
}

// durableRun is a run of the durable-copy baseline.
type durableRun struct {
	n, conc int
	b       int64
	el      time.Duration
}

// durableCopy is the second baseline, the floor of any durable copy: the
// same bytes through the same file protocol (temp, fsync, rename, dir
// fsync) into a scratch dir on the same file system, without EXIF or
// database. Its workers wait on their own fsyncs, so it takes many: 16 per
// core (fewer ran slower; docs/performance.md).
func durableCopy(ctx context.Context, env *Env, paths []string, limit time.Duration) (durableRun, error) {
	scratch := filepath.Join(env.DataDir, "bench-ingest-scratch")
	_ = os.RemoveAll(scratch)
	if err := os.MkdirAll(scratch, 0o750); err != nil {
		return durableRun{}, err
	}
	defer os.RemoveAll(scratch)
	r := durableRun{conc: 16 * runtime.GOMAXPROCS(0)}
	var err error
	r.n, r.b, r.el, err = parallel(ctx, r.conc, paths, limit, func(_ context.Context, p string) (int64, error) {
		return hashCopySync(p, filepath.Join(scratch, filepath.Base(p)))
	})
	return r, err
}

// importMoved runs geoseek ingest --move DIR: the same files, hard-linked
// (untimed) into a staging dir that the import empties into the store. Like
// the baseline's hash pass, an import is short enough for a load spike to
// slow it noticeably, so it runs twice (with a hash pass after each) and
// the faster run counts.
func importMoved(ctx context.Context, env *Env, paths []string, staging string, n int, limit time.Duration, hb *hashBaseline) (importRun, error) {
	var moved importRun
	for range 2 {
		if err := clearBenchPhotos(ctx, env, paths); err != nil {
			return moved, err
		}
		svc, err := benchService(env, "bench-ingest-local")
		if err != nil {
			return moved, err
		}
		if err := stageLinks(staging, paths); err != nil {
			return moved, err
		}
		run, err := importBench(ctx, svc, staging, ingest.ImportOptions{Move: true}, n, limit)
		if err != nil {
			return moved, err
		}
		if moved.Elapsed == 0 || run.Elapsed < moved.Elapsed {
			moved = run
		}
		if err := hb.pass(ctx); err != nil {
			return moved, err
		}
	}
	return moved, nil
}

// ingestLocalResults compares the imports with the baselines.
func ingestLocalResults(copied, moved importRun, hb *hashBaseline, d durableRun) []Result {
	mb := func(b int64, el time.Duration) float64 { return float64(b) / 1e6 / el.Seconds() }
	ps := func(k int, el time.Duration) float64 { return float64(k) / el.Seconds() }
	runs := func(mode string) string {
		if mode == "" {
			return ""
		}
		return " (geoseek: faster of 2 runs)"
	}
	note := func(mode string, s importRun) string {
		per := func(d time.Duration, k int) float64 { return d.Seconds() * 1000 / float64(max(k, 1)) }
		return fmt.Sprintf("geoseek ingest%s: n=%d of %.1f MB avg, %d files at once; baseline: read+SHA-256 of the same files, %d workers, fastest of 4 passes%s; "+
			"CPU per photo: geoseek %.2f ms in Go + %.2f ms in PostgreSQL, baseline %.2f ms",
			mode, s.Created, float64(s.Bytes)/1e6/float64(max(s.Created, 1)), ingest.DefaultConcurrency(), hb.workers, runs(mode),
			per(s.cpu.self, s.Created), per(s.cpu.pg, s.Created), per(hb.cpu, hb.n))
	}
	durable := fmt.Sprintf("n=%d; baseline: read+SHA-256+write+fsync+rename+dir fsync, no DB (the floor of a durable copy), %d workers", d.n, d.conc)
	return []Result{
		{Scenario: "ingest/local MB/s (copy)", Geoseek: mb(copied.Bytes, copied.Elapsed), Baseline: mb(hb.b, hb.el), Unit: "MB/s", Note: note("", copied)},
		{Scenario: "ingest/local photos/s (copy)", Geoseek: ps(copied.Created, copied.Elapsed), Baseline: ps(hb.n, hb.el), Unit: "photos/s", Note: note("", copied)},
		{Scenario: "ingest/local MB/s (copy) vs durable copy", Geoseek: mb(copied.Bytes, copied.Elapsed), Baseline: mb(d.b, d.el), Unit: "MB/s", Note: durable},
		{Scenario: "ingest/local MB/s (--move)", Geoseek: mb(moved.Bytes, moved.Elapsed), Baseline: mb(hb.b, hb.el), Unit: "MB/s", Note: note(" --move", moved)},
		{Scenario: "ingest/local photos/s (--move)", Geoseek: ps(moved.Created, moved.Elapsed), Baseline: ps(hb.n, hb.el), Unit: "photos/s", Note: note(" --move", moved)},
	}
}

// stageLinks makes dir anew with a hard link to each of paths.
func stageLinks(dir string, paths []string) error {
	_ = os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	for _, p := range paths {
		if err := os.Link(p, filepath.Join(dir, filepath.Base(p))); err != nil {
			return fmt.Errorf("stage: %w", err)
		}
	}
	return nil
}

// importBench runs ImportDirs on dir and checks that it created want photos.
// importRun is an import's summary with the CPU it took, of this process
// and of PostgreSQL.
type importRun struct {
	ingest.ImportSummary
	cpu cpuTimes
}

func importBench(ctx context.Context, svc *ingest.Service, dir string, opt ingest.ImportOptions, want int, limit time.Duration) (importRun, error) {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	cpu0 := readCPU()
	sum, err := svc.ImportDirs(ctx, []string{dir}, opt)
	run := importRun{ImportSummary: sum, cpu: readCPU().sub(cpu0)}
	if err != nil {
		return run, err
	}
	if sum.Created != want || sum.Failed != 0 {
		return run, fmt.Errorf("import of %s: %s %v", dir, sum, sum.Errors)
	}
	return run, nil
}

// hashCopySync is the store's durability protocol without the database:
// read src while hashing it into a temp file, fsync it, rename it to dst and
// fsync dst's directory (without that the new name can be lost in a crash).
func hashCopySync(src, dst string) (int64, error) {
	in, err := os.Open(src)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	tmp := dst + ".part"
	out, err := os.Create(tmp)
	if err != nil {
		return 0, err
	}
	defer out.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(out, h), in)
	if err != nil {
		return 0, err
	}
	if err := out.Sync(); err != nil {
		return 0, err
	}
	if err := os.Rename(tmp, dst); err != nil {
		return 0, err
	}
	d, err := os.Open(filepath.Dir(dst))
	if err != nil {
		return 0, err
	}
	defer d.Close()
	return n, d.Sync()
}

func runIngestThumbs(ctx context.Context, env *Env) ([]Result, error) {
	n, limit := 40, 3*time.Minute
	if env.Quick {
		n, limit = 4, time.Minute
	}
	paths, err := benchPhotos(env, n)
	if err != nil {
		return nil, err
	}
	if err := clearBenchPhotos(ctx, env, paths); err != nil {
		return nil, err
	}
	svc, err := benchService(env, "bench-ingest-thumbs")
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, p := range paths {
		ph, err := ingestFile(ctx, svc, p)
		if err != nil {
			return nil, err
		}
		ids = append(ids, strconv.FormatInt(ph.ID, 10))
	}
	// One goroutine each: photos/s per core.
	bn, _, bel, err := parallel(ctx, 1, paths, limit, func(_ context.Context, p string) (int64, error) {
		f, err := os.Open(p)
		if err != nil {
			return 0, err
		}
		defer f.Close()
		_, err = jpeg.Decode(bufio.NewReader(f))
		return 0, err
	})
	if err != nil {
		return nil, err
	}
	gn, _, gel, err := parallel(ctx, 1, ids, limit, func(ctx context.Context, id string) (int64, error) {
		i, _ := strconv.ParseInt(id, 10, 64)
		return 0, svc.MakeThumbnails(ctx, i)
	})
	if err != nil {
		return nil, err
	}
	return []Result{{Scenario: "ingest/thumbnails 12MP per core", Geoseek: float64(gn) / gel.Seconds(),
		Baseline: float64(bn) / bel.Seconds(), Unit: "photos/s",
		Note: fmt.Sprintf("n=%d; 1024+256 px JPEG thumbnails + dHash, pure Go (x/image/draw); baseline: image/jpeg.Decode only; libvips not measured", gn)}}, nil
}

// runIngestRSS ingests two large files (a small JPEG followed by filler up
// to the size, which a JPEG reader ignores) and reports the peak resident
// set above the level before, from /proc/self/status after resetting the
// peak (clear_refs 5).
func runIngestRSS(ctx context.Context, env *Env) ([]Result, error) {
	size := int64(200 << 20)
	if env.Quick {
		size = 20 << 20
	}
	svc, err := benchService(env, "bench-ingest-rss")
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(env.DataDir, "bench-ingest-rss-src")
	_ = os.MkdirAll(dir, 0o750)
	defer os.RemoveAll(dir)
	var small bytes.Buffer
	img := image.NewGray(image.Rect(0, 0, 64, 64))
	img.Set(1, 1, color.White)
	_ = jpeg.Encode(&small, img, nil)
	var paths []string
	for i := 0; i < 2; i++ {
		p := filepath.Join(dir, fmt.Sprintf("big-%d.jpg", i))
		if err := writeBig(p, small.Bytes(), size, fmt.Sprintf("%d-%d", time.Now().UnixNano(), i)); err != nil {
			return nil, err
		}
		paths = append(paths, p)
	}
	// The time zone finder (~33 MB, built once per process in the
	// background) belongs to idle, not to the uploads.
	if err := ingest.LoadTimeZones(); err != nil {
		return nil, err
	}
	runtime.GC()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		return nil, fmt.Errorf("reset peak RSS: %w", err)
	}
	idle, err := procStatusKB("VmRSS")
	if err != nil {
		return nil, err
	}
	for _, p := range paths {
		ph, err := ingestFile(ctx, svc, p)
		if err != nil {
			return nil, err
		}
		_, _ = env.Pool.Exec(ctx, `DELETE FROM documents WHERE id = $1`, ph.ID)
	}
	peak, err := procStatusKB("VmHWM")
	if err != nil {
		return nil, err
	}
	return []Result{{Scenario: "ingest/peak RSS above idle", Geoseek: float64(max(peak-idle, 1)) / 1024,
		Baseline: float64(size) / (1 << 20), Unit: "MiB", LowerIsBetter: true,
		Note: fmt.Sprintf("2 files of %d MiB; RSS idle %d MiB, peak %d MiB; baseline: the file size (holding one file in memory); target < 100 MiB", size>>20, idle>>10, peak>>10)}}, nil
}

func writeBig(path string, jpg []byte, size int64, tag string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	_, _ = w.Write(jpg)
	_, _ = w.WriteString(tag)
	chunk := make([]byte, 1<<20)
	for i := range chunk {
		chunk[i] = byte(i * 7)
	}
	for written := int64(len(jpg) + len(tag)); written < size; written += int64(len(chunk)) {
		if _, err := w.Write(chunk[:min(int64(len(chunk)), size-written)]); err != nil {
			return err
		}
	}
	return w.Flush()
}

func procStatusKB(field string) (int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, field+":") {
			f := strings.Fields(line)
			if len(f) >= 2 {
				return strconv.ParseInt(f[1], 10, 64)
			}
		}
	}
	return 0, errors.New("no " + field + " in /proc/self/status")
}

// ingestFile uploads the file at path through svc, as an HTTP upload would.
func ingestFile(ctx context.Context, svc *ingest.Service, path string) (*ingest.Photo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ph, _, err := svc.Ingest(ctx, filepath.Base(path), f)
	return ph, err
}
