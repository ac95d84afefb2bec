package upload

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"
)

const tusVersion = "1.0.0"

// errGone marks a remembered upload the server no longer knows.
var errGone = errors.New("upload gone from the server")

// errNoTus marks a server without resumable uploads.
var errNoTus = errors.New("server has no resumable uploads")

// sendResumable sends f through tus: it resumes the upload remembered for
// the file's hash, or creates one, then PATCHes chunks from the server's
// offset; any failure is retried from the offset the server reports (HEAD),
// so no byte the server holds is sent again. The outcome comes from the
// upload's result.
func (u *uploader) sendResumable(ctx context.Context, f *file) (Outcome, int64, error) {
	server := u.c.base.String()
	loc, offset, err := u.resumeOrCreate(ctx, f)
	if err != nil {
		return "", 0, err
	}
	err = u.c.do(ctx, func(n int) error {
		if n > 0 {
			var herr error
			if offset, herr = u.tusOffset(ctx, loc, f.size); herr != nil {
				return herr
			}
		}
		return u.patchFrom(ctx, f, loc, &offset)
	})
	if errors.Is(err, errGone) {
		// Expired or removed on the server: begin again next run.
		u.state.drop(server, f.sha)
		return "", 0, fmt.Errorf("%w: %w", errPermanent, err)
	}
	if err != nil {
		return "", 0, err
	}
	oc, id, err := u.tusResult(ctx, loc, f.sha)
	if err == nil || !transient(err) {
		u.state.drop(server, f.sha)
	}
	return oc, id, err
}

// resumeOrCreate returns the upload's URL and the offset to send from.
func (u *uploader) resumeOrCreate(ctx context.Context, f *file) (string, int64, error) {
	server := u.c.base.String()
	if st, ok := u.state.load(server, f.sha, f.size); ok {
		var off int64
		err := u.c.do(ctx, func(int) error {
			var err error
			off, err = u.tusOffset(ctx, st.URL, f.size)
			return err
		})
		if err == nil {
			u.resumed(off)
			return st.URL, off, nil
		}
		if !errors.Is(err, errGone) {
			return "", 0, err
		}
		u.state.drop(server, f.sha)
	}
	var loc string
	err := u.c.do(ctx, func(int) error {
		var err error
		loc, err = u.tusCreate(ctx, f)
		return err
	})
	if err != nil {
		return "", 0, err
	}
	// Remembered before the first byte is sent: a crash from here on
	// resumes this upload.
	if err := u.state.save(server, uploadState{URL: loc, Size: f.size, SHA256: f.sha, Path: f.path, Created: time.Now().UTC()}); err != nil {
		return "", 0, err
	}
	return loc, 0, nil
}

// tusCreate creates an upload (POST /uploads/) and returns its URL.
func (u *uploader) tusCreate(ctx context.Context, f *file) (string, error) {
	req, err := u.c.newRequest(ctx, http.MethodPost, u.c.url("/uploads/"), http.NoBody)
	if err != nil {
		return "", err
	}
	req.Header.Set("Tus-Resumable", tusVersion)
	req.Header.Set("Upload-Length", strconv.FormatInt(f.size, 10))
	req.Header.Set("Upload-Metadata", "filename "+base64.StdEncoding.EncodeToString([]byte(filepath.Base(f.path)))+
		",filetype "+base64.StdEncoding.EncodeToString([]byte(f.mime))+
		",sha256 "+base64.StdEncoding.EncodeToString([]byte(f.sha)))
	resp, err := u.c.send(req, http.StatusCreated)
	if err != nil {
		var se *statusError
		if errors.As(err, &se) && (se.status == http.StatusNotFound || se.status == http.StatusMethodNotAllowed) {
			return "", fmt.Errorf("%w (%w)", errNoTus, err)
		}
		return "", fmt.Errorf("create upload: %w", err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || resp.Header.Get("Location") == "" {
		return "", fmt.Errorf("%w: create upload: no valid Location in the answer", errPermanent)
	}
	return resp.Request.URL.ResolveReference(loc).String(), nil
}

// tusOffset asks the server how many bytes of the upload it holds (HEAD).
func (u *uploader) tusOffset(ctx context.Context, loc string, size int64) (int64, error) {
	req, err := u.c.newRequest(ctx, http.MethodHead, loc, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Tus-Resumable", tusVersion)
	resp, err := u.c.send(req, http.StatusOK, http.StatusNoContent)
	if err != nil {
		var se *statusError
		if errors.As(err, &se) && (se.status == http.StatusNotFound || se.status == http.StatusGone) {
			return 0, errGone
		}
		return 0, fmt.Errorf("upload offset: %w", err)
	}
	resp.Body.Close()
	off, err := strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64)
	if err != nil || off < 0 || off > size {
		return 0, fmt.Errorf("%w: upload offset: bad Upload-Offset %q", errPermanent, resp.Header.Get("Upload-Offset"))
	}
	return off, nil
}

// patchFrom sends the file from *offset to its end in chunks, advancing
// *offset as the server confirms each.
func (u *uploader) patchFrom(ctx context.Context, f *file, loc string, offset *int64) error {
	fh, err := os.Open(f.path)
	if err != nil {
		return fmt.Errorf("%w: %w", errPermanent, err)
	}
	defer fh.Close()
	mismatches := 0
	for *offset < f.size {
		if changed(fh, f.stat) {
			return errChanged
		}
		n := min(u.chunk, f.size-*offset)
		next, err := u.patchChunk(ctx, fh, loc, *offset, n)
		var mm *offsetMismatch
		if errors.As(err, &mm) && mismatches < maxOffsetMismatches {
			// The server's offset moved after we asked: a request of an
			// earlier run, cut, that it was still finishing. Ask again,
			// without spending a retry.
			mismatches++
			select {
			case <-time.After(time.Duration(mismatches) * 100 * time.Millisecond):
			case <-ctx.Done():
				return ctx.Err()
			}
			if *offset, err = u.tusOffset(ctx, loc, f.size); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		mismatches, *offset = 0, next
	}
	return nil
}

// maxOffsetMismatches bounds the offset mismatches in a row that patchFrom
// settles by asking the server's offset again.
const maxOffsetMismatches = 3

// offsetMismatch is a PATCH refused because its offset is not the
// server's (409). Past maxOffsetMismatches it is a transient error (503).
type offsetMismatch struct{ err *statusError }

func (e *offsetMismatch) Error() string { return e.err.Error() }
func (e *offsetMismatch) Unwrap() error { return e.err }

func (u *uploader) patchChunk(ctx context.Context, fh *os.File, loc string, offset, n int64) (int64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	body := newIdleReader(countingReader{io.NewSectionReader(fh, offset, n), u.sent}, u.c.timeout, cancel)
	defer body.stop()
	req, err := u.c.newRequest(ctx, http.MethodPatch, loc, body)
	if err != nil {
		return 0, err
	}
	req.ContentLength = n
	req.Header.Set("Tus-Resumable", tusVersion)
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	req.Header.Set("Upload-Offset", strconv.FormatInt(offset, 10))
	asked := !u.c.noContinue.Load()
	var continued atomic.Bool
	if asked {
		req.Header.Set("Expect", "100-continue")
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{Got100Continue: func() { continued.Store(true) }}))
	}
	resp, err := u.c.send(req, http.StatusNoContent, http.StatusOK)
	if err == nil && asked && !continued.Load() {
		u.c.noContinue.Store(true)
	}
	if err != nil {
		var se *statusError
		switch {
		case errors.As(err, &se) && (se.status == http.StatusNotFound || se.status == http.StatusGone):
			return 0, errGone
		case errors.As(err, &se) && se.status == http.StatusConflict:
			// Our offset is behind or ahead of the server's: ask again.
			return 0, &offsetMismatch{&statusError{status: http.StatusServiceUnavailable, detail: "offset mismatch: " + se.detail}}
		}
		return 0, fmt.Errorf("send chunk at %d: %w", offset, err)
	}
	resp.Body.Close()
	next, err := strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64)
	if err != nil || next <= offset || next > offset+n {
		return 0, fmt.Errorf("%w: send chunk: bad Upload-Offset %q after %d", errPermanent, resp.Header.Get("Upload-Offset"), offset)
	}
	return next, nil
}

// tusResult fetches the outcome of a finished upload: GET <upload>/result
// answers like POST /photos. While the server is still storing the photo
// it answers 202 (or 425/409), and the client asks again.
func (u *uploader) tusResult(ctx context.Context, loc, sha string) (Outcome, int64, error) {
	var oc Outcome
	var id int64
	err := u.c.do(ctx, func(int) error {
		req, err := u.c.newRequest(ctx, http.MethodGet, loc+"/result", nil)
		if err != nil {
			return err
		}
		req.Header.Set("Accept", "application/json")
		resp, err := u.c.http.Do(req)
		if err != nil {
			return fmt.Errorf("upload result: %w", err)
		}
		defer resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusAccepted, http.StatusTooEarly:
			return &statusError{status: http.StatusServiceUnavailable, detail: "the server is still storing the upload", retryAfter: parseRetryAfter(resp.Header.Get("Retry-After"))}
		case http.StatusNotFound, http.StatusGone:
			return fmt.Errorf("%w: upload result: %w", errPermanent, newStatusError(resp))
		}
		oc, id, err = u.readAnswer(resp, sha)
		return err
	})
	return oc, id, err
}
