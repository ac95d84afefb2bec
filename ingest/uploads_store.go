package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/tus/tusd/v2/pkg/filestore"
	tusd "github.com/tus/tusd/v2/pkg/handler"
	"golang.org/x/sys/unix"
)

// tusStore is tusd's file store, aware that a finished upload's bytes move
// into the originals store: such an upload stays visible, complete (a HEAD
// after a lost final answer gets the full offset, not a 404), until it is
// terminated or expires. Terminating an upload removes geoseek's files of it
// too; never the photo it became.
type tusStore struct {
	filestore.FileStore
	u *Uploads
}

// GetUpload returns upload id; complete when its bytes have moved on.
func (s tusStore) GetUpload(ctx context.Context, id string) (tusd.Upload, error) {
	if !uploadIDPattern.MatchString(id) {
		return nil, tusd.ErrNotFound
	}
	up, err := s.FileStore.GetUpload(ctx, id)
	if !errors.Is(err, tusd.ErrNotFound) {
		return up, err
	}
	b, rerr := os.ReadFile(s.u.path(id, ".info"))
	if rerr != nil {
		return nil, err
	}
	var info tusd.FileInfo
	if err := json.Unmarshal(b, &info); err != nil {
		return nil, fmt.Errorf("ingest: upload %s info: %w", id, err)
	}
	info.Offset = info.Size
	return &doneUpload{info: info, u: s.u}, nil
}

// AsTerminatableUpload removes an upload's own files and geoseek's.
func (s tusStore) AsTerminatableUpload(up tusd.Upload) tusd.TerminatableUpload {
	if d, ok := up.(*doneUpload); ok {
		return d
	}
	return terminating{TerminatableUpload: s.FileStore.AsTerminatableUpload(up), u: s.u, up: up}
}

// AsLengthDeclarableUpload declares the length of an upload created
// without one; a finished upload has one.
func (s tusStore) AsLengthDeclarableUpload(up tusd.Upload) tusd.LengthDeclarableUpload {
	if d, ok := up.(*doneUpload); ok {
		return d
	}
	return s.FileStore.AsLengthDeclarableUpload(up)
}

type terminating struct {
	tusd.TerminatableUpload
	u  *Uploads
	up tusd.Upload
}

func (t terminating) Terminate(ctx context.Context) error {
	info, err := t.up.GetInfo(ctx)
	if err != nil {
		return err
	}
	if err := t.TerminatableUpload.Terminate(ctx); err != nil {
		return err
	}
	return t.u.removeFiles(info.ID)
}

// doneUpload is a finished upload whose bytes are in the originals store
// (or, refused, gone).
type doneUpload struct {
	info tusd.FileInfo
	u    *Uploads
}

func (d *doneUpload) GetInfo(context.Context) (tusd.FileInfo, error) { return d.info, nil }

func (d *doneUpload) WriteChunk(context.Context, int64, io.Reader) (int64, error) {
	return 0, tusd.ErrModifyFinal
}

func (d *doneUpload) GetReader(context.Context) (io.ReadCloser, error) {
	return nil, tusd.ErrNotImplemented
}

func (d *doneUpload) FinishUpload(context.Context) error { return nil }

func (d *doneUpload) DeclareLength(context.Context, int64) error { return tusd.ErrInvalidUploadLength }

func (d *doneUpload) Terminate(context.Context) error { return d.u.removeFiles(d.info.ID) }

// removeFiles removes every file of upload id.
func (u *Uploads) removeFiles(id string) error {
	var first error
	for _, ext := range []string{"", ".result.tmp", ".result", ".info", ".lock"} {
		if err := os.Remove(u.path(id, ext)); err != nil && !errors.Is(err, fs.ErrNotExist) && first == nil {
			first = fmt.Errorf("ingest: remove upload %s: %w", id, err)
		}
	}
	return first
}

// uploadLocks are the uploads' locks: tusd's MemoryLocker (plus a
// try-lock for the sweep and a wait that does not interrupt the holder),
// and under it an flock on <id>.lock in the uploads dir, so that geoseek
// processes sharing a data dir never write one upload at once (a client
// whose PATCH was cut may resume it through another instance). A holder in
// another process cannot be asked to let go: a waiter polls until it has,
// or its context ends.
type uploadLocks struct {
	dir  string
	mu   sync.Mutex
	held map[string]*heldLock
}

type heldLock struct {
	released       chan struct{}
	requestRelease func()
	file           *os.File // the flocked <id>.lock, once taken
}

// errLockedElsewhere: a request of another process held the upload for
// longer than tusd waits (423, as tusd's own "locked"; clients try again).
var errLockedElsewhere = tusd.NewError("ERR_UPLOAD_LOCKED", "another request is writing this upload; try again in a moment", http.StatusLocked)

// lockPoll is how often a waiter tries again an flock another process holds.
const lockPoll = 25 * time.Millisecond

func newUploadLocks(dir string) *uploadLocks {
	return &uploadLocks{dir: dir, held: map[string]*heldLock{}}
}

// NewLock is tusd's Locker.
func (l *uploadLocks) NewLock(id string) (tusd.Lock, error) {
	return &uploadLock{locks: l, id: id}, nil
}

// flock takes the file lock of upload id without waiting; ok is false while
// another process holds it.
func (l *uploadLocks) flock(id string) (f *os.File, ok bool, err error) {
	f, err = os.OpenFile(filepath.Join(l.dir, id+".lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, false, fmt.Errorf("ingest: upload lock: %w", err)
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err != unix.EINTR {
			break
		}
	}
	if err == nil {
		return f, true, nil
	}
	f.Close()
	if err == unix.EWOULDBLOCK {
		return nil, false, nil
	}
	return nil, false, fmt.Errorf("ingest: upload lock: %w", err)
}

// tryLock takes id's lock if it is free in this process and in every other.
func (l *uploadLocks) tryLock(id string) (*uploadLock, bool) {
	l.mu.Lock()
	if _, ok := l.held[id]; ok {
		l.mu.Unlock()
		return nil, false
	}
	h := &heldLock{released: make(chan struct{})}
	l.held[id] = h
	l.mu.Unlock()
	k := &uploadLock{locks: l, id: id}
	f, ok, err := l.flock(id)
	if !ok || err != nil {
		_ = k.Unlock()
		return nil, false
	}
	h.file = f
	return k, true
}

type uploadLock struct {
	locks *uploadLocks
	id    string
}

// Lock takes the lock, asking its holder in this process to let go (tusd
// stops a PATCH whose client has reconnected), and gives up with
// tusd.ErrLockTimeout when ctx ends.
func (k *uploadLock) Lock(ctx context.Context, requestRelease func()) error {
	return k.acquire(ctx, requestRelease, true)
}

// wait takes the lock once its holder is done, without interrupting it.
func (k *uploadLock) wait(ctx context.Context) error { return k.acquire(ctx, nil, false) }

func (k *uploadLock) acquire(ctx context.Context, requestRelease func(), interrupt bool) error {
	var h *heldLock
	for h == nil {
		k.locks.mu.Lock()
		other, ok := k.locks.held[k.id]
		if !ok {
			h = &heldLock{released: make(chan struct{}), requestRelease: requestRelease}
			k.locks.held[k.id] = h
			k.locks.mu.Unlock()
			break
		}
		k.locks.mu.Unlock()
		if interrupt && other.requestRelease != nil {
			other.requestRelease()
		}
		select {
		case <-ctx.Done():
			return tusd.ErrLockTimeout
		case <-other.released:
		}
	}
	// This process's lock is ours; now the other processes'.
	for {
		f, ok, err := k.locks.flock(k.id)
		if err != nil {
			_ = k.Unlock()
			return err
		}
		if ok {
			h.file = f
			return nil
		}
		select {
		case <-ctx.Done():
			_ = k.Unlock()
			return errLockedElsewhere
		case <-time.After(lockPoll):
		}
	}
}

// Unlock releases the lock.
func (k *uploadLock) Unlock() error {
	k.locks.mu.Lock()
	h := k.locks.held[k.id]
	delete(k.locks.held, k.id)
	k.locks.mu.Unlock()
	if h == nil {
		return nil
	}
	var err error
	if h.file != nil {
		// No lock file outlives its upload (a request for an id that does
		// not exist must not leave one behind). Closing the file releases
		// its flock.
		if _, serr := os.Stat(filepath.Join(k.locks.dir, k.id+".info")); errors.Is(serr, fs.ErrNotExist) {
			_ = os.Remove(h.file.Name())
		}
		err = h.file.Close()
	}
	close(h.released)
	return err
}
