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
	Adopted     int `json:"adopted"`
	Deleted     int `json:"deleted"`
	Kept        int `json:"kept"`
}

// Sweep repairs the originals store after a crash; run it at start-up. Temp
// files not written for staleAfter are removed (a live upload writes
// continuously). An original with no photos row, which a crash between the
// rename and the commit leaves, is adopted: ingested again from the file,
// as a photo without a client file name; or deleted when
// Config.DeleteOrphans is set, or when its bytes do not match its name or
// are not an accepted image. Originals of deleted photos
// (photo_file_removals) are removed, never adopted. Every action is logged.
func (s *Service) Sweep(ctx context.Context, staleAfter time.Duration) (SweepReport, error) {
	var rep SweepReport
	// Files of deleted photos a crash left behind (photo_file_removals).
	n, err := s.RemoveQueuedFiles(ctx)
	if err != nil {
		return rep, fmt.Errorf("ingest: sweep: %w", err)
	}
	rep.Deleted += n
	tmp := filepath.Join(s.originals.root, "tmp")
	ents, err := os.ReadDir(tmp)
	if err != nil {
		return rep, fmt.Errorf("ingest: sweep: %w", err)
	}
	for _, e := range ents {
		info, err := e.Info()
		if err != nil || time.Since(info.ModTime()) < staleAfter {
			continue
		}
		if err := os.Remove(filepath.Join(tmp, e.Name())); err == nil {
			rep.TempRemoved++
			s.log.Info("ingest: sweep removed stale temp file", "file", e.Name(), "modified", info.ModTime())
		}
	}
	err = filepath.WalkDir(s.originals.root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path == tmp {
				return filepath.SkipDir
			}
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		sum, err := hex.DecodeString(d.Name())
		if err != nil || len(sum) != 32 {
			return nil // not ours
		}
		var exists bool
		if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM photos WHERE sha256 = $1)`, sum).Scan(&exists); err != nil {
			return err
		}
		if exists {
			rep.Kept++
			return nil
		}
		adopted, err := s.sweepOrphan(ctx, path, sum)
		if err != nil {
			return err
		}
		if adopted {
			rep.Adopted++
		} else {
			rep.Deleted++
		}
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("ingest: sweep: %w", err)
	}
	return rep, nil
}

// sweepOrphan adopts or deletes one original without a row, under its
// content lock so a concurrent upload of the same bytes is not disturbed.
func (s *Service) sweepOrphan(ctx context.Context, path string, sum []byte) (adopted bool, err error) {
	key := Key(sum)
	err = s.withSHALock(ctx, sum, func(conn *pgxpool.Conn) error {
		var exists, queued bool
		if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM photos WHERE sha256 = $1),
			EXISTS (SELECT 1 FROM photo_file_removals WHERE sha256 = $1)`, sum).Scan(&exists, &queued); err != nil {
			return err
		}
		if exists { // an upload committed it meanwhile
			adopted = true
			return nil
		}
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
				adopted = true
				return nil
			}
			reason = why
		}
		s.log.Warn("ingest: sweep deleted original without a row", "key", key, "reason", reason)
		return s.originals.Remove(key)
	})
	return adopted, err
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
		return 0, "not an accepted image type", nil
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
