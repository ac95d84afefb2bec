package ingest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/geoseek/geoseek/internal/auth"
	"github.com/geoseek/geoseek/internal/httpx"
	"github.com/geoseek/geoseek/internal/problem"
	"github.com/geoseek/geoseek/internal/textcheck"
)

// Handler serves the photo routes.
type Handler struct {
	svc *Service
}

// NewHandler returns the photo routes of svc.
func NewHandler(svc *Service) *Handler { return &Handler{svc: svc} }

// Register adds the photo routes. POST /photos streams; the server should
// exempt it from its request timeout and body cap (the handler enforces
// Config.MaxFileBytes per file and Config.MaxFiles per request).
func (h *Handler) Register(r gin.IRouter) {
	read, write := auth.Require(auth.Read), auth.Require(auth.Write)
	r.POST("/photos", write, h.upload)
	r.POST("/photos/check", read, h.check)
	r.GET("/photos/:id", read, h.get)
	r.DELETE("/photos/:id", write, h.delete)
	r.GET("/photos/:id/original", read, h.original)
	r.HEAD("/photos/:id/original", read, h.original)
	r.GET("/photos/:id/thumbnail", read, h.thumbnail)
	r.GET("/photos/:id/similar", read, h.similar)
	r.HEAD("/photos/sha256/:hex", read, h.bySHA)
	r.GET("/photos/sha256/:hex", read, h.bySHA)
	h.registerUploads(r)
}

func photoID(c *gin.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, problem.Invalid("id", "want a positive integer photo id")
	}
	return id, nil
}

// UploadResult is the body of every POST /photos answer about its files, for
// one file or many: a script parses one shape. The status is the files'
// common status (201 created, 200 already stored, or the error's), 207 when
// they differ; when every file failed the body is also a problem (RFC 9457)
// with this results member.
type UploadResult struct {
	Results []FileResult `json:"results"`
}

// FileResult is the outcome for one file of an upload.
type FileResult struct {
	File   string           `json:"file"`
	Status int              `json:"status"`
	Photo  *Photo           `json:"photo,omitempty"`
	Error  *problem.Details `json:"error,omitempty"`
}

// bodyBuffer is the read buffer of an upload's body.
const bodyBuffer = 256 << 10

// maxFormFields bounds the non-file parts of an upload (they are ignored).
const maxFormFields = 64

// upload reads the multipart body part by part (never buffering a whole
// file: multipart.Reader, not ParseMultipartForm). Each file part is ingested
// on its own, so one bad file does not fail the others. The answer is an
// UploadResult whatever the number of files.
func (h *Handler) upload(c *gin.Context) {
	ct, params, err := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if err != nil || ct != "multipart/form-data" || params["boundary"] == "" {
		httpx.Respond(c, fmt.Errorf("%w: send multipart/form-data with one or more file parts", problem.ErrUnsupportedMedia))
		return
	}
	// The multipart reader reads a few KB at a time; a larger buffer under
	// it takes the body from the connection in fewer reads.
	body := bufio.NewReaderSize(c.Request.Body, bodyBuffer)
	results, errs, err := h.ingestParts(c, body, multipart.NewReader(body, params["boundary"]))
	if err != nil {
		httpx.Respond(c, err)
		return
	}
	if len(results) == 0 {
		httpx.Respond(c, problem.Invalid("file", "no file parts in the request"))
		return
	}
	respondResults(c, results, errs)
}

// respondResults answers with the results of an upload's files (see
// UploadResult); errs are their errors, nil for a success (only logged).
func respondResults(c *gin.Context, results []FileResult, errs []error) {
	status := results[0].Status
	for _, r := range results {
		if r.Status != status {
			status = http.StatusMultiStatus
		}
	}
	if len(results) == 1 && status == http.StatusCreated {
		c.Header("Location", fmt.Sprintf("/photos/%d", results[0].Photo.ID))
	}
	if status < http.StatusBadRequest {
		c.JSON(status, UploadResult{Results: results})
		return
	}
	// Every file failed with one status: a problem (errors are always
	// problem+json) that carries the same results member as a success.
	d := *results[0].Error
	if len(results) > 1 {
		d.Detail = fmt.Sprintf("all %d files failed; see results", len(results))
		d.Field = ""
	}
	d.Extra = map[string]any{"results": results}
	d.Instance = c.Request.URL.Path
	d.RequestID = c.GetString(httpx.RequestIDKey)
	if len(errs) > 0 && errs[0] != nil {
		_ = c.Error(errs[0])
	}
	httpx.Write(c, d)
}

// ingestParts ingests the file parts of an upload as they stream in
// (Pipeline: a part is read while the ones before it commit) and returns a
// result and an error (nil on success) per file, in the parts' order, once
// every file is stored or failed. A failure of one file is its result; the
// error returned fails the whole request (a malformed body before any file,
// or the request ending).
func (h *Handler) ingestParts(c *gin.Context, body *bufio.Reader, mr *multipart.Reader) ([]FileResult, []error, error) {
	ctx := c.Request.Context()
	pl := h.svc.NewPipeline(ctx)
	// tail is a failure of the body itself after some files: the last
	// result, after theirs.
	var tail *FileResult
	var tailErr error
	fields := 0
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			err = problem.Invalid("body", "malformed multipart body: %v", err)
			if pl.Len() == 0 {
				return nil, nil, err
			}
			tail, tailErr = ptr(errorResult("", err)), err
			break
		}
		if part.FileName() == "" { // ordinary form field: ignore, but not endlessly
			_ = part.Close()
			if fields++; fields > maxFormFields {
				err := problem.Invalid("body", "more than %d non-file form fields", maxFormFields)
				if pl.Len() == 0 {
					return nil, nil, err
				}
				tail, tailErr = ptr(errorResult("", err)), err
				break
			}
			continue
		}
		if err := textcheck.String("filename", part.FileName()); err != nil {
			// A name that is not UTF-8 would be stored with its bytes replaced.
			pl.Fail("", err)
			_ = part.Close()
			continue
		}
		name := cleanName(part.FileName())
		if pl.Len() >= h.svc.cfg.MaxFiles {
			err := fmt.Errorf("%w: at most %d files per request", problem.ErrTooLarge, h.svc.cfg.MaxFiles)
			r := errorResult(name, err)
			// Not this file's fault: a client sends it again, in a
			// request of at most max_files.
			r.Error.Extra = map[string]any{"max_files": h.svc.cfg.MaxFiles}
			tail, tailErr = &r, err
			_ = part.Close()
			break
		}
		_ = pl.Add(name, &Gathered{R: part, Pending: body.Buffered})
		_ = part.Close()
	}
	outs := pl.Wait()
	if ctx.Err() != nil {
		return nil, nil, ctx.Err()
	}
	results := make([]FileResult, 0, len(outs)+1)
	errs := make([]error, 0, len(outs)+1)
	for _, o := range outs {
		results, errs = append(results, h.fileResult(c, o)), append(errs, o.Err)
	}
	if tail != nil {
		results, errs = append(results, *tail), append(errs, tailErr)
	}
	return results, errs, nil
}

// fileResult is the result of one file, logging an unexpected error once
// (its text is not sent).
func (h *Handler) fileResult(c *gin.Context, o *Outcome) FileResult {
	if o.Err != nil {
		if _, known := problem.From(o.Err); !known {
			h.svc.log.ErrorContext(c.Request.Context(), "ingest: upload failed", "file", o.Name, "err", o.Err,
				"request_id", c.GetString(httpx.RequestIDKey))
			_ = c.Error(o.Err)
		}
		return errorResult(o.Name, o.Err)
	}
	status := http.StatusOK
	if o.Created {
		status = http.StatusCreated
	}
	return FileResult{File: o.Name, Status: status, Photo: o.Photo}
}

func ptr[T any](v T) *T { return &v }

func errorResult(name string, err error) FileResult {
	d, _ := problem.From(err)
	return FileResult{File: name, Status: d.Status, Error: &d}
}

func (h *Handler) get(c *gin.Context) {
	id, err := photoID(c)
	if err != nil {
		httpx.Respond(c, err)
		return
	}
	p, err := h.svc.Get(c.Request.Context(), id)
	if err != nil {
		httpx.Respond(c, err)
		return
	}
	c.JSON(http.StatusOK, p)
}

func (h *Handler) delete(c *gin.Context) {
	id, err := photoID(c)
	if err != nil {
		httpx.Respond(c, err)
		return
	}
	if err := h.svc.Delete(c.Request.Context(), id); err != nil {
		httpx.Respond(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// original serves the original bytes with http.ServeContent: Range (at
// most MaxRanges, not overlapping, else the whole file) and conditional
// requests, ETag = the SHA-256 (content-addressed, so strong and
// immutable), the sniffed Content-Type, and a download name.
func (h *Handler) original(c *gin.Context) {
	id, err := photoID(c)
	if err != nil {
		httpx.Respond(c, err)
		return
	}
	p, f, err := h.svc.Original(c.Request.Context(), id)
	if err != nil {
		httpx.Respond(c, err)
		return
	}
	defer f.Close()
	name := p.OriginalName
	if name == "" {
		name = p.SHA256 + Ext(p.Mime)
	}
	c.Header("ETag", `"`+p.SHA256+`"`)
	c.Header("Content-Type", p.Mime)
	c.Header("Content-Disposition", mime.FormatMediaType("inline", map[string]string{"filename": name}))
	c.Header("Cache-Control", "private, max-age=31536000, immutable")
	c.Header("X-Content-Type-Options", "nosniff")
	limitRanges(c.Request, p.Size)
	http.ServeContent(c.Writer, c.Request, "", p.CreatedAt, f)
}

func (h *Handler) thumbnail(c *gin.Context) {
	id, err := photoID(c)
	if err != nil {
		httpx.Respond(c, err)
		return
	}
	size := 256
	if s := c.Query("size"); s != "" {
		size, err = strconv.Atoi(s)
		if err != nil {
			httpx.Respond(c, problem.Invalid("size", "want one of %v", ThumbSizes))
			return
		}
	}
	path, err := h.svc.Thumbnail(c.Request.Context(), id, size)
	if err != nil {
		httpx.Respond(c, err)
		return
	}
	f, err := os.Open(path)
	if err != nil {
		httpx.Respond(c, fmt.Errorf("ingest: thumbnail: %w", err))
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		httpx.Respond(c, err)
		return
	}
	c.Header("Content-Type", "image/jpeg")
	c.Header("Cache-Control", "private, max-age=86400")
	limitRanges(c.Request, st.Size())
	http.ServeContent(c.Writer, c.Request, "", st.ModTime(), f)
}

func (h *Handler) similar(c *gin.Context) {
	id, err := photoID(c)
	if err != nil {
		httpx.Respond(c, err)
		return
	}
	maxDist, limit := 10, 50
	if s := c.Query("max_distance"); s != "" {
		maxDist, err = strconv.Atoi(s)
		if err != nil || maxDist < 0 || maxDist > MaxSimilarDistance {
			httpx.Respond(c, problem.Invalid("max_distance", "want an integer from 0 to %d", MaxSimilarDistance))
			return
		}
	}
	if s := c.Query("limit"); s != "" {
		limit, err = strconv.Atoi(s)
		if err != nil || limit < 1 || limit > 1000 {
			httpx.Respond(c, problem.Invalid("limit", "want an integer from 1 to 1000"))
			return
		}
	}
	out, err := h.svc.SimilarTo(c.Request.Context(), id, maxDist, limit)
	if err != nil {
		httpx.Respond(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"photo_id": id, "max_distance": maxDist, "similar": out})
}

// bySHA answers "do you already have these bytes?": HEAD gives 200 or 404
// with no body (and Location), GET the photo.
func (h *Handler) bySHA(c *gin.Context) {
	sum, err := ParseSHA256(strings.ToLower(c.Param("hex")))
	if err != nil {
		httpx.Respond(c, err)
		return
	}
	p, err := h.svc.BySHA256(c.Request.Context(), sum)
	if err != nil {
		if c.Request.Method == http.MethodHead {
			d, _ := problem.From(err)
			c.Status(d.Status)
			c.Abort()
			return
		}
		httpx.Respond(c, err)
		return
	}
	c.Header("Location", fmt.Sprintf("/photos/%d", p.ID))
	c.Header("Last-Modified", p.CreatedAt.UTC().Format(http.TimeFormat))
	if c.Request.Method == http.MethodHead {
		c.Status(http.StatusOK)
		return
	}
	c.JSON(http.StatusOK, p)
}
