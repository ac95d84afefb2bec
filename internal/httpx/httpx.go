// Package httpx writes geoseek's problem details through Gin. It is the one
// place that joins package problem, which knows nothing of the router (so a
// domain without HTTP, such as embed, can return problem errors without
// depending on Gin), to the Gin context the server middleware fills in.
package httpx

import (
	"encoding/json"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/geoseek/geoseek/internal/problem"
)

// Keys under which the server middleware stores per-request values.
const (
	RequestIDKey = "geoseek.request_id"
	LoggerKey    = "geoseek.logger"
)

// Respond writes err as problem+json and aborts the Gin chain. Unexpected
// errors are logged once with the request id; their text is not sent.
func Respond(c *gin.Context, err error) {
	d, known := problem.From(err)
	d.Instance = c.Request.URL.Path
	d.RequestID = c.GetString(RequestIDKey)
	if !known {
		logger := slog.Default()
		if l, ok := c.Get(LoggerKey); ok {
			if ll, ok := l.(*slog.Logger); ok {
				logger = ll
			}
		}
		logger.ErrorContext(c.Request.Context(), "request failed", "err", err, "path", c.Request.URL.Path, "request_id", d.RequestID)
	}
	_ = c.Error(err) // visible to the access log
	Write(c, d)
}

// Write sends d as problem+json and aborts the chain.
func Write(c *gin.Context, d problem.Details) {
	if c.Writer.Written() {
		c.Abort()
		return
	}
	if d.Status == http.StatusUnauthorized {
		c.Header("WWW-Authenticate", `Bearer realm="geoseek"`)
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
