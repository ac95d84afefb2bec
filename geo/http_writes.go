package geo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/gin-gonic/gin"

	"github.com/geoseek/geoseek/internal/httpx"
	"github.com/geoseek/geoseek/internal/problem"
)

// postItems takes a Feature (201 with Location), a FeatureCollection or a
// GeoJSON sequence (bulk: COPY, all or nothing; 201 with counts). ?title=
// names the property titles come from (default: title, then name).
func (h *Handler) postItems(c *gin.Context) {
	col := c.Param("collection")
	ctx := c.Request.Context()
	switch mediaType(c) {
	case "application/geo+json-seq", "application/x-ndjson", "application/ndjson", "application/geo+ndjson":
		h.importItems(c, FormatSeq, http.MaxBytesReader(c.Writer, c.Request.Body, h.svc.opts.MaxImportBytes))
		return
	case GeoJSON, JSON, "":
	default:
		httpx.Respond(c, problem.Wrap(problem.ErrUnsupportedMedia, "send application/geo+json (a Feature or FeatureCollection) or application/geo+json-seq / application/x-ndjson"))
		return
	}
	// Peek at the type without reading the body: a FeatureCollection streams
	// into COPY, a Feature is small and goes through document.
	body := http.MaxBytesReader(c.Writer, c.Request.Body, h.svc.opts.MaxImportBytes)
	br := newPeekReader(body)
	isCollection, err := br.looksLikeCollection()
	if err != nil {
		httpx.Respond(c, err)
		return
	}
	if isCollection {
		h.importItems(c, FormatFeatureCollection, br)
		return
	}
	raw, err := io.ReadAll(io.LimitReader(br, h.svc.opts.MaxBodyBytes+1))
	if err != nil {
		httpx.Respond(c, err)
		return
	}
	if int64(len(raw)) > h.svc.opts.MaxBodyBytes {
		httpx.Respond(c, problem.Wrap(problem.ErrTooLarge, fmt.Sprintf("a single Feature is limited to %d bytes; send many as a FeatureCollection", h.svc.opts.MaxBodyBytes)))
		return
	}
	id, created, err := h.svc.Insert(ctx, col, raw, c.Query("title"))
	if err != nil {
		httpx.Respond(c, err)
		return
	}
	loc := fmt.Sprintf("%s/collections/%s/items/%d", h.base(c), url.PathEscape(col), id)
	c.Header("Location", loc)
	status := http.StatusCreated
	if !created {
		status = http.StatusOK
	}
	out, err := h.svc.Item(ctx, col, id, -1, []Link{link(loc, "self", GeoJSON, "this feature")})
	if err != nil {
		httpx.Respond(c, err)
		return
	}
	c.Data(status, GeoJSON, out)
}

// importItems runs an import of body within the key's stream cap.
func (h *Handler) importItems(c *gin.Context, format string, body io.Reader) {
	release, err := h.svc.opts.Streams.Enter(c)
	if err != nil {
		httpx.Respond(c, err)
		return
	}
	defer release()
	res, err := h.svc.Import(c.Request.Context(), c.Param("collection"), format, c.Query("title"), body)
	if err != nil {
		httpx.Respond(c, err)
		return
	}
	h.writeJSON(c, http.StatusCreated, JSON, res)
}

func (h *Handler) readBody(c *gin.Context) ([]byte, error) {
	switch mediaType(c) {
	case GeoJSON, JSON, "application/merge-patch+json", "":
	default:
		return nil, problem.Wrap(problem.ErrUnsupportedMedia, "send application/geo+json")
	}
	raw, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, h.svc.opts.MaxBodyBytes))
	if err != nil {
		return nil, err
	}
	return raw, nil
}

func (h *Handler) putItem(c *gin.Context)   { h.writeItem(c, h.svc.Replace) }
func (h *Handler) patchItem(c *gin.Context) { h.writeItem(c, h.svc.Patch) }

// writeItem reads an item's body and hands it to write (replace or patch).
func (h *Handler) writeItem(c *gin.Context, write func(ctx context.Context, collection string, id int64, raw []byte) error) {
	id, err := parseID(c.Param("id"))
	if err != nil {
		httpx.Respond(c, err)
		return
	}
	raw, err := h.readBody(c)
	if err != nil {
		httpx.Respond(c, err)
		return
	}
	if err := write(c.Request.Context(), c.Param("collection"), id, raw); err != nil {
		httpx.Respond(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (h *Handler) deleteItem(c *gin.Context) {
	id, err := parseID(c.Param("id"))
	if err != nil {
		httpx.Respond(c, err)
		return
	}
	if err := h.svc.Delete(c.Request.Context(), c.Param("collection"), id); err != nil {
		httpx.Respond(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// peekReader looks at the first bytes of a body to tell a FeatureCollection
// from a Feature without consuming them.
type peekReader struct {
	r    io.Reader
	head []byte
}

func newPeekReader(r io.Reader) *peekReader { return &peekReader{r: r} }

func (p *peekReader) Read(b []byte) (int, error) {
	if len(p.head) > 0 {
		n := copy(b, p.head)
		p.head = p.head[n:]
		return n, nil
	}
	return p.r.Read(b)
}

// looksLikeCollection reads until it has seen a top-level "type" or
// "features" member (or 64 KiB) and reports whether the body is a
// FeatureCollection. A "features" key before "type" also counts.
func (p *peekReader) looksLikeCollection() (bool, error) {
	buf := make([]byte, 0, 4096)
	tmp := make([]byte, 4096)
	for len(buf) < 64<<10 {
		n, err := p.r.Read(tmp)
		buf = append(buf, tmp[:n]...)
		if v, ok := topLevelKind(buf); ok {
			p.head = buf
			return v, nil
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return false, err
		}
	}
	p.head = buf
	return false, nil
}

// topLevelKind scans the JSON prefix for the first top-level member that
// decides: "features" or "type":"FeatureCollection" mean a collection,
// "type":"Feature" or "geometry"/"properties" a single feature.
func topLevelKind(b []byte) (collection bool, decided bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	t, err := dec.Token()
	if err != nil {
		return false, false
	}
	if d, ok := t.(json.Delim); !ok || d != '{' {
		return false, true // not an object: let the Feature path report it
	}
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return false, false
		}
		switch kt {
		case "features":
			return true, true
		case "geometry", "properties":
			return false, true
		case "type":
			var s string
			if err := dec.Decode(&s); err != nil {
				return false, false
			}
			return s == "FeatureCollection", true
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return false, false
		}
	}
	return false, false
}
