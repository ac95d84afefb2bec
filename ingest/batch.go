package ingest

import (
	"context"
	"time"
)

// Concurrent ingests share transactions.
//
// Each ingest hashes its file and reads its metadata on its own goroutine,
// then hands the photo to a committer (two goroutines per Service) that
// writes the rows. A committer takes every photo that is ready then or
// within batchLinger (up to maxBatch), names their places in one query and
// stores them in one transaction: one lock round trip for all their hashes,
// their files committed in parallel, and one multi-row statement each for
// the documents and the photo rows. The statements are what costs: most of
// a document written alone is the per-statement work of the triggers on
// documents, which a statement of many rows pays once (docs/performance.md).
// Eight single-row statements in one transaction cost as much as eight
// transactions.
//
// A batch is all or nothing (Service.store, commit.go). When it fails (one
// photo's row is refused, a hook fails), it rolls back and each of its
// photos is stored alone, as a batch of one, so one bad photo still fails
// alone. An upload's photo that finds no other ready is a batch of one too:
// there is one path from a staged file to a committed row.

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
	photo *Photo // nil for a countOnly item's new photo (not read back)
	// id is the photo's id, set whenever err is nil: a new photo's comes
	// from its insert, so a countOnly item gets it without a read.
	id      int64
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
	if err := s.store(ctx, batch, results); err != nil {
		if len(batch) == 1 {
			results[0] = commitResult{err: err}
		} else {
			s.log.Debug("ingest: batch rolled back, storing its photos one by one", "photos", len(batch), "err", err)
			for i := range batch {
				if err := s.store(ctx, batch[i:i+1], results[i:i+1]); err != nil {
					results[i] = commitResult{err: err}
				}
			}
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
// rolled back): storing it alone (a batch of one) must not commit it again.
type committed struct {
	staged
	key string
}

func (c committed) Commit() (string, error) { return c.key, nil }
