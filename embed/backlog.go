package embed

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/geoseek/geoseek/document"
	"github.com/geoseek/geoseek/internal/pg"
)

// BacklogCountLimit bounds each count of documents without a vector: a
// count reads one entry of the partial index documents_embedding_missing_idx
// per document, and /readyz is probed often, also while a large collection
// is embedded for the first time. A count at the limit means at least that
// many.
const BacklogCountLimit = 10000

// Backlog is the embedding work not yet done, as /readyz shows it.
type Backlog struct {
	// Waiting documents have no vector yet and are embedded by a coming
	// sweep (at most BacklogCountLimit per collection are counted).
	Waiting int64 `json:"waiting"`
	// Failing documents have no vector because their last attempt failed
	// on their text (refused by the embedding service, or nothing to
	// embed); they are tried again with backoff, or at once when their
	// text changes.
	Failing int64 `json:"failing"`
	// AtLeast is true when some collection's count reached
	// BacklogCountLimit.
	AtLeast bool `json:"at_least,omitempty"`
	// LastFailure is the most recent document failure.
	LastFailure *BacklogFailure `json:"last_failure,omitempty"`
	// SweepError is the error of the latest sweep when that sweep failed
	// (the embedding service down, ...): nothing is embedded until it
	// works again.
	SweepError *SweepError `json:"sweep_error,omitempty"`
	// Collections break the counts down by collection (only collections
	// with a backlog are listed).
	Collections map[string]CollectionBacklog `json:"collections,omitempty"`
}

// CollectionBacklog is one collection's part of a Backlog.
type CollectionBacklog struct {
	Waiting int64 `json:"waiting"`
	Failing int64 `json:"failing"`
}

// BacklogFailure says why one document has no vector.
type BacklogFailure struct {
	Collection string    `json:"collection"`
	DocumentID int64     `json:"document_id"`
	Reason     string    `json:"reason"`
	At         time.Time `json:"at"`
	Attempts   int       `json:"attempts"`
	RetryAt    time.Time `json:"retry_at"`
}

// SweepError is a failed sweep.
type SweepError struct {
	Error string    `json:"error"`
	At    time.Time `json:"at"`
}

// ReadBacklog returns the documents of collections with an embedder that
// still wait for their vector or failed to get one, the latest failure,
// and the latest sweep's error if it failed. It returns nil and no error
// without pgvector (nothing can be embedded). /readyz calls it: it costs
// two round trips, the collections (read through document) going with the
// first.
func ReadBacklog(ctx context.Context, pool *pgxpool.Pool) (*Backlog, error) {
	var (
		hasVec bool
		cols   []document.CollectionRef
		b      = &Backlog{}
	)
	first := &pgx.Batch{}
	first.Queue(`SELECT to_regtype('vector') IS NOT NULL AND EXISTS (
		SELECT 1 FROM pg_attribute WHERE attrelid = 'documents'::regclass AND attname = 'embedding' AND NOT attisdropped)`).
		QueryRow(func(r pgx.Row) error { return r.Scan(&hasVec) })
	document.QueueEmbeddingCollections(first, KindNone, &cols)
	queueLastSweep(first, b)
	if err := pool.SendBatch(ctx, first).Close(); err != nil {
		return nil, fmt.Errorf("embed: backlog: %w", pg.Interpret(err))
	}
	if !hasVec {
		return nil, nil
	}
	if len(cols) == 0 {
		return b, nil
	}
	ids := make([]int64, len(cols))
	names := make(map[int64]string, len(cols))
	for i, c := range cols {
		ids[i], names[c.ID] = c.ID, c.Name
	}
	second := &pgx.Batch{}
	queueCounts(second, ids, names, b)
	queueLastFailure(second, ids, names, b)
	if err := pool.SendBatch(ctx, second).Close(); err != nil {
		return nil, fmt.Errorf("embed: backlog: %w", pg.Interpret(err))
	}
	return b, nil
}

// queueCounts counts, per collection of ids, the documents without a vector
// and those of them whose recorded attempt failed on their current text
// (after a text change a document waits for the next sweep again).
func queueCounts(q *pgx.Batch, ids []int64, names map[int64]string, b *Backlog) {
	q.Queue(`
		SELECT c.id, m.n, f.n
		  FROM unnest($2::bigint[]) AS c(id)
		 CROSS JOIN LATERAL (SELECT count(*) FROM (SELECT 1 FROM documents d
		                      WHERE d.collection_id = c.id AND d.embedding IS NULL LIMIT $1) x) m(n)
		 CROSS JOIN LATERAL (SELECT count(*) FROM embedding_attempts a JOIN documents d ON d.id = a.document_id
		                      WHERE d.collection_id = c.id AND d.embedding IS NULL AND a.text_md5 = `+textMD5+`) f(n)
		 WHERE m.n > 0`, BacklogCountLimit, ids).Query(func(rows pgx.Rows) error {
		var (
			id               int64
			missing, failing int64
		)
		_, err := pgx.ForEachRow(rows, []any{&id, &missing, &failing}, func() error {
			if missing >= BacklogCountLimit {
				b.AtLeast = true
			}
			cb := CollectionBacklog{Waiting: max(missing-failing, 0), Failing: min(failing, missing)}
			b.Waiting += cb.Waiting
			b.Failing += cb.Failing
			if b.Collections == nil {
				b.Collections = map[string]CollectionBacklog{}
			}
			b.Collections[names[id]] = cb
			return nil
		})
		return err
	})
}

// queueLastFailure reads the most recent failure of a document of ids'
// collections that still has no vector.
func queueLastFailure(q *pgx.Batch, ids []int64, names map[int64]string, b *Backlog) {
	q.Queue(`
		SELECT d.collection_id, a.document_id, a.reason, a.tried_at, a.attempts, a.retry_at
		  FROM embedding_attempts a
		  JOIN documents d ON d.id = a.document_id AND d.embedding IS NULL
		 WHERE d.collection_id = ANY($1)
		 ORDER BY a.tried_at DESC, a.document_id DESC LIMIT 1`, ids).QueryRow(func(r pgx.Row) error {
		var (
			f   BacklogFailure
			cid int64
		)
		err := r.Scan(&cid, &f.DocumentID, &f.Reason, &f.At, &f.Attempts, &f.RetryAt)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return nil
		case err != nil:
			return fmt.Errorf("last failure: %w", err)
		}
		f.Collection = names[cid]
		b.LastFailure = &f
		return nil
	})
}

// queueLastSweep reads the latest finished sweep (River keeps its errors
// with the job) and sets b.SweepError when it did not complete.
func queueLastSweep(q *pgx.Batch, b *Backlog) {
	q.Queue(`
		SELECT state::text, errors[array_length(errors, 1)] ->> 'error', finalized_at
		  FROM river_job WHERE kind = $1 AND finalized_at IS NOT NULL
		 ORDER BY id DESC LIMIT 1`, SweepArgs{}.Kind()).QueryRow(func(r pgx.Row) error {
		var (
			state string
			msg   *string
			at    time.Time
		)
		err := r.Scan(&state, &msg, &at)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
		case err != nil:
			return fmt.Errorf("last sweep: %w", err)
		case state != "completed":
			e := SweepError{Error: state, At: at}
			if msg != nil {
				e.Error = *msg
			}
			b.SweepError = &e
		}
		return nil
	})
}
