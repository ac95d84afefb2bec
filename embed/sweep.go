package embed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/geoseek/geoseek/internal/problem"
)

// SweepArgs is the periodic job that embeds documents still missing a vector
// in collections that have an embedder and a dimension. Every write path
// (the documents API, NDJSON bulk loads, GeoJSON imports, photo ingest) thus
// gets embeddings without each having to enqueue jobs itself; photo ingest
// also enqueues an EmbedArgs job at once, so photos are searchable sooner. A
// text change clears the stale vector (a trigger of the vector feature), so
// the next sweep embeds the new text.
type SweepArgs struct{}

// Kind implements river.JobArgs.
func (SweepArgs) Kind() string { return "geoseek.embed_sweep" }

// InsertOpts implements river.JobArgsWithInsertOpts: one sweep at a time.
func (SweepArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueName, MaxAttempts: 3, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// SweepInterval is how often the sweep runs.
const SweepInterval = 30 * time.Second

// SweepWorker works SweepArgs.
type SweepWorker struct {
	river.WorkerDefaults[SweepArgs]
	pool   *pgxpool.Pool
	set    *Set
	logger *slog.Logger
}

// Timeout implements river.Worker; a sweep stops early and resumes at the
// next interval rather than running for ever.
func (w *SweepWorker) Timeout(*river.Job[SweepArgs]) time.Duration { return 10 * time.Minute }

// Work embeds, in batches, every document missing a vector; one pass, in id
// order, so a text the embedder refuses is tried once per sweep, not in a
// loop, and then again only after its backoff (see Sweep).
func (w *SweepWorker) Work(ctx context.Context, _ *river.Job[SweepArgs]) error {
	st, err := Sweep(ctx, w.pool, w.set)
	if errors.Is(err, problem.ErrExtensionMissing) {
		return nil // nothing to do without pgvector
	}
	if st.Updated > 0 || st.Refused > 0 {
		w.logger.Info("embed: sweep", "updated", st.Updated, "refused", st.Refused, "skipped", st.Skipped)
	}
	return err
}

// Backoff of documents the sweep leaves without a vector (a text the
// embedding service refuses, or no text): the first retry after
// RetryBackoff, then twice as long each time, at most MaxRetryBackoff. A
// changed text is tried at the next sweep.
const (
	RetryBackoff    = 2 * SweepInterval
	MaxRetryBackoff = 24 * time.Hour
)

// textMD5 is the hash of what a document's vector is computed from, as
// embedding_attempts.text_md5 records it.
const textMD5 = `md5(row(d.lang::text, d.title, d.body)::text)`

// Sweep embeds the documents of embedding collections whose vector is NULL,
// except those that failed before with the same text and whose backoff
// (embedding_attempts) has not run out.
func Sweep(ctx context.Context, pool *pgxpool.Pool, set *Set) (EmbedStats, error) {
	var total EmbedStats
	var hasVec bool
	if err := pool.QueryRow(ctx, `SELECT to_regtype('vector') IS NOT NULL`).Scan(&hasVec); err != nil {
		return total, fmt.Errorf("embed: sweep: %w", err)
	}
	if !hasVec {
		return total, fmt.Errorf("embed: sweep: %w", problem.ErrExtensionMissing)
	}
	rows, err := pool.Query(ctx, `SELECT id FROM collections WHERE embedding_dim IS NOT NULL AND embedder <> $1 AND deleted_at IS NULL ORDER BY id`, KindNone)
	if err != nil {
		return total, fmt.Errorf("embed: sweep: %w", err)
	}
	cids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return total, fmt.Errorf("embed: sweep: %w", err)
	}
	// Forget the attempts of documents that are gone or have a vector now.
	if _, err := pool.Exec(ctx, `DELETE FROM embedding_attempts a WHERE NOT EXISTS (
		SELECT 1 FROM documents d WHERE d.id = a.document_id AND d.embedding IS NULL)`); err != nil {
		return total, fmt.Errorf("embed: sweep: %w", err)
	}
	for _, cid := range cids {
		after := int64(0)
		for {
			// Served by the partial index documents_embedding_missing_idx.
			rows, err := pool.Query(ctx, `SELECT d.id FROM documents d
				WHERE d.collection_id = $1 AND d.embedding IS NULL AND d.id > $2
				  AND NOT EXISTS (SELECT 1 FROM embedding_attempts a
				                   WHERE a.document_id = d.id AND a.retry_at > now() AND a.text_md5 = `+textMD5+`)
				ORDER BY d.id LIMIT $3`, cid, after, JobBatch)
			if err != nil {
				return total, fmt.Errorf("embed: sweep: %w", err)
			}
			ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
			if err != nil {
				return total, fmt.Errorf("embed: sweep: %w", err)
			}
			if len(ids) == 0 {
				break
			}
			after = ids[len(ids)-1]
			st, err := EmbedDocuments(ctx, pool, set, ids)
			total.Updated += st.Updated
			total.Refused += st.Refused
			total.Skipped += st.Skipped
			if err != nil {
				return total, err
			}
			if err := recordAttempts(ctx, pool, ids); err != nil {
				return total, err
			}
		}
		// After a change of dimension the index waits for the new vectors
		// (see geoseek_ensure_embedding_index); otherwise this is a lookup.
		if _, err := pool.Exec(ctx, `SELECT geoseek_ensure_embedding_index($1)`, cid); err != nil {
			return total, fmt.Errorf("embed: sweep: index of collection %d: %w", cid, err)
		}
	}
	return total, nil
}

// PeriodicJobs returns the periodic jobs of this package for the River
// client: the sweep, every SweepInterval and once at start.
func PeriodicJobs() []*river.PeriodicJob {
	return []*river.PeriodicJob{river.NewPeriodicJob(river.PeriodicInterval(SweepInterval),
		func() (river.JobArgs, *river.InsertOpts) { return SweepArgs{}, nil },
		&river.PeriodicJobOpts{RunOnStart: true})}
}

// AddSweepWorker registers the sweep's worker.
func AddSweepWorker(w *river.Workers, pool *pgxpool.Pool, set *Set, logger *slog.Logger) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	river.AddWorker(w, &SweepWorker{pool: pool, set: set, logger: logger})
}

// recordAttempts notes the documents of ids still without a vector after an
// embedding pass, with their next retry time (see RetryBackoff).
func recordAttempts(ctx context.Context, pool *pgxpool.Pool, ids []int64) error {
	_, err := pool.Exec(ctx, `
		INSERT INTO embedding_attempts AS a (document_id, text_md5, attempts, retry_at)
		SELECT d.id, `+textMD5+`, 1, now() + make_interval(secs => $2)
		  FROM documents d WHERE d.id = ANY($1) AND d.embedding IS NULL
		ON CONFLICT (document_id) DO UPDATE SET
		    attempts = CASE WHEN a.text_md5 = EXCLUDED.text_md5 THEN a.attempts + 1 ELSE 1 END,
		    text_md5 = EXCLUDED.text_md5,
		    retry_at = now() + make_interval(secs => least($3,
		        $2 * power(2, CASE WHEN a.text_md5 = EXCLUDED.text_md5 THEN least(a.attempts, 30) ELSE 0 END)))`,
		ids, RetryBackoff.Seconds(), MaxRetryBackoff.Seconds())
	if err != nil {
		return fmt.Errorf("embed: sweep: record attempts: %w", err)
	}
	return nil
}
