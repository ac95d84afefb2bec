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
	var asJSON bool
	c, fs, err := a.flags("ingest", args, func(fs *flag.FlagSet) {
		fs.IntVar(&concurrency, "concurrency", 2, "files ingested at once")
		fs.BoolVar(&asJSON, "json", false, "print the summary as JSON")
	})
	if err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usageError{errors.New("ingest: name one or more directories (geoseek ingest DIR ...)")}
	}
	logger := c.logger(a.Stderr)
	pool, _, err := a.openMigrated(ctx, c, logger)
	if err != nil {
		return err
	}
	defer pool.Close()
	inserter, err := jobs.NewInserter(pool, logger)
	if err != nil {
		return err
	}
	photos, err := app.NewPhotos(app.Options{DataDir: c.DataDir, Ingest: c.ingestConfig()}, pool, inserter, logger)
	if err != nil {
		return err
	}
	sum, err := photos.ImportDirs(ctx, fs.Args(), ingest.ImportOptions{Concurrency: concurrency, Progress: a.Stderr})
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
