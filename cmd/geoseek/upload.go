package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/geoseek/geoseek/cmd/geoseek/progress"
	"github.com/geoseek/geoseek/cmd/geoseek/upload"
)

// Exit codes of upload beyond 0 (all created or already stored), 1 (other
// errors) and 2 (usage).
const (
	exitSomeFailed  = 3   // some files were not stored: see the report
	exitUnreachable = 4   // the server could not be reached, or refused the key
	exitInterrupted = 130 // stopped by Ctrl-C or SIGTERM (128 + SIGINT, as shells report it)
)

// filesFailedError is upload's error when the run finished but not every
// file was stored.
type filesFailedError struct{ failed, skipped, of int }

func (e filesFailedError) Error() string {
	msg := fmt.Sprintf("upload: %d of %d files were not stored (see the report above): ", e.failed+e.skipped, e.of)
	if e.skipped > 0 {
		msg += fmt.Sprintf("%d skipped (not photos the server stores), ", e.skipped)
	}
	if e.failed == 0 {
		return strings.TrimSuffix(msg, ", ")
	}
	// A refused file (415, 413) fails again; one cut off or answered 5xx
	// may not: the report's reason tells them apart.
	return msg + fmt.Sprintf("%d failed; running the same command again retries them and sends nothing already stored", e.failed)
}

// UploadConfig is the upload client's settings.
type UploadConfig struct {
	Server, Key                  string
	Concurrency, HashConcurrency int
	ResumableAbove, ChunkSize    int64
	BatchFiles                   int
	BatchBytes                   int64
	Include, Exclude             []string
	Hidden, DryRun, JSON, Quiet  bool
	Timeout                      time.Duration
	Retries                      int
	StateDir                     string
	errs                         []error
}

// bindClient binds the upload client's flags with the helpers of
// bindConfig and returns what converts them after parsing.
func bindClient(u *UploadConfig,
	str func(p *string, name, env, def, help string),
	integer func(p *int, name, env string, def int, help string),
	boolean func(p *bool, name, env string, help string),
	secret func(p *string, name, env, help string),
	dur func(p *time.Duration, name, env string, def time.Duration, help string),
) func() error {
	str(&u.Server, "server", "GEOSEEK_SERVER", "http://127.0.0.1:8080", "URL of the geoseek server")
	secret(&u.Key, "key", "GEOSEEK_API_KEY", "API key with the write scope (sent as Authorization: Bearer)")
	integer(&u.Concurrency, "concurrency", "GEOSEEK_UPLOAD_CONCURRENCY", 4, "requests in flight at once (each of up to --batch-files files, or one resumable upload)")
	integer(&u.BatchFiles, "batch-files", "GEOSEEK_UPLOAD_BATCH_FILES", 8, "most files sent in one request (files up to --resumable-above); lowered to the server's --max-upload-files if that is smaller")
	integer(&u.HashConcurrency, "hash-concurrency", "GEOSEEK_UPLOAD_HASH_CONCURRENCY", 0, "files read and hashed at once (0: one per CPU)")
	var above, chunk, batchBytes, include, exclude string
	str(&batchBytes, "batch-bytes", "GEOSEEK_UPLOAD_BATCH_BYTES", "64MB", "most bytes of files in one request; a larger file goes alone")
	str(&above, "resumable-above", "GEOSEEK_UPLOAD_RESUMABLE_ABOVE", "16MB", "files larger than this go as resumable uploads (tus), smaller ones as multipart")
	str(&chunk, "chunk-size", "GEOSEEK_UPLOAD_CHUNK_SIZE", "8MB", "bytes per request of a resumable upload: at most this much is sent again after a cut")
	str(&include, "include", "GEOSEEK_UPLOAD_INCLUDE", "", "comma-separated globs: only files whose name or relative path matches one are uploaded")
	str(&exclude, "exclude", "GEOSEEK_UPLOAD_EXCLUDE", "", "comma-separated globs of files and directories to leave out, e.g. '*.xmp,@eaDir'")
	boolean(&u.Hidden, "hidden", "GEOSEEK_UPLOAD_HIDDEN", "also upload files and enter directories whose name starts with a dot")
	boolean(&u.DryRun, "dry-run", "GEOSEEK_UPLOAD_DRY_RUN", "hash and ask the server, but send no file: print what would be sent")
	boolean(&u.JSON, "json", "GEOSEEK_UPLOAD_JSON", "print one JSON object per file on stdout, then the summary as one")
	boolean(&u.Quiet, "quiet", "GEOSEEK_UPLOAD_QUIET", "no progress on stderr")
	dur(&u.Timeout, "timeout", "GEOSEEK_UPLOAD_TIMEOUT", 2*time.Minute, "longest wait on the server: to connect, for an answer, or while a transfer makes no progress")
	integer(&u.Retries, "retries", "GEOSEEK_UPLOAD_RETRIES", 8, "tries of each request on transient failures (connection errors, 429, 5xx), with backoff")
	str(&u.StateDir, "state-dir", "GEOSEEK_UPLOAD_STATE_DIR", upload.DefaultStateDir(), "where the URLs of resumable uploads are kept, so a later run resumes them")
	return func() error {
		u.errs = nil
		var err error
		if u.ResumableAbove, err = parseSize(above); err != nil {
			u.errs = append(u.errs, fmt.Errorf("--resumable-above/GEOSEEK_UPLOAD_RESUMABLE_ABOVE: %w", err))
		}
		if u.ChunkSize, err = parseSize(chunk); err != nil || u.ChunkSize < 1 {
			u.errs = append(u.errs, fmt.Errorf("--chunk-size/GEOSEEK_UPLOAD_CHUNK_SIZE %q: want a positive size such as 8MB", chunk))
		}
		if u.BatchBytes, err = parseSize(batchBytes); err != nil || u.BatchBytes < 1 {
			u.errs = append(u.errs, fmt.Errorf("--batch-bytes/GEOSEEK_UPLOAD_BATCH_BYTES %q: want a positive size such as 64MB", batchBytes))
		}
		u.Include, u.Exclude = splitList(include), splitList(exclude)
		return nil
	}
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// parseSize reads a byte count: 1048576, 16MB, 16MiB, 1.5GB, 512k.
func parseSize(s string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	units := []struct {
		suffix string
		mult   float64
	}{{"KIB", 1 << 10}, {"MIB", 1 << 20}, {"GIB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"K", 1e3}, {"M", 1e6}, {"G", 1e9}, {"B", 1}}
	mult := 1.0
	for _, u := range units {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("%q: want a size such as 16MB, 64MiB or 1048576", s)
	}
	return int64(v * mult), nil
}

func (u *UploadConfig) validate() []error {
	errs := u.errs
	if p, err := url.Parse(u.Server); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
		errs = append(errs, fmt.Errorf("--server/GEOSEEK_SERVER %q: want a URL such as http://127.0.0.1:8080", u.Server))
	}
	if u.Concurrency < 1 || u.Concurrency > 256 {
		errs = append(errs, fmt.Errorf("--concurrency/GEOSEEK_UPLOAD_CONCURRENCY %d: want 1 to 256 (an unparsable value shows as -1)", u.Concurrency))
	}
	if u.BatchFiles < 1 || u.BatchFiles > 1000 {
		errs = append(errs, fmt.Errorf("--batch-files/GEOSEEK_UPLOAD_BATCH_FILES %d: want 1 to 1000 (and at most the server's --max-upload-files, 100 by default)", u.BatchFiles))
	}
	if u.HashConcurrency < 0 || u.HashConcurrency > 256 {
		errs = append(errs, fmt.Errorf("--hash-concurrency/GEOSEEK_UPLOAD_HASH_CONCURRENCY %d: want 0 to 256", u.HashConcurrency))
	}
	if u.Timeout <= 0 {
		errs = append(errs, errors.New("--timeout/GEOSEEK_UPLOAD_TIMEOUT: want a positive duration such as 2m"))
	}
	if u.Retries < 1 {
		errs = append(errs, fmt.Errorf("--retries/GEOSEEK_UPLOAD_RETRIES %d: want 1 or more tries", u.Retries))
	}
	if err := (upload.Filter{Include: u.Include, Exclude: u.Exclude}).Validate(); err != nil {
		errs = append(errs, fmt.Errorf("--include/--exclude: %w", err))
	}
	return errs
}

// upload sends the media files under the given paths to a geoseek server.
func (a *App) upload(ctx context.Context, args []string) error {
	c, paths, err := a.parse(spec{
		name: "upload",
		args: "PATH...",
		about: "Upload the photos under each path (files or folders, walked recursively) to a geoseek\n" +
			"server over HTTP. Files are hashed first and only those the server lacks are sent;\n" +
			"large ones resume where they stopped. Running the same command again finishes an\n" +
			"interrupted upload. Exit status: 0 every file created or already stored, 3 some\n" +
			"files not stored (skipped or failed), 4 the server unreachable or the key refused.",
		minArgs: 1, maxArgs: -1,
		groups: gClient,
	}, args)
	if err != nil {
		return err
	}
	u := c.Upload
	var mu sync.Mutex
	enc := json.NewEncoder(a.Stdout)
	opt := upload.Options{
		Server: u.Server, Key: u.Key,
		Filter:      upload.Filter{Include: u.Include, Exclude: u.Exclude, Hidden: u.Hidden},
		Concurrency: u.Concurrency, HashConcurrency: u.HashConcurrency,
		ResumableAbove: u.ResumableAbove, ChunkSize: u.ChunkSize,
		BatchFiles: u.BatchFiles, BatchBytes: u.BatchBytes,
		DryRun: u.DryRun, StateDir: u.StateDir, Timeout: u.Timeout,
		Retry: upload.Retry{Attempts: u.Retries, Base: 500 * time.Millisecond, Max: 30 * time.Second},
		OnResult: func(r upload.Result) {
			mu.Lock()
			defer mu.Unlock()
			switch {
			case u.JSON:
				_ = enc.Encode(r)
			case r.Outcome == upload.Failed || (r.Outcome == upload.Skipped && !u.DryRun):
				fmt.Fprintf(a.Stdout, "%s %s: %s\n", r.Outcome, r.Path, r.Reason)
			}
		},
		HTTPClient: a.HTTPClient,
	}
	var rep *progress.Reporter
	if !u.Quiet {
		rep = progress.New(a.Stderr, progress.Options{Label: "uploading", Terminal: isTerminal(a.Stderr), Every: a.ProgressEvery, Bytes: true})
		opt.Progress = rep
	}
	sum, runErr := upload.Run(ctx, paths, opt)
	if rep != nil {
		rep.Close()
	}
	printSummary(a.Stdout, u.JSON, sum)
	return uploadError(runErr, sum)
}

func printSummary(w io.Writer, asJSON bool, sum upload.Summary) {
	if asJSON {
		b, _ := json.Marshal(struct {
			Summary upload.Summary `json:"summary"`
		}{sum})
		fmt.Fprintln(w, string(b))
		return
	}
	fmt.Fprintln(w, sum)
}

// uploadError maps a run's end to the command's error and exit code.
func uploadError(runErr error, sum upload.Summary) error {
	switch {
	case errors.Is(runErr, upload.ErrServer):
		return exitError{runErr, exitUnreachable}
	case errors.Is(runErr, context.Canceled):
		return exitError{fmt.Errorf("upload: interrupted with %d of %d files not done; resumable uploads keep what the server holds: run the same command again to finish", sum.Failed, sum.Files), exitInterrupted}
	case runErr != nil:
		return runErr
	case !sum.OK():
		return exitError{filesFailedError{failed: sum.Failed, skipped: sum.Skipped - sum.WouldSend, of: sum.Files}, exitSomeFailed}
	}
	return nil
}

// exitError is an error with its own exit code.
type exitError struct {
	error
	code int
}

func (e exitError) Unwrap() error { return e.error }
