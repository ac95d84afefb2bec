package embed

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

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
// without pgvector (nothing can be embedded).
func ReadBacklog(ctx context.Context, pool *pgxpool.Pool) (*Backlog, error) {
	var hasVec bool
	if err := pool.QueryRow(ctx, `SELECT to_regtype('vector') IS NOT NULL AND EXISTS (
		SELECT 1 FROM pg_attribute WHERE attrelid = 'documents'::regclass AND attname = 'embedding' AND NOT attisdropped)`).Scan(&hasVec); err != nil {
		return nil, fmt.Errorf("embed: backlog: %w", pg.Interpret(err))
	}
	if !hasVec {
		return nil, nil
	}
	b := &Backlog{}
	// A failing document is one whose recorded attempt was on its current
	// text; after a text change it waits for the next sweep again.
	rows, err := pool.Query(ctx, `
		SELECT c.name, m.n, f.n
		  FROM collections c
		 CROSS JOIN LATERAL (SELECT count(*) FROM (SELECT 1 FROM documents d
		                      WHERE d.collection_id = c.id AND d.embedding IS NULL LIMIT $2) x) m(n)
		 CROSS JOIN LATERAL (SELECT count(*) FROM embedding_attempts a JOIN documents d ON d.id = a.document_id
		                      WHERE d.collection_id = c.id AND d.embedding IS NULL AND a.text_md5 = `+textMD5+`) f(n)
		 WHERE c.embedder <> $1 AND c.embedding_dim IS NOT NULL AND c.deleted_at IS NULL AND m.n > 0
		 ORDER BY c.name`, KindNone, BacklogCountLimit)
	if err != nil {
		return nil, fmt.Errorf("embed: backlog: %w", pg.Interpret(err))
	}
	var (
		name             string
		missing, failing int64
	)
	_, err = pgx.ForEachRow(rows, []any{&name, &missing, &failing}, func() error {
		if missing >= BacklogCountLimit {
			b.AtLeast = true
		}
		cb := CollectionBacklog{Waiting: max(missing-failing, 0), Failing: min(failing, missing)}
		b.Waiting += cb.Waiting
		b.Failing += cb.Failing
		if b.Collections == nil {
			b.Collections = map[string]CollectionBacklog{}
		}
		b.Collections[name] = cb
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("embed: backlog: %w", pg.Interpret(err))
	}
	var f BacklogFailure
	err = pool.QueryRow(ctx, `
		SELECT c.name, a.document_id, a.reason, a.tried_at, a.attempts, a.retry_at
		  FROM embedding_attempts a
		  JOIN documents d ON d.id = a.document_id AND d.embedding IS NULL
		  JOIN collections c ON c.id = d.collection_id AND c.deleted_at IS NULL
		 ORDER BY a.tried_at DESC, a.document_id DESC LIMIT 1`).Scan(&f.Collection, &f.DocumentID, &f.Reason, &f.At, &f.Attempts, &f.RetryAt)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
	case err != nil:
		return nil, fmt.Errorf("embed: backlog: last failure: %w", pg.Interpret(err))
	default:
		b.LastFailure = &f
	}
	// The latest finished sweep; River keeps its errors with the job.
	var (
		state string
		msg   *string
		at    time.Time
	)
	err = pool.QueryRow(ctx, `
		SELECT state::text, errors[array_length(errors, 1)] ->> 'error', finalized_at
		  FROM river_job WHERE kind = $1 AND finalized_at IS NOT NULL
		 ORDER BY id DESC LIMIT 1`, SweepArgs{}.Kind()).Scan(&state, &msg, &at)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
	case err != nil:
		return nil, fmt.Errorf("embed: backlog: last sweep: %w", pg.Interpret(err))
	case state != "completed":
		e := SweepError{Error: state, At: at}
		if msg != nil {
			e.Error = *msg
		}
		b.SweepError = &e
	}
	return b, nil
}
