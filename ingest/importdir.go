package ingest

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/geoseek/geoseek/internal/problem"
)

// ImportOptions tune ImportDirs.
type ImportOptions struct {
	// Concurrency is how many files are read and hashed at once (default
	// DefaultConcurrency). Files waiting for their batch to commit do not
	// count: up to maxPending of them wait while others are read.
	Concurrency int
	// Move moves each stored file into the originals store (a rename: no
	// bytes copied or written) when it is on the store's file system,
	// instead of copying it. Files that are not stored stay in place.
	Move bool
	// Progress, when set, receives a progress bar (files done, rate, time
	// left) rewritten in place a few times a second, and a final newline;
	// or plain lines, when ProgressLines is set.
	Progress io.Writer
	// ProgressLines, if positive, makes Progress a line when the import
	// starts and one every ProgressLines after, for logs and pipes: a bar
	// redrawn with carriage returns is garbage there.
	ProgressLines time.Duration
	// Reporter, if set, is told of the files found and of each file done,
	// and Progress is not drawn: the CLI shows the same display as upload.
	Reporter ImportReporter
	// OnFile, if set, gets each file's outcome as soon as it is known (one
	// call at a time).
	OnFile func(ImportFile)
}

// ImportReporter follows an import's progress.
type ImportReporter interface {
	Total(files int, bytes int64)
	File(failed bool)
}

// ImportFile is the outcome of one file of an import, in the shape of the
// upload client's report: outcome created, duplicate, skipped or failed.
type ImportFile struct {
	Path    string `json:"path"`
	SHA256  string `json:"sha256,omitempty"`
	Size    int64  `json:"size"`
	Outcome string `json:"outcome"`
	PhotoID int64  `json:"photo_id,omitempty"`
	Reason  string `json:"reason,omitempty"`
}

// ImportError is a file that could not be ingested.
type ImportError struct {
	Path string `json:"path"`
	Err  string `json:"error"`
}

// ImportSummary says what ImportDirs did.
type ImportSummary struct {
	Files    int           `json:"files"`
	Created  int           `json:"created"`
	Existing int           `json:"existing"`
	Skipped  int           `json:"skipped"` // not a photo of an accepted type
	Failed   int           `json:"failed"`
	Bytes    int64         `json:"bytes"`
	Elapsed  time.Duration `json:"-"` // in JSON: elapsed_seconds
	Errors   []ImportError `json:"errors,omitempty"`
}

// MarshalJSON writes Elapsed as elapsed_seconds, a number of seconds: a
// time.Duration would be a bare count of nanoseconds, which readers of JSON
// take for seconds.
func (s ImportSummary) MarshalJSON() ([]byte, error) {
	type fields ImportSummary // without this method
	return json.Marshal(struct {
		fields
		ElapsedSeconds float64 `json:"elapsed_seconds"`
	}{fields(s), s.Elapsed.Seconds()})
}

// String is the one-paragraph summary printed at the end of an import.
func (s ImportSummary) String() string {
	rate := 0.0
	if s.Elapsed > 0 {
		rate = float64(s.Bytes) / 1e6 / s.Elapsed.Seconds()
	}
	return fmt.Sprintf("%d files: %d new, %d already stored, %d skipped (not a JPEG/TIFF/HEIC/PNG/WebP photo), %d failed; %.1f MB in %s (%.1f MB/s)",
		s.Files, s.Created, s.Existing, s.Skipped, s.Failed, float64(s.Bytes)/1e6, s.Elapsed.Round(time.Millisecond), rate)
}

// maxImportErrors bounds the errors kept in a summary.
const maxImportErrors = 100

// ImportDirs ingests every regular file under the given directories
// (recursively; symbolic links are not followed, hidden entries are
// skipped) through the same pipeline as uploads. Files of other types are
// counted as skipped; other failures are counted and the import goes on. It
// stops early only when ctx ends (the summary so far is returned with the
// context's error).
func (s *Service) ImportDirs(ctx context.Context, dirs []string, opt ImportOptions) (ImportSummary, error) {
	if opt.Concurrency <= 0 {
		opt.Concurrency = DefaultConcurrency()
	}
	start := time.Now()
	paths, err := listFiles(dirs)
	if err != nil {
		return ImportSummary{}, err
	}
	t := &importTally{sum: ImportSummary{Files: len(paths)}, reporter: opt.Reporter, onFile: opt.OnFile}
	if opt.Reporter != nil {
		opt.Reporter.Total(len(paths), 0)
	} else if opt.ProgressLines > 0 && opt.Progress != nil {
		defer t.printLines(opt.Progress, opt.ProgressLines, start)()
	} else {
		t.bar = newProgress(opt.Progress, len(paths))
	}
	s.importFiles(ctx, paths, opt, t)
	if t.bar != nil && !t.bar.IsFinished() {
		// Stopped early (ctx ended): leave the bar where it is.
		_ = t.bar.Exit()
		fmt.Fprintln(opt.Progress)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sum.Elapsed = time.Since(start)
	return t.sum, ctx.Err()
}

// listFiles lists the regular files under dirs, recursively, without
// following symbolic links or entering hidden entries.
func listFiles(dirs []string) ([]string, error) {
	var paths []string
	for _, dir := range dirs {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if path != dir && strings.HasPrefix(d.Name(), ".") {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if d.Type().IsRegular() {
				paths = append(paths, path)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("ingest: import %s: %w", dir, err)
		}
	}
	return paths, nil
}

// importTally counts an import's outcomes as they come, from many
// goroutines, and moves its progress bar.
type importTally struct {
	mu       sync.Mutex
	sum      ImportSummary
	bar      *progressbar.ProgressBar
	reporter ImportReporter
	onFile   func(ImportFile)
}

// record counts the outcome of the file at path (sum: its SHA-256, nil
// when it was not read; id: its photo's, when err is nil).
func (t *importTally) record(path string, size int64, sum []byte, id int64, created bool, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	f := ImportFile{Path: path, Size: size}
	if sum != nil {
		f.SHA256 = hex.EncodeToString(sum)
	}
	if err == nil {
		f.PhotoID = id
	}
	t.count(&f, created, err)
	t.sum.Bytes += size
	if t.onFile != nil {
		t.onFile(f)
	}
	if t.reporter != nil {
		t.reporter.File(f.Outcome == "failed")
	}
	if t.bar != nil {
		if t.sum.Failed > 0 {
			t.bar.Describe(fmt.Sprintf("importing (%d failed)", t.sum.Failed))
		}
		_ = t.bar.Add(1)
	}
}

// count counts f's outcome and names it.
func (t *importTally) count(f *ImportFile, created bool, err error) {
	sum := &t.sum
	switch {
	case errors.Is(err, problem.ErrUnsupportedMedia):
		sum.Skipped++
		f.Outcome, f.Reason = "skipped", err.Error()
	case err != nil:
		sum.Failed++
		f.Outcome, f.Reason = "failed", err.Error()
		if len(sum.Errors) < maxImportErrors {
			sum.Errors = append(sum.Errors, ImportError{Path: f.Path, Err: err.Error()})
		}
	case created:
		sum.Created++
		f.Outcome = "created"
	default:
		sum.Existing++
		f.Outcome = "duplicate"
	}
}

// printLines prints a line on w now and one every interval, until the
// returned stop is called.
func (t *importTally) printLines(w io.Writer, every time.Duration, start time.Time) (stop func()) {
	total := t.sum.Files
	fmt.Fprintf(w, "importing %d files\n", total)
	quit := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-quit:
				return
			case <-tick.C:
				t.mu.Lock()
				n := t.sum.Created + t.sum.Existing + t.sum.Skipped + t.sum.Failed
				failed := t.sum.Failed
				t.mu.Unlock()
				el := time.Since(start)
				fmt.Fprintf(w, "importing: %d of %d files (%d failed), %.1f files/s, %.0f s\n",
					n, total, failed, float64(n)/el.Seconds(), el.Seconds())
			}
		}
	}()
	return func() { close(quit); <-done }
}

// importFiles ingests paths, recording each outcome in t, and returns when
// all are done or ctx ends.
func (s *Service) importFiles(ctx context.Context, paths []string, opt ImportOptions, t *importTally) {
	var (
		next atomic.Int64
		wg   sync.WaitGroup
	)
	// Readers hash files and read their metadata, then hand each to a
	// goroutine of its own that flushes it to disk and waits for its batch
	// to commit: a reader waits on neither the disk nor the database, so
	// the cores keep hashing while files sync and batches commit, and the
	// committers find full batches waiting. pending bounds the photos
	// handed over and not yet committed (each holds a descriptor).
	pending := make(chan struct{}, maxPending)
	for w := 0; w < opt.Concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= len(paths) {
					return
				}
				it, err := s.prepareFile(paths[i], opt.Move)
				if err != nil {
					t.record(paths[i], 0, nil, 0, false, err)
					continue
				}
				select {
				case pending <- struct{}{}:
				case <-ctx.Done():
					it.up.Abort()
					return
				}
				wg.Add(1)
				go func(path string) {
					defer wg.Done()
					defer func() { <-pending }()
					size := it.up.Size()
					r := s.commit(ctx, it)
					if r.err != nil {
						if ctx.Err() != nil {
							return
						}
						size = 0
					}
					t.record(path, size, it.up.Sum(), r.id, r.created, r.err)
				}(paths[i])
			}
		}()
	}
	wg.Wait()
}

// DefaultConcurrency is ImportDirs' default: two files read per core.
// Hashing is CPU-bound when the files are in the page cache; a second file
// per core hides a cold disk's reads. Readers wait neither for fsyncs nor
// for the database (see maxPending). Two per core was the fastest in the
// ingest bench (docs/performance.md, "Ingest: files read per core").
func DefaultConcurrency() int { return 2 * runtime.GOMAXPROCS(0) }

// maxPending bounds the photos an import has read and handed to the
// committers but not yet seen committed: enough for every committer's next
// batch to be full while the current ones commit.
const maxPending = 4 * committers * maxBatch

// prepareFile reads and hashes the file at path (see stageFile) and
// prepares it for a committer.
func (s *Service) prepareFile(path string, move bool) (*commitItem, error) {
	up, err := s.stageFile(path, move)
	if err != nil {
		return nil, err
	}
	it, err := s.prepare(filepath.Base(path), up)
	if err != nil {
		up.Abort()
		return nil, err
	}
	it.countOnly = true
	return it, nil
}

// newProgress returns the import's progress bar on w (nil for none): files
// done of total, their rate and the time left, rewritten in place a few
// times a second, ending with a newline.
func newProgress(w io.Writer, total int) *progressbar.ProgressBar {
	if w == nil {
		return nil
	}
	return progressbar.NewOptions(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription("importing"),
		progressbar.OptionSetWidth(30),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("files"),
		progressbar.OptionThrottle(250*time.Millisecond),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }),
	)
}
