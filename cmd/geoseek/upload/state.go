package upload

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// stateStore remembers the URL of each resumable upload begun, keyed by
// server and content hash, so a later run (after a crash, Ctrl-C or a cut
// link) resumes it instead of sending the bytes again. Each upload is a
// small file of its own, written atomically: concurrent runs do not trample
// each other's entries.
type stateStore struct {
	dir string // "" keeps nothing
}

// uploadState is one remembered upload.
type uploadState struct {
	URL     string    `json:"url"`
	Size    int64     `json:"size"`
	SHA256  string    `json:"sha256"`
	Path    string    `json:"path"`
	Created time.Time `json:"created"`
}

// DefaultStateDir is where upload URLs are remembered: the user's cache
// directory, or "" (nothing remembered) when there is none.
func DefaultStateDir() string {
	d, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(d, "geoseek", "uploads")
}

func (s stateStore) file(server, sha string) string {
	k := sha256.Sum256([]byte(server + "\n" + sha))
	return filepath.Join(s.dir, hex.EncodeToString(k[:16])+".json")
}

// load returns the upload remembered for sha on server, if any.
func (s stateStore) load(server, sha string, size int64) (uploadState, bool) {
	if s.dir == "" {
		return uploadState{}, false
	}
	b, err := os.ReadFile(s.file(server, sha))
	if err != nil {
		return uploadState{}, false
	}
	var st uploadState
	if json.Unmarshal(b, &st) != nil || st.SHA256 != sha || st.Size != size || st.URL == "" {
		return uploadState{}, false
	}
	return st, true
}

// save remembers st (temp file, rename: a crash leaves the old entry or
// the new one, never half of one).
func (s stateStore) save(server string, st uploadState) error {
	if s.dir == "" {
		return nil
	}
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return fmt.Errorf("upload: state dir: %w", err)
	}
	b, _ := json.Marshal(st)
	name := s.file(server, st.SHA256)
	tmp, err := os.CreateTemp(s.dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("upload: state: %w", err)
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("upload: state: %w", err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("upload: state: %w", err)
	}
	if err := os.Rename(tmp.Name(), name); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("upload: state: %w", err)
	}
	return nil
}

// drop forgets the upload of sha on server.
func (s stateStore) drop(server, sha string) {
	if s.dir == "" {
		return
	}
	if err := os.Remove(s.file(server, sha)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		_ = err // a stale entry is found stale by HEAD next time
	}
}
