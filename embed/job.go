package embed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pgvector/pgvector-go"
	"github.com/riverqueue/river"

	"github.com/geoseek/geoseek/document"
	"github.com/geoseek/geoseek/internal/pg"
	"github.com/geoseek/geoseek/internal/problem"
)

// QueueName is the River queue of embedding jobs. Its own queue keeps a slow
// embedding server from delaying thumbnails, and its MaxWorkers bounds the
// load on that server.
const QueueName = "embeddings"

// JobBatch is the most documents one job embeds: one Embed call (split into
// the embedder's own batches) and one round of updates.
const JobBatch = 128

// EmbedArgs is the River job that computes the embeddings of documents with
// their collection's embedder and stores them in documents.embedding.
type EmbedArgs struct {
	DocumentIDs []int64 `json:"document_ids"`
}

// Kind implements river.JobArgs.
func (EmbedArgs) Kind() string { return "geoseek.embed_documents" }

// InsertOpts implements river.JobArgsWithInsertOpts.
func (EmbedArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueName, MaxAttempts: 10}
}

// Jobs splits document ids into jobs of at most JobBatch ids each, ready for
// Client.InsertMany or InsertManyTx (bulk loads, Reembed).
func Jobs(ids []int64) []river.InsertManyParams {
	var out []river.InsertManyParams
	for len(ids) > 0 {
		n := min(len(ids), JobBatch)
		out = append(out, river.InsertManyParams{Args: EmbedArgs{DocumentIDs: append([]int64(nil), ids[:n]...)}})
		ids = ids[n:]
	}
	return out
}

// Enqueue inserts the embedding jobs of documents ids in tx, so the jobs
// exist exactly when the writes that need them commit. The document write
// path calls it for documents whose title or body changed and that carry no
// user-provided vector; the worker skips documents of collections without a
// text embedder, so callers need not check.
func Enqueue(ctx context.Context, tx pgx.Tx, client *river.Client[pgx.Tx], ids ...int64) error {
	if len(ids) == 0 {
		return nil
	}
	if _, err := client.InsertManyTx(ctx, tx, Jobs(ids)); err != nil {
		return fmt.Errorf("embed: enqueue %d documents: %w", len(ids), err)
	}
	return nil
}

// Worker runs EmbedArgs jobs.
type Worker struct {
	river.WorkerDefaults[EmbedArgs]
	pool   *pgxpool.Pool
	set    *Set
	logger *slog.Logger
}

// NewWorker returns the worker of EmbedArgs jobs.
func NewWorker(pool *pgxpool.Pool, set *Set, logger *slog.Logger) *Worker {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Worker{pool: pool, set: set, logger: logger}
}

// AddWorkers registers the embedding workers with a River client's workers.
func AddWorkers(w *river.Workers, pool *pgxpool.Pool, set *Set, logger *slog.Logger) {
	river.AddWorker(w, NewWorker(pool, set, logger))
}

// Timeout implements river.Worker: a batch against a slow, rate-limited
// server with retries can take minutes, but not forever.
func (w *Worker) Timeout(*river.Job[EmbedArgs]) time.Duration { return 10 * time.Minute }

// Work implements river.Worker. Errors the job cannot recover from by
// retrying (no pgvector, a text the embedding service refuses) cancel it;
// others (service down, database busy) are retried with River's backoff.
func (w *Worker) Work(ctx context.Context, job *river.Job[EmbedArgs]) error {
	st, err := EmbedDocuments(ctx, w.pool, w.set, job.Args.DocumentIDs)
	if err != nil {
		var ve *problem.ValidationError
		if errors.Is(err, problem.ErrExtensionMissing) || errors.As(err, &ve) {
			w.logger.Warn("embedding job cancelled", "job", job.ID, "err", err)
			return river.JobCancel(err)
		}
		return err
	}
	w.logger.Debug("embedded documents", "job", job.ID, "updated", st.Updated, "skipped", st.Skipped)
	return nil
}

// EmbedStats counts what EmbedDocuments did.
type EmbedStats struct {
	// Updated documents got a new embedding (or NULL for a text with
	// nothing to embed, or one the embedding service refused).
	Updated int
	// Refused counts texts the embedding service refused (HTTP 400/413/422).
	Refused int
	// Skipped documents were gone, changed since they were read (a newer
	// job has them), in a collection without a text embedder, or already
	// had exactly this embedding (re-embedding with an unchanged model
	// rewrites no rows).
	Skipped int

	// failed are the documents left without a vector because of their text
	// (refused, or nothing to embed), with the text tried and why; the
	// sweep records them (embedding_attempts).
	failed []failure
}

// failure is one document EmbedDocuments could not embed because of its
// text.
type failure struct {
	id          int64
	title, body string
	reason      string
}

// Reasons a document has no vector, as /readyz shows them (the refusals of
// an embedding service carry its own message).
const (
	reasonNoText   = "no text to embed: title and body are empty"
	reasonZeroText = "nothing to embed: the text has no letters or digits"
)

// EmbedDocuments embeds the title and body of the given documents with their
// collections' embedders and stores the vectors. A document whose text
// changed while it was being embedded is left alone (the write that changed
// it enqueued a newer job). It returns problem.ErrExtensionMissing without
// pgvector.
func EmbedDocuments(ctx context.Context, pool *pgxpool.Pool, set *Set, ids []int64) (EmbedStats, error) {
	var st EmbedStats
	if len(ids) == 0 {
		return st, nil
	}
	var hasVec bool
	if err := pool.QueryRow(ctx, `SELECT to_regtype('vector') IS NOT NULL`).Scan(&hasVec); err != nil {
		return st, fmt.Errorf("embed: check pgvector: %w", pg.Interpret(err))
	}
	if !hasVec {
		return st, fmt.Errorf("embed: documents cannot store embeddings: %w", problem.ErrExtensionMissing)
	}
	docs, err := document.EmbeddingInputs(ctx, pool, ids)
	if err != nil {
		return st, fmt.Errorf("embed: load documents: %w", err)
	}
	st.Skipped = len(ids) - len(docs)
	order, groups := groupBySpec(docs)
	for _, sp := range order {
		docs := groups[sp]
		e, err := set.For(sp)
		if errors.Is(err, ErrNoEmbedder) {
			st.Skipped += len(docs) // user-provided vectors only
			continue
		}
		if err != nil {
			return st, err
		}
		vecs, why, err := embedGroup(ctx, e, docs, &st)
		if err != nil {
			return st, err
		}
		if err := storeVectors(ctx, pool, docs, vecs, why, &st); err != nil {
			return st, err
		}
	}
	return st, nil
}

// groupBySpec groups documents by their collection's embedding settings,
// the groups in the order their first document came.
func groupBySpec(docs []document.EmbeddingInput) ([]Spec, map[Spec][]document.EmbeddingInput) {
	groups := map[Spec][]document.EmbeddingInput{}
	var order []Spec
	for _, d := range docs {
		sp := Spec{Embedder: d.Embedder, Model: d.Model, Dim: d.Dim, Lang: d.Lang}
		if _, ok := groups[sp]; !ok {
			order = append(order, sp)
		}
		groups[sp] = append(groups[sp], d)
	}
	return order, groups
}

// embedGroup embeds the text of docs with e in one call. It returns a vector
// per document (nil when there was nothing to embed or the service refused
// the text) and, for those without, why.
func embedGroup(ctx context.Context, e Embedder, docs []document.EmbeddingInput, st *EmbedStats) ([][]float32, []string, error) {
	var texts []string
	var idx []int
	for i, d := range docs {
		if t := Text(d.Title, d.Body); t != "" {
			texts = append(texts, t)
			idx = append(idx, i)
		}
	}
	vecs, err := e.Embed(ctx, texts)
	var ve *problem.ValidationError
	var refusals []string
	switch {
	case errors.As(err, &ve) && len(texts) == 1:
		st.Refused++
		vecs, refusals, err = [][]float32{nil}, []string{ve.Reason}, nil
	case errors.As(err, &ve):
		// The service refused some text of the batch (too long for the
		// model, ...): embed one by one so the others still get theirs.
		vecs, refusals, err = embedEach(ctx, e, texts, st)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("embed: %d documents with %s: %w", len(texts), e.Model(), err)
	}
	byDoc := make([][]float32, len(docs))
	why := make([]string, len(docs))
	for i := range docs {
		why[i] = reasonNoText
	}
	for j, i := range idx {
		byDoc[i] = vecs[j] // nil when refused
		why[i] = reasonZeroText
		if refusals != nil && refusals[j] != "" {
			why[i] = refusals[j]
		}
	}
	return byDoc, why, nil
}

// storeVectors writes the vectors of docs in one batch, each only if the
// document's text is still the one embedded; a document without a vector
// gets NULL and its reason is recorded as a failure.
func storeVectors(ctx context.Context, pool *pgxpool.Pool, docs []document.EmbeddingInput, vecs [][]float32, why []string, st *EmbedStats) error {
	b := &pgx.Batch{}
	for i, d := range docs {
		var v any // NULL: nothing to embed
		if vecs[i] != nil && !IsZero(vecs[i]) {
			v = pgvector.NewVector(vecs[i])
		} else {
			st.failed = append(st.failed, failure{id: d.ID, title: d.Title, body: d.Body, reason: why[i]})
		}
		b.Queue(`UPDATE documents SET embedding = $2
		          WHERE id = $1 AND title = $3 AND body = $4
		            AND embedding IS DISTINCT FROM $2`, d.ID, v, d.Title, d.Body).Exec(func(tag pgconn.CommandTag) error {
			if tag.RowsAffected() == 1 {
				st.Updated++
			} else {
				st.Skipped++
			}
			return nil
		})
	}
	if err := pool.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("embed: store embeddings: %w", pg.Interpret(err))
	}
	return nil
}

// embedEach embeds texts one at a time; a text the service refuses gets no
// vector (its document's embedding becomes NULL), counts as Refused, and
// has the refusal in reasons.
func embedEach(ctx context.Context, e Embedder, texts []string, st *EmbedStats) (vecs [][]float32, reasons []string, err error) {
	vecs = make([][]float32, len(texts))
	reasons = make([]string, len(texts))
	for i, t := range texts {
		v, err := e.Embed(ctx, []string{t})
		var ve *problem.ValidationError
		if errors.As(err, &ve) {
			st.Refused++
			reasons[i] = ve.Reason
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		vecs[i] = v[0]
	}
	return vecs, reasons, nil
}

// Text is what is embedded for a document: its title and body.
func Text(title, body string) string {
	switch {
	case title == "":
		return body
	case body == "":
		return title
	}
	return title + "\n\n" + body
}

// ReembedOptions selects the documents Reembed enqueues.
type ReembedOptions struct {
	// Collection is a collection name; "" means every collection with a
	// text embedder.
	Collection string
	// OnlyMissing enqueues only documents without an embedding (after
	// pgvector was installed, or after a failed job).
	OnlyMissing bool
}

// Reembed enqueues EmbedArgs jobs (JobBatch documents each) for the
// documents opts selects, in id order, and returns how many documents and
// jobs it enqueued. The running server's workers do the work, so a large
// collection is re-embedded in the background, resumably and visibly in
// River's tables. It returns problem.ErrNotFound for an unknown collection,
// a *problem.ValidationError when the named collection has no text
// embedder, and problem.ErrExtensionMissing without pgvector.
func Reembed(ctx context.Context, pool *pgxpool.Pool, client *river.Client[pgx.Tx], opts ReembedOptions) (docs, jobs int, err error) {
	var hasVec bool
	if err := pool.QueryRow(ctx, `SELECT to_regtype('vector') IS NOT NULL`).Scan(&hasVec); err != nil {
		return 0, 0, fmt.Errorf("embed: check pgvector: %w", pg.Interpret(err))
	}
	if !hasVec {
		return 0, 0, fmt.Errorf("embed: reembed: %w", problem.ErrExtensionMissing)
	}
	var cids []int64
	if opts.Collection != "" {
		var (
			id         int64
			lang, kind string
			dim        int
		)
		err := document.LookupCollection(ctx, pool, opts.Collection, &id, &lang, &kind, &dim)
		if errors.Is(err, problem.ErrNotFound) {
			return 0, 0, fmt.Errorf("embed: collection %q: %w", opts.Collection, problem.ErrNotFound)
		}
		if err != nil {
			return 0, 0, fmt.Errorf("embed: reembed: %w", err)
		}
		if kind == KindNone || dim == 0 {
			return 0, 0, problem.Invalid("collection", "collection %q has no text embedder (embedder %q, dimension unset: %v)", opts.Collection, kind, dim == 0)
		}
		cids = []int64{id}
	} else {
		var err error
		if cids, err = document.EmbeddingCollectionIDs(ctx, pool, KindNone); err != nil {
			return 0, 0, fmt.Errorf("embed: reembed: %w", pg.Interpret(err))
		}
	}
	const page = 10 * JobBatch
	for _, cid := range cids {
		after := int64(0)
		for {
			rows, err := pool.Query(ctx, `
				SELECT id FROM documents
				 WHERE collection_id = $1 AND id > $2 AND (NOT $3 OR embedding IS NULL)
				 ORDER BY id LIMIT $4`, cid, after, opts.OnlyMissing, page)
			if err != nil {
				return docs, jobs, fmt.Errorf("embed: reembed: %w", pg.Interpret(err))
			}
			ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
			if err != nil {
				return docs, jobs, fmt.Errorf("embed: reembed: %w", pg.Interpret(err))
			}
			if len(ids) == 0 {
				break
			}
			params := Jobs(ids)
			if _, err := client.InsertMany(ctx, params); err != nil {
				return docs, jobs, fmt.Errorf("embed: reembed: enqueue: %w", err)
			}
			docs += len(ids)
			jobs += len(params)
			after = ids[len(ids)-1]
		}
	}
	return docs, jobs, nil
}
