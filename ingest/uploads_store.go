package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"

	"github.com/tus/tusd/v2/pkg/filestore"
	tusd "github.com/tus/tusd/v2/pkg/handler"
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
	for _, ext := range []string{"", ".result.tmp", ".result", ".info"} {
		if err := os.Remove(u.path(id, ext)); err != nil && !errors.Is(err, fs.ErrNotExist) && first == nil {
			first = fmt.Errorf("ingest: remove upload %s: %w", id, err)
		}
	}
	return first
}

// uploadLocks are the uploads' locks, in memory (tusd's MemoryLocker,
// plus a try-lock for the sweep and a wait that does not interrupt the
// holder).
type uploadLocks struct {
	mu   sync.Mutex
	held map[string]*heldLock
}

type heldLock struct {
	released       chan struct{}
	requestRelease func()
}

func newUploadLocks() *uploadLocks { return &uploadLocks{held: map[string]*heldLock{}} }

// NewLock is tusd's Locker.
func (l *uploadLocks) NewLock(id string) (tusd.Lock, error) {
	return &uploadLock{locks: l, id: id}, nil
}

// tryLock takes id's lock if it is free.
func (l *uploadLocks) tryLock(id string) (*uploadLock, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.held[id]; ok {
		return nil, false
	}
	l.held[id] = &heldLock{released: make(chan struct{})}
	return &uploadLock{locks: l, id: id}, true
}

type uploadLock struct {
	locks *uploadLocks
	id    string
}

// Lock takes the lock, asking its holder to let go (tusd stops a PATCH
// whose client has reconnected), and gives up with tusd.ErrLockTimeout
// when ctx ends.
func (k *uploadLock) Lock(ctx context.Context, requestRelease func()) error {
	return k.acquire(ctx, requestRelease, true)
}

// wait takes the lock once its holder is done, without interrupting it.
func (k *uploadLock) wait(ctx context.Context) error { return k.acquire(ctx, nil, false) }

func (k *uploadLock) acquire(ctx context.Context, requestRelease func(), interrupt bool) error {
	for {
		k.locks.mu.Lock()
		h, ok := k.locks.held[k.id]
		if !ok {
			k.locks.held[k.id] = &heldLock{released: make(chan struct{}), requestRelease: requestRelease}
			k.locks.mu.Unlock()
			return nil
		}
		k.locks.mu.Unlock()
		if interrupt && h.requestRelease != nil {
			h.requestRelease()
		}
		select {
		case <-ctx.Done():
			return tusd.ErrLockTimeout
		case <-h.released:
		}
	}
}

// Unlock releases the lock.
func (k *uploadLock) Unlock() error {
	k.locks.mu.Lock()
	h := k.locks.held[k.id]
	delete(k.locks.held, k.id)
	k.locks.mu.Unlock()
	if h != nil {
		close(h.released)
	}
	return nil
}
