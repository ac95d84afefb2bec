// Package jobs runs geoseek's background work on River, the Postgres-native
// job queue: thumbnails, embeddings, re-embedding. Jobs are rows in the same
// database, inserted in the same transaction as the data they are about, so a
// committed upload always has its thumbnail job and a rolled-back one never does.
//
// Two clients share the database: Inserter (insert-only, no workers) is handed
// to the domain services, which need it before the workers that call them
// exist; Runner works the queues and is started by `geoseek serve`.
package jobs

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
)

// Queues and their worker counts: thumbnails are CPU-bound, embeddings mostly
// wait on the embedder; the periodic embedding sweep has its own queue, so it
// never waits behind a long re-embedding.
var Queues = map[string]river.QueueConfig{
	river.QueueDefault: {MaxWorkers: 2},
	"thumbnails":       {MaxWorkers: 2},
	"embeddings":       {MaxWorkers: 2},
	"embed_sweep":      {MaxWorkers: 1},
}

// NewInserter returns an insert-only River client.
func NewInserter(pool *pgxpool.Pool, logger *slog.Logger) (*river.Client[pgx.Tx], error) {
	c, err := river.NewClient(riverpgxv5.New(pool), &river.Config{Logger: quieter(logger)})
	if err != nil {
		return nil, fmt.Errorf("jobs: insert client: %w", err)
	}
	return c, nil
}

// Runner works the queues with the given workers.
type Runner struct {
	client *river.Client[pgx.Tx]
	logger *slog.Logger
}

// NewRunner builds the working client. Queues without a registered worker
// kind are still served (River requires each job kind to have a worker; jobs
// of an unknown kind fail visibly and are retried).
func NewRunner(pool *pgxpool.Pool, workers *river.Workers, periodic []*river.PeriodicJob, logger *slog.Logger) (*Runner, error) {
	c, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
		Logger:  quieter(logger),
		Queues:  Queues,
		Workers: workers,
		// Periodic jobs are scheduled by the elected leader only, so several
		// geoseek processes do not run them twice.
		PeriodicJobs: periodic,
		// A job that keeps failing is retried with backoff, then discarded
		// and visible in river_job with its errors.
		MaxAttempts:          8,
		RescueStuckJobsAfter: 30 * time.Minute,
	})
	if err != nil {
		return nil, fmt.Errorf("jobs: runner: %w", err)
	}
	return &Runner{client: c, logger: logger}, nil
}

// Client is the working client (it can insert too).
func (r *Runner) Client() *river.Client[pgx.Tx] { return r.client }

// Start starts working jobs; it returns at once.
func (r *Runner) Start(ctx context.Context) error {
	if err := r.client.Start(ctx); err != nil {
		return fmt.Errorf("jobs: start: %w", err)
	}
	return nil
}

// Stop lets running jobs finish for up to grace, then cancels them (they are
// retried later: every job is idempotent) and waits at most hardStopWait
// more: a database that does not answer must not hold the exit.
func (r *Runner) Stop(grace time.Duration) {
	if grace <= 0 {
		grace = time.Millisecond
	}
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := r.client.Stop(ctx); err != nil {
		r.logger.Warn("jobs: soft stop timed out; cancelling running jobs", "err", err)
		hctx, hcancel := context.WithTimeout(context.Background(), hardStopWait)
		defer hcancel()
		_ = r.client.StopAndCancel(hctx)
	}
}

// hardStopWait bounds the wait for cancelled jobs and River's own goodbyes
// (leadership, job completions) after the grace.
const hardStopWait = 2 * time.Second
