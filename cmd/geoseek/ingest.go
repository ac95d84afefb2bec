package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"

	"github.com/geoseek/geoseek/ingest"
	"github.com/geoseek/geoseek/internal/app"
	"github.com/geoseek/geoseek/internal/jobs"
)

// ingestDirs imports photos from local directories through the same pipeline
// as HTTP uploads (durable originals, EXIF, one transaction per photo,
// thumbnail and embedding jobs queued for the running server to work).
func (a *App) ingestDirs(ctx context.Context, args []string) error {
	var concurrency int
	var asJSON, move bool
	s, err := a.open(ctx, "ingest", args, func(fs *flag.FlagSet) {
		fs.IntVar(&concurrency, "concurrency", ingest.DefaultConcurrency(), "files read and hashed at once (files waiting for their batch to commit do not count)")
		fs.BoolVar(&move, "move", false, "move files into the store instead of copying them (same file system only; files not stored stay in place)")
		fs.BoolVar(&asJSON, "json", false, "print the summary as JSON")
	})
	if err != nil {
		return err
	}
	defer s.pool.Close()
	if s.fs.NArg() == 0 {
		return usageError{errors.New("ingest: name one or more directories (geoseek ingest DIR ...)")}
	}
	inserter, err := jobs.NewInserter(s.pool, s.logger)
	if err != nil {
		return err
	}
	photos, err := app.NewPhotos(app.Options{DataDir: s.cfg.DataDir, Ingest: s.cfg.ingestConfig()}, s.pool, inserter, s.logger)
	if err != nil {
		return err
	}
	sum, err := photos.ImportDirs(ctx, s.fs.Args(), ingest.ImportOptions{Concurrency: concurrency, Move: move, Progress: a.Stderr})
	if asJSON {
		b, _ := json.MarshalIndent(sum, "", "  ")
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

func (c *Config) ingestConfig() ingest.Config {
	return ingest.Config{DataDir: c.DataDir, MaxFileBytes: c.MaxUploadBytes, MaxFiles: c.MaxUploadFiles}
}
