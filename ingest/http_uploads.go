package ingest

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/geoseek/geoseek/internal/auth"
	"github.com/geoseek/geoseek/internal/httpx"
	"github.com/geoseek/geoseek/internal/problem"
)

// UploadRoutes are the resumable upload routes that stream bodies: the
// server exempts them from its request timeout and body cap (tusd bounds
// them by Config.MaxFileBytes, and a silent client by UploadIdleTimeout).
var UploadRoutes = []string{"POST /uploads", "POST /uploads/", "PATCH /uploads/:id"}

// registerUploads mounts tus 1.0 under /uploads/ (write scope; OPTIONS,
// the protocol's discovery, is open) and GET /uploads/{id}/result.
func (h *Handler) registerUploads(r gin.IRouter) {
	if h.svc.uploads == nil {
		return
	}
	write := auth.Require(auth.Write)
	for _, p := range []string{"/uploads", "/uploads/"} {
		r.POST(p, write, h.tus)
		r.OPTIONS(p, h.tus)
	}
	r.OPTIONS("/uploads/:id", h.tus)
	r.HEAD("/uploads/:id", write, h.tusUpload)
	r.PATCH("/uploads/:id", write, h.tusUpload)
	r.DELETE("/uploads/:id", write, h.tusUpload)
	r.GET("/uploads/:id/result", write, h.uploadResult)
}

// tusUpload hands a request about one upload to tusd; a path that is not
// an upload id never reaches it.
func (h *Handler) tusUpload(c *gin.Context) {
	id := c.Param("id")
	if !uploadIDPattern.MatchString(id) {
		httpx.Respond(c, problem.Wrap(problem.ErrNotFound, "no such upload"))
		return
	}
	if c.Request.Method == http.MethodPatch {
		// tusd answers a PATCH to a complete upload 204 at once; if
		// storing it failed before, store it first, so that no 2xx
		// comes before the photo's row.
		if err := h.svc.uploads.storeIfComplete(c.Request.Context(), id); err != nil {
			httpx.Respond(c, fmt.Errorf("%w: the upload is complete but could not be stored yet; try again", problem.ErrUnavailable))
			return
		}
	}
	h.tus(c)
}

// uploadResult answers with a finished upload's outcome, in the shape of
// POST /photos' answer for one file.
func (h *Handler) uploadResult(c *gin.Context) {
	res, err := h.svc.uploads.Result(c.Request.Context(), c.Param("id"))
	if err != nil {
		httpx.Respond(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	respondResults(c, []FileResult{*res}, nil)
}

// tus hands the request to tusd, its path relative to /uploads, and turns
// tusd's plain-text errors into problem+json.
func (h *Handler) tus(c *gin.Context) {
	w := &tusWriter{ResponseWriter: c.Writer, method: c.Request.Method, expiry: h.svc.uploads.expiry}
	if c.Request.Body != nil && c.Request.Body != http.NoBody {
		w.body = &eofBody{ReadCloser: c.Request.Body, onEOF: func() {
			// tusd's write deadline was set for reading the body; storing
			// a finished upload may outlast it, and the answer must still
			// be written (the server lifted its own for this route).
			_ = http.NewResponseController(c.Writer).SetWriteDeadline(time.Time{})
		}}
		c.Request.Body = w.body
	}
	http.StripPrefix("/uploads", h.svc.uploads.tus).ServeHTTP(w, c.Request)
	if w.status < http.StatusBadRequest {
		return
	}
	msg := strings.TrimSpace(w.errBuf.String())
	code, detail, ok := strings.Cut(msg, ": ")
	if !ok {
		code, detail = "", msg
	}
	switch code {
	case "ERR_LOCK_TIMEOUT":
		// The request holding the upload did not let go in time: locked,
		// not broken.
		w.status, code, detail = http.StatusLocked, "ERR_UPLOAD_LOCKED", "another request is writing this upload; try again in a moment"
	case "ERR_UPLOAD_INTERRUPTED":
		// Another request for the upload took it over (tusd lets the
		// newest win, taking the holder for a dead client). A live client
		// must ask the offset and resume, not give the file up: locked,
		// like any retryable 423, not a 400 for bad input.
		w.status, detail = http.StatusLocked, "another request for this upload took it over; what arrived is kept: ask the offset (HEAD) and resume"
	}
	if w.status == http.StatusLocked {
		c.Header("Retry-After", "1")
	}
	d := tusProblem(w.status, code, detail)
	if d.Status >= http.StatusInternalServerError {
		_ = c.Error(&tusError{msg: msg})
	}
	d.Instance = c.Request.URL.Path
	d.RequestID = c.GetString(httpx.RequestIDKey)
	c.Writer.Header().Del("Content-Length")
	httpx.Write(c, d)
}

type tusError struct{ msg string }

func (e *tusError) Error() string { return "tus: " + e.msg }

// tusProblem is the problem of a tusd error: the matching geoseek kind
// where there is one, else a tus-specific type named after tusd's code.
func tusProblem(status int, code, detail string) problem.Details {
	d := problem.Details{Status: status, Title: http.StatusText(status), Detail: detail}
	if d.Title == "" {
		d.Title = "Upload error"
	}
	kinds := map[int]*problem.Kind{
		http.StatusNotFound: problem.ErrNotFound, http.StatusRequestEntityTooLarge: problem.ErrTooLarge,
		http.StatusMethodNotAllowed: problem.ErrMethod, http.StatusServiceUnavailable: problem.ErrUnavailable,
	}
	switch k := kinds[status]; {
	case k != nil:
		d.Type, d.Title = k.Type(), k.Title
	case status >= http.StatusInternalServerError:
		// tusd puts internal error text in its body: not sent.
		d.Type, d.Title, d.Detail = problem.ErrInternal.Type(), problem.ErrInternal.Title, ""
	default:
		slug := strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(code, "ERR_"), "_", "-"))
		if slug == "" {
			slug = "error"
		}
		d.Type = problem.TypeBase + "upload-" + slug
	}
	if code != "" {
		d.Extra = map[string]any{"tus_error": code}
	}
	return d
}

// tusWriter holds back tusd's error bodies (tus) and adds the expiration
// extension's headers and a path-only Location (right behind any proxy).
type tusWriter struct {
	http.ResponseWriter
	method string
	expiry time.Duration
	status int
	errBuf bytes.Buffer
	body   *eofBody
}

func (w *tusWriter) WriteHeader(status int) {
	if w.status != 0 {
		return
	}
	w.status = status
	hdr := w.Header()
	if ext := hdr.Get("Tus-Extension"); ext != "" {
		hdr.Set("Tus-Extension", ext+",expiration")
	}
	if loc := hdr.Get("Location"); loc != "" {
		if u, err := url.Parse(loc); err == nil {
			hdr.Set("Location", u.EscapedPath())
		}
	}
	if status >= http.StatusBadRequest {
		return
	}
	if (w.method == http.MethodPost && status == http.StatusCreated) || (w.method == http.MethodPatch && status == http.StatusNoContent) {
		hdr.Set("Upload-Expires", time.Now().Add(w.expiry).UTC().Format(http.TimeFormat))
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *tusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.status >= http.StatusBadRequest {
		if w.errBuf.Len() < 4096 {
			w.errBuf.Write(b[:min(len(b), 4096)])
		}
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

// SetReadDeadline passes tusd's idle bound on a client to the connection
// while a body is being read, and only then. Set on a request without a
// body, or after the body's end (tusd sets it again after the last read),
// it would land on the read the server keeps pending between requests,
// and, passed before the handler is done (a slow finish), break the
// kept-alive connection under the client's next request.
func (w *tusWriter) SetReadDeadline(t time.Time) error {
	if w.body == nil || w.body.eof.Load() {
		return nil
	}
	return http.NewResponseController(w.ResponseWriter).SetReadDeadline(t)
}

// SetWriteDeadline is tusd's bound on writing the answer, kept while a body
// is read; after it, storing a finished upload may take longer, and the
// server's own write deadline applies.
func (w *tusWriter) SetWriteDeadline(t time.Time) error {
	if w.body == nil || w.body.eof.Load() {
		return nil
	}
	return http.NewResponseController(w.ResponseWriter).SetWriteDeadline(t)
}

// eofBody records that a request body was read to its end, and runs
// onEOF then.
type eofBody struct {
	io.ReadCloser
	eof   atomic.Bool
	onEOF func()
}

func (b *eofBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && !b.eof.Swap(true) && b.onEOF != nil {
		b.onEOF()
	}
	return n, err
}

// Unwrap lets tusd's http.ResponseController reach the connection (its
// read deadlines bound a silent client).
func (w *tusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
