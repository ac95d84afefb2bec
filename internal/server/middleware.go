package server

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/geoseek/geoseek/internal/httpx"
	"github.com/geoseek/geoseek/internal/pg"
	"github.com/geoseek/geoseek/internal/problem"
)

var validRequestID = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// requestID takes a sane X-Request-ID from the client (so ids correlate across
// a proxy) or makes one, and echoes it in the response. Made ids are a random
// per-process prefix and a counter: unique without a getrandom call per
// request (ids are labels, not secrets).
func requestID() gin.HandlerFunc {
	var prefix [8]byte
	_, _ = rand.Read(prefix[:])
	var seq atomic.Uint64
	return func(c *gin.Context) {
		id := c.GetHeader("X-Request-ID")
		if !validRequestID.MatchString(id) {
			var b [24]byte
			hex.Encode(b[:16], prefix[:])
			var n [4]byte
			binary.BigEndian.PutUint32(n[:], uint32(seq.Add(1)))
			hex.Encode(b[16:], n[:])
			id = string(b[:])
		}
		c.Set(httpx.RequestIDKey, id)
		c.Header("X-Request-ID", id)
		c.Next()
	}
}

// accessLog writes one structured line per request (answered probes
// excepted). Attributes are typed
// (LogAttrs) and nothing is built when the level is off: this runs on every
// request, and the formatting was a measurable share of a small request.
func accessLog(logger *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		// httpx.Respond logs with the request id itself.
		c.Set(httpx.LoggerKey, logger)
		c.Next()
		status := c.Writer.Status()
		// Answered probes write no line: a load balancer asks several
		// times a second, and the line would put the probe behind the
		// log's lock, where a request writing out the buffer holds it
		// for a write(2): the one place /healthz could wait on other
		// requests. /metrics counts them; failed probes are logged.
		if status < 500 && neverShed(c.Request.URL.Path) {
			return
		}
		level := slog.LevelInfo
		// A shed 503 is the server keeping its bound, not trouble to
		// report at once: at Warn every one would flush the buffered log
		// (a write(2) under its lock) hundreds of times a second exactly
		// when the server is busiest. /metrics counts them by route.
		if status >= 500 && !c.GetBool(shedKey) {
			level = slog.LevelWarn
		}
		ctx := c.Request.Context()
		if !logger.Enabled(ctx, level) {
			return
		}
		attrs := [...]slog.Attr{
			slog.String("request_id", c.GetString(httpx.RequestIDKey)),
			slog.String("method", c.Request.Method),
			slog.String("path", c.Request.URL.Path),
			slog.String("route", c.FullPath()),
			slog.Int("status", status),
			slog.Int("bytes", c.Writer.Size()),
			slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
			slog.String("remote", c.ClientIP()),
			{},
		}
		n := len(attrs) - 1
		if len(c.Errors) > 0 {
			attrs[n] = slog.String("error", c.Errors.Last().Error())
			n++
		}
		// A record without a caller: LogAttrs would walk the stack for
		// one (a fifth of the line's cost), and it would only ever name
		// this function.
		r := slog.NewRecord(time.Now(), level, "request", 0)
		r.AddAttrs(attrs[:n]...)
		_ = logger.Handler().Handle(ctx, r)
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
					"request_id", c.GetString(httpx.RequestIDKey), "stack", string(debug.Stack()))
				httpx.Write(c, problem.Details{
					Type: problem.ErrInternal.Type(), Title: problem.ErrInternal.Title, Status: http.StatusInternalServerError,
					Instance: c.Request.URL.Path, RequestID: c.GetString(httpx.RequestIDKey),
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
		// Canonical keys assigned directly: Header.Set would canonicalize
		// them again on every request. Each value is a new one-element
		// slice, as Set makes, so a handler's Add cannot touch another
		// response's headers.
		h := c.Writer.Header()
		h["X-Content-Type-Options"] = []string{"nosniff"}
		h["Referrer-Policy"] = []string{"no-referrer"}
		h["X-Frame-Options"] = []string{"DENY"}
		c.Next()
	}
}

// timeout bounds the request context; database statements made with it are
// stopped server-side when it ends, by a cancel request that leaves their
// connection in the pool (pg.WithCancelRequest), and their wait for a pool
// connection is bounded by cfg.AcquireTimeout. Streaming routes
// (uploads, imports; "METHOD /route/:pattern") are exempt from the request
// deadline: they are bounded by their own size limits instead (other bodies
// are capped at MaxBodyBytes), and the connection's write deadline is
// lifted so a long upload can still receive its answer. Every body,
// streamed or not, must arrive at cfg.Body's pace.
//
// A client that goes away cancels the work only after grace (default
// DefaultDisconnectGrace; see there why).
func timeout(cfg Config) gin.HandlerFunc {
	// Keyed by method, then route: a lookup per request without building
	// a "METHOD route" string.
	exempt := map[string]map[string]bool{}
	for _, r := range cfg.Untimed {
		method, route, _ := strings.Cut(r, " ")
		if exempt[method] == nil {
			exempt[method] = map[string]bool{}
		}
		exempt[method][route] = true
	}
	d, grace, maxBody := cfg.RequestTimeout, cfg.DisconnectGrace, cfg.MaxBodyBytes
	return func(c *gin.Context) {
		bodyDeadline(cfg.Body, c.Writer, c.Request)
		if exempt[c.Request.Method][c.FullPath()] {
			_ = http.NewResponseController(c.Writer).SetWriteDeadline(time.Time{})
			c.Request = c.Request.WithContext(pg.WithAcquireTimeout(c.Request.Context(), cfg.AcquireTimeout))
			c.Next()
			return
		}
		if c.Request.Body != nil && c.Request.Body != http.NoBody && maxBody > 0 {
			c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxBody)
		}
		client := c.Request.Context()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(client), d)
		defer cancel()
		stop := context.AfterFunc(client, func() {
			t := time.NewTimer(grace)
			defer t.Stop()
			select {
			case <-t.C:
				cancel()
			case <-ctx.Done(): // the handler returned first
			}
		})
		defer stop()
		c.Request = c.Request.WithContext(pg.WithCancelRequest(pg.WithAcquireTimeout(ctx, cfg.AcquireTimeout)))
		c.Next()
	}
}

// acceptable answers 406 to a request for a representation no route has.
// Unknown routes stay 404 (NoRoute).
func acceptable() gin.HandlerFunc {
	// The media types some geoseek route can answer with; routes with
	// fewer representations check their own (httpx.Negotiate).
	produced := []string{
		"application/json", "application/geo+json", "application/problem+json", "text/html",
		"application/vnd.mapbox-vector-tile", "application/x-protobuf", "image/jpeg", "image/png",
		"image/webp", "image/heic", "image/tiff", "image/gif", "application/schema+json",
		"application/vnd.oai.openapi+json", "text/plain", "application/openmetrics-text",
		"application/octet-stream",
	}
	return func(c *gin.Context) {
		accept := c.GetHeader("Accept")
		if accept == "" || c.FullPath() == "" || neverShed(c.Request.URL.Path) {
			c.Next()
			return
		}
		for _, t := range produced {
			if httpx.Accepts(accept, t) {
				c.Next()
				return
			}
		}
		httpx.Respond(c, problem.Wrap(problem.ErrNotAcceptable, "geoseek answers in JSON, GeoJSON, HTML, vector tiles and images; the Accept header admits none of them"))
	}
}

// DefaultDisconnectGrace is how long a request's work may go on after its
// client went away (a map panning past a tile or a feature layer, search as
// you type) before it is cancelled.
//
// Why not at once: cancelling a query costs a cancel request (a connection
// to the server of its own) and holds the query's connection a little
// longer (pgx waits so the cancel cannot hit the connection's next query);
// before cancel requests, it closed the connection and a later request
// paid for a new backend, which costs more than a tile or a page of
// features takes alone. With clients abandoning requests, a short grace
// lets most queries finish on their connection (docs/performance.md,
// "Disconnect grace"). Work that runs on past the grace is cancelled.
const DefaultDisconnectGrace = 150 * time.Millisecond
