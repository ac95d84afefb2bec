package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/geoseek/geoseek/internal/problem"
)

// Originals is the content-addressed store of original files under
// <data dir>/originals: the file with SHA-256 h (hex) is ab/h, where ab is its
// first byte in hex. The 256 fan-out directories are made (and fsynced) once
// when the store opens, so an upload costs one file fsync, one rename and one
// directory fsync, never extra fsyncs for new directories; a million photos
// make about 4,000 entries per directory, which ext4 and XFS index well.
// Uploads are written under tmp/ (same file system, so the final rename is
// atomic). File names never come from clients.
type Originals struct {
	root string
}

// NewOriginals creates the directory tree under dir if needed.
func NewOriginals(dir string) (*Originals, error) {
	root := filepath.Join(dir, "originals")
	if err := os.MkdirAll(filepath.Join(root, "tmp"), 0o750); err != nil {
		return nil, fmt.Errorf("ingest: originals dir: %w", err)
	}
	made := false
	for i := 0; i < 256; i++ {
		err := os.Mkdir(filepath.Join(root, fmt.Sprintf("%02x", i)), 0o750)
		if err != nil && !errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("ingest: originals dir: %w", err)
		}
		made = made || err == nil
	}
	if made {
		if err := syncDir(root); err != nil {
			return nil, err
		}
	}
	return &Originals{root: root}, nil
}

// Key is the storage key of a SHA-256: its path relative to the store.
func Key(sum []byte) string {
	h := hex.EncodeToString(sum)
	return h[0:2] + "/" + h
}

// Path is the file of a storage key. Keys are made by Key; anything else is
// refused so a key can never leave the store.
func (o *Originals) Path(key string) (string, error) {
	parts := strings.Split(key, "/")
	if len(parts) != 2 || len(parts[1]) != 64 || parts[0] != parts[1][0:2] {
		return "", fmt.Errorf("ingest: bad storage key %q", key)
	}
	if _, err := hex.DecodeString(parts[1]); err != nil {
		return "", fmt.Errorf("ingest: bad storage key %q", key)
	}
	return filepath.Join(o.root, parts[0], parts[1]), nil
}

// Upload is a file being received: bytes go to a temp file while they are
// hashed. Commit makes it durable under its hash; Abort removes it.
type Upload struct {
	f    *os.File
	h    hash.Hash
	size int64
	head []byte
	o    *Originals
	done bool
}

// Receive streams r into a new temp file, hashing as it goes, and refuses
// more than max bytes with problem.ErrTooLarge (the temp file is removed).
func (o *Originals) Receive(r io.Reader, max int64) (*Upload, error) {
	f, err := os.CreateTemp(filepath.Join(o.root, "tmp"), "up-*.part")
	if err != nil {
		return nil, fmt.Errorf("ingest: temp file: %w", err)
	}
	if err := lockFile(f); err != nil {
		_ = f.Close()
		_ = os.Remove(f.Name())
		return nil, err
	}
	u := &Upload{f: f, h: sha256.New(), o: o}
	hw := &headWriter{n: SniffLen}
	src := &sourceReader{r: io.LimitReader(r, max+1)}
	_, local := r.(*os.File)
	_, gathered := r.(*Gathered)
	n, err := copyFrom(io.MultiWriter(f, u.h, hw), src, local || gathered)
	if err != nil && src.err != nil {
		// The client's bytes stopped short (a truncated multipart body, a
		// reset connection): the request is at fault, not the server.
		err = problem.Invalid("file", "reading the upload failed after %d bytes: %v", n, src.err)
		var mbe *http.MaxBytesError
		if errors.Is(src.err, context.Canceled) || errors.As(src.err, &mbe) {
			err = src.err
		}
	}
	u.size, u.head = n, hw.b
	if err == nil && n > max {
		err = fmt.Errorf("%w: the file is larger than %d bytes", problem.ErrTooLarge, max)
	}
	if err != nil {
		u.Abort()
		return nil, err
	}
	return u, nil
}

// fileBufs are the buffers local files are read through: 128 KiB reads
// instead of io.Copy's 32 KiB, so hashing makes fewer read(2) calls, while
// four buffers still fit the caches (larger ones make SHA-256 reread them
// from memory; docs/performance.md). Multipart parts are read so too, as
// Gathered; other network bodies keep io.Copy's buffer.
var fileBufs = sync.Pool{New: func() any { b := make([]byte, 128<<10); return &b }}

// copyFrom copies src to dst, through one of fileBufs when its bytes come
// from a local file or a Gathered body.
func copyFrom(dst io.Writer, src io.Reader, local bool) (int64, error) {
	if !local {
		return io.Copy(dst, src)
	}
	bp := fileBufs.Get().(*[]byte)
	defer fileBufs.Put(bp)
	// Hide *os.File's WriteTo, which io.CopyBuffer would call instead of
	// using the buffer (it falls back to io.Copy's 32 KiB one).
	return io.CopyBuffer(dst, struct{ io.Reader }{src}, *bp)
}

// Gathered is a network body whose reader also tells how many of its bytes
// have arrived already (a bufio.Reader's Buffered). Receive fills its
// buffer from it while bytes are waiting: a multipart part yields at most a
// few KB per read, and one write(2) per piece made the server's writes
// cost more than the rest of an upload; a slow client's bytes still reach
// the temp file as they come.
type Gathered struct {
	R       io.Reader
	Pending func() int
}

// Read fills p as far as the bytes that have arrived go (at least one read).
func (g *Gathered) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		m, err := g.R.Read(p[n:])
		n += m
		if err != nil || m == 0 || g.Pending() == 0 {
			return n, err
		}
	}
	return n, nil
}

// sourceReader remembers a read error, to tell it from a write error.
type sourceReader struct {
	r   io.Reader
	err error
}

func (s *sourceReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		s.err = err
	}
	return n, err
}

// headWriter keeps the first n bytes written.
type headWriter struct {
	b []byte
	n int
}

func (w *headWriter) Write(p []byte) (int, error) {
	if k := w.n - len(w.b); k > 0 {
		w.b = append(w.b, p[:min(k, len(p))]...)
	}
	return len(p), nil
}

// Sum is the SHA-256 of the received bytes.
func (u *Upload) Sum() []byte { return u.h.Sum(nil) }

// Size is the number of bytes received.
func (u *Upload) Size() int64 { return u.size }

// Head is the first SniffLen bytes.
func (u *Upload) Head() []byte { return u.head }

// File is the temp file, for reading metadata (io.ReaderAt).
func (u *Upload) File() *os.File { return u.f }

// Commit fsyncs the file, renames it to its content address and fsyncs the
// directory, so the file survives a crash before the row commits. If a file
// with that hash exists already (equal bytes), the temp file is dropped.
// It returns the storage key.
func (u *Upload) Commit() (string, error) {
	key := Key(u.Sum())
	path, err := u.o.Path(key)
	if err != nil {
		return "", err
	}
	if err := u.f.Sync(); err != nil {
		u.Abort()
		return "", fmt.Errorf("ingest: fsync: %w", err)
	}
	dir := filepath.Dir(path)
	if _, err := os.Stat(path); err == nil {
		u.Abort()
		return key, nil
	}
	// Renamed while still open: its lock (lockFile) keeps the sweeper off
	// it until it is in place.
	if err := os.Rename(u.f.Name(), path); err != nil {
		u.Abort()
		return "", fmt.Errorf("ingest: rename original: %w", err)
	}
	u.done = true
	if err := u.f.Close(); err != nil {
		return "", fmt.Errorf("ingest: close: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return "", err
	}
	return key, nil
}

// Sync flushes the temp file's bytes to disk. Ingest calls it on the
// upload's own goroutine before the committer takes the photo, so the
// committer's Commit, whose fsync then has nothing left to write, does not
// wait for the disk while other photos wait for it.
func (u *Upload) Sync() error {
	if err := u.f.Sync(); err != nil {
		return fmt.Errorf("ingest: fsync: %w", err)
	}
	return nil
}

// Abort closes and removes the temp file (safe to call twice, and after
// Commit).
func (u *Upload) Abort() {
	if u.done {
		return
	}
	u.done = true
	_ = u.f.Close()
	_ = os.Remove(u.f.Name())
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("ingest: open dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("ingest: fsync dir: %w", err)
	}
	return nil
}

// Remove deletes the original of key (no error if it is already gone).
func (o *Originals) Remove(key string) error {
	path, err := o.Path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("ingest: remove original: %w", err)
	}
	return syncDir(filepath.Dir(path))
}

// Open opens the original of key.
func (o *Originals) Open(key string) (*os.File, error) {
	path, err := o.Path(key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: the original file is missing", problem.ErrNotFound)
	}
	return f, err
}

// staged is a file whose bytes have been hashed and whose head is known,
// ready to be stored under its content address: an upload received into a
// temp file, or a local file moved into the store.
type staged interface {
	Sum() []byte
	Size() int64
	Head() []byte
	// File reads the bytes (for metadata).
	File() *os.File
	// Sync flushes the bytes to disk ahead of Commit.
	Sync() error
	// Commit makes the file durable under its content address and returns
	// the storage key.
	Commit() (string, error)
	// Undo takes the committed file back out of the store after its row
	// could not be written.
	Undo(key string) error
	// Abort releases what Commit did not take (safe after Commit).
	Abort()
}

// Undo removes the committed upload: no row needs it.
func (u *Upload) Undo(key string) error { return u.o.Remove(key) }

// Local is a file on the store's own file system that Commit moves into
// the store (a rename: no bytes are copied), for `geoseek ingest --move`.
// The file is hashed in place; if it changes between hashing and the move,
// Commit refuses it. Abort and Undo leave (or put) it back where it was, so
// a file that is not stored is never lost.
type Local struct {
	f     *os.File
	path  string
	sum   []byte
	size  int64
	head  []byte
	info  os.FileInfo
	o     *Originals
	key   string
	moved bool
	// link: Commit links the file into the store instead of moving it
	// (StageLink); both names then share one copy of the bytes.
	link bool
}

// StageLink is StageLocal for a file that stays where it is once stored:
// Commit adds a hard link in the store (no bytes copied), so the file can
// be stored again after a crash until its caller removes it. A resumable
// upload's bytes are staged so.
func (o *Originals) StageLink(path string, max int64) (*Local, error) {
	l, err := o.StageLocal(path, max)
	if l != nil {
		l.link = true
	}
	return l, err
}

// StageLocal hashes the file at path in place for a move into the store. It
// returns (nil, nil) when the file is on another file system than the
// store, where a move would be a copy: the caller then uploads it.
func (o *Originals) StageLocal(path string, max int64) (*Local, error) {
	f, err := openLocal(path)
	if err != nil {
		return nil, err
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !info.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("ingest: %s is not a regular file", path)
	}
	if same, err := sameDevice(info, o.root); err != nil || !same {
		f.Close()
		return nil, err
	}
	if info.Size() > max {
		f.Close()
		return nil, fmt.Errorf("%w: the file is larger than %d bytes", problem.ErrTooLarge, max)
	}
	h := sha256.New()
	hw := &headWriter{n: SniffLen}
	n, err := copyFrom(io.MultiWriter(h, hw), f, true)
	if err == nil {
		err = unchanged(f, info, n)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("ingest: read %s: %w", path, err)
	}
	return &Local{f: f, path: path, sum: h.Sum(nil), size: n, head: hw.b, info: info, o: o}, nil
}

// unchanged says whether f still has the size and modification time it
// had when info was taken and n bytes were read: a file being written
// while it is hashed would be stored under a wrong hash.
func unchanged(f *os.File, info os.FileInfo, n int64) error {
	now, err := f.Stat()
	if err != nil {
		return err
	}
	if now.Size() != info.Size() || n != info.Size() || !now.ModTime().Equal(info.ModTime()) {
		return errors.New("the file changed while it was read")
	}
	return nil
}

// Sum is the SHA-256 of the file.
func (l *Local) Sum() []byte { return l.sum }

// Size is the file's size.
func (l *Local) Size() int64 { return l.size }

// Head is the first SniffLen bytes.
func (l *Local) Head() []byte { return l.head }

// File is the open file.
func (l *Local) File() *os.File { return l.f }

// Commit fsyncs the file (cheap when its bytes are already on disk), renames
// it to its content address (replacing an unreferenced file with the same
// bytes, if any) and fsyncs the directory. The rename moves the directory
// entry in one journal transaction, so after a crash the file is either
// still at its old path or in the store, where the start-up sweeper adopts
// it if its row did not commit.
func (l *Local) Commit() (string, error) {
	key := Key(l.sum)
	dst, err := l.o.Path(key)
	if err != nil {
		return "", err
	}
	if err := unchanged(l.f, l.info, l.size); err != nil {
		return "", fmt.Errorf("ingest: %s: %w", l.path, err)
	}
	if err := l.f.Sync(); err != nil {
		return "", fmt.Errorf("ingest: fsync: %w", err)
	}
	if l.link {
		if err := os.Link(l.path, dst); errors.Is(err, fs.ErrExist) {
			return key, nil // these bytes are stored already
		} else if err != nil {
			return "", fmt.Errorf("ingest: link into the store: %w", err)
		}
	} else if err := os.Rename(l.path, dst); err != nil {
		return "", fmt.Errorf("ingest: move into the store: %w", err)
	}
	l.moved, l.key = true, key
	// The path may have been replaced between Open and Rename: then the
	// store now holds another file under this hash; put it back.
	if now, err := os.Stat(dst); err != nil || !os.SameFile(now, l.info) {
		if uerr := l.Undo(key); uerr != nil {
			return "", fmt.Errorf("ingest: %s was replaced while it was read, and moving it back failed: %w", l.path, uerr)
		}
		return "", fmt.Errorf("ingest: %s was replaced while it was read", l.path)
	}
	// Stored originals are not the user's to edit through the old name any
	// more; keep them private like uploads. A failure here is harmless.
	_ = l.f.Chmod(0o600)
	if err := syncDir(filepath.Dir(dst)); err != nil {
		return "", err
	}
	return key, nil
}

// Sync flushes the file's bytes to disk (see Upload.Sync); usually they
// are there already.
func (l *Local) Sync() error {
	if err := l.f.Sync(); err != nil {
		return fmt.Errorf("ingest: fsync: %w", err)
	}
	return nil
}

// Undo moves the committed file back to where it came from.
func (l *Local) Undo(key string) error {
	if !l.moved || key != l.key {
		return nil
	}
	dst, err := l.o.Path(key)
	if err != nil {
		return err
	}
	if l.link {
		if err := os.Remove(dst); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("ingest: unlink %s from the store: %w", l.path, err)
		}
		l.moved = false
		return syncDir(filepath.Dir(dst))
	}
	_ = l.f.Chmod(l.info.Mode().Perm())
	if err := os.Rename(dst, l.path); err != nil {
		return fmt.Errorf("ingest: move %s back: %w", l.path, err)
	}
	l.moved = false
	return syncDir(filepath.Dir(l.path))
}

// Abort closes the file; it stays where it is (or in the store, once
// committed).
func (l *Local) Abort() { _ = l.f.Close() }
