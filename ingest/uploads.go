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
	"strings"
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
// on the originals' file system, so a finished upload is renamed into the
// store (no second copy) by the same pipeline as POST /photos: Service.ingest
// hashes, sniffs, reads the metadata and commits through the one commit path
// (batch.go, commit.go). The final PATCH answers only once that is done, and
// the outcome is kept in <id>.result (an upload's files: <id> the bytes,
// <id>.info tusd's state, <id>.sum the hash of a finished upload being
// stored, <id>.result the outcome).
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
	u := &Uploads{svc: s, dir: dir, locks: newUploadLocks(), expiry: s.cfg.UploadExpiry, log: s.log}
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
// is returned as it is. An error is a passing failure (nothing recorded,
// the bytes kept); a refused file is an outcome, not an error.
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
		return u.recoverMoved(ctx, id, name)
	}
	up, err := u.svc.stageFile(bin, true)
	if err != nil {
		return u.settle(id, name, nil, false, err)
	}
	// Before the file can move into the store: a crash after the move
	// leaves the hash to find the photo by (recoverMoved).
	if err := writeFileSync(u.path(id, ".sum"), []byte(hex.EncodeToString(up.Sum()))); err != nil {
		up.Abort()
		return nil, err
	}
	p, created, err := u.svc.ingest(ctx, name, up)
	return u.settle(id, name, p, created, err)
}

// settle records the outcome of storing upload id and removes its bytes if
// they are still there (a duplicate, a refused file). A passing failure is
// returned as the error, and nothing is removed.
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
	if err := writeFileSync(u.path(id, ".result"), b); err != nil {
		return nil, err
	}
	for _, ext := range []string{"", ".sum"} {
		if err := os.Remove(u.path(id, ext)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			u.log.Warn("ingest: upload file not removed", "upload", id, "err", err)
		}
	}
	return &res, nil
}

// recoverMoved finds the photo of an upload whose bytes were moved into the
// store by a finalize that stopped before recording the outcome.
func (u *Uploads) recoverMoved(ctx context.Context, id, name string) (*FileResult, error) {
	b, err := os.ReadFile(u.path(id, ".sum"))
	if errors.Is(err, fs.ErrNotExist) {
		return u.settle(id, name, nil, false, fmt.Errorf("%w: the bytes of upload %s are gone; upload the file again", problem.ErrNotFound, id))
	}
	if err != nil {
		return nil, fmt.Errorf("ingest: upload %s: %w", id, err)
	}
	sum, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(sum) != 32 {
		return nil, fmt.Errorf("ingest: upload %s: bad hash file", id)
	}
	p, err := u.svc.BySHA256(ctx, sum)
	if err != nil {
		// The row did not commit: the orphan sweep adopts the file, and a
		// later try finds its photo.
		return nil, fmt.Errorf("ingest: upload %s: its photo is not committed yet: %w", id, err)
	}
	return u.settle(id, name, p, false, nil)
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

// writeFileSync writes a small file atomically and durably: temp file,
// fsync, rename, directory fsync.
func writeFileSync(path string, b []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("ingest: write %s: %w", filepath.Base(path), err)
	}
	_, err = f.Write(b)
	if err == nil {
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
	return syncDir(filepath.Dir(path))
}
