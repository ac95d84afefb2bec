package upload

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// ErrServer is wrapped by errors that stop a whole run: the server cannot be
// reached, or it refuses the key.
var ErrServer = errors.New("server unavailable or key refused")

// Retry is the retry policy for transient failures.
type Retry struct {
	// Attempts is how many times one request is tried in all (at least 1).
	Attempts int
	// Base is the first backoff; each next one doubles, up to Max; each
	// wait is drawn uniformly below that bound (full jitter).
	Base, Max time.Duration
}

// backoff is the wait before attempt n (n >= 1 is the first retry).
func (r Retry) backoff(n int) time.Duration {
	d := r.Base
	for i := 1; i < n && d < r.Max; i++ {
		d *= 2
	}
	d = min(d, r.Max)
	if d <= 0 {
		return 0
	}
	return rand.N(d) + 1
}

// client sends requests to one server with its key, retrying transient
// failures.
type client struct {
	base    *url.URL
	key     string
	http    *http.Client
	retry   Retry
	timeout time.Duration // longest silence on a connection (see idleReader)
	// sleep waits d or until ctx ends (a field so tests need not wait).
	sleep func(ctx context.Context, d time.Duration) error
	// noContinue is set once a PATCH was stored without the server saying
	// 100 Continue (a proxy that does not pass Expect on): the next ones
	// send their bodies at once instead of waiting for it every chunk.
	noContinue atomic.Bool
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// newHTTPClient bounds every wait on the server: dialling, the TLS
// handshake, and the answer's headers once a request is sent. Bodies are
// bounded by idleReader.
func newHTTPClient(timeout time.Duration, conns int) *http.Client {
	d := &net.Dialer{Timeout: min(timeout, 30*time.Second), KeepAlive: 30 * time.Second}
	return &http.Client{Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           d.DialContext,
		TLSHandshakeTimeout:   min(timeout, 30*time.Second),
		ResponseHeaderTimeout: timeout,
		// A PATCH asks before its body (Expect: 100-continue): a server
		// that refuses the chunk (409 at a moved offset) gets no bytes of
		// it. A server that never says 100 gets the body after this wait (as
		// curl and Go's default transport do).
		ExpectContinueTimeout: min(timeout, time.Second),
		MaxIdleConnsPerHost:   conns + 2,
		IdleConnTimeout:       90 * time.Second,
	}}
}

func (c *client) url(path string) string {
	return c.base.ResolveReference(&url.URL{Path: strings.TrimPrefix(path, "/")}).String()
}

// statusError is a non-2xx answer, with the problem's detail when the
// server sent one.
type statusError struct {
	status     int
	detail     string
	retryAfter time.Duration
}

func (e *statusError) Error() string {
	if e.detail != "" {
		return fmt.Sprintf("%d %s", e.status, reason(http.StatusText(e.status), e.detail))
	}
	return fmt.Sprintf("%d %s", e.status, http.StatusText(e.status))
}

// reason joins a problem's title and detail as "title: detail", leaving the
// title out when the detail already says it (server details often start
// with their title) and either out when empty.
func reason(title, detail string) string {
	switch {
	case detail == "":
		return title
	case title == "" || strings.HasPrefix(strings.ToLower(detail), strings.ToLower(title)):
		return detail
	}
	return title + ": " + detail
}

// problemText reads an error answer's body: the title and detail of a
// problem+json, or the start of any other text.
func problemText(resp *http.Response) string {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var p struct {
		Title  string `json:"title"`
		Detail string `json:"detail"`
	}
	if json.Unmarshal(b, &p) == nil && (p.Title != "" || p.Detail != "") {
		return reason(p.Title, p.Detail)
	}
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

func newStatusError(resp *http.Response) *statusError {
	return &statusError{status: resp.StatusCode, detail: problemText(resp), retryAfter: parseRetryAfter(resp.Header.Get("Retry-After"))}
}

// parseRetryAfter reads seconds or an HTTP date; 0 when absent or past.
func parseRetryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}

// transient reports whether err may go away if the request is sent again.
func transient(err error) bool {
	var full *requestFullError
	if errors.As(err, &full) {
		return true
	}
	var se *statusError
	if errors.As(err, &se) {
		switch se.status {
		case http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusLocked:
			// 423: a resumable upload still held by a request the server
			// has not yet seen end (the link was cut).
			return true
		}
		return se.status >= 500 && se.status != http.StatusNotImplemented
	}
	// Anything else is the connection: refused, reset, cut, timed out.
	return !errors.Is(err, context.Canceled) && !errors.Is(err, errPermanent)
}

// errPermanent marks a local failure that sending again will not fix.
var errPermanent = errors.New("permanent")

// fatal reports whether err stops the whole run: the key is refused.
func fatal(err error) bool {
	var se *statusError
	return errors.As(err, &se) && (se.status == http.StatusUnauthorized || se.status == http.StatusForbidden)
}

// retryWait is the wait before try n (n >= 1) after err: the backoff, or
// the server's Retry-After when longer.
func (c *client) retryWait(n int, err error) time.Duration {
	wait := c.retry.backoff(n)
	var se *statusError
	if errors.As(err, &se) && se.retryAfter > 0 {
		// Honoured, but not for hours: a run waits at most ten times the
		// longest backoff for one answer.
		wait = min(max(wait, se.retryAfter), 10*c.retry.Max)
	}
	return wait
}

// do runs attempt until it succeeds, fails for good, or runs out of
// attempts, waiting between tries. attempt gets the try's number (0 first).
func (c *client) do(ctx context.Context, attempt func(n int) error) error {
	var err error
	for n := 0; n < max(c.retry.Attempts, 1); n++ {
		if n > 0 {
			if serr := c.sleep(ctx, c.retryWait(n, err)); serr != nil {
				return fmt.Errorf("%w (last error: %w)", serr, err)
			}
		}
		err = attempt(n)
		if err == nil || ctx.Err() != nil || !transient(err) {
			return err
		}
	}
	return fmt.Errorf("gave up after %d attempts: %w", max(c.retry.Attempts, 1), err)
}

// newRequest is a request to path on the server with the key.
func (c *client) newRequest(ctx context.Context, method, target string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return nil, fmt.Errorf("upload: %w", err)
	}
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	req.Header.Set("User-Agent", "geoseek-upload")
	return req, nil
}

// send sends req and returns the answer when its status is in ok; any other
// status is a *statusError (the body read and closed).
func (c *client) send(req *http.Request, ok ...int) (*http.Response, error) {
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	for _, s := range ok {
		if resp.StatusCode == s {
			return resp, nil
		}
	}
	defer resp.Body.Close()
	return nil, newStatusError(resp)
}

// getJSON sends a JSON body (nil for none) and decodes a JSON answer into
// out, retrying transient failures.
func (c *client) sendJSON(ctx context.Context, method, path string, in, out any, ok ...int) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return fmt.Errorf("upload: encode %s %s: %w", method, path, err)
		}
	}
	return c.do(ctx, func(int) error {
		var r io.Reader
		if body != nil {
			r = strings.NewReader(string(body))
		}
		req, err := c.newRequest(ctx, method, c.url(path), r)
		if err != nil {
			return err
		}
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		req.Header.Set("Accept", "application/json")
		resp, err := c.send(req, ok...)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if out == nil {
			return nil
		}
		rd := newIdleReader(resp.Body, c.timeout, nil)
		defer rd.stop()
		if err := json.NewDecoder(rd).Decode(out); err != nil {
			return fmt.Errorf("read answer of %s %s: %w", method, path, err)
		}
		return nil
	})
}
