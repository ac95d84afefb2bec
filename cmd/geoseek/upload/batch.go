package upload

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"time"
)

// Files up to --resumable-above travel several to a request: a multipart
// POST /photos of up to BatchFiles files and BatchBytes bytes. The server
// reads a request's files while the ones before commit, so a few requests
// keep enough photos in flight to fill its batches, as an import does.
// Each file keeps its own outcome: the answer lists one result per part,
// in order.

// packLinger is how long a request that is not full waits for more files
// once a sender is free: files come from the check in bursts, a file at a
// time, and a request sent at the first file of a burst would carry one.
const packLinger = 50 * time.Millisecond

// pack groups the files to send into requests: a request leaves when it is
// full (BatchFiles files or BatchBytes bytes), or when a sender is free and
// its first file has waited packLinger, or at the end of the files. A file
// above ResumableAbove goes alone (a tus upload).
func (u *uploader) pack(ctx context.Context, in <-chan *file, out chan<- []*file) {
	var batch []*file
	var bytes int64
	linger := time.NewTimer(packLinger)
	linger.Stop()
	ripe := false // the batch has waited packLinger
	emit := func(b []*file) bool {
		select {
		case out <- b:
			return true
		case <-ctx.Done():
			return false
		}
	}
	flush := func() bool {
		ok := emit(batch)
		batch, bytes, ripe = nil, 0, false
		linger.Stop()
		return ok
	}
	// add takes f into the batch; false when the run ends.
	add := func(f *file) bool {
		if f.size > u.opt.ResumableAbove {
			return emit([]*file{f})
		}
		if len(batch) > 0 && bytes+f.size > u.opt.BatchBytes && !flush() {
			return false
		}
		if len(batch) == 0 {
			linger.Reset(packLinger)
		}
		batch, bytes = append(batch, f), bytes+f.size
		if len(batch) >= u.batchFiles() || bytes >= u.opt.BatchBytes {
			return flush()
		}
		return true
	}
	for {
		var send chan<- []*file
		if ripe {
			send = out
		}
		select {
		case f, ok := <-in:
			if !ok {
				if len(batch) > 0 {
					flush()
				}
				return
			}
			if !add(f) {
				return
			}
		case <-linger.C:
			ripe = len(batch) > 0
		case send <- batch:
			batch, bytes, ripe = nil, 0, false
		case <-ctx.Done():
			return
		}
	}
}

// fileAnswer is the server's answer about one file of a request.
type fileAnswer struct {
	outcome Outcome
	id      int64
	err     error
}

// sendBatch sends files (which the server lacked when checked) in one
// request and reports each one's outcome. A file whose outcome is unknown
// (the request failed on the way) or transient (a 5xx, 429 or 408 of its
// own) is sent again, with the others of that kind, after a backoff; a file
// with an answer is never sent again. Before a retry the server is asked
// which of them it holds: those an earlier try stored, whose answer was
// lost, are reported created, as this run stored them.
func (u *uploader) sendBatch(ctx context.Context, files []*file) {
	pending := files
	last := map[*file]error{}
	attempts := max(u.c.retry.Attempts, 1)
	for n := 0; n < attempts && len(pending) > 0; n++ {
		if n > 0 {
			if err := u.c.sleep(ctx, u.c.retryWait(n, last[pending[0]])); err != nil {
				return // ctx ended: reported as not done
			}
			pending = u.settleStored(ctx, pending)
			if len(pending) == 0 {
				return
			}
		}
		answers, err := u.postBatch(ctx, pending)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if fatal(err) {
				u.abort(err)
				return
			}
			if !transient(err) {
				for _, f := range pending {
					u.fail(f, err)
				}
				return
			}
			for _, f := range pending {
				last[f] = err
			}
			continue
		}
		var again []*file
		for i, f := range pending {
			a := answers[i]
			switch {
			case a.err == nil:
				u.finish(f, Result{Path: f.path, SHA256: f.sha, Size: f.size, Outcome: a.outcome, PhotoID: a.id})
			case transient(a.err):
				last[f] = a.err
				again = append(again, f)
			default:
				u.fail(f, a.err)
			}
		}
		pending = again
	}
	// Out of tries: those a lost answer stored are still this run's.
	for _, f := range u.settleStored(ctx, pending) {
		u.fail(f, fmt.Errorf("gave up after %d attempts: %w", attempts, last[f]))
	}
}

func (u *uploader) fail(f *file, err error) {
	u.finish(f, Result{Path: f.path, SHA256: f.sha, Size: f.size, Outcome: Failed, Reason: err.Error()})
}

// settleStored asks the server which of files it holds now, reports those
// created, and returns the others. Without an answer it returns them all:
// a retry then settles them (an answered duplicate is then reported as one).
func (u *uploader) settleStored(ctx context.Context, files []*file) []*file {
	req := checkRequest{Files: make([]checkFile, len(files))}
	for i, f := range files {
		req.Files[i] = checkFile{SHA256: f.sha, Size: f.size}
	}
	var ans checkAnswer
	if err := u.c.sendJSON(ctx, http.MethodPost, "/photos/check", req, &ans, http.StatusOK); err != nil {
		return files
	}
	held := make(map[string]int64, len(ans.Existing))
	for _, e := range ans.Existing {
		held[e.SHA256] = e.ID
	}
	var rest []*file
	for _, f := range files {
		if id, ok := held[f.sha]; ok {
			u.finish(f, Result{Path: f.path, SHA256: f.sha, Size: f.size, Outcome: Created, PhotoID: id})
			continue
		}
		rest = append(rest, f)
	}
	return rest
}

// batchFiles is the most files a request carries: --batch-files, or less
// once the server said it takes fewer.
func (u *uploader) batchFiles() int {
	if m := int(u.serverMaxFiles.Load()); m > 0 && m < u.opt.BatchFiles {
		return m
	}
	return u.opt.BatchFiles
}

// capBatch lowers the files per request to the server's max.
func (u *uploader) capBatch(max int) {
	for {
		cur := u.serverMaxFiles.Load()
		if cur > 0 && cur <= int64(max) {
			return
		}
		if u.serverMaxFiles.CompareAndSwap(cur, int64(max)) {
			return
		}
	}
}

// postBatch sends files as one multipart POST /photos and returns an
// answer per file, in order. The error is the request's: no file's
// outcome is known. A file that cannot be opened is answered without
// being sent; a file that changes while it is sent fails, and ends the
// request (the server must not store a mix of old and new bytes), so the
// others' outcomes are unknown.
func (u *uploader) postBatch(ctx context.Context, files []*file) ([]fileAnswer, error) {
	answers := make([]fileAnswer, len(files))
	var sent []int // indexes of the files in the body
	var open []*os.File
	defer func() {
		for _, fh := range open {
			fh.Close()
		}
	}()
	for i, f := range files {
		fh, err := os.Open(f.path)
		if err != nil {
			answers[i].err = fmt.Errorf("%w: %w", errPermanent, err)
			continue
		}
		sent, open = append(sent, i), append(open, fh)
	}
	if len(sent) == 0 {
		return answers, nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	changed := -1 // index in files of a file that changed while sent
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		buf := make([]byte, sendPiece)
		for k, i := range sent {
			f := files[i]
			h := textproto.MIMEHeader{}
			h.Set("Content-Disposition", multipart.FileContentDisposition("file", filepath.Base(f.path)))
			h.Set("Content-Type", f.mime)
			part, err := mw.CreatePart(h)
			if err == nil {
				g := &guardReader{f: open[k], want: f.stat}
				_, err = io.CopyBuffer(part, g, buf)
				if g.changed {
					changed = i
				}
			}
			if err != nil {
				pw.CloseWithError(err)
				return
			}
		}
		pw.CloseWithError(mw.Close())
	}()
	body := newIdleReader(countingReader{pr, u.sent}, u.c.timeout, cancel)
	defer body.stop()
	req, err := u.c.newRequest(ctx, http.MethodPost, u.c.url("/photos"), body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Accept", "application/json")
	resp, err := u.c.http.Do(req)
	pr.CloseWithError(io.ErrClosedPipe) // stops the writer if the server answered early
	<-wrote
	if resp != nil {
		defer resp.Body.Close()
	}
	if changed >= 0 {
		return u.changedAnswers(files, answers, changed)
	}
	if err != nil {
		return nil, fmt.Errorf("POST /photos: %w", err)
	}
	got, err := u.readAnswers(resp, files, sent)
	if err != nil {
		return nil, err
	}
	for k, i := range sent {
		answers[i] = got[k]
	}
	return answers, nil
}

// changedAnswers answers a request ended by file changed: that file fails,
// the others sent are unknown (a transient error, so they are sent again).
func (u *uploader) changedAnswers(files []*file, answers []fileAnswer, changed int) ([]fileAnswer, error) {
	for i := range files {
		switch {
		case i == changed:
			answers[i].err = errChanged
		case answers[i].err == nil:
			answers[i].err = errors.New("not stored: another file of its request changed while it was sent")
		}
	}
	return answers, nil
}

// readAnswers decodes a POST /photos answer about the files of files at
// the indexes sent, in order. A request-wide refusal (5xx, 429, 408, 401,
// 403, or an error with no per-file results) is the error.
func (u *uploader) readAnswers(resp *http.Response, files []*file, sent []int) ([]fileAnswer, error) {
	if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusRequestTimeout ||
		resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		return nil, newStatusError(resp)
	}
	rd := newIdleReader(resp.Body, u.c.timeout, nil)
	defer rd.stop()
	var a uploadAnswer
	if err := json.NewDecoder(io.LimitReader(rd, 16<<20)).Decode(&a); err != nil {
		return nil, fmt.Errorf("read answer (%d): %w", resp.StatusCode, err)
	}
	if len(a.Results) == 0 {
		_, _, err := a.outcome(resp.StatusCode, "")
		return nil, err
	}
	out := make([]fileAnswer, len(sent))
	for k, i := range sent {
		if k >= len(a.Results) {
			// Not answered (the server stopped early): unknown, sent again.
			out[k].err = fmt.Errorf("the server answered %d results for %d files", len(a.Results), len(sent))
			continue
		}
		one := uploadAnswer{Results: a.Results[k : k+1]}
		out[k].outcome, out[k].id, out[k].err = one.outcome(resp.StatusCode, files[i].sha)
		var full *requestFullError
		if errors.As(out[k].err, &full) {
			u.capBatch(full.max)
		}
	}
	return out, nil
}
