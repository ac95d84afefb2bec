package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sync"

	"golang.org/x/term"

	"github.com/geoseek/geoseek/cmd/geoseek/app"
	"github.com/geoseek/geoseek/cmd/geoseek/progress"
	"github.com/geoseek/geoseek/ingest"
	"github.com/geoseek/geoseek/internal/jobs"
)

// ingestDirs imports photos from local directories through the same pipeline
// as HTTP uploads (durable originals, EXIF, one transaction per photo,
// thumbnail and embedding jobs queued for the running server to work).
func (a *App) ingestDirs(ctx context.Context, args []string) error {
	var concurrency int
	var asJSON, move, quiet bool
	s, err := a.open(ctx, spec{
		name: "ingest",
		args: "DIR...",
		about: "Import the photos under each directory through the same pipeline as uploads; the\n" +
			"running server makes their thumbnails and embeddings. Progress goes to stderr: a bar\n" +
			"on a terminal, else a line every few seconds.",
		minArgs: 1, maxArgs: -1,
		groups: gDatabase | gPool | gUpload,
		flags: func(fs *flag.FlagSet) {
			fs.IntVar(&concurrency, "concurrency", ingest.DefaultConcurrency(), "files read and hashed at once (files waiting for their batch to commit do not count)")
			fs.BoolVar(&move, "move", false, "move files into the store instead of copying them (same file system only; files not stored stay in place)")
			fs.BoolVar(&asJSON, "json", false, "print one JSON object per file on stdout, then {\"summary\": ...} (durations in seconds), as upload does")
			fs.BoolVar(&quiet, "quiet", false, "print no progress, only the summary")
		},
	}, args)
	if err != nil {
		return err
	}
	defer s.pool.Close()
	inserter, err := jobs.NewInserter(s.pool, s.logger)
	if err != nil {
		return err
	}
	photos, err := app.NewPhotos(app.Options{DataDir: s.cfg.DataDir, Ingest: s.cfg.ingestConfig()}, s.pool, inserter, s.logger)
	if err != nil {
		return err
	}
	opt := ingest.ImportOptions{Concurrency: concurrency, Move: move}
	var mu sync.Mutex
	enc := json.NewEncoder(a.Stdout)
	if asJSON {
		opt.OnFile = func(f ingest.ImportFile) {
			mu.Lock()
			defer mu.Unlock()
			_ = enc.Encode(f)
		}
	}
	var rep *progress.Reporter
	if !quiet {
		rep = progress.New(a.Stderr, progress.Options{Label: "importing", Terminal: isTerminal(a.Stderr), Every: a.ProgressEvery})
		opt.Reporter = rep
	}
	sum, err := photos.ImportDirs(ctx, s.args, opt)
	if rep != nil {
		rep.Close()
	}
	if asJSON {
		b, _ := json.Marshal(struct {
			Summary ingest.ImportSummary `json:"summary"`
		}{sum})
		fmt.Fprintln(a.Stdout, string(b))
	} else {
		fmt.Fprintln(a.Stdout, sum)
		for _, e := range sum.Errors {
			fmt.Fprintf(a.Stdout, "  %s: %s\n", e.Path, e.Err)
		}
	}
	if err != nil {
		return err
	}
	if sum.Failed > 0 {
		return fmt.Errorf("ingest: %d of %d files failed", sum.Failed, sum.Files)
	}
	return nil
}

// isTerminal reports whether w is a terminal, where a progress bar redrawn in
// place can be read.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func (c *Config) ingestConfig() ingest.Config {
	return ingest.Config{DataDir: c.DataDir, MaxFileBytes: c.MaxUploadBytes, MaxFiles: c.MaxUploadFiles,
		UploadExpiry: c.UploadExpiry, UploadSweepInterval: c.UploadSweepInterval, UploadIdleTimeout: c.UploadIdleTimeout,
		SweepInterval: c.OrphanSweepInterval, OrphanAge: c.OrphanAge, DecodeBudget: int64(c.DecodeBudgetMB) << 20}
}
