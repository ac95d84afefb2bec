package geo

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/geoseek/geoseek/internal/httpx"
	"github.com/geoseek/geoseek/internal/problem"
)

func (h *Handler) tile(c *gin.Context) {
	tc, err := ParseTile(c.Param("z"), c.Param("x"), c.Param("yfile"))
	if err != nil {
		httpx.Respond(c, err)
		return
	}
	// "Cache-Control: no-cache" (or HTTP/1.0's Pragma) asks for a fresh
	// rendering instead of the cached one.
	fresh := strings.Contains(strings.ToLower(c.GetHeader("Cache-Control")), "no-cache") ||
		strings.Contains(strings.ToLower(c.GetHeader("Pragma")), "no-cache")
	gz := acceptsGzip(c)
	t, err := h.svc.Tile(c.Request.Context(), c.Param("collection"), tc, fresh, gz)
	if err != nil {
		httpx.Respond(c, err)
		return
	}
	h.writeTile(c, t, gz, h.tileCacheControl)
}

// writeTile answers a rendered tile: 204 when empty, 304 for a matching
// If-None-Match, else the tile (gzipped when the client accepts it).
func (h *Handler) writeTile(c *gin.Context, t Tile, gz bool, cacheControl string) {
	c.Header("Cache-Control", cacheControl)
	c.Header("Vary", "Accept-Encoding")
	if len(t.Data) == 0 {
		c.Status(http.StatusNoContent)
		return
	}
	// The gzipped bytes are another representation: their own strong
	// validator. A client holding either is up to date.
	etag, data, zipped := t.ETag, t.Data, gz && t.Gzip != nil
	if zipped {
		etag, data = t.GzipETag, t.Gzip
	}
	c.Header("ETag", etag)
	if inm := c.GetHeader("If-None-Match"); inm != "" && (strings.Contains(inm, t.ETag) || t.Gzip != nil && strings.Contains(inm, t.GzipETag)) {
		c.Status(http.StatusNotModified)
		return
	}
	if zipped {
		c.Header("Content-Encoding", "gzip")
	}
	// A known length spares the chunked encoding: the tile leaves in one
	// or two writes.
	c.Header("Content-Length", strconv.Itoa(len(data)))
	c.Data(http.StatusOK, MVT, data)
}

// tileJSON serves /tiles/{collection}.json (TileJSON 3.0.0).
func (h *Handler) tileJSON(c *gin.Context) {
	name, ok := strings.CutSuffix(c.Param("collection"), ".json")
	if !ok {
		httpx.Respond(c, fmt.Errorf("%s: %w", c.Request.URL.Path, problem.ErrNotFound))
		return
	}
	col, err := h.svc.Collection(c.Request.Context(), name)
	if err != nil {
		httpx.Respond(c, err)
		return
	}
	c.Header("Cache-Control", "public, max-age=60")
	h.writeJSON(c, http.StatusOK, JSON, newTileJSON(h.base(c), col))
}

// basemapTile serves /basemap/{z}/{x}/{y}.mvt, the offline base map.
func (h *Handler) basemapTile(c *gin.Context) {
	tc, err := ParseTile(c.Param("z"), c.Param("x"), c.Param("yfile"))
	if err != nil {
		httpx.Respond(c, err)
		return
	}
	t, err := h.svc.BasemapTile(c.Request.Context(), tc)
	if err != nil {
		httpx.Respond(c, err)
		return
	}
	// The places change only when other datasets are loaded; a day's
	// caching, revalidated by ETag after that.
	h.writeTile(c, t, acceptsGzip(c), "public, max-age=86400")
}
