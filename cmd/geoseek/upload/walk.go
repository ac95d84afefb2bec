package upload

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// sniffLen is how many leading bytes sniff looks at.
const sniffLen = 32

// errNotMedia marks a file whose content is no media type the server stores.
var errNotMedia = errors.New("not a JPEG, TIFF, HEIC/HEIF/AVIF, PNG or WebP image")

// sniff returns the media type of a file from its first bytes, by the same
// rules as the server's ingest (a test holds the two together): content
// decides, never a name.
func sniff(head []byte) (string, error) {
	switch {
	case len(head) >= 3 && head[0] == 0xFF && head[1] == 0xD8 && head[2] == 0xFF:
		return "image/jpeg", nil
	case bytes.HasPrefix(head, []byte("II*\x00")), bytes.HasPrefix(head, []byte("MM\x00*")):
		return "image/tiff", nil
	case bytes.HasPrefix(head, []byte("\x89PNG\r\n\x1a\n")):
		return "image/png", nil
	case len(head) >= 12 && string(head[0:4]) == "RIFF" && string(head[8:12]) == "WEBP":
		return "image/webp", nil
	case len(head) >= 12 && string(head[4:8]) == "ftyp":
		if m := heifMime(head); m != "" {
			return m, nil
		}
	}
	return "", errNotMedia
}

// heifMime reads the ftyp box's major brand and the compatible brands in head.
func heifMime(head []byte) string {
	size := int(uint32(head[0])<<24 | uint32(head[1])<<16 | uint32(head[2])<<8 | uint32(head[3]))
	if size < 16 || size > len(head) {
		size = len(head)
	}
	switch string(head[8:12]) {
	case "avif", "avis":
		return "image/avif"
	}
	brands := []string{string(head[8:12])}
	for i := 16; i+4 <= size; i += 4 {
		brands = append(brands, string(head[i:i+4]))
	}
	for _, b := range brands {
		switch b {
		case "heic", "heix", "heim", "heis", "hevc", "hevx":
			return "image/heic"
		}
	}
	for _, b := range brands {
		switch b {
		case "mif1", "msf1", "mif2":
			return "image/heif"
		}
	}
	return ""
}

// Filter chooses the files a walk keeps.
type Filter struct {
	// Include, if not empty, keeps only files whose name or path (relative
	// to the argument it was found under) matches one of these globs.
	Include []string
	// Exclude drops files and directories that match one of these globs.
	Exclude []string
	// Hidden keeps entries whose name starts with a dot.
	Hidden bool
}

// Validate reports a malformed glob.
func (f Filter) Validate() error {
	for _, g := range append(append([]string{}, f.Include...), f.Exclude...) {
		if _, err := filepath.Match(g, ""); err != nil {
			return fmt.Errorf("upload: glob %q: %w", g, err)
		}
	}
	return nil
}

func matchAny(globs []string, name, rel string) bool {
	for _, g := range globs {
		if ok, _ := filepath.Match(g, name); ok {
			return true
		}
		if ok, _ := filepath.Match(g, rel); ok {
			return true
		}
	}
	return false
}

// entry is a file found by the walk, or one that could not be read (err).
type entry struct {
	path string
	size int64
	err  error
}

// walker lists the files under the arguments, following symbolic links
// without entering a directory twice.
type walker struct {
	filter  Filter
	seen    map[[2]uint64]bool // directories entered, by device and inode
	entries []entry
}

// walk lists the files under paths in a stable order. A path that does not
// exist is an error; files that cannot be read are entries with err set, so
// they are reported, not dropped.
func walk(paths []string, filter Filter) ([]entry, error) {
	w := &walker{filter: filter, seen: map[[2]uint64]bool{}}
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("upload: %w", err)
		}
		if !st.IsDir() {
			w.file(p, st)
			continue
		}
		if err := w.dir(p, p, st); err != nil {
			return nil, err
		}
	}
	return w.entries, nil
}

func (w *walker) dir(root, dir string, st fs.FileInfo) error {
	if id, ok := fileID(st); ok {
		if w.seen[id] {
			return nil // a link back to a directory already walked
		}
		w.seen[id] = true
	}
	des, err := os.ReadDir(dir)
	if err != nil {
		w.entries = append(w.entries, entry{path: dir, err: fmt.Errorf("read directory: %w", err)})
		return nil
	}
	sort.Slice(des, func(i, j int) bool { return des[i].Name() < des[j].Name() })
	for _, de := range des {
		name := de.Name()
		path := filepath.Join(dir, name)
		rel, _ := filepath.Rel(root, path)
		if !w.filter.Hidden && strings.HasPrefix(name, ".") {
			continue
		}
		if matchAny(w.filter.Exclude, name, rel) {
			continue
		}
		st, err := os.Stat(path) // follows links
		if err != nil {
			if w.included(name, rel) {
				w.entries = append(w.entries, entry{path: path, err: describeStatErr(path, err)})
			}
			continue
		}
		if st.IsDir() {
			if err := w.dir(root, path, st); err != nil {
				return err
			}
			continue
		}
		if w.included(name, rel) {
			w.file(path, st)
		}
	}
	return nil
}

func (w *walker) included(name, rel string) bool {
	return len(w.filter.Include) == 0 || matchAny(w.filter.Include, name, rel)
}

func (w *walker) file(path string, st fs.FileInfo) {
	if !st.Mode().IsRegular() {
		w.entries = append(w.entries, entry{path: path, err: fmt.Errorf("not a regular file but a %s", kind(st.Mode()))})
		return
	}
	w.entries = append(w.entries, entry{path: path, size: st.Size()})
}

// describeStatErr says why a directory entry cannot be read: a dangling
// link is the usual case.
func describeStatErr(path string, err error) error {
	if lst, lerr := os.Lstat(path); lerr == nil && lst.Mode()&fs.ModeSymlink != 0 && errors.Is(err, fs.ErrNotExist) {
		target, _ := os.Readlink(path)
		return fmt.Errorf("dangling symbolic link to %s", target)
	}
	return err
}

func fileID(st fs.FileInfo) ([2]uint64, bool) {
	s, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return [2]uint64{}, false
	}
	return [2]uint64{uint64(s.Dev), uint64(s.Ino)}, true
}

// readHead reads up to sniffLen bytes of r.
func readHead(r io.Reader) ([]byte, error) {
	head := make([]byte, sniffLen)
	n, err := io.ReadFull(r, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return head[:n], nil
}

// kind names a file type that is not a regular file.
func kind(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeDevice != 0:
		return "device"
	}
	return "special file (" + m.Type().String() + ")"
}
