package ingest

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/geoseek/geoseek/internal/pg"
)

// Deleted photos' files: the transaction that deletes a photo row records
// its original in photo_file_removals (migration 00047); the files go after
// it commits, and the record after them. A crash in between leaves the
// record, so the next RemoveQueuedFiles, or the start-up Sweep, removes the
// files instead of adopting the original back as a new photo.

// QueueRemovalSQL records the files of the photos of documents $1 (an
// array of ids) for removal; run it in the transaction that deletes them.
const QueueRemovalSQL = `INSERT INTO photo_file_removals (sha256, storage_key)
	SELECT sha256, storage_key FROM photos WHERE document_id = ANY($1)
	ON CONFLICT (sha256) DO NOTHING`

// removalPage is how many records RemoveQueuedFiles reads at a time.
const removalPage = 500

// RemoveQueuedFiles removes the original and thumbnails of every SHA-256
// recorded in photo_file_removals, unless a photos row has those bytes again
// (uploaded anew since), and drops the records. It returns how many
// originals it removed.
func (s *Service) RemoveQueuedFiles(ctx context.Context) (int, error) {
	removed := 0
	var after []byte
	for {
		rows, err := s.pool.Query(ctx, `SELECT sha256, storage_key FROM photo_file_removals
			WHERE $1::bytea IS NULL OR sha256 > $1 ORDER BY sha256 LIMIT $2`, after, removalPage)
		if err != nil {
			return removed, fmt.Errorf("ingest: queued removals: %w", pg.Interpret(err))
		}
		type item struct {
			sum []byte
			key string
		}
		items, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (item, error) {
			var it item
			return it, r.Scan(&it.sum, &it.key)
		})
		if err != nil {
			return removed, fmt.Errorf("ingest: queued removals: %w", pg.Interpret(err))
		}
		for _, it := range items {
			err := s.withSHALock(ctx, it.sum, func(conn *pgxpool.Conn) error {
				gone, err := s.removeQueued(ctx, conn, it.sum, it.key)
				if gone {
					removed++
				}
				return err
			})
			if err != nil {
				return removed, err
			}
		}
		if len(items) < removalPage {
			return removed, nil
		}
		after = items[len(items)-1].sum
	}
}

// removeQueued removes the files of sum unless a photo row has them, then
// its removal record; the caller holds sum's lock on conn. removed says
// whether the original was removed.
func (s *Service) removeQueued(ctx context.Context, conn *pgxpool.Conn, sum []byte, key string) (removed bool, err error) {
	var kept bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM photos WHERE sha256 = $1)`, sum).Scan(&kept); err != nil {
		return false, fmt.Errorf("ingest: remove files: %w", pg.Interpret(err))
	}
	if !kept {
		s.removeThumbnails(sum)
		if err := s.originals.Remove(key); err != nil {
			return false, fmt.Errorf("ingest: remove original %s: %w", key, err)
		}
	}
	if _, err := conn.Exec(ctx, `DELETE FROM photo_file_removals WHERE sha256 = $1`, sum); err != nil {
		return false, fmt.Errorf("ingest: remove files: %w", pg.Interpret(err))
	}
	return !kept, nil
}
