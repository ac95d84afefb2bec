package document

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/geoseek/geoseek/internal/pg"
	"github.com/geoseek/geoseek/internal/problem"
)

// A collection's life after POST /collections:
//
// DELETE marks it in one short transaction (migration 00047): its name
// becomes NULL and deleted_at is set, so every lookup by name misses it from
// that commit on and the name is free for a new collection at once; a
// notification in the same transaction tells every geoseek process to drop
// what it cached of the collection (see geo's change listener). The purge
// then deletes its cluster cells and extent statistics (derived rows; the
// cluster trigger skips a deleted collection's documents, migration 00047),
// and its documents in batches of DeleteBatch, each in its own
// transaction, so no lock or snapshot is held for long and writers of other
// collections never wait for the delete; photos' original files and
// thumbnails are removed after the batch that deleted their rows commits
// (photo_file_removals records them in that transaction, so a crash in
// between leaves them to the next batch or the start-up sweep). Last the
// collection's own vector index is dropped CONCURRENTLY and its row
// deleted.
//
// The batches run in a River job (DeleteArgs), so a delete survives a
// restart; a collection with at most InlineDelete documents is purged within
// the request (204), a larger one answers 202 and is purged in the
// background. ResumeDeletes, run at start-up, finishes deletes whose job was
// running in a process that died (River rescues such a job only after
// RescueStuckJobsAfter). A session advisory lock per collection keeps two
// purges of one collection from running at once.

// DeleteBatch is how many documents one purge transaction deletes.
const DeleteBatch = 2000

// InlineDelete is the largest collection DELETE purges before it answers.
const InlineDelete = DeleteBatch

// purgeLockClass is the advisory lock class of a collection's purge
// ('gsdl'); the collection id is the second key.
const purgeLockClass = 1735616620

// The advisory lock classes of geo's cluster pyramid (migration 00022) and
// extent statistics (00025): taken before their rows are deleted so no
// writer of the collection is between a read and a write of them.
const (
	clusterLockClass = 1734700899
	statsLockClass   = 1734702963
)

// CollectionChangesChannel and the payload prefix a collection-level change
// (delete, PATCH) is notified with; geo's change listener drops its cached
// rows of the collection and passes the id on (migration 00026 names the
// channel).
const (
	CollectionChangesChannel = "geoseek_documents"
	CollectionChangePrefix   = "collection:"
)

// FileRemover removes the files of photos whose rows are gone (the ingest
// service). RemoveQueuedFiles removes every file photo_file_removals lists
// whose SHA-256 no photos row has, and the list entries.
type FileRemover interface {
	RemoveQueuedFiles(ctx context.Context) (int, error)
}

// JobInserter inserts River jobs in a transaction; *river.Client[pgx.Tx]
// satisfies it.
type JobInserter interface {
	InsertTx(ctx context.Context, tx pgx.Tx, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
}

// LifecycleConfig is what collection deletes and updates need besides the
// pool. Every field is optional.
type LifecycleConfig struct {
	// Files removes deleted photos' files; nil leaves them to the sweep.
	Files FileRemover
	// Jobs queues the delete job of a large collection; nil purges every
	// collection within the request.
	Jobs JobInserter
	// Reembed queues the re-embedding of a collection's documents after
	// its embedder changed (embed.Reembed); nil leaves them to the
	// embedding sweep, which embeds documents without a vector.
	Reembed func(ctx context.Context, collection string) error
	// Recreate lists collections that a delete empties rather than
	// removes: a new, empty collection with the same settings takes the
	// name in the same transaction (default: the photos collection, which
	// uploads write to).
	Recreate []string
	// afterBatch, in tests, runs after each committed purge batch; an
	// error stops the purge there, as a crash would.
	afterBatch func(removed int) error
}

// Lifecycle deletes and updates collections.
type Lifecycle struct {
	pool   *pgxpool.Pool
	logger *slog.Logger
	cfg    LifecycleConfig
}

// NewLifecycle returns the collection lifecycle on pool.
func NewLifecycle(pool *pgxpool.Pool, logger *slog.Logger, cfg LifecycleConfig) *Lifecycle {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Recreate == nil {
		cfg.Recreate = []string{"photos"}
	}
	return &Lifecycle{pool: pool, logger: logger, cfg: cfg}
}

// DeleteArgs is the River job that purges a deleted collection.
type DeleteArgs struct {
	CollectionID int64 `json:"collection_id"`
	// Name is the name the collection had, for logs.
	Name string `json:"name"`
}

// Kind implements river.JobArgs.
func (DeleteArgs) Kind() string { return "geoseek.collection_delete" }

// InsertOpts implements river.JobArgsWithInsertOpts.
func (DeleteArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 25, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// DeleteWorker works DeleteArgs.
type DeleteWorker struct {
	river.WorkerDefaults[DeleteArgs]
	lc *Lifecycle
}

// AddWorkers registers the collection delete and re-embedding workers.
func AddWorkers(w *river.Workers, lc *Lifecycle) {
	river.AddWorker(w, &DeleteWorker{lc: lc})
	river.AddWorker(w, &ReembedWorker{lc: lc})
}

// Timeout implements river.Worker: a purge resumes where it stopped, so a
// timeout only splits a very large one over several attempts.
func (w *DeleteWorker) Timeout(*river.Job[DeleteArgs]) time.Duration { return time.Hour }

// Work implements river.Worker.
func (w *DeleteWorker) Work(ctx context.Context, job *river.Job[DeleteArgs]) error {
	n, err := w.lc.Purge(ctx, job.Args.CollectionID)
	if errors.Is(err, errPurgeBusy) {
		return river.JobSnooze(30 * time.Second)
	}
	if err != nil {
		return err
	}
	w.lc.logger.Info("collection deleted", "collection", job.Args.Name, "id", job.Args.CollectionID, "documents", n)
	return nil
}

// DeleteResult says what DeleteCollection did.
type DeleteResult struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
	// Done is true when every row is gone; otherwise a job is deleting
	// its Documents documents.
	Done      bool  `json:"done"`
	Documents int64 `json:"documents"`
	JobID     int64 `json:"job_id,omitempty"`
}

// DeleteCollection deletes the named collection: at once for lookups, and
// its rows within the call when it has at most InlineDelete documents,
// otherwise by a job. It returns problem.ErrNotFound for an unknown
// collection.
func (l *Lifecycle) DeleteCollection(ctx context.Context, name string) (*DeleteResult, error) {
	res := &DeleteResult{Name: name}
	err := pgx.BeginFunc(ctx, l.pool, func(tx pgx.Tx) error {
		var (
			title, desc, lang, kind, model, storage string
			dim                                     *int32
			props                                   map[string]any
		)
		err := tx.QueryRow(ctx, `
			UPDATE collections SET name = NULL, deleted_at = now(), updated_at = now()
			 WHERE name = $1 AND deleted_at IS NULL
			RETURNING id, title, description, default_lang::text, embedder, embedding_model, embedding_dim, embedding_storage, props`, name).
			Scan(&res.ID, &title, &desc, &lang, &kind, &model, &dim, &storage, &props)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("collection %q: %w", name, problem.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("document: delete collection %q: %w", name, pg.Interpret(err))
		}
		b := &pgx.Batch{}
		b.Queue(`SELECT pg_notify($1, $2)`, CollectionChangesChannel, CollectionChangePrefix+fmt.Sprint(res.ID))
		b.Queue(`SELECT count(*) FROM documents WHERE collection_id = $1`, res.ID).
			QueryRow(func(r pgx.Row) error { return r.Scan(&res.Documents) })
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return fmt.Errorf("document: delete collection %q: %w", name, pg.Interpret(err))
		}
		if slices.Contains(l.cfg.Recreate, name) {
			if _, err := tx.Exec(ctx, `
				INSERT INTO collections (name, title, description, default_lang, embedder, embedding_model, embedding_dim, embedding_storage, props)
				VALUES ($1, $2, $3, $4::regconfig, $5, $6, $7, $8, $9)`, name, title, desc, lang, kind, model, dim, storage, props); err != nil {
				return fmt.Errorf("document: recreate collection %q: %w", name, pg.Interpret(err))
			}
		}
		if l.cfg.Jobs != nil {
			// A small collection is purged by this request; its job is only
			// the safety net should the process die first, so it waits
			// rather than race the request for the purge.
			var opts *river.InsertOpts
			if res.Documents <= InlineDelete {
				opts = &river.InsertOpts{ScheduledAt: time.Now().Add(time.Minute)}
			}
			r, err := l.cfg.Jobs.InsertTx(ctx, tx, DeleteArgs{CollectionID: res.ID, Name: name}, opts)
			if err != nil {
				return fmt.Errorf("document: queue delete of %q: %w", name, err)
			}
			res.JobID = r.Job.ID
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if res.Documents <= InlineDelete || l.cfg.Jobs == nil {
		// The job finds nothing left to do. Should this purge fail, the
		// collection is gone for every reader all the same, and the job
		// (or ResumeDeletes) finishes it.
		_, err := l.Purge(ctx, res.ID)
		switch {
		case err == nil:
			res.Done, res.JobID = true, 0
		case !errors.Is(err, errPurgeBusy):
			l.logger.Warn("collection delete left to the background", "collection", name, "id", res.ID, "err", err)
		}
	}
	return res, nil
}

// errPurgeBusy: another session is purging the collection.
var errPurgeBusy = errors.New("document: the collection is being purged by another session")

// Purge deletes the rows of collection id, which DeleteCollection marked,
// in batches: its documents (with their photo rows), their photos' files,
// its vector index and finally the collection row. It is idempotent and
// resumes where an interrupted purge stopped. It returns the number of
// documents it deleted, and errPurgeBusy when another session is purging
// the collection.
func (l *Lifecycle) Purge(ctx context.Context, id int64) (int64, error) {
	conn, err := l.pool.Acquire(ctx)
	if err != nil {
		return 0, fmt.Errorf("document: purge: acquire: %w", err)
	}
	defer conn.Release()
	var locked bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1, ($2 % 2147483647)::int)`, purgeLockClass, id).Scan(&locked); err != nil {
		return 0, fmt.Errorf("document: purge: lock: %w", pg.Interpret(err))
	}
	if !locked {
		return 0, errPurgeBusy
	}
	defer func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if _, err := conn.Exec(uctx, `SELECT pg_advisory_unlock($1, ($2 % 2147483647)::int)`, purgeLockClass, id); err != nil {
			// A connection that cannot unlock must not go back to the pool
			// holding the lock.
			_ = conn.Conn().Close(uctx)
		}
	}()
	var deleted bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM collections WHERE id = $1 AND deleted_at IS NOT NULL)`, id).Scan(&deleted); err != nil {
		return 0, fmt.Errorf("document: purge: %w", pg.Interpret(err))
	}
	if !deleted {
		return 0, nil // purged before, or never deleted
	}
	// Files a crash left behind go first.
	if err := l.removeFiles(ctx); err != nil {
		return 0, err
	}
	if err := clearDerived(ctx, conn, id); err != nil {
		return 0, err
	}
	var total int64
	for {
		n, files, err := l.purgeBatch(ctx, conn, id)
		if err != nil {
			return total, err
		}
		total += int64(n)
		if files > 0 {
			if err := l.removeFiles(ctx); err != nil {
				return total, err
			}
		}
		if l.cfg.afterBatch != nil {
			if err := l.cfg.afterBatch(n); err != nil {
				return total, err
			}
		}
		if n < DeleteBatch {
			break
		}
	}
	if err := dropVectorIndexes(ctx, conn, id); err != nil {
		return total, err
	}
	// Documents a writer added after the mark (it had read the collection
	// before) go by cascade, with the cells and statistics they made.
	if _, err := conn.Exec(ctx, `DELETE FROM collections WHERE id = $1 AND deleted_at IS NOT NULL`, id); err != nil {
		return total, fmt.Errorf("document: purge: delete collection row: %w", pg.Interpret(err))
	}
	return total, nil
}

// dropVectorIndexes drops a purged collection's vector indexes
// (features/vector.sql) CONCURRENTLY, as a plain DROP INDEX would lock the
// documents table of every collection.
func dropVectorIndexes(ctx context.Context, conn *pgxpool.Conn, id int64) error {
	rows, err := conn.Query(ctx, `SELECT indexname FROM pg_indexes
		WHERE schemaname = current_schema() AND tablename = 'documents'
		  AND indexname LIKE format('documents\_embedding\_c%s\_%%', $1::bigint)`, id)
	if err != nil {
		return fmt.Errorf("document: purge: indexes: %w", pg.Interpret(err))
	}
	idx, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("document: purge: indexes: %w", pg.Interpret(err))
	}
	for _, name := range idx {
		if _, err := conn.Exec(ctx, `DROP INDEX CONCURRENTLY IF EXISTS `+pgx.Identifier{name}.Sanitize()); err != nil {
			return fmt.Errorf("document: purge: drop index %s: %w", name, pg.Interpret(err))
		}
	}
	return nil
}

// clearDerived deletes the collection's cluster cells and extent
// statistics (geo's, derived from its documents) before its documents go:
// each batch's delete trigger then finds no cell whose representative it
// has to look up again, which on a large collection would read much of it
// per batch. The locks are the ones geo's triggers take; a writer of the
// collection that started before the delete may still hold them, so this
// waits for it.
func clearDerived(ctx context.Context, conn *pgxpool.Conn, id int64) error {
	err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		b.Queue(`SELECT pg_advisory_xact_lock($1, ($2 % 2147483647)::int), pg_advisory_xact_lock($3, ($2 % 2147483647)::int)`,
			clusterLockClass, id, statsLockClass)
		for _, t := range []string{"geo_cluster_cells", "geo_cluster_pending", "geo_collection_stats", "geo_collection_stats_pending"} {
			b.Queue(`DELETE FROM `+t+` WHERE collection_id = $1`, id)
		}
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return fmt.Errorf("document: purge collection %d: clear cells and statistics: %w", id, pg.Interpret(err))
	}
	return nil
}

// purgeBatch deletes up to DeleteBatch documents of collection id in one
// transaction and queues the files of their photos; it returns how many
// documents and files.
func (l *Lifecycle) purgeBatch(ctx context.Context, conn *pgxpool.Conn, id int64) (docs, files int, err error) {
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id FROM documents WHERE collection_id = $1 ORDER BY id LIMIT $2`, id, DeleteBatch)
		if err != nil {
			return err
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil || len(ids) == 0 {
			return err
		}
		tag, err := tx.Exec(ctx, `INSERT INTO photo_file_removals (sha256, storage_key)
			SELECT sha256, storage_key FROM photos WHERE document_id = ANY($1)
			ON CONFLICT (sha256) DO NOTHING`, ids)
		if err != nil {
			return err
		}
		files = int(tag.RowsAffected())
		tag, err = tx.Exec(ctx, `DELETE FROM documents WHERE id = ANY($1) AND collection_id = $2`, ids, id)
		docs = int(tag.RowsAffected())
		return err
	})
	if err != nil {
		return 0, 0, fmt.Errorf("document: purge collection %d: %w", id, pg.Interpret(err))
	}
	return docs, files, nil
}

func (l *Lifecycle) removeFiles(ctx context.Context) error {
	if l.cfg.Files == nil {
		return nil
	}
	if _, err := l.cfg.Files.RemoveQueuedFiles(ctx); err != nil {
		return fmt.Errorf("document: purge: remove files: %w", err)
	}
	return nil
}

// ResumeDeletes purges every collection marked deleted that no other
// session is purging: run at start-up, it finishes the deletes of a process
// that died. It returns how many collections it finished.
func (l *Lifecycle) ResumeDeletes(ctx context.Context) (int, error) {
	rows, err := l.pool.Query(ctx, `SELECT id FROM collections WHERE deleted_at IS NOT NULL ORDER BY id`)
	if err != nil {
		return 0, fmt.Errorf("document: resume deletes: %w", pg.Interpret(err))
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return 0, fmt.Errorf("document: resume deletes: %w", pg.Interpret(err))
	}
	done := 0
	for _, id := range ids {
		n, err := l.Purge(ctx, id)
		if errors.Is(err, errPurgeBusy) {
			continue
		}
		if err != nil {
			return done, err
		}
		l.logger.Info("collection delete finished", "id", id, "documents", n)
		done++
	}
	return done, nil
}

// patchable lists the members PATCH /collections/{c} accepts.
var patchable = []string{"title", "description", "default_lang", "embedder", "embedding_model", "embedding_dim"}

// ParseCollectionPatch applies a PATCH /collections/{c} body (a JSON
// object; members present are set, embedding_dim may be null) to in. It
// reports whether the embedder, model or dimension is among the members.
func ParseCollectionPatch(body []byte, in *CollectionInput) (spec bool, err error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil || m == nil {
		return false, problem.Invalid("", "the body must be a JSON object of the members to change (%s)", strings.Join(patchable, ", "))
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		raw := m[k]
		switch k {
		case "name":
			return false, problem.Invalid("name", "a collection cannot be renamed: create a new one and load it")
		case "embedding_dim":
			var d *int
			if err := json.Unmarshal(raw, &d); err != nil {
				return false, problem.Invalid(k, "must be an integer within 1..16000, or null")
			}
			in.EmbeddingDim = d
			spec = true
		case "title", "description", "default_lang", "embedder", "embedding_model":
			var v *string
			if err := json.Unmarshal(raw, &v); err != nil || v == nil {
				return false, problem.Invalid(k, "must be a string")
			}
			switch k {
			case "title":
				in.Title = *v
			case "description":
				in.Description = *v
			case "default_lang":
				if *v == "" {
					return false, problem.Invalid(k, "must name a text search configuration (e.g. english, german, simple)")
				}
				in.DefaultLang = *v
			case "embedder":
				if *v == "" {
					return false, problem.Invalid(k, "must name an embedder")
				}
				in.Embedder, spec = *v, true
			case "embedding_model":
				in.EmbeddingModel, spec = *v, true
			}
		default:
			return false, problem.Invalid(k, "unknown member; a collection's %s can be changed", strings.Join(patchable, ", "))
		}
	}
	return spec, nil
}

// UpdateCollection applies a PATCH body to the named collection and returns
// it as stored. check, when set, validates a changed embedder setting (as
// HandlerConfig.Embedders does for new collections).
//
// What a change does to the documents already stored: title and
// description change nothing else. default_lang is the language of
// documents written afterwards without their own; stored documents keep
// the language they were indexed with (re-writing a document without lang
// re-indexes it in the new one), and queries without lang parse their
// text in the new one. A changed embedder, model or dimension makes every
// computed vector stale: they are cleared (by a ReembedArgs job in batches
// when LifecycleConfig.Jobs is set, else in the same transaction) and the
// documents queued for re-embedding (Reembed), so semantic search finds
// each document again once its new vector is stored; a collection changed
// to embedder "none" keeps its vectors, and a dimension change of a
// collection that holds client vectors (embedder "none") is refused with
// problem.ErrConflict. It returns problem.ErrNotFound for an unknown
// collection.
func (l *Lifecycle) UpdateCollection(ctx context.Context, name string, body []byte, check func(*CollectionInput) error) (*Collection, error) {
	out := &Collection{}
	var reembed, queued bool
	err := pgx.BeginFunc(ctx, l.pool, func(tx pgx.Tx) error {
		var in CollectionInput
		var dim *int32
		err := tx.QueryRow(ctx, `SELECT id, name, title, description, default_lang::text, embedder, embedding_model, embedding_dim
			FROM collections WHERE name = $1 AND deleted_at IS NULL FOR UPDATE`, name).
			Scan(&out.ID, &in.Name, &in.Title, &in.Description, &in.DefaultLang, &in.Embedder, &in.EmbeddingModel, &dim)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("collection %q: %w", name, problem.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("document: update collection %q: %w", name, pg.Interpret(err))
		}
		if dim != nil {
			d := int(*dim)
			in.EmbeddingDim = &d
		}
		old := in
		spec, err := ParseCollectionPatch(body, &in)
		if err != nil {
			return err
		}
		if err := checkCollection(ctx, tx, &in); err != nil {
			return err
		}
		changed := in.Embedder != old.Embedder || in.EmbeddingModel != old.EmbeddingModel ||
			(in.EmbeddingDim == nil) != (old.EmbeddingDim == nil) ||
			(in.EmbeddingDim != nil && old.EmbeddingDim != nil && *in.EmbeddingDim != *old.EmbeddingDim)
		if spec && changed && check != nil {
			if err := check(&in); err != nil {
				return err
			}
		}
		err = tx.QueryRow(ctx, `UPDATE collections SET title = $2, description = $3, default_lang = $4::regconfig,
			       embedder = $5, embedding_model = $6, embedding_dim = $7, updated_at = now()
			 WHERE id = $1
			RETURNING id, name, title, description, default_lang::text, embedder, embedding_model, embedding_dim, created_at`,
			out.ID, in.Title, in.Description, in.DefaultLang, in.Embedder, in.EmbeddingModel, in.EmbeddingDim).
			Scan(&out.ID, &out.Name, &out.Title, &out.Description, &out.DefaultLang, &out.Embedder, &out.EmbeddingModel, &out.EmbeddingDim, &out.CreatedAt)
		if err != nil {
			if pg.Code(err) == "55000" { // vector.sql: client vectors of another dimension
				return fmt.Errorf("%s: %w", pgMessage(err), problem.ErrConflict)
			}
			return interpret("update collection", err)
		}
		// "none" is the embedder of client-provided vectors (embed.KindNone).
		reembed = changed && in.Embedder != "none" && in.EmbeddingDim != nil
		if reembed {
			if queued, err = l.dropVectors(ctx, tx, out.ID, name); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, CollectionChangesChannel, CollectionChangePrefix+fmt.Sprint(out.ID)); err != nil {
			return fmt.Errorf("document: update collection %q: %w", name, pg.Interpret(err))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if reembed && !queued {
		l.queueReembed(ctx, name)
	}
	out.Reembedding = reembed
	return out, nil
}

// dropVectors makes a collection whose embedder changed lose its vectors:
// through a job when there is a queue (a large collection takes minutes),
// else at once in tx. queued says a job will also queue the re-embedding.
func (l *Lifecycle) dropVectors(ctx context.Context, tx pgx.Tx, id int64, name string) (queued bool, err error) {
	var hasVec bool
	if err := tx.QueryRow(ctx, `SELECT to_regtype('vector') IS NOT NULL`).Scan(&hasVec); err != nil {
		return false, fmt.Errorf("document: update collection %q: %w", name, pg.Interpret(err))
	}
	switch {
	case !hasVec:
		return false, nil
	case l.cfg.Jobs != nil:
		if _, err := l.cfg.Jobs.InsertTx(ctx, tx, ReembedArgs{CollectionID: id, Name: name}, nil); err != nil {
			return false, fmt.Errorf("document: queue re-embedding of %q: %w", name, err)
		}
		return true, nil
	default:
		if _, err := tx.Exec(ctx, `UPDATE documents SET embedding = NULL WHERE collection_id = $1 AND embedding IS NOT NULL`, id); err != nil {
			return false, fmt.Errorf("document: clear vectors of %q: %w", name, pg.Interpret(err))
		}
		return false, nil
	}
}

// queueReembed runs the Reembed hook; a failure is only logged: the
// embedding sweep embeds documents without a vector all the same, within
// its interval.
func (l *Lifecycle) queueReembed(ctx context.Context, name string) {
	if l.cfg.Reembed == nil {
		return
	}
	err := l.cfg.Reembed(ctx, name)
	var ve *problem.ValidationError
	if err != nil && !errors.Is(err, problem.ErrExtensionMissing) && !errors.Is(err, problem.ErrNotFound) && !errors.As(err, &ve) {
		l.logger.Warn("re-embedding not queued; the embedding sweep will do it", "collection", name, "err", err)
	}
}

// ReembedArgs is the River job that clears the vectors of a collection
// whose embedder changed, in batches, and then queues its re-embedding.
type ReembedArgs struct {
	CollectionID int64  `json:"collection_id"`
	Name         string `json:"name"`
}

// Kind implements river.JobArgs.
func (ReembedArgs) Kind() string { return "geoseek.collection_reembed" }

// InsertOpts implements river.JobArgsWithInsertOpts. Not unique: each
// change of embedder clears what was computed before it.
func (ReembedArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{MaxAttempts: 25} }

// ReembedWorker works ReembedArgs.
type ReembedWorker struct {
	river.WorkerDefaults[ReembedArgs]
	lc *Lifecycle
}

// Timeout implements river.Worker; a retry starts over, which costs only
// the clearing of vectors computed meanwhile.
func (w *ReembedWorker) Timeout(*river.Job[ReembedArgs]) time.Duration { return time.Hour }

// Work implements river.Worker.
func (w *ReembedWorker) Work(ctx context.Context, job *river.Job[ReembedArgs]) error {
	n, err := w.lc.ReembedCollection(ctx, job.Args.CollectionID, job.Args.Name)
	if err != nil {
		return err
	}
	w.lc.logger.Info("collection vectors cleared for re-embedding", "collection", job.Args.Name, "cleared", n)
	return nil
}

// ReembedCollection clears the vectors of collection id in batches of
// DeleteBatch (each its own transaction, so no large update holds the
// documents' row locks) and then queues the re-embedding of its documents
// without a vector (LifecycleConfig.Reembed). A vector computed with the
// new settings while it runs may be cleared again; it is recomputed. It
// returns how many vectors it cleared.
func (l *Lifecycle) ReembedCollection(ctx context.Context, id int64, name string) (int64, error) {
	var total int64
	after := int64(0)
	for {
		var n int64
		var last *int64
		err := l.pool.QueryRow(ctx, `WITH b AS (
				SELECT id FROM documents WHERE collection_id = $1 AND id > $2 AND embedding IS NOT NULL ORDER BY id LIMIT $3
			), u AS (
				UPDATE documents d SET embedding = NULL FROM b WHERE d.id = b.id RETURNING d.id
			)
			SELECT count(*), max(id) FROM u`, id, after, DeleteBatch).Scan(&n, &last)
		if err != nil {
			return total, fmt.Errorf("document: clear vectors of %q: %w", name, pg.Interpret(err))
		}
		total += n
		if last == nil {
			break
		}
		after = *last
	}
	l.queueReembed(ctx, name)
	return total, nil
}

func pgMessage(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		if pgErr.Hint != "" {
			return pgErr.Message + " (" + pgErr.Hint + ")"
		}
		return pgErr.Message
	}
	return err.Error()
}
