package ingest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/geoseek/geoseek/internal/problem"
)

// SweepReport says what Sweep did.
type SweepReport struct {
	TempRemoved int `json:"temp_removed"`
	// TempInUse are stale temp files an upload still holds (a slow
	// client): never removed.
	TempInUse int `json:"temp_in_use"`
	Adopted   int `json:"adopted"`
	Deleted   int `json:"deleted"`
	Kept      int `json:"kept"`
}

// Sweep repairs the originals store after a crash; it runs at start-up and
// then periodically (RunSweeps). Temp files not written for staleAfter are
// removed, unless an upload still holds them (each upload holds a lock on
// its temp file, lockFile). An original with no photos row, which a crash
// between the rename and the commit leaves, is adopted: ingested again from
// the file, as a photo without a client file name; or deleted when
// Config.DeleteOrphans is set, or when its bytes do not match its name or
// are not an accepted image. Originals of deleted photos
// (photo_file_removals) are removed, never adopted. Every action is logged.
// Resumable uploads (<data dir>/uploads) are not its business but
// Uploads.Sweep's.
func (s *Service) Sweep(ctx context.Context, staleAfter time.Duration) (SweepReport, error) {
	var rep SweepReport
	// Files of deleted photos a crash left behind (photo_file_removals).
	n, err := s.RemoveQueuedFiles(ctx)
	if err != nil {
		return rep, fmt.Errorf("ingest: sweep: %w", err)
	}
	rep.Deleted += n
	if err := s.sweepTemp(staleAfter, &rep); err != nil {
		return rep, err
	}
	for i := range 256 {
		if err := s.sweepFanOut(ctx, filepath.Join(s.originals.root, fmt.Sprintf("%02x", i)), &rep); err != nil {
			return rep, fmt.Errorf("ingest: sweep: %w", err)
		}
	}
	return rep, nil
}

// sweepTemp removes the temp files not written for staleAfter that no
// upload holds.
func (s *Service) sweepTemp(staleAfter time.Duration, rep *SweepReport) error {
	tmp := filepath.Join(s.originals.root, "tmp")
	ents, err := os.ReadDir(tmp)
	if err != nil {
		return fmt.Errorf("ingest: sweep: %w", err)
	}
	for _, e := range ents {
		info, err := e.Info()
		if err != nil || time.Since(info.ModTime()) < staleAfter {
			continue
		}
		path := filepath.Join(tmp, e.Name())
		removed, err := removeUnheld(path)
		switch {
		case err != nil:
			s.log.Warn("ingest: sweep could not remove a stale temp file", "file", e.Name(), "err", err)
		case removed:
			rep.TempRemoved++
			s.log.Info("ingest: sweep removed stale temp file", "file", e.Name(), "modified", info.ModTime())
		default:
			rep.TempInUse++
		}
	}
	return nil
}

// sweepFanOut checks the originals of one fan-out directory against the
// photos table, in one query, and adopts or deletes those without a row.
func (s *Service) sweepFanOut(ctx context.Context, dir string, rep *SweepReport) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var sums [][]byte
	for _, e := range ents {
		if sum, err := hex.DecodeString(e.Name()); err == nil && len(sum) == 32 && !e.IsDir() {
			sums = append(sums, sum)
		}
	}
	if len(sums) == 0 {
		return nil
	}
	rows, err := s.pool.Query(ctx, `SELECT sha256 FROM photos WHERE sha256 = ANY($1)`, sums)
	if err != nil {
		return err
	}
	stored, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
	if err != nil {
		return err
	}
	have := make(map[string]bool, len(stored))
	for _, sum := range stored {
		have[string(sum)] = true
	}
	for _, sum := range sums {
		if have[string(sum)] {
			rep.Kept++
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		outcome, err := s.sweepOrphan(ctx, filepath.Join(dir, hex.EncodeToString(sum)), sum)
		if err != nil {
			return err
		}
		switch outcome {
		case orphanAdopted:
			rep.Adopted++
		case orphanDeleted:
			rep.Deleted++
		default:
			rep.Kept++
		}
	}
	return nil
}

// RunSweeps sweeps the originals store now and then every interval until
// ctx ends (temp files not written for tempAge are removed), passing each
// sweep's outcome to done (if set).
func (s *Service) RunSweeps(ctx context.Context, interval, tempAge time.Duration, done func(SweepReport, error)) {
	every(ctx, interval, func() {
		rep, err := s.Sweep(ctx, tempAge)
		if err != nil && ctx.Err() == nil {
			s.log.Error("ingest: sweep failed", "err", err)
		} else if rep.TempRemoved+rep.Adopted+rep.Deleted > 0 {
			s.log.Info("ingest: originals swept", "temp_removed", rep.TempRemoved, "temp_in_use", rep.TempInUse,
				"adopted", rep.Adopted, "deleted", rep.Deleted, "kept", rep.Kept)
		}
		if done != nil && ctx.Err() == nil {
			done(rep, err)
		}
	})
}

type orphanOutcome int

const (
	orphanKept    orphanOutcome = iota // a row appeared meanwhile
	orphanAdopted                      // ingested from the file
	orphanDeleted                      // removed
)

// sweepOrphan adopts or deletes one original without a row, under its
// content lock so a concurrent upload of the same bytes is not disturbed.
func (s *Service) sweepOrphan(ctx context.Context, path string, sum []byte) (outcome orphanOutcome, err error) {
	key := Key(sum)
	err = s.withSHALock(ctx, sum, func(conn *pgxpool.Conn) error {
		var exists, queued bool
		if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM photos WHERE sha256 = $1),
			EXISTS (SELECT 1 FROM photo_file_removals WHERE sha256 = $1)`, sum).Scan(&exists, &queued); err != nil {
			return err
		}
		if exists { // an upload committed it meanwhile
			outcome = orphanKept
			return nil
		}
		outcome = orphanDeleted
		if queued { // its photo was deleted: never adopt it back
			s.log.Info("ingest: sweep removed the original of a deleted photo", "key", key)
			_, err := s.removeQueued(ctx, conn, sum, key)
			return err
		}
		reason := "Config.DeleteOrphans is set"
		if !s.cfg.DeleteOrphans {
			id, why, err := s.adopt(ctx, conn, path, sum, key)
			if err != nil {
				return err
			}
			if why == "" {
				s.log.Info("ingest: sweep adopted original without a row", "key", key, "photo", id)
				outcome = orphanAdopted
				return nil
			}
			reason = why
		}
		s.log.Warn("ingest: sweep deleted original without a row", "key", key, "reason", reason)
		return s.originals.Remove(key)
	})
	return outcome, err
}

// adopt ingests an orphan file. why is non-empty when the file is not fit to
// keep.
func (s *Service) adopt(ctx context.Context, conn *pgxpool.Conn, path string, sum []byte, key string) (id int64, why string, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	h := sha256.New()
	size, err := io.Copy(h, f)
	if err != nil {
		return 0, "", err
	}
	if !bytes.Equal(h.Sum(nil), sum) {
		return 0, "content does not match its SHA-256 name", nil
	}
	m, err := ReadMeta(f, size)
	if errors.Is(err, problem.ErrUnsupportedMedia) {
		return 0, "not a photo: " + err.Error(), nil
	} else if err != nil {
		return 0, "", err
	}
	place, err := placeOf(ctx, conn, m)
	if err != nil {
		return 0, "", err
	}
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		ids, err := s.insertPhotos(ctx, tx, []newPhoto{{sum: sum, size: size, key: key, meta: m, place: place}})
		if err == nil {
			id = ids[0]
		}
		return err
	})
	if err != nil {
		return 0, "", fmt.Errorf("adopt %s: %w", strings.TrimPrefix(path, s.originals.root), err)
	}
	return id, "", nil
}
