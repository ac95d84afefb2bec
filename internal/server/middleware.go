package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"runtime/debug"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/geoseek/geoseek/internal/problem"
)

var validRequestID = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// requestID takes a sane X-Request-ID from the client (so ids correlate across
// a proxy) or makes one, and echoes it in the response.
func requestID() gin.HandlerFunc {
	return func(c *gin.Context) {
		id := c.GetHeader("X-Request-ID")
		if !validRequestID.MatchString(id) {
			b := make([]byte, 12)
			_, _ = rand.Read(b)
			id = hex.EncodeToString(b)
		}
		c.Set(problem.RequestIDKey, id)
		c.Header("X-Request-ID", id)
		c.Next()
	}
}

// accessLog writes one structured line per request.
func accessLog(logger *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		reqLogger := logger.With("request_id", c.GetString(problem.RequestIDKey))
		c.Set(problem.LoggerKey, reqLogger)
		c.Next()
		status := c.Writer.Status()
		level := slog.LevelInfo
		if status >= 500 {
			level = slog.LevelWarn
		}
		attrs := []any{
			"method", c.Request.Method,
			"path", c.Request.URL.Path,
			"route", c.FullPath(),
			"status", status,
			"bytes", c.Writer.Size(),
			"duration_ms", float64(time.Since(start).Microseconds()) / 1000,
			"remote", c.ClientIP(),
		}
		if len(c.Errors) > 0 {
			attrs = append(attrs, "error", c.Errors.Last().Error())
		}
		reqLogger.Log(c.Request.Context(), level, "request", attrs...)
	}
}

// recovery turns a panic in a handler into a logged error and a 500
// problem+json with a stable type; the panic value is never sent.
func recovery(logger *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			if r := recover(); r != nil {
				if r == http.ErrAbortHandler {
					panic(r)
				}
				logger.Error("panic in handler", "panic", fmt.Sprint(r), "path", c.Request.URL.Path,
					"request_id", c.GetString(problem.RequestIDKey), "stack", string(debug.Stack()))
				problem.Write(c, problem.Details{
					Type: problem.ErrInternal.Type(), Title: problem.ErrInternal.Title, Status: http.StatusInternalServerError,
					Instance: c.Request.URL.Path, RequestID: c.GetString(problem.RequestIDKey),
				})
			}
		}()
		c.Next()
	}
}

// securityHeaders sets headers every response should carry. The map page sets
// its own Content-Security-Policy.
func securityHeaders() gin.HandlerFunc {
	return func(c *gin.Context) {
		h := c.Writer.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		c.Next()
	}
}

// timeout bounds the request context; database calls made with it are
// cancelled server-side too (pgx sends a cancel request). Streaming routes
// (uploads, imports; "METHOD /route/:pattern") are exempt: they are bounded by
// their own size limits instead (other bodies are capped at maxBody), and the connection's write deadline is lifted so
// a long upload can still receive its answer.
func timeout(d time.Duration, maxBody int64, untimed []string) gin.HandlerFunc {
	exempt := map[string]bool{}
	for _, r := range untimed {
		exempt[r] = true
	}
	return func(c *gin.Context) {
		if exempt[c.Request.Method+" "+c.FullPath()] {
			rc := http.NewResponseController(c.Writer)
			_ = rc.SetWriteDeadline(time.Time{})
			_ = rc.SetReadDeadline(time.Time{})
			c.Next()
			return
		}
		if c.Request.Body != nil && maxBody > 0 {
			c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxBody)
		}
		ctx, cancel := context.WithTimeout(c.Request.Context(), d)
		defer cancel()
		c.Request = c.Request.WithContext(ctx)
		c.Next()
	}
}
