package ingest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/geoseek/geoseek/internal/problem"
)

// UploadSweepReport says what one sweep of the resumable uploads did.
type UploadSweepReport struct {
	// Expired uploads were removed: not written to for the expiry.
	Expired int `json:"expired"`
	// Stored finished uploads whose storing had failed before.
	Stored int `json:"stored"`
	// Kept uploads are live, or in use by a request.
	Kept int `json:"kept"`
}

// Sweep removes the uploads (finished or not) not written to for the
// expiry, and stores finished uploads whose storing failed, so that no
// upload is silently dropped. An upload a request holds is left alone.
func (u *Uploads) Sweep(ctx context.Context) (UploadSweepReport, error) {
	var rep UploadSweepReport
	ents, err := os.ReadDir(u.dir)
	if err != nil {
		return rep, fmt.Errorf("ingest: upload sweep: %w", err)
	}
	// An upload's files share its id before the first dot.
	files := map[string][]os.DirEntry{}
	var ids []string
	for _, e := range ents {
		id, _, _ := strings.Cut(e.Name(), ".")
		if !uploadIDPattern.MatchString(id) || e.IsDir() {
			continue
		}
		if files[id] == nil {
			ids = append(ids, id)
		}
		files[id] = append(files[id], e)
	}
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		lock, ok := u.locks.tryLock(id)
		if !ok {
			rep.Kept++
			continue
		}
		err := u.sweepOne(ctx, id, files[id], &rep)
		_ = lock.Unlock()
		if err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// sweepOne sweeps upload id, whose lock the caller holds.
func (u *Uploads) sweepOne(ctx context.Context, id string, files []os.DirEntry, rep *UploadSweepReport) error {
	var last time.Time
	for _, e := range files {
		if strings.HasSuffix(e.Name(), ".lock") {
			// Taken by the sweep itself; says nothing of the upload.
			continue
		}
		if fi, err := e.Info(); err == nil && fi.ModTime().After(last) {
			last = fi.ModTime()
		}
	}
	info, err := u.info(ctx, id)
	switch {
	case errors.Is(err, problem.ErrNotFound):
		// Files without an info file (a crash while creating the upload,
		// or while terminating it).
	case err != nil:
		u.log.Warn("ingest: upload sweep: unreadable upload", "upload", id, "err", err)
	case !info.SizeIsDeferred && info.Offset == info.Size:
		if _, err := u.readResult(id); errors.Is(err, os.ErrNotExist) {
			fctx, cancel := context.WithTimeout(ctx, finalizeTimeout)
			_, err := u.finalize(fctx, info)
			cancel()
			if err == nil {
				rep.Stored++
				u.log.Info("ingest: upload sweep stored a finished upload", "upload", id)
				return nil
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			u.log.Warn("ingest: upload sweep: storing a finished upload failed", "upload", id, "err", err)
		}
	}
	if time.Since(last) < u.expiry {
		rep.Kept++
		return nil
	}
	// The lock file last: the caller holds it (taken after the listing).
	for _, name := range append(entryNames(files), id+".lock") {
		if err := os.Remove(u.path(name, "")); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("ingest: upload sweep: %w", err)
		}
	}
	rep.Expired++
	u.log.Info("ingest: upload expired", "upload", id, "last_write", last)
	return nil
}

// RunSweeps sweeps the uploads now and then every interval until ctx ends,
// passing each sweep's outcome to done (if set).
func (u *Uploads) RunSweeps(ctx context.Context, interval time.Duration, done func(UploadSweepReport, error)) {
	every(ctx, interval, func() {
		rep, err := u.Sweep(ctx)
		if err != nil && ctx.Err() == nil {
			u.log.Error("ingest: upload sweep failed", "err", err)
		} else if rep.Expired+rep.Stored > 0 {
			u.log.Info("ingest: uploads swept", "expired", rep.Expired, "stored", rep.Stored, "kept", rep.Kept)
		}
		if done != nil && ctx.Err() == nil {
			done(rep, err)
		}
	})
}

// every runs fn now and then every interval until ctx ends. A run that
// outlasts the interval delays the next one rather than overlapping it.
func every(ctx context.Context, interval time.Duration, fn func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		fn()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// entryNames are the names of ents, lock files left out.
func entryNames(ents []os.DirEntry) []string {
	var names []string
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".lock") {
			names = append(names, e.Name())
		}
	}
	return names
}
