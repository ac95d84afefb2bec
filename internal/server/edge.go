package server

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/geoseek/geoseek/internal/auth"
	"github.com/geoseek/geoseek/internal/httpx"
	"github.com/geoseek/geoseek/internal/problem"
	"github.com/geoseek/geoseek/internal/ratelimit"
)

// neverShed are the probes: a load balancer must see a loaded server as
// alive (and ready, when its database is), or it takes it out of rotation
// exactly when it is busiest.
func neverShed(path string) bool { return path == "/healthz" || path == "/readyz" }

// shedKey marks a request shed, for the access log.
const shedKey = "geoseek.shed"

// shed answers 503 at once when max requests are already in flight, rather
// than queueing them behind work that is already late: a client retries
// after Retry-After, a queue only makes every request slow.
func shed(limit int) gin.HandlerFunc {
	var inflight atomic.Int64
	return func(c *gin.Context) {
		if limit <= 0 || neverShed(c.Request.URL.Path) {
			c.Next()
			return
		}
		if n := inflight.Add(1); n > int64(limit) {
			inflight.Add(-1)
			c.Set(shedKey, true)
			c.Header("Retry-After", "1")
			httpx.Respond(c, problem.Wrap(problem.ErrUnavailable, fmt.Sprintf("the server is at its limit of %d requests in flight; retry after the time Retry-After gives", limit)))
			return
		}
		defer inflight.Add(-1)
		c.Next()
	}
}

// RateLimits are the per-client limits; a zero Rate turns one off.
type RateLimits struct {
	// PerKey limits requests made with a valid API key, per key.
	PerKey ratelimit.Config
	// PerIP limits anonymous requests, per client address.
	PerIP ratelimit.Config
	// AuthFailures limits refused credentials per client address; past it,
	// every request from that address carrying credentials gets 429 without
	// the key being looked at.
	AuthFailures ratelimit.Config
}

// limiters are the built RateLimits (nil members are off).
type limiters struct {
	key, ip, fail *ratelimit.Memory
}

func newLimiters(r RateLimits) *limiters {
	return &limiters{key: ratelimit.New(r.PerKey), ip: ratelimit.New(r.PerIP), fail: ratelimit.New(r.AuthFailures)}
}

// beforeAuth refuses credentials from a client that failed too often.
func (l *limiters) beforeAuth() gin.HandlerFunc {
	return func(c *gin.Context) {
		if l.fail == nil || c.GetHeader("Authorization") == "" {
			c.Next()
			return
		}
		if d := l.fail.Peek(c.ClientIP()); !d.Allowed {
			tooMany(c, d, "too many failed authentication attempts from this address")
			return
		}
		c.Next()
	}
}

// afterAuth counts a refused credential against the client's failure
// budget, then applies the request limit: per key when a valid key came,
// per address otherwise.
func (l *limiters) afterAuth() gin.HandlerFunc {
	return func(c *gin.Context) {
		if l.fail != nil && auth.Failed(c) {
			l.fail.Take(c.ClientIP())
		}
		lim, id, what := l.ip, c.ClientIP(), "this address"
		if k, ok := auth.KeyFrom(c); ok {
			lim, id, what = l.key, "key:"+strconv.FormatInt(k.ID, 10), "this API key"
		}
		if lim == nil {
			c.Next()
			return
		}
		d := lim.Take(id)
		setRateHeaders(c, d)
		if !d.Allowed {
			tooMany(c, d, "too many requests from "+what)
			return
		}
		c.Next()
	}
}

// setRateHeaders writes the IETF RateLimit header fields (draft
// ietf-httpapi-ratelimit-headers): the bucket size, the tokens left and the
// seconds until the bucket is full.
func setRateHeaders(c *gin.Context, d ratelimit.Decision) {
	h := c.Writer.Header()
	h.Set("RateLimit-Limit", strconv.Itoa(d.Limit))
	h.Set("RateLimit-Remaining", strconv.Itoa(d.Remaining))
	h.Set("RateLimit-Reset", strconv.Itoa(ceilSeconds(d.Reset)))
}

func tooMany(c *gin.Context, d ratelimit.Decision, msg string) {
	setRateHeaders(c, d)
	c.Header("Retry-After", strconv.Itoa(max(1, ceilSeconds(d.RetryAfter))))
	httpx.Respond(c, problem.Wrap(problem.ErrRateLimited, msg+"; retry after the time Retry-After gives"))
}

func ceilSeconds(d time.Duration) int {
	return int((d + time.Second - 1) / time.Second)
}

// privateCache keeps shared caches from storing answers that needed a key:
// such an answer is Cache-Control private (a handler's "public" becomes
// "private", its max-age kept) and varies by Authorization.
func privateCache() gin.HandlerFunc {
	return func(c *gin.Context) {
		w := &privateWriter{ResponseWriter: c.Writer, c: c}
		c.Writer = w
		c.Next()
		w.fix()
	}
}

type privateWriter struct {
	gin.ResponseWriter
	c     *gin.Context
	fixed bool
}

func (w *privateWriter) fix() {
	if w.fixed || !auth.NeededKey(w.c) {
		return
	}
	w.fixed = true
	h := w.ResponseWriter.Header()
	cc := h.Get("Cache-Control")
	switch {
	case cc == "":
		h.Set("Cache-Control", "private, no-cache")
	case strings.Contains(cc, "no-store"), strings.Contains(cc, "private"):
	default:
		cc = strings.ReplaceAll(cc, "public", "private")
		if !strings.Contains(cc, "private") {
			cc = "private, " + cc
		}
		h.Set("Cache-Control", cc)
	}
	h.Add("Vary", "Authorization")
}

func (w *privateWriter) WriteHeader(code int) { w.fix(); w.ResponseWriter.WriteHeader(code) }
func (w *privateWriter) WriteHeaderNow()      { w.fix(); w.ResponseWriter.WriteHeaderNow() }
func (w *privateWriter) Write(b []byte) (int, error) {
	w.fix()
	return w.ResponseWriter.Write(b)
}
func (w *privateWriter) WriteString(s string) (int, error) {
	w.fix()
	return w.ResponseWriter.WriteString(s)
}
func (w *privateWriter) Flush() { w.fix(); w.ResponseWriter.Flush() }

// Unwrap lets http.ResponseController reach the connection.
func (w *privateWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// cors answers cross-origin requests from the configured origins ("*": any)
// and their preflights. With none configured it adds nothing, and browsers
// keep other origins out.
func cors(origins []string) gin.HandlerFunc {
	allowed := map[string]bool{}
	for _, o := range origins {
		allowed[strings.TrimRight(o, "/")] = true
	}
	const (
		methods = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
		headers = "Authorization, Content-Type, Accept, Accept-Encoding, Cache-Control, If-None-Match, If-Match, X-Request-ID, Upload-Length, Upload-Offset, Upload-Metadata, Tus-Resumable"
		expose  = "RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, Retry-After, X-Request-ID, Location, ETag, Link"
	)
	return func(c *gin.Context) {
		origin := c.GetHeader("Origin")
		if len(allowed) == 0 || origin == "" {
			c.Next()
			return
		}
		h := c.Writer.Header()
		h.Add("Vary", "Origin")
		if !allowed[origin] && !allowed["*"] {
			c.Next()
			return
		}
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Expose-Headers", expose)
		if c.Request.Method == http.MethodOptions && c.GetHeader("Access-Control-Request-Method") != "" {
			h.Set("Access-Control-Allow-Methods", methods)
			h.Set("Access-Control-Allow-Headers", headers)
			h.Set("Access-Control-Max-Age", "600")
			c.AbortWithStatus(http.StatusNoContent)
			return
		}
		c.Next()
	}
}

// BodyLimits bound how long a request body may take to arrive.
type BodyLimits struct {
	// Timeout is the time a body gets before it must keep up MinRate; 0
	// turns the bound off.
	Timeout time.Duration
	// MinRate (bytes per second) extends the deadline as bytes arrive, so
	// a large upload on a slow link goes on while a trickle is cut.
	MinRate int64
}

// bodyDeadline sets a read deadline on the connection for the body:
// Timeout from the start, plus the time MinRate allows for the bytes read
// so far. A client that sends slower is answered 408 (its read fails with
// problem.ErrBodyTimeout) and the connection is closed.
//
// The deadline is never lifted here: net/http lifts it itself once the body
// has been read to its end (to watch the connection while the handler
// works) and sets its own before the next request; a body the handler left
// unread is drained by net/http under this deadline, so a trickle cannot
// hold the connection after the answer either.
func bodyDeadline(b BodyLimits, w http.ResponseWriter, r *http.Request) {
	if b.Timeout <= 0 || r.Body == nil || r.Body == http.NoBody {
		return
	}
	rc := http.NewResponseController(w)
	start := time.Now()
	if err := rc.SetReadDeadline(start.Add(b.Timeout)); err != nil {
		return
	}
	r.Body = &deadlineBody{ReadCloser: r.Body, rc: rc, start: start, limits: b}
}

type deadlineBody struct {
	io.ReadCloser
	rc     *http.ResponseController
	start  time.Time
	limits BodyLimits
	read   int64
}

func (d *deadlineBody) Read(p []byte) (int, error) {
	n, err := d.ReadCloser.Read(p)
	// Not on the last read: at the body's end net/http has lifted the
	// deadline, and must keep it lifted.
	if n > 0 && err == nil && d.limits.MinRate > 0 {
		d.read += int64(n)
		allowed := time.Duration(float64(d.read) / float64(d.limits.MinRate) * float64(time.Second))
		_ = d.rc.SetReadDeadline(d.start.Add(d.limits.Timeout + allowed))
	}
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		return n, problem.Translate(problem.ErrBodyTimeout, fmt.Sprintf("the request body arrived slower than %d bytes per second after the first %s", d.limits.MinRate, d.limits.Timeout), err)
	}
	return n, err
}
