package ingest

import (
	"context"
	"encoding/hex"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/geoseek/geoseek/document"
	"github.com/geoseek/geoseek/internal/pg"
)

// Concurrent ingests share transactions.
//
// Each ingest hashes its file and reads its metadata on its own goroutine,
// then hands the photo to a committer (two goroutines per Service) that
// writes the rows. A committer takes every photo that is ready then or
// within batchLinger (up to maxBatch), names their places in one query and
// stores them in one transaction: one lock round trip for all their hashes,
// their files committed in parallel, and one multi-row statement each for
// the documents and the photo rows. The statements are what costs: a
// document written alone costs PostgreSQL about 0.8 ms of CPU, most of it
// the per-statement work of the triggers on documents, against about 0.3 ms
// per document in a statement of eight (pgbench, photo-like documents).
// Eight single-row statements in one transaction cost as much as eight
// transactions.
//
// A batch is all or nothing. When it fails (one photo's row is refused, a
// hook fails), it rolls back and each of its photos is stored alone, as
// before batching, so one bad photo still fails alone.

// maxBatch bounds the photos of one transaction.
const maxBatch = 32

// committers is how many batches are in flight at once: while one waits for
// its commit (a WAL flush) and its files' renames, the next one's rows are
// written. With one, every waiting upload waited for the batch in flight.
const committers = 2

// batchLinger is how long a committer waits for more photos once it has
// one: next to the file and commit fsyncs of a photo it is small.
const batchLinger = 2 * time.Millisecond

// batchTimeout bounds one batch's database work. A batch outlives the
// requests in it (a photo whose file is being committed cannot be dropped
// half way), so it does not use their contexts' deadlines.
const batchTimeout = 5 * time.Minute

type commitItem struct {
	ctx   context.Context
	name  string
	up    staged
	meta  *Meta
	place Place
	// countOnly: the caller needs only whether the photo was created (an
	// import), not the stored row, so a batch does not read it back.
	countOnly bool
	done      chan commitResult
}

type commitResult struct {
	photo   *Photo
	created bool
	err     error
}

// commitLoop is a committer. It runs for the life of the process: a
// Service is made once per process.
func (s *Service) commitLoop() {
	linger := time.NewTimer(0)
	<-linger.C
	for first := range s.commits {
		batch := []*commitItem{first}
		// Take what is ready, then wait up to batchLinger for more: other
		// ingests are usually a hash away from being ready, and a bigger
		// batch costs the database less per photo.
		linger.Reset(batchLinger)
	fill:
		for len(batch) < maxBatch {
			select {
			case it := <-s.commits:
				batch = append(batch, it)
			case <-linger.C:
				break fill
			}
		}
		if !linger.Stop() {
			select {
			case <-linger.C:
			default:
			}
		}
		s.commitBatch(batch)
	}
}

func (s *Service) commitBatch(batch []*commitItem) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(batch[0].ctx), batchTimeout)
	defer cancel()
	results := make([]commitResult, len(batch))
	if err := s.namePlaces(ctx, batch); err != nil {
		for _, it := range batch {
			it.done <- commitResult{err: err}
		}
		return
	}
	if len(batch) == 1 {
		results[0] = s.commitOne(ctx, batch[0])
	} else if err := s.commitMany(ctx, batch, results); err != nil {
		s.log.Debug("ingest: batch rolled back, storing its photos one by one", "photos", len(batch), "err", err)
		for i, it := range batch {
			results[i] = s.commitOne(ctx, it)
		}
	}
	for i, it := range batch {
		it.done <- results[i]
	}
}

// namePlaces looks up the places of the batch's geotagged photos, in one
// statement.
func (s *Service) namePlaces(ctx context.Context, batch []*commitItem) error {
	var lons, lats []float64
	var at []*commitItem
	for _, it := range batch {
		if it.meta.HasGPS() {
			lons, lats, at = append(lons, *it.meta.Lon), append(lats, *it.meta.Lat), append(at, it)
		}
	}
	if len(at) == 0 {
		return nil
	}
	places, err := lookupPlacesAt(ctx, s.pool, lons, lats)
	if err != nil {
		return err
	}
	for i, it := range at {
		it.place = places[i]
	}
	return nil
}

// committed is a staged file whose Commit already ran (in a batch that then
// rolled back): storing it alone must not commit it again.
type committed struct {
	staged
	key string
}

func (c committed) Commit() (string, error) { return c.key, nil }

// commitMany stores batch in one transaction and fills results. On error
// nothing is stored, and photos whose files were committed carry them as
// committed for commitOne.
func (s *Service) commitMany(ctx context.Context, batch []*commitItem, results []commitResult) error {
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

	// Photos with the same bytes form a group; the first of each is stored.
	type group struct {
		sum   []byte
		items []int
		key   string
		err   error
		doc   *document.Doc
		row   []any
	}
	byHex := map[string]*group{}
	var groups []*group
	for i, it := range batch {
		h := hex.EncodeToString(it.up.Sum())
		g := byHex[h]
		if g == nil {
			g = &group{sum: it.up.Sum()}
			byHex[h] = g
			groups = append(groups, g)
		}
		g.items = append(g.items, i)
	}
	// The hash locks in one order for every batch, so two committers (of
	// two processes) cannot deadlock; lookups after them see photos
	// committed by whoever held them before.
	sort.Slice(groups, func(i, j int) bool { return shaLockKey(groups[i].sum) < shaLockKey(groups[j].sum) })
	sums := make([][]byte, len(groups))
	b := &pgx.Batch{}
	b.Queue(genericPlans)
	for i, g := range groups {
		sums[i] = g.sum
		b.Queue(`SELECT pg_advisory_xact_lock($1)`, shaLockKey(g.sum))
	}
	b.Queue(`SELECT`+photoCols+photoFrom+`WHERE p.sha256 = ANY($1)`, sums)
	existing := map[string]*Photo{}
	br := tx.SendBatch(ctx, b)
	for range len(groups) + 1 { // the settings, then each lock
		if _, err := br.Exec(); err != nil {
			br.Close()
			return fmt.Errorf("ingest: lock: %w", pg.Interpret(err))
		}
	}
	rows, err := br.Query()
	if err == nil {
		for rows.Next() {
			p, err := scanPhoto(rows)
			if err != nil {
				rows.Close()
				br.Close()
				return fmt.Errorf("ingest: photos by sha256: %w", err)
			}
			existing[p.SHA256] = p
		}
		rows.Close()
		err = rows.Err()
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("ingest: photos by sha256: %w", pg.Interpret(err))
	}

	// Commit the new files in parallel (each is an fsync or two, mostly
	// waiting for the disk) while their rows are written: the rows only
	// have to wait for the files before COMMIT. A file that fails fails the
	// batch, and commitOne then fails just that photo. The storage key is
	// the hash's, known before the file is in place.
	var fresh []*group
	for _, g := range groups {
		if p := existing[hex.EncodeToString(g.sum)]; p != nil {
			for _, i := range g.items {
				results[i] = commitResult{photo: p}
			}
			continue
		}
		g.key = Key(g.sum)
		fresh = append(fresh, g)
	}
	var wg sync.WaitGroup
	for _, g := range fresh {
		wg.Go(func() {
			key, err := batch[g.items[0]].up.Commit()
			if err == nil && key != g.key {
				err = fmt.Errorf("ingest: stored under %s, not %s", key, g.key)
			}
			g.err = err
		})
	}
	// Every return below waits for the files first: a committed file is
	// handed to commitOne as committed (see the end), and an error must
	// not leave a Commit running behind it.
	filesDone := false
	waitFiles := func() error {
		if !filesDone {
			wg.Wait()
			filesDone = true
			for _, g := range fresh {
				if it := batch[g.items[0]]; g.err == nil {
					it.up = committed{staged: it.up, key: g.key}
				}
			}
		}
		for _, g := range fresh {
			if g.err != nil {
				return g.err
			}
		}
		return nil
	}
	defer waitFiles() //nolint:errcheck // the error is returned where it matters

	var docs []*document.Doc
	for _, g := range fresh {
		it := batch[g.items[0]]
		taken, hasTime := resolveTaken(it.meta)
		g.doc = photoDocument(it.name, g.sum, it.meta, it.place, taken, hasTime)
		if g.row, err = photoRow(g.sum, it.up.Size(), g.key, it.name, it.meta, taken, hasTime); err != nil {
			return err
		}
		docs = append(docs, g.doc)
	}
	if len(fresh) > 0 {
		if err := document.InsertMany(ctx, tx, docs); err != nil {
			return err
		}
		ids := make([]int64, len(fresh))
		args := make([]any, 0, len(fresh)*24)
		var vals strings.Builder
		for i, g := range fresh {
			ids[i] = g.doc.ID
			if i > 0 {
				vals.WriteString(", ")
			}
			n := len(args)
			vals.WriteString("(")
			for c := 1; c <= 24; c++ {
				if c > 1 {
					vals.WriteString(", ")
				}
				fmt.Fprintf(&vals, "$%d%s", n+c, photoCasts[c])
			}
			vals.WriteString(")")
			args = append(append(args, g.doc.ID), g.row...)
		}
		if _, err := tx.Exec(ctx, insertPhotos+vals.String(), args...); err != nil {
			return fmt.Errorf("ingest: insert photos: %w", pg.Interpret(err))
		}
		if err := s.queueJobs(ctx, tx, ids); err != nil {
			return err
		}
		// Read back the rows that a caller will show (uploads answer with
		// the photo); an import only counts them.
		wantsRow := func(g *group) bool {
			return slices.ContainsFunc(g.items, func(k int) bool { return !batch[k].countOnly })
		}
		var read []int64
		for _, g := range fresh {
			if wantsRow(g) {
				read = append(read, g.doc.ID)
			}
		}
		byID, err := readPhotos(ctx, tx, read)
		if err != nil {
			return err
		}
		for _, g := range fresh {
			p := byID[g.doc.ID]
			if p == nil && wantsRow(g) {
				return fmt.Errorf("ingest: photo %d not read back", g.doc.ID)
			}
			for k, i := range g.items {
				results[i] = commitResult{photo: p, created: k == 0}
			}
		}
	}
	if err := waitFiles(); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		// As for one photo: the committed files stay, and the sweeper
		// adopts them if their rows did not commit.
		err = fmt.Errorf("ingest: commit: %w", pg.Interpret(err))
		for i := range results {
			results[i] = commitResult{err: err}
		}
		return nil
	}
	return nil
}

// readPhotos reads the photos with these document ids, EXIF included.
func readPhotos(ctx context.Context, tx pgx.Tx, ids []int64) (map[int64]*Photo, error) {
	byID := make(map[int64]*Photo, len(ids))
	if len(ids) == 0 {
		return byID, nil
	}
	rows, err := tx.Query(ctx, `SELECT`+photoCols+`, p.exif::text`+photoFrom+`WHERE p.document_id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("ingest: read photos: %w", pg.Interpret(err))
	}
	defer rows.Close()
	for rows.Next() {
		var exifJSON []byte
		p, err := scanPhoto(rows, &exifJSON)
		if err != nil {
			return nil, fmt.Errorf("ingest: read photos: %w", err)
		}
		p.EXIF = exifJSON
		byID[p.ID] = p
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ingest: read photos: %w", pg.Interpret(err))
	}
	return byID, nil
}

const insertPhotos = `
INSERT INTO photos (document_id, sha256, size_bytes, mime, original_name, storage_key,
    width, height, taken_at, taken_local, utc_offset_minutes, tz_source, tz_name,
    camera_make, camera_model, lens, orientation, lat, lon, alt_m, img_direction,
    gps_ref_missing, exif, exif_error)
VALUES `

// photoCasts are insertPhoto's casts by parameter number.
var photoCasts = map[int]string{10: "::timestamp", 23: "::jsonb"}
