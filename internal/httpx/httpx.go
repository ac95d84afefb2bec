// Package httpx writes geoseek's problem details through Gin. It is the one
// place that joins package problem, which knows nothing of the router (so a
// domain without HTTP, such as embed, can return problem errors without
// depending on Gin), to the Gin context the server middleware fills in.
package httpx

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/geoseek/geoseek/internal/pg"
	"github.com/geoseek/geoseek/internal/problem"
)

// Keys under which the server middleware stores per-request values.
const (
	RequestIDKey = "geoseek.request_id"
	LoggerKey    = "geoseek.logger"
)

// Respond writes err as problem+json and aborts the Gin chain. Unexpected
// errors are logged once with the request id; their text is not sent.
//
// A database that cannot be reached or is too busy to hand out a connection
// within its acquire bound is a 503 `unavailable` with Retry-After, logged as
// a warning by the access log (an outage, not a bug).
func Respond(c *gin.Context, err error) {
	ctx := c.Request.Context()
	if ctx.Err() != nil && pg.Cancelled(err) {
		// The server stopped the statement because the request's context
		// ended: the context's reason is the answer (a client gone, or
		// the request's deadline), not a statement timeout.
		err = fmt.Errorf("%w: %v", context.Cause(ctx), err)
	}
	d, known := problem.From(err)
	if (!known || errors.Is(err, context.DeadlineExceeded)) && unavailable(ctx, err) {
		// Logged once, by the access log (a 5xx is a warning there),
		// with this error's text: an outage, not a bug.
		err = problem.Translate(problem.ErrUnavailable, "the database is unreachable or busy; retry after the time Retry-After gives", err)
		d, known = problem.From(err)
	}
	d.Instance = c.Request.URL.Path
	d.RequestID = c.GetString(RequestIDKey)
	if !known {
		logger(c).ErrorContext(ctx, "request failed", "err", err, "path", c.Request.URL.Path, "request_id", d.RequestID)
	}
	_ = c.Error(err) // visible to the access log
	Write(c, d)
}

// unavailable tells an outage from other errors: the driver says the server
// is gone, or the wait for a pool connection ran out while the request
// itself still had time.
func unavailable(ctx context.Context, err error) bool {
	if pg.Unavailable(err) {
		return true
	}
	return errors.Is(err, context.DeadlineExceeded) && (pg.AcquireTimedOut(ctx) || ctx.Err() == nil && !errors.Is(err, problem.ErrTimeout))
}

func logger(c *gin.Context) *slog.Logger {
	if l, ok := c.Get(LoggerKey); ok {
		if ll, ok := l.(*slog.Logger); ok {
			return ll
		}
	}
	return slog.Default()
}

// RetryAfterSeconds is the Retry-After of 503 answers that set none.
const RetryAfterSeconds = "2"

// Write sends d as problem+json and aborts the chain.
func Write(c *gin.Context, d problem.Details) {
	if c.Writer.Written() {
		c.Abort()
		return
	}
	if d.Status == http.StatusUnauthorized {
		c.Header("WWW-Authenticate", `Bearer realm="geoseek"`)
	}
	if d.Status == http.StatusServiceUnavailable && c.Writer.Header().Get("Retry-After") == "" {
		c.Header("Retry-After", RetryAfterSeconds)
	}
	c.Header("Content-Type", problem.ContentType)
	c.Header("Cache-Control", "no-store")
	b, err := json.Marshal(d)
	if err != nil {
		b = []byte(`{"type":"` + problem.ErrInternal.Type() + `","title":"Internal server error","status":500}`)
	}
	c.Status(d.Status)
	_, _ = c.Writer.Write(b)
	c.Abort()
}
