package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

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
	u := &Upload{f: f, h: sha256.New(), o: o}
	hw := &headWriter{n: SniffLen}
	src := &sourceReader{r: io.LimitReader(r, max+1)}
	n, err := io.Copy(io.MultiWriter(f, u.h, hw), src)
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
	if err := u.f.Close(); err != nil {
		u.Abort()
		return "", fmt.Errorf("ingest: close: %w", err)
	}
	dir := filepath.Dir(path)
	if _, err := os.Stat(path); err == nil {
		u.Abort()
		return key, nil
	}
	if err := os.Rename(u.f.Name(), path); err != nil {
		u.Abort()
		return "", fmt.Errorf("ingest: rename original: %w", err)
	}
	u.done = true
	if err := syncDir(dir); err != nil {
		return "", err
	}
	return key, nil
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
