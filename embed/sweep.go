package embed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/geoseek/geoseek/document"
	"github.com/geoseek/geoseek/internal/pg"
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

// SweepQueue is the River queue of sweeps: their own, with one worker, so a
// sweep never waits behind a long re-embedding in QueueName.
const SweepQueue = "embed_sweep"

// InsertOpts implements river.JobArgsWithInsertOpts. A failed sweep is not
// retried on its own: the next period's sweep is its retry. PeriodicJobs
// adds the uniqueness (see sweepUnique).
func (SweepArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: SweepQueue, MaxAttempts: 1}
}

// sweepUnique lets at most one sweep per period wait or run. It counts only
// the states of a sweep still to come or under way (the minimum River
// accepts): River's default also counts completed jobs, and kept every later
// sweep out until the job cleaner deleted the first one a day later. The
// period is part of the key because a sweep whose process died stays
// "running" until River rescues it (half an hour later); one at a time is
// the advisory lock's work (SweepWorker.Work).
func sweepUnique(interval time.Duration) river.UniqueOpts {
	return river.UniqueOpts{
		ByArgs:   true,
		ByPeriod: max(interval, time.Second), // River's smallest
		ByState: []rivertype.JobState{
			rivertype.JobStateAvailable, rivertype.JobStatePending,
			rivertype.JobStateRunning, rivertype.JobStateScheduled,
		},
	}
}

// sweepLockKey is the advisory lock a sweep holds while it runs ("gsweep"
// in ASCII), so that sweeps of several geoseek processes, or a long sweep
// and the next period's, do not embed the same documents twice. PostgreSQL
// releases it when the holder's session ends, also when its process dies.
const sweepLockKey int64 = 0x677377656570

// DefaultSweepInterval is how often the sweep runs unless Config.SweepInterval
// says otherwise.
const DefaultSweepInterval = 30 * time.Second

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
	conn, err := w.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("embed: sweep: %w", err)
	}
	defer conn.Release()
	var locked bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, sweepLockKey).Scan(&locked); err != nil {
		return fmt.Errorf("embed: sweep: lock: %w", err)
	}
	if !locked {
		return nil // another sweep is under way
	}
	defer func() {
		var ok bool
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := conn.QueryRow(uctx, `SELECT pg_advisory_unlock($1)`, sweepLockKey).Scan(&ok); err != nil || !ok {
			// A pooled session must not keep the lock: that would stop
			// every later sweep. Closing it releases the lock.
			_ = conn.Conn().Close(uctx)
		}
	}()
	st, err := Sweep(ctx, w.pool, w.set)
	if errors.Is(err, problem.ErrExtensionMissing) {
		return nil // nothing to do without pgvector
	}
	if st.Updated > 0 || st.Refused > 0 {
		w.logger.Info("embed: sweep", "updated", st.Updated, "refused", st.Refused, "skipped", st.Skipped)
	}
	// River records the error with the job, where /readyz finds it (see
	// Backlog); the next period's sweep tries again.
	return err
}

// Backoff of documents the sweep leaves without a vector (a text the
// embedding service refuses, or no text): the first retry after
// RetryBackoff, then twice as long each time, at most MaxRetryBackoff. A
// changed text is tried at the next sweep.
const (
	RetryBackoff    = time.Minute
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
	cids, err := document.EmbeddingCollectionIDs(ctx, pool, KindNone)
	if err != nil {
		return total, fmt.Errorf("embed: sweep: %w", err)
	}
	// Forget the attempts of documents that are gone or have a vector now.
	if _, err := pool.Exec(ctx, `DELETE FROM embedding_attempts a WHERE NOT EXISTS (
		SELECT 1 FROM documents d WHERE d.id = a.document_id AND d.embedding IS NULL)`); err != nil {
		return total, fmt.Errorf("embed: sweep: %w", err)
	}
	// A collection that cannot be embedded now (its embedding service is
	// down) does not hold up the others.
	var errs []error
	for _, cid := range cids {
		st, err := sweepCollection(ctx, pool, set, cid)
		total.Updated += st.Updated
		total.Refused += st.Refused
		total.Skipped += st.Skipped
		if err != nil {
			if ctx.Err() != nil {
				return total, err
			}
			errs = append(errs, err)
		}
	}
	return total, errors.Join(errs...)
}

// sweepCollection is Sweep for one collection.
func sweepCollection(ctx context.Context, pool *pgxpool.Pool, set *Set, cid int64) (EmbedStats, error) {
	var total EmbedStats
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
			return total, fmt.Errorf("embed: sweep: collection %d: %w", cid, err)
		}
		if err := recordAttempts(ctx, pool, st.failed); err != nil {
			return total, err
		}
	}
	// After a change of dimension the index waits for the new vectors
	// (see geoseek_embedding_index_todo); otherwise this is a lookup.
	if err := EnsureIndex(ctx, pool, cid); err != nil {
		return total, fmt.Errorf("embed: sweep: %w", err)
	}
	return total, nil
}

// PeriodicJobs returns the periodic jobs of this package for the River
// client: the sweep, every interval (DefaultSweepInterval when 0) and once
// at start.
func PeriodicJobs(interval time.Duration) []*river.PeriodicJob {
	if interval <= 0 {
		interval = DefaultSweepInterval
	}
	return []*river.PeriodicJob{river.NewPeriodicJob(river.PeriodicInterval(interval),
		func() (river.JobArgs, *river.InsertOpts) {
			return SweepArgs{}, &river.InsertOpts{UniqueOpts: sweepUnique(interval)}
		},
		&river.PeriodicJobOpts{RunOnStart: true})}
}

// AddSweepWorker registers the sweep's worker.
func AddSweepWorker(w *river.Workers, pool *pgxpool.Pool, set *Set, logger *slog.Logger) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	river.AddWorker(w, &SweepWorker{pool: pool, set: set, logger: logger})
}

// recordAttempts notes the documents an embedding pass left without a
// vector because of their text, with the reason and their next retry time
// (see RetryBackoff). A document whose text changed since it was read is
// not noted: the next sweep tries its new text.
func recordAttempts(ctx context.Context, pool *pgxpool.Pool, failed []failure) error {
	if len(failed) == 0 {
		return nil
	}
	ids := make([]int64, len(failed))
	titles := make([]string, len(failed))
	bodies := make([]string, len(failed))
	reasons := make([]string, len(failed))
	for i, f := range failed {
		ids[i], titles[i], bodies[i], reasons[i] = f.id, f.title, f.body, f.reason
	}
	_, err := pool.Exec(ctx, `
		INSERT INTO embedding_attempts AS a (document_id, text_md5, attempts, retry_at, reason, tried_at)
		SELECT d.id, `+textMD5+`, 1, now() + make_interval(secs => $5), f.reason, now()
		  FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[]) AS f(id, title, body, reason)
		  JOIN documents d ON d.id = f.id AND d.title = f.title AND d.body = f.body AND d.embedding IS NULL
		ON CONFLICT (document_id) DO UPDATE SET
		    attempts = CASE WHEN a.text_md5 = EXCLUDED.text_md5 THEN a.attempts + 1 ELSE 1 END,
		    text_md5 = EXCLUDED.text_md5,
		    reason = EXCLUDED.reason,
		    tried_at = EXCLUDED.tried_at,
		    retry_at = now() + make_interval(secs => least($6,
		        $5 * power(2, CASE WHEN a.text_md5 = EXCLUDED.text_md5 THEN least(a.attempts, 30) ELSE 0 END)))`,
		ids, titles, bodies, reasons, RetryBackoff.Seconds(), MaxRetryBackoff.Seconds())
	if err != nil {
		return fmt.Errorf("embed: sweep: record attempts: %w", err)
	}
	return nil
}

// indexLockClass is the advisory lock class (first key) of a collection's
// embedding index build; the second key is the collection id.
const indexLockClass = 0x67730002

// EnsureIndex builds collection cid's HNSW index when it is missing
// (geoseek_embedding_index_todo in migrations/features/vector.sql says
// whether and how), with CREATE INDEX CONCURRENTLY: a build over a large
// collection takes minutes, and a plain CREATE INDEX holds off every
// writer of documents that long. One instance builds at a time; a build
// that fails on row versions still to be vacuumed leaves an invalid index,
// which the next call drops and builds again.
func EnsureIndex(ctx context.Context, pool *pgxpool.Pool, cid int64) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("embed: index of collection %d: %w", cid, pg.Interpret(err))
	}
	defer conn.Release()
	var locked bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1, ($2 % 2147483647)::int)`, indexLockClass, cid).Scan(&locked); err != nil {
		return fmt.Errorf("embed: index of collection %d: lock: %w", cid, pg.Interpret(err))
	}
	if !locked {
		return nil // another instance builds it
	}
	defer func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if _, err := conn.Exec(uctx, `SELECT pg_advisory_unlock($1, ($2 % 2147483647)::int)`, indexLockClass, cid); err != nil {
			// A session that cannot unlock must not go back to the pool
			// holding the lock.
			_ = conn.Conn().Close(uctx)
		}
	}()
	var stmt *string
	if err := conn.QueryRow(ctx, `SELECT geoseek_embedding_index_todo($1)`, cid).Scan(&stmt); err != nil {
		return fmt.Errorf("embed: index of collection %d: %w", cid, pg.Interpret(err))
	}
	if stmt == nil {
		return nil
	}
	build := strings.Replace(*stmt, "CREATE INDEX ", "CREATE INDEX CONCURRENTLY ", 1)
	if _, err := conn.Exec(ctx, build); err != nil {
		if strings.HasPrefix(pg.Code(err), "22") {
			// Vectors cleared after a change of dimension are still in row
			// versions some snapshot may see: the next sweep tries again.
			return nil
		}
		return fmt.Errorf("embed: index of collection %d: %w", cid, pg.Interpret(err))
	}
	return nil
}
