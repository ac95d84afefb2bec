package upload

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// checkFlush is the longest a hashed file waits for its batch to fill
// before the batch is asked about anyway.
const checkFlush = 200 * time.Millisecond

// checkAll batches the hashed files, asks the server which it holds, and
// passes the others on to be sent. Files with the bytes of one already
// seen in this run wait for that one's outcome instead (see dupes).
func (u *uploader) checkAll(ctx context.Context, in <-chan *file, out chan<- *file, t *tally) {
	var batch []*file
	timer := time.NewTimer(checkFlush)
	defer timer.Stop()
	flush := func() bool {
		if len(batch) == 0 {
			return true
		}
		err := u.check(ctx, batch, out, t)
		batch = batch[:0]
		if err != nil {
			u.abort(err)
			return false
		}
		return true
	}
	for {
		select {
		case f, ok := <-in:
			if !ok {
				flush()
				return
			}
			if first, lead, r, done := u.dupes.lead(f); !first {
				if done {
					u.report(f, followerResult(lead, f, r))
				}
				continue
			}
			if len(batch) == 0 {
				timer.Reset(checkFlush)
			}
			if batch = append(batch, f); len(batch) >= u.opt.CheckBatch && !flush() {
				return
			}
		case <-timer.C:
			if !flush() {
				return
			}
		case <-ctx.Done():
			return
		}
	}
}

// checkRequest and checkAnswer are POST /photos/check's body and answer.
type checkRequest struct {
	Files []checkFile `json:"files"`
}

type checkFile struct {
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

type checkAnswer struct {
	Existing []struct {
		SHA256 string `json:"sha256"`
		ID     int64  `json:"id"`
	} `json:"existing"`
	Missing []string `json:"missing"`
}

// check asks about one batch: held files are duplicates; the others go to
// out (counted towards the bytes to send). An error stops the run: without
// an answer, no file can be sent safely.
func (u *uploader) check(ctx context.Context, batch []*file, out chan<- *file, t *tally) error {
	req := checkRequest{Files: make([]checkFile, len(batch))}
	for i, f := range batch {
		req.Files[i] = checkFile{SHA256: f.sha, Size: f.size}
	}
	var ans checkAnswer
	err := u.c.sendJSON(ctx, http.MethodPost, "/photos/check", req, &ans, http.StatusOK)
	var se *statusError
	if errors.As(err, &se) && (se.status == http.StatusNotFound || se.status == http.StatusMethodNotAllowed) {
		ans, err = u.checkEach(ctx, batch)
	}
	if err != nil {
		return fmt.Errorf("check which files the server holds: %w", err)
	}
	held := make(map[string]int64, len(ans.Existing))
	for _, e := range ans.Existing {
		held[e.SHA256] = e.ID
	}
	for _, f := range batch {
		if id, ok := held[f.sha]; ok {
			u.finish(f, Result{Path: f.path, SHA256: f.sha, Size: f.size, Outcome: Duplicate, PhotoID: id})
			continue
		}
		if u.opt.DryRun {
			t.wouldSend(f.size)
			how := "multipart"
			if f.size > u.opt.ResumableAbove {
				how = "resumable"
			}
			u.finish(f, Result{Path: f.path, SHA256: f.sha, Size: f.size, Outcome: Skipped, Reason: "dry run: would send (" + how + ")"})
			continue
		}
		t.toSend(f.size)
		select {
		case out <- f:
		case <-ctx.Done():
			return nil
		}
	}
	return nil
}

// checkEach asks about each hash with HEAD /photos/sha256/{hex}, for a
// server without POST /photos/check.
func (u *uploader) checkEach(ctx context.Context, batch []*file) (checkAnswer, error) {
	var ans checkAnswer
	for _, f := range batch {
		var id int64
		err := u.c.do(ctx, func(int) error {
			req, err := u.c.newRequest(ctx, http.MethodHead, u.c.url("/photos/sha256/"+f.sha), nil)
			if err != nil {
				return err
			}
			resp, err := u.c.send(req, http.StatusOK, http.StatusNotFound)
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				_, _ = fmt.Sscanf(resp.Header.Get("Location"), "/photos/%d", &id)
			}
			return nil
		})
		if err != nil {
			return ans, err
		}
		if id > 0 {
			ans.Existing = append(ans.Existing, struct {
				SHA256 string `json:"sha256"`
				ID     int64  `json:"id"`
			}{f.sha, id})
		}
	}
	return ans, nil
}

// send uploads one file above ResumableAbove the server lacks, as a
// resumable upload (or, from a server without them, as a request of its
// own), and reports its outcome.
func (u *uploader) send(ctx context.Context, f *file) {
	oc, id, err := u.sendResumable(ctx, f)
	if errors.Is(err, errNoTus) {
		u.sendBatch(ctx, []*file{f})
		return
	}
	if err != nil {
		if ctx.Err() != nil {
			return // reported as not done, with the run's cause
		}
		if fatal(err) {
			u.abort(err)
			return
		}
		u.fail(f, err)
		return
	}
	u.finish(f, Result{Path: f.path, SHA256: f.sha, Size: f.size, Outcome: oc, PhotoID: id})
}

// finish reports f's result and that of the files with its bytes.
func (u *uploader) finish(f *file, r Result) {
	u.report(f, r)
	for _, g := range u.dupes.settle(f, r) {
		u.report(g, followerResult(f, g, r))
	}
}

// followerResult is the result of g, a file with the bytes of lead, whose
// result is r: no bytes of g are sent.
func followerResult(lead, g *file, r Result) Result {
	dr := Result{Path: g.path, SHA256: g.sha, Size: g.size, Outcome: r.Outcome, PhotoID: r.PhotoID}
	switch r.Outcome {
	case Created, Skipped: // Skipped: a dry run, where lead would be sent
		dr.Outcome, dr.Reason = Duplicate, "same bytes as "+lead.path
	case Duplicate:
		dr.Reason = r.Reason
	default:
		dr.Reason = "same bytes as " + lead.path + ", which failed: " + r.Reason
	}
	return dr
}

// dupes groups the files of a run by content: the first of each hash is
// checked and sent; the others take its outcome (a duplicate of it).
type dupes struct {
	mu sync.Mutex
	m  map[string]*dupeGroup
}

type dupeGroup struct {
	done      bool
	lead      *file
	result    Result
	followers []*file
}

// lead reports whether f is the first of its hash. If not, f takes the
// first one's outcome: returned when done, else given by settle later.
func (d *dupes) lead(f *file) (first bool, lead *file, r Result, done bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	g, ok := d.m[f.sha]
	if !ok {
		d.m[f.sha] = &dupeGroup{lead: f}
		return true, nil, Result{}, false
	}
	if !g.done {
		g.followers = append(g.followers, f)
		return false, nil, Result{}, false
	}
	return false, g.lead, g.result, true
}

// settle records the outcome of lead and returns the files waiting on it.
func (d *dupes) settle(lead *file, r Result) []*file {
	d.mu.Lock()
	defer d.mu.Unlock()
	g, ok := d.m[lead.sha]
	if !ok || g.lead != lead {
		return nil
	}
	g.done, g.result = true, r
	out := g.followers
	g.followers = nil
	return out
}
