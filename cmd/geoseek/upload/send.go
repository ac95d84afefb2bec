package upload

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
)

// uploadAnswer is the body of POST /photos (and of a finished tus upload's
// result): one result per file.
type uploadAnswer struct {
	Results []struct {
		File   string `json:"file"`
		Status int    `json:"status"`
		Photo  *struct {
			ID     int64  `json:"id"`
			SHA256 string `json:"sha256"`
		} `json:"photo"`
		Error *struct {
			Title  string `json:"title"`
			Detail string `json:"detail"`
			Status int    `json:"status"`
			// MaxFiles: the request held more files than the server
			// takes in one; this file was not looked at.
			MaxFiles int `json:"max_files"`
		} `json:"error"`
	} `json:"results"`
	// A problem answer (every file failed) carries these too.
	Title  string `json:"title"`
	Detail string `json:"detail"`
}

// outcome turns the answer about one file into its result. want is the
// hash computed when the file was read: a photo stored under another hash
// means the file changed in between.
func (a *uploadAnswer) outcome(httpStatus int, want string) (Outcome, int64, error) {
	if len(a.Results) == 0 {
		if httpStatus >= 400 {
			return "", 0, &statusError{status: httpStatus, detail: reason(a.Title, a.Detail)}
		}
		return "", 0, fmt.Errorf("server answered %d with no result", httpStatus)
	}
	r := a.Results[0]
	switch {
	case r.Error != nil && r.Error.MaxFiles > 0:
		return "", 0, &requestFullError{max: r.Error.MaxFiles}
	case r.Error != nil:
		return "", 0, &statusError{status: r.Status, detail: reason(r.Error.Title, r.Error.Detail)}
	case r.Photo == nil:
		return "", 0, fmt.Errorf("server answered %d with no photo", r.Status)
	case r.Photo.SHA256 != "" && r.Photo.SHA256 != want:
		return "", 0, fmt.Errorf("%w: the file changed while it was uploaded (stored as %s); run again", errPermanent, r.Photo.SHA256)
	case r.Status == http.StatusCreated:
		return Created, r.Photo.ID, nil
	default:
		return Duplicate, r.Photo.ID, nil
	}
}

// requestFullError is the answer about a file the server did not take
// because its request already held max files: it is sent again, and
// later requests carry at most max.
type requestFullError struct{ max int }

func (e *requestFullError) Error() string {
	return fmt.Sprintf("not sent: the server takes at most %d files per request", e.max)
}

// countingReader counts the bytes read through it into sent.
type countingReader struct {
	r    io.Reader
	sent func(int64)
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 && c.sent != nil {
		c.sent(int64(n))
	}
	return n, err
}

// guardReader reads a file and checks, at its end, that the file is still
// the one hashed (same size, inode, modification and change times): a
// file rewritten while it is sent fails the request, so the server never
// stores a mix of old and new bytes. It costs a stat, not a second hash.
type guardReader struct {
	f       *os.File
	want    cacheEntry
	changed bool
}

func (g *guardReader) Read(p []byte) (int, error) {
	n, err := g.f.Read(p)
	if errors.Is(err, io.EOF) && changed(g.f, g.want) {
		g.changed = true
		return n, errChanged
	}
	return n, err
}

// errChanged is the error of a file rewritten since it was hashed.
var errChanged = fmt.Errorf("%w: the file changed since it was hashed; run again", errPermanent)

// changed reports whether the open file fh differs from the one stat was
// taken of.
func changed(fh *os.File, stat cacheEntry) bool {
	st, err := fh.Stat()
	if err != nil {
		return true
	}
	k, ok := statKey(fh.Name(), st)
	return !ok || k.Size != stat.Size || k.Ino != stat.Ino || k.MTime != stat.MTime || k.CTime != stat.CTime
}

// readAnswer decodes a POST /photos-shaped answer about one file.
func (u *uploader) readAnswer(resp *http.Response, sha string) (Outcome, int64, error) {
	if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusRequestTimeout ||
		resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		return "", 0, newStatusError(resp)
	}
	rd := newIdleReader(resp.Body, u.c.timeout, nil)
	defer rd.stop()
	var a uploadAnswer
	if err := json.NewDecoder(io.LimitReader(rd, 1<<20)).Decode(&a); err != nil {
		return "", 0, fmt.Errorf("read answer (%d): %w", resp.StatusCode, err)
	}
	return a.outcome(resp.StatusCode, sha)
}
