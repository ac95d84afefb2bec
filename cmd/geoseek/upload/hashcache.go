package upload

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"
)

// hashCache remembers the hash of each file read, keyed by its absolute
// path and checked against its size, inode, modification and change times
// (the change time moves on any write and cannot be set back), so a re-run
// over a folder already uploaded reads no file again. It is a file of JSON
// lines, appended one line per write: runs at once do not tear each
// other's lines, and a torn last line is skipped.
type hashCache struct {
	mu sync.Mutex
	m  map[string]cacheEntry
	f  *os.File // nil: nothing is remembered
}

type cacheEntry struct {
	Path  string `json:"p"`
	Size  int64  `json:"s"`
	Ino   uint64 `json:"i"`
	MTime int64  `json:"m"`
	CTime int64  `json:"c"`
	SHA   string `json:"h"`
	Mime  string `json:"t"`
}

// openHashCache loads the cache in dir ("" for none). A cache that cannot
// be read is started afresh: it only saves work.
func openHashCache(dir string) *hashCache {
	c := &hashCache{m: map[string]cacheEntry{}}
	if dir == "" {
		return c
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return c
	}
	path := filepath.Join(dir, "hashes.jsonl")
	lines := 0
	if f, err := os.Open(path); err == nil {
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var e cacheEntry
			if json.Unmarshal(sc.Bytes(), &e) == nil && e.Path != "" && len(e.SHA) == 64 {
				c.m[e.Path] = e
				lines++
			}
		}
		f.Close()
	}
	if lines > 2*len(c.m)+1000 {
		c.compact(path)
	}
	c.f, _ = os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	return c
}

// compact rewrites the cache with one line per file.
func (c *hashCache) compact(path string) {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".hashes-*")
	if err != nil {
		return
	}
	w := bufio.NewWriter(tmp)
	enc := json.NewEncoder(w)
	for _, e := range c.m {
		_ = enc.Encode(e)
	}
	if w.Flush() != nil || tmp.Close() != nil || os.Rename(tmp.Name(), path) != nil {
		os.Remove(tmp.Name())
	}
}

func statKey(path string, st fs.FileInfo) (cacheEntry, bool) {
	s, ok := st.Sys().(*syscall.Stat_t)
	abs, err := filepath.Abs(path)
	if !ok || err != nil {
		return cacheEntry{}, false
	}
	return cacheEntry{Path: abs, Size: st.Size(), Ino: uint64(s.Ino), MTime: st.ModTime().UnixNano(),
		CTime: int64(s.Ctim.Sec)*1e9 + int64(s.Ctim.Nsec)}, true
}

// lookup returns the hash and type remembered for the file with stat st.
func (c *hashCache) lookup(path string, st fs.FileInfo) (sha, mime string, ok bool) {
	k, ok := statKey(path, st)
	if !ok {
		return "", "", false
	}
	c.mu.Lock()
	e, found := c.m[k.Path]
	c.mu.Unlock()
	if !found || e.Size != k.Size || e.Ino != k.Ino || e.MTime != k.MTime || e.CTime != k.CTime {
		return "", "", false
	}
	return e.SHA, e.Mime, true
}

// store remembers the hash of the file with stat st.
func (c *hashCache) store(path string, st fs.FileInfo, sha, mime string) {
	k, ok := statKey(path, st)
	if !ok {
		return
	}
	k.SHA, k.Mime = sha, mime
	b, _ := json.Marshal(k)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[k.Path] = k
	if c.f != nil {
		if _, err := c.f.Write(append(b, '\n')); err != nil {
			c.f.Close()
			c.f = nil // full disk or gone: stop remembering, keep uploading
		}
	}
}

func (c *hashCache) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.f == nil {
		return nil
	}
	err := c.f.Close()
	c.f = nil
	if err != nil && !errors.Is(err, os.ErrClosed) {
		return fmt.Errorf("upload: hash cache: %w", err)
	}
	return nil
}
