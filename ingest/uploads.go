package ingest

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/tus/tusd/v2/pkg/filestore"
	tusd "github.com/tus/tusd/v2/pkg/handler"
	expslog "golang.org/x/exp/slog"

	"github.com/geoseek/geoseek/internal/problem"
)

// Resumable uploads (tus 1.0, github.com/tus/tusd/v2).
//
// A bulk client on a flaky link creates an upload (POST /uploads/ with
// Upload-Length and the file name in Upload-Metadata), sends its bytes in
// PATCH requests it can resume from the offset a HEAD returns, and reads the
// outcome at GET /uploads/{id}/result. The bytes go to <data dir>/uploads,
// on the originals' file system, so a finished upload is hard-linked into
// the store (no second copy) by the same pipeline as POST /photos:
// Service.ingest hashes, sniffs, reads the metadata and commits through the
// one commit path (batch.go, commit.go). The final PATCH answers only once
// that is done, and the outcome is kept in <id>.result (an upload's files:
// <id> the bytes, <id>.info tusd's state, <id>.result the outcome). The
// upload's name for the bytes stays until it expires: after a crash they
// are stored again (and found stored) instead of lost, and each upload
// costs no fsync beyond the pipeline's own.
//
// A finished upload whose storing failed for a passing reason (the database
// away) is stored again by the next GET of its result or by the sweep. An
// upload not written to for UploadExpiry is removed by the sweep, finished or
// not. One process serves a data directory's uploads: upload locks are held
// in memory.

// uploadIDPattern is what tusd's upload ids look like (16 random bytes in
// hex); anything else is not an upload, and never reaches a file path.
var uploadIDPattern = regexp.MustCompile(`^[0-9a-f]{32}$`)

// finalizeTimeout bounds storing a finished upload; it outlives the final
// PATCH's request (a client that goes away does not stop it half way).
const finalizeTimeout = 5 * time.Minute

// Uploads serves resumable (tus) uploads into the photo pipeline.
type Uploads struct {
	svc    *Service
	dir    string
	store  tusStore
	locks  *uploadLocks
	tus    *tusd.Handler
	expiry time.Duration
	log    *slog.Logger
}

// newUploads builds the tus handler over <data dir>/uploads.
func newUploads(s *Service) (*Uploads, error) {
	dir := filepath.Join(s.cfg.DataDir, "uploads")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("ingest: uploads dir: %w", err)
	}
	u := &Uploads{svc: s, dir: dir, locks: newUploadLocks(dir), expiry: s.cfg.UploadExpiry, log: s.log}
	fsStore := filestore.New(dir)
	fsStore.DirModePerm, fsStore.FileModePerm = 0o750, 0o600
	u.store = tusStore{FileStore: fsStore, u: u}
	composer := tusd.NewStoreComposer()
	composer.UseCore(u.store)
	composer.UseTerminater(u.store)
	composer.UseLengthDeferrer(u.store)
	composer.UseLocker(u.locks)
	h, err := tusd.NewHandler(tusd.Config{
		StoreComposer:        composer,
		BasePath:             "/uploads/",
		MaxSize:              s.cfg.MaxFileBytes,
		DisableDownload:      true,
		DisableConcatenation: true,
		Cors:                 &tusd.CorsConfig{Disable: true},
		// tusd logs every request and chunk; the access log covers them,
		// and its errors reach it through the answers (Handler.tus).
		Logger:                    expslog.New(expslog.NewTextHandler(io.Discard, nil)),
		NetworkTimeout:            s.cfg.UploadIdleTimeout,
		AcquireLockTimeout:        s.cfg.uploadLockWait,
		PreUploadCreateCallback:   u.preCreate,
		PreFinishResponseCallback: u.preFinish,
	})
	if err != nil {
		return nil, fmt.Errorf("ingest: tus handler: %w", err)
	}
	u.tus = h
	return u, nil
}

// Expiry is how long an upload is kept after its last write.
func (u *Uploads) Expiry() time.Duration { return u.expiry }

// uploadName is the client's file name from an upload's metadata (tus
// clients send "filename" or "name").
func uploadName(meta map[string]string) string {
	if n := meta["filename"]; n != "" {
		return cleanName(n)
	}
	return cleanName(meta["name"])
}

// preCreate keeps only the metadata geoseek uses: the cleaned file name.
func (u *Uploads) preCreate(ev tusd.HookEvent) (tusd.HTTPResponse, tusd.FileInfoChanges, error) {
	meta := map[string]string{}
	if n := uploadName(ev.Upload.MetaData); n != "" {
		meta["filename"] = n
	}
	return tusd.HTTPResponse{}, tusd.FileInfoChanges{MetaData: meta}, nil
}

// preFinish stores a finished upload before the final PATCH is answered:
// a 2xx means its photo is committed or its rejection recorded (read either
// at GET /uploads/{id}/result). A passing failure answers 503; the bytes
// stay and the result's GET or the sweep stores them.
func (u *Uploads) preFinish(ev tusd.HookEvent) (tusd.HTTPResponse, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ev.Context), finalizeTimeout)
	defer cancel()
	if _, err := u.finalize(ctx, ev.Upload); err != nil {
		u.log.ErrorContext(ctx, "ingest: storing a finished upload failed", "upload", ev.Upload.ID, "err", err)
		return tusd.HTTPResponse{}, tusd.NewError("ERR_STORE_FAILED",
			"the upload is complete but could not be stored yet; GET its result to retry", http.StatusServiceUnavailable)
	}
	return tusd.HTTPResponse{}, nil
}

// ErrUploadIncomplete is the result of an upload whose bytes are not all
// there yet.
var ErrUploadIncomplete = problem.Wrap(problem.ErrConflict, "the upload is not complete")

// Result returns the outcome of upload id: the photo created or found, or
// the reason the file was refused (FileResult.Error). It stores a finished
// upload whose storing failed before. problem.ErrNotFound for an unknown (or
// expired) upload; ErrUploadIncomplete (with the offset) while bytes are
// missing.
func (u *Uploads) Result(ctx context.Context, id string) (*FileResult, error) {
	if !uploadIDPattern.MatchString(id) {
		return nil, fmt.Errorf("%w: no upload %q", problem.ErrNotFound, id)
	}
	if r, err := u.readResult(id); err == nil {
		return r, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	// Wait for a PATCH in progress (it may be storing the upload) without
	// interrupting it.
	lock := &uploadLock{locks: u.locks, id: id}
	if err := lock.wait(ctx); err != nil {
		return nil, err
	}
	defer lock.Unlock() //nolint:errcheck
	info, err := u.info(ctx, id)
	if err != nil {
		return nil, err
	}
	if info.SizeIsDeferred || info.Offset < info.Size {
		return nil, fmt.Errorf("%w: %d of %d bytes received; resume with PATCH at Upload-Offset %d",
			ErrUploadIncomplete, info.Offset, info.Size, info.Offset)
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finalizeTimeout)
	defer cancel()
	return u.finalize(fctx, info)
}

// storeIfComplete stores upload id if all its bytes are there and its
// outcome is not recorded yet (its storing failed before). Anything else,
// unknown uploads included, is left to tusd.
func (u *Uploads) storeIfComplete(ctx context.Context, id string) error {
	if _, err := os.Stat(u.path(id, ".result")); err == nil {
		return nil
	}
	info, err := u.info(ctx, id)
	if err != nil || info.SizeIsDeferred || info.Offset < info.Size {
		return nil
	}
	if _, err := u.Result(ctx, id); err != nil {
		u.log.ErrorContext(ctx, "ingest: storing a finished upload failed", "upload", id, "err", err)
		return err
	}
	return nil
}

// info reads upload id's state: problem.ErrNotFound if there is none.
func (u *Uploads) info(ctx context.Context, id string) (tusd.FileInfo, error) {
	up, err := u.store.GetUpload(ctx, id)
	if errors.Is(err, tusd.ErrNotFound) {
		return tusd.FileInfo{}, fmt.Errorf("%w: no upload %s (unknown, terminated or expired)", problem.ErrNotFound, id)
	}
	if err != nil {
		return tusd.FileInfo{}, fmt.Errorf("ingest: upload %s: %w", id, err)
	}
	info, err := up.GetInfo(ctx)
	if err != nil {
		return tusd.FileInfo{}, fmt.Errorf("ingest: upload %s: %w", id, err)
	}
	return info, nil
}

// finalize stores finished upload info through the photo pipeline, under
// its lock, and records the outcome. It is idempotent: a recorded outcome
// is returned as it is, and the bytes stay (hard-linked into the store, no
// copy) until the upload expires, so a crash before the outcome is on disk
// only means storing them again (then found stored: 200). An error is a
// passing failure (nothing recorded, the bytes kept); a refused file is an
// outcome, not an error.
func (u *Uploads) finalize(ctx context.Context, info tusd.FileInfo) (*FileResult, error) {
	id := info.ID
	if r, err := u.readResult(id); err == nil {
		return r, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	name := uploadName(info.MetaData)
	bin := u.binPath(info)
	if _, err := os.Stat(bin); errors.Is(err, fs.ErrNotExist) {
		return u.settle(id, name, nil, false, fmt.Errorf("%w: the bytes of upload %s are gone; upload the file again", problem.ErrNotFound, id))
	}
	var up staged
	l, err := u.svc.originals.StageLink(bin, u.svc.cfg.MaxFileBytes)
	if err == nil && l == nil { // another file system than the store's: copy
		up, err = u.svc.stageFile(bin, false)
	} else if l != nil {
		up = l
	}
	if err != nil {
		return u.settle(id, name, nil, false, err)
	}
	p, created, err := u.svc.ingest(ctx, name, up)
	return u.settle(id, name, p, created, err)
}

// settle records the outcome of storing upload id. Bytes that became the
// stored original (one file, two names) stay until the upload expires, and
// the outcome is written without waiting for the disk (recomputed from them
// after a crash); other bytes (a duplicate, a refused file) are removed once
// the outcome is durable. A passing failure is returned as the error, and
// nothing is removed.
func (u *Uploads) settle(id, name string, p *Photo, created bool, err error) (*FileResult, error) {
	var res FileResult
	if err != nil {
		if d, known := problem.From(err); !known || d.Status >= http.StatusInternalServerError {
			return nil, fmt.Errorf("ingest: store upload %s: %w", id, err)
		}
		res = errorResult(name, err)
	} else {
		res = FileResult{File: name, Status: http.StatusOK, Photo: p}
		if created {
			res.Status = http.StatusCreated
		}
	}
	b, err := json.Marshal(res)
	if err != nil {
		return nil, fmt.Errorf("ingest: upload %s result: %w", id, err)
	}
	bin := u.path(id, "")
	keep := p != nil && u.isOriginal(bin, p.SHA256)
	if err := writeFile(u.path(id, ".result"), b, !keep); err != nil {
		return nil, err
	}
	if !keep {
		if err := os.Remove(bin); err != nil && !errors.Is(err, fs.ErrNotExist) {
			u.log.Warn("ingest: upload file not removed", "upload", id, "err", err)
		}
	}
	return &res, nil
}

// isOriginal says whether the file at path is the stored original of the
// hex SHA-256 sum (a second name of it).
func (u *Uploads) isOriginal(path, sum string) bool {
	b, err := hex.DecodeString(sum)
	if err != nil {
		return false
	}
	orig, err := u.svc.originals.Path(Key(b))
	if err != nil {
		return false
	}
	a, errA := os.Stat(path)
	o, errO := os.Stat(orig)
	return errA == nil && errO == nil && os.SameFile(a, o)
}

// readResult reads upload id's recorded outcome (fs.ErrNotExist if none).
func (u *Uploads) readResult(id string) (*FileResult, error) {
	b, err := os.ReadFile(u.path(id, ".result"))
	if err != nil {
		return nil, err
	}
	var r FileResult
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("ingest: upload %s result: %w", id, err)
	}
	return &r, nil
}

func (u *Uploads) path(id, ext string) string { return filepath.Join(u.dir, id+ext) }

// binPath is where an upload's bytes are (tusd records it in the info).
func (u *Uploads) binPath(info tusd.FileInfo) string {
	if p := info.Storage[filestore.StorageKeyPath]; p != "" {
		return p
	}
	return u.path(info.ID, "")
}

// writeFile writes a small file atomically (temp file, rename), and
// durably when durable is set (fsync of the file, then of the directory).
func writeFile(path string, b []byte, durable bool) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("ingest: write %s: %w", filepath.Base(path), err)
	}
	_, err = f.Write(b)
	if err == nil && durable {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("ingest: write %s: %w", filepath.Base(path), err)
	}
	if !durable {
		return nil
	}
	return syncDir(filepath.Dir(path))
}
