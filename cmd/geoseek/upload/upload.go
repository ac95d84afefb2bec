package upload

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Outcome is what became of one file.
type Outcome string

// The outcomes of a file. Every file found ends in exactly one.
const (
	Created   Outcome = "created"   // sent and stored as a new photo
	Duplicate Outcome = "duplicate" // the server holds these bytes already (no bytes sent)
	Skipped   Outcome = "skipped"   // not a media type the server stores, or a dry run
	Failed    Outcome = "failed"    // could not be read or stored; Reason says why
)

// Result is the outcome of one file, as --json prints it.
type Result struct {
	Path    string  `json:"path"`
	SHA256  string  `json:"sha256,omitempty"`
	Size    int64   `json:"size"`
	Outcome Outcome `json:"outcome"`
	PhotoID int64   `json:"photo_id,omitempty"`
	Reason  string  `json:"reason,omitempty"`
}

// Options configure Run.
type Options struct {
	Server string // base URL, e.g. http://127.0.0.1:8080
	Key    string // API key (Bearer); empty sends none
	Filter Filter
	// Concurrency is how many requests are in flight at once; HashConcurrency how
	// many are read and hashed at once (default: the number of CPUs).
	Concurrency, HashConcurrency int
	// ResumableAbove: files larger than this many bytes go through tus.
	ResumableAbove int64
	// BatchFiles and BatchBytes bound one multipart request of the files
	// up to ResumableAbove (default 8 files, 64 MB); a larger file goes
	// alone. Above the server's --max-upload-files, the files it did not
	// take are sent again and later requests carry at most its number.
	BatchFiles int
	BatchBytes int64
	// ChunkSize is the size of each tus PATCH.
	ChunkSize int64
	// CheckBatch is the most hashes asked about in one POST /photos/check.
	CheckBatch int
	// DryRun hashes and checks but sends no file.
	DryRun bool
	// StateDir keeps the URLs of resumable uploads begun ("" keeps none).
	StateDir string
	// Timeout bounds every wait on the server: connecting, an answer's
	// headers, and any silence while a body moves.
	Timeout time.Duration
	Retry   Retry
	// OnResult, if set, gets each file's result as soon as it is known
	// (from several goroutines, one call at a time).
	OnResult func(Result)
	// Progress, if set, is told of totals and progress.
	Progress Progress
	// HTTPClient replaces the default client (tests).
	HTTPClient *http.Client
}

// Progress receives a run's progress; a nil method set is not allowed, use
// NoProgress.
type Progress interface {
	// Total sets the files found and the bytes to send (grows as the
	// server's answers come in).
	Total(files int, bytes int64)
	// Bytes adds n bytes sent, or resumed from the server's offset.
	Bytes(n int64)
	// File marks one file done.
	File(failed bool)
}

// Summary says what a run did, as the final JSON object.
type Summary struct {
	Files          int     `json:"files"`
	Created        int     `json:"created"`
	Duplicate      int     `json:"duplicate"`
	Skipped        int     `json:"skipped"`
	Failed         int     `json:"failed"`
	Bytes          int64   `json:"bytes"`      // size of the files found
	BytesSent      int64   `json:"bytes_sent"` // bytes of files put on the wire, retries included
	DryRun         bool    `json:"dry_run,omitempty"`
	WouldSend      int     `json:"would_send,omitempty"`       // dry run: files the server lacks
	WouldSendBytes int64   `json:"would_send_bytes,omitempty"` // dry run: their bytes
	ElapsedSeconds float64 `json:"elapsed_seconds"`
	FilesPerSecond float64 `json:"files_per_second"`
	MBPerSecond    float64 `json:"mb_per_second"` // bytes sent, in 10^6 bytes a second
}

// OK reports whether every file was created or a duplicate (a dry run:
// would be, as far as the run can tell).
func (s Summary) OK() bool {
	return s.Failed == 0 && s.Skipped == s.WouldSend
}

// String is the summary in a line.
func (s Summary) String() string {
	if s.DryRun {
		return fmt.Sprintf("dry run: %d files, %d already stored, would send %d (%.1f MB), %d skipped, %d failed",
			s.Files, s.Duplicate, s.WouldSend, float64(s.WouldSendBytes)/1e6, s.Skipped-s.WouldSend, s.Failed)
	}
	return fmt.Sprintf("%d files: %d created, %d already stored, %d skipped, %d failed; %.1f MB sent in %.1f s (%.1f MB/s, %.1f files/s)",
		s.Files, s.Created, s.Duplicate, s.Skipped, s.Failed, float64(s.BytesSent)/1e6, s.ElapsedSeconds, s.MBPerSecond, s.FilesPerSecond)
}

// file is one file of a run.
type file struct {
	path string
	size int64
	mime string
	sha  string
	// stat is the file as it was hashed: a change is seen before it is sent.
	stat cacheEntry
	done atomic.Bool
}

// uploader is one run.
type uploader struct {
	c      *client
	opt    Options
	state  stateStore
	chunk  int64
	report func(f *file, r Result)
	sent   func(n int64)
	// resumed counts bytes the server already held when an upload resumed.
	resumed func(n int64)
	// abort stops the run with the cause (a fatal server answer).
	abort  func(error)
	dupes  *dupes
	hashes *hashCache
	// serverMaxFiles is the server's most files per request, once it
	// said (0: not known).
	serverMaxFiles atomic.Int64
}

func (o *Options) defaults() {
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
	if o.HashConcurrency <= 0 {
		o.HashConcurrency = runtime.GOMAXPROCS(0)
	}
	if o.BatchFiles <= 0 {
		o.BatchFiles = 8
	}
	if o.BatchBytes <= 0 {
		o.BatchBytes = 64e6
	}
	if o.ChunkSize <= 0 {
		o.ChunkSize = 8 << 20
	}
	if o.CheckBatch <= 0 || o.CheckBatch > 5000 {
		o.CheckBatch = 1000
	}
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Minute
	}
	if o.Retry.Attempts <= 0 {
		o.Retry = Retry{Attempts: 8, Base: 500 * time.Millisecond, Max: 30 * time.Second}
	}
	if o.Progress == nil {
		o.Progress = NoProgress{}
	}
}

// NoProgress reports nothing.
type NoProgress struct{}

func (NoProgress) Total(int, int64) {}
func (NoProgress) Bytes(int64)      {}
func (NoProgress) File(bool)        {}

// Run uploads the media files under paths (files or directories) and
// returns what became of them. Every file found gets one Result through
// opt.OnResult. The error is non-nil when the run stopped early: ctx ended,
// or the server could not be reached or refused the key (wrapping
// ErrServer); the summary then counts the files not done as failed.
func Run(ctx context.Context, paths []string, opt Options) (Summary, error) {
	opt.defaults()
	start := time.Now()
	base, err := url.Parse(opt.Server)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return Summary{}, fmt.Errorf("upload: server %q: want an http:// or https:// URL", opt.Server)
	}
	if base.Path == "" || base.Path[len(base.Path)-1] != '/' {
		base.Path += "/"
	}
	if err := opt.Filter.Validate(); err != nil {
		return Summary{}, err
	}
	entries, err := walk(paths, opt.Filter)
	if err != nil {
		return Summary{}, err
	}
	hc := opt.HTTPClient
	if hc == nil {
		hc = newHTTPClient(opt.Timeout, opt.Concurrency)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	t := &tally{sum: Summary{Files: len(entries), DryRun: opt.DryRun}, progress: opt.Progress, onResult: opt.OnResult}
	u := &uploader{
		c:     &client{base: base, key: opt.Key, http: hc, retry: opt.Retry, timeout: opt.Timeout, sleep: sleepCtx},
		opt:   opt,
		state: stateStore{dir: opt.StateDir},
		chunk: opt.ChunkSize,
		report: func(f *file, r Result) {
			if f.done.CompareAndSwap(false, true) {
				t.record(r)
			}
		},
		sent:    func(n int64) { t.sent(n) },
		resumed: func(n int64) { opt.Progress.Bytes(n) },
		abort:   func(err error) { cancel(fmt.Errorf("%w: %w", ErrServer, err)) },
		dupes:   &dupes{m: map[string]*dupeGroup{}},
		hashes:  openHashCache(opt.StateDir),
	}
	defer u.hashes.close()
	files := make([]*file, len(entries))
	for i, e := range entries {
		files[i] = &file{path: e.path, size: e.size}
		t.sum.Bytes += e.size
	}
	opt.Progress.Total(len(files), 0)
	u.run(ctx, entries, files, t)
	cause := context.Cause(ctx)
	if ctx.Err() != nil {
		for _, f := range files {
			u.report(f, Result{Path: f.path, SHA256: f.sha, Size: f.size, Outcome: Failed, Reason: "not done: " + cause.Error()})
		}
	}
	sum := t.summary(time.Since(start))
	if ctx.Err() != nil {
		return sum, fmt.Errorf("upload: %w", cause)
	}
	return sum, nil
}

// run hashes, checks and sends, each stage feeding the next, so files are
// sent while others are still being hashed.
func (u *uploader) run(ctx context.Context, entries []entry, files []*file, t *tally) {
	hashed := make(chan *file, 4*u.opt.CheckBatch)
	missing := make(chan *file, 4*u.opt.Concurrency)
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(hashed)
		u.hashAll(ctx, entries, files, hashed)
	})
	wg.Go(func() {
		defer close(missing)
		u.checkAll(ctx, hashed, missing, t)
	})
	batches := make(chan []*file)
	wg.Go(func() {
		defer close(batches)
		u.pack(ctx, missing, batches)
	})
	for range u.opt.Concurrency {
		wg.Go(func() {
			for b := range batches {
				switch {
				case ctx.Err() != nil:
					// drained; reported as not done
				case len(b) == 1 && b[0].size > u.opt.ResumableAbove:
					u.send(ctx, b[0])
				default:
					u.sendBatch(ctx, b)
				}
			}
		})
	}
	wg.Wait()
}

// hashAll reads each file: unreadable ones fail, those of other types are
// skipped, the others are hashed and passed on.
func (u *uploader) hashAll(ctx context.Context, entries []entry, files []*file, out chan<- *file) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range u.opt.HashConcurrency {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= len(files) {
					return
				}
				f := files[i]
				if entries[i].err != nil {
					u.report(f, Result{Path: f.path, Outcome: Failed, Reason: entries[i].err.Error()})
					continue
				}
				if err := u.hashes.hashFile(f); err != nil {
					oc := Failed
					if errors.Is(err, errNotMedia) {
						oc = Skipped
					}
					u.report(f, Result{Path: f.path, Size: f.size, Outcome: oc, Reason: err.Error()})
					continue
				}
				select {
				case out <- f:
				case <-ctx.Done():
					return
				}
			}
		})
	}
	wg.Wait()
}

// hashFile sniffs f's type and hashes its content, or takes both from the
// cache when the file is unchanged since they were remembered.
func (c *hashCache) hashFile(f *file) error {
	fh, err := os.Open(f.path)
	if err != nil {
		return err
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return err
	}
	f.stat, _ = statKey(f.path, st)
	if sha, mime, ok := c.lookup(f.path, st); ok {
		f.sha, f.mime, f.size = sha, mime, st.Size()
		return nil
	}
	if err := hashOpen(f, fh); err != nil {
		return err
	}
	if changed(fh, f.stat) {
		return errChanged
	}
	c.store(f.path, st, f.sha, f.mime)
	return nil
}

// hashOpen sniffs and hashes the open file fh.
func hashOpen(f *file, fh *os.File) error {
	head, err := readHead(fh)
	if err != nil {
		return fmt.Errorf("read: %w", err)
	}
	if len(head) == 0 {
		return fmt.Errorf("%w: empty file", errNotMedia)
	}
	if f.mime, err = sniff(head); err != nil {
		return err
	}
	h := sha256.New()
	h.Write(head)
	// 128 KiB reads: a third of the read(2) calls of io.Copy's 32 KiB; the
	// struct hides *os.File's WriteTo, which would bring its own buffer.
	n, err := io.CopyBuffer(h, struct{ io.Reader }{fh}, make([]byte, 128<<10))
	if err != nil {
		return fmt.Errorf("read: %w", err)
	}
	if size := n + int64(len(head)); size != f.size {
		f.size = size // changed since the walk; the size read is the one sent
	}
	f.sha = hex.EncodeToString(h.Sum(nil))
	return nil
}
