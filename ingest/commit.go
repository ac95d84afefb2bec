package ingest

import (
	"context"
	"encoding/hex"
	"fmt"
	"slices"
	"sort"
	"sync"

	"github.com/jackc/pgx/v5"

	"github.com/geoseek/geoseek/document"
	"github.com/geoseek/geoseek/internal/pg"
)

// The one commit path: every photo, uploaded alone or imported with
// thousands, is stored by store, in a batch of one or more.

// genericPlans, first in a transaction (or a batch, which is one), makes
// its prepared statements run on generic plans. The ingest statements are
// lookups by unique keys, inserts and a GiST probe per point, whose plans do
// not depend on their parameters; custom plans were replanned at every
// execution (PostgreSQL keeps custom plans when the generic one's estimate
// for an array parameter looks dearer), a fifth of PostgreSQL's CPU per
// photo in the import (see docs/performance.md).
const genericPlans = `SELECT set_config('plan_cache_mode', 'force_generic_plan', true)`

// shaGroup is the photos of a batch with the same bytes; the first of them
// is stored, the others get its photo.
type shaGroup struct {
	sum   []byte
	items []int // indexes into the batch
	key   string
	err   error // of committing the file
	id    int64 // the new photo's, once written
}

// store stores batch in one transaction and fills results: under the
// hashes' locks it finds the photos stored before, commits the new files
// and writes their rows. On error nothing is stored. A batch of more than
// one is then retried photo by photo (commitBatch): its committed files are
// handed on as committed. A batch of one is the last try: its file is taken
// back out while the locks are still held.
func (s *Service) store(ctx context.Context, batch []*commitItem, results []commitResult) (err error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("ingest: acquire: %w", err)
	}
	defer conn.Release()
	tx, err := conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("ingest: begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck

	groups := groupBySHA(batch)
	existing, err := lockAndFind(ctx, tx, groups)
	if err != nil {
		return err
	}
	var fresh []*shaGroup
	for _, g := range groups {
		if p := existing[hex.EncodeToString(g.sum)]; p != nil {
			for _, i := range g.items {
				results[i] = commitResult{photo: p, id: p.ID}
			}
			continue
		}
		g.key = Key(g.sum)
		fresh = append(fresh, g)
	}

	// The files are committed (each an fsync or two, mostly waiting for the
	// disk) while the rows are written: the rows only wait for them before
	// COMMIT. Every return below waits for the files first, so no Commit
	// runs on behind an error.
	files := s.commitFiles(batch, fresh)
	defer func() {
		if ferr := files.wait(); err == nil {
			err = ferr
		}
		if err != nil && len(batch) == 1 {
			s.undoFiles(batch, fresh)
		}
	}()
	if len(fresh) > 0 {
		if err := s.writeRows(ctx, tx, batch, fresh); err != nil {
			return err
		}
		if err := readBack(ctx, tx, batch, fresh, results); err != nil {
			return err
		}
	}
	if err := files.wait(); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		// The committed files stay, and the sweeper adopts them if their
		// rows did not commit, as after a crash.
		err = fmt.Errorf("ingest: commit: %w", pg.Interpret(err))
		for i := range results {
			results[i] = commitResult{err: err}
		}
	}
	return nil
}

// groupBySHA groups batch by content, in the order of the hashes' lock
// keys: every batch takes its locks in one order, so two committers (of two
// processes) cannot deadlock.
func groupBySHA(batch []*commitItem) []*shaGroup {
	byHex := make(map[string]*shaGroup, len(batch))
	var groups []*shaGroup
	for i, it := range batch {
		h := hex.EncodeToString(it.up.Sum())
		g := byHex[h]
		if g == nil {
			g = &shaGroup{sum: it.up.Sum()}
			byHex[h] = g
			groups = append(groups, g)
		}
		g.items = append(g.items, i)
	}
	sort.Slice(groups, func(i, j int) bool { return shaLockKey(groups[i].sum) < shaLockKey(groups[j].sum) })
	return groups
}

// lockAndFind takes the transaction-level advisory locks of the groups'
// hashes, held to commit, and returns the photos stored with those bytes by
// hex SHA-256. A concurrent ingest of the same bytes waits on the lock, then
// finds the photo this transaction commits: the statements go in one round
// trip, and in READ COMMITTED the lookup's snapshot is taken after the locks
// are granted.
func lockAndFind(ctx context.Context, tx pgx.Tx, groups []*shaGroup) (map[string]*Photo, error) {
	sums := make([][]byte, len(groups))
	b := &pgx.Batch{}
	b.Queue(genericPlans)
	for i, g := range groups {
		sums[i] = g.sum
		b.Queue(`SELECT pg_advisory_xact_lock($1)`, shaLockKey(g.sum))
	}
	b.Queue(`SELECT`+photoSelect+photoFrom+`WHERE p.sha256 = ANY($1)`, sums)
	br := tx.SendBatch(ctx, b)
	defer br.Close()
	for range len(groups) + 1 { // the settings, then each lock
		if _, err := br.Exec(); err != nil {
			return nil, fmt.Errorf("ingest: lock: %w", pg.Interpret(err))
		}
	}
	rows, err := br.Query()
	if err != nil {
		return nil, fmt.Errorf("ingest: photos by sha256: %w", pg.Interpret(err))
	}
	found, err := collectPhotos(rows)
	if err != nil {
		return nil, fmt.Errorf("ingest: photos by sha256: %w", pg.Interpret(err))
	}
	existing := make(map[string]*Photo, len(found))
	for _, p := range found {
		existing[p.SHA256] = p
	}
	if err := br.Close(); err != nil {
		return nil, fmt.Errorf("ingest: photos by sha256: %w", pg.Interpret(err))
	}
	return existing, nil
}

// fileCommits are the new files of a batch being committed.
type fileCommits struct {
	wg    sync.WaitGroup
	batch []*commitItem
	fresh []*shaGroup
	done  bool
}

// commitFiles starts committing the files of the fresh groups, in
// parallel. The storage key is the hash's, known before the file is in
// place.
func (s *Service) commitFiles(batch []*commitItem, fresh []*shaGroup) *fileCommits {
	f := &fileCommits{batch: batch, fresh: fresh}
	for _, g := range fresh {
		f.wg.Go(func() {
			key, err := batch[g.items[0]].up.Commit()
			if err == nil && key != g.key {
				err = fmt.Errorf("ingest: stored under %s, not %s", key, g.key)
			}
			g.err = err
		})
	}
	return f
}

// wait waits for the files and returns the first error. A committed file's
// item carries it as committed from then on, so that a retry does not
// commit it again.
func (f *fileCommits) wait() error {
	if !f.done {
		f.wg.Wait()
		f.done = true
		for _, g := range f.fresh {
			if it := f.batch[g.items[0]]; g.err == nil {
				it.up = committed{staged: it.up, key: g.key}
			}
		}
	}
	for _, g := range f.fresh {
		if g.err != nil {
			return g.err
		}
	}
	return nil
}

// undoFiles takes the committed files of a failed batch back out of the
// store. No row needs them (the lookup found none, and the locks are held
// until the rollback). Should COMMIT itself fail, the files stay and the
// sweeper adopts them, as after a crash.
func (s *Service) undoFiles(batch []*commitItem, fresh []*shaGroup) {
	for _, g := range fresh {
		if g.err != nil {
			continue
		}
		if err := batch[g.items[0]].up.Undo(g.key); err != nil {
			s.log.Warn("ingest: original of a failed insert not taken back", "key", g.key, "err", err)
		}
	}
}

// newPhoto is what the rows of a new photo are made of.
type newPhoto struct {
	name  string // the client's file name
	sum   []byte
	size  int64
	key   string
	meta  *Meta
	place Place
}

// insertPhotos writes the documents, the photo rows and the jobs of photos
// in tx, one statement each, and returns their document ids.
func (s *Service) insertPhotos(ctx context.Context, tx pgx.Tx, photos []newPhoto) ([]int64, error) {
	docs := make([]*document.Doc, len(photos))
	rows := make([]photoRow, len(photos))
	for i, np := range photos {
		taken, hasTime := resolveTaken(np.meta)
		docs[i] = photoDocument(np.name, np.sum, np.meta, np.place, taken, hasTime)
		var err error
		if rows[i], err = newPhotoRow(np.sum, np.size, np.key, np.name, np.meta, taken, hasTime); err != nil {
			return nil, err
		}
	}
	if err := document.InsertMany(ctx, tx, docs); err != nil {
		return nil, err
	}
	ids := make([]int64, len(photos))
	for i, d := range docs {
		ids[i], rows[i].DocumentID = d.ID, d.ID
	}
	if _, err := tx.Exec(ctx, s.photos.sql, s.photos.args(rows)...); err != nil {
		return nil, fmt.Errorf("ingest: insert photos: %w", pg.Interpret(err))
	}
	if err := s.queueJobs(ctx, tx, ids); err != nil {
		return nil, err
	}
	return ids, nil
}

// writeRows writes the rows of the fresh groups (insertPhotos) and sets
// their ids.
func (s *Service) writeRows(ctx context.Context, tx pgx.Tx, batch []*commitItem, fresh []*shaGroup) error {
	photos := make([]newPhoto, len(fresh))
	for i, g := range fresh {
		it := batch[g.items[0]]
		photos[i] = newPhoto{name: it.name, sum: g.sum, size: it.up.Size(), key: g.key, meta: it.meta, place: it.place}
	}
	ids, err := s.insertPhotos(ctx, tx, photos)
	if err != nil {
		return err
	}
	for i, g := range fresh {
		g.id = ids[i]
	}
	return nil
}

// readBack fills the results of the fresh groups, reading back the rows a
// caller will show (uploads answer with the photo); an import gets the ids
// the insert returned, without a read.
func readBack(ctx context.Context, tx pgx.Tx, batch []*commitItem, fresh []*shaGroup, results []commitResult) error {
	wantsRow := func(g *shaGroup) bool {
		return slices.ContainsFunc(g.items, func(k int) bool { return !batch[k].countOnly })
	}
	var read []int64
	for _, g := range fresh {
		if wantsRow(g) {
			read = append(read, g.id)
		}
	}
	byID, err := readPhotos(ctx, tx, read)
	if err != nil {
		return err
	}
	for _, g := range fresh {
		p := byID[g.id]
		if p == nil && wantsRow(g) {
			return fmt.Errorf("ingest: photo %d not read back", g.id)
		}
		for k, i := range g.items {
			results[i] = commitResult{photo: p, id: g.id, created: k == 0}
		}
	}
	return nil
}

// readPhotos reads the photos with these document ids, EXIF included.
func readPhotos(ctx context.Context, tx pgx.Tx, ids []int64) (map[int64]*Photo, error) {
	byID := make(map[int64]*Photo, len(ids))
	if len(ids) == 0 {
		return byID, nil
	}
	rows, err := tx.Query(ctx, `SELECT`+photoSelect+`, p.exif::text AS exif`+photoFrom+`WHERE p.document_id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("ingest: read photos: %w", pg.Interpret(err))
	}
	photos, err := pgx.CollectRows(rows, scanPhotoEXIF)
	if err != nil {
		return nil, fmt.Errorf("ingest: read photos: %w", pg.Interpret(err))
	}
	for _, p := range photos {
		byID[p.ID] = p
	}
	return byID, nil
}
