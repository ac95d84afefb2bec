package geo

import (
	"encoding/json"
	"errors"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/geoseek/geoseek/internal/auth"
	"github.com/geoseek/geoseek/internal/httpx"
	"github.com/geoseek/geoseek/internal/problem"
)

// The handlers are split by resource: http_collections.go (landing page,
// conformance, collections, queryables), http_items.go (reading items),
// http_writes.go (creating, replacing, patching and deleting them),
// http_clusters.go and http_tiles.go. This file holds what they share.

// Media types.
const (
	GeoJSON     = "application/geo+json"
	JSON        = "application/json"
	HTML        = "text/html; charset=utf-8"
	OpenAPIJSON = "application/vnd.oai.openapi+json;version=3.0"
	MVT         = "application/vnd.mapbox-vector-tile"
)

// Handler serves the geo routes.
type Handler struct {
	svc    *Service
	logger *slog.Logger
	// tileCacheControl is the tiles' Cache-Control value, built once.
	tileCacheControl string
}

// NewHandler builds the handler and its Service.
func NewHandler(pool *pgxpool.Pool, logger *slog.Logger, opts Options) *Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	svc := NewService(pool, logger, opts)
	return &Handler{svc: svc, logger: logger,
		tileCacheControl: "public, max-age=" + strconv.Itoa(int(svc.opts.TileMaxAge.Seconds()))}
}

// Service returns the domain service behind the handler.
func (h *Handler) Service() *Service { return h.svc }

// Register adds the OGC API – Features, clusters and tiles routes. Reads need
// auth.Read (open unless configured otherwise), writes auth.Write.
func (h *Handler) Register(r gin.IRouter) {
	read, write := auth.Require(auth.Read), auth.Require(auth.Write)
	r.GET("/", read, h.landing)
	r.GET("/conformance", read, h.conformance)
	r.GET("/collections", read, h.collections)
	r.GET("/collections/:collection", read, h.collection)
	r.GET("/collections/:collection/queryables", read, h.queryables)
	r.GET("/collections/:collection/items", read, h.items)
	r.GET("/collections/:collection/items/:id", read, h.item)
	r.POST("/collections/:collection/items", write, h.postItems)
	r.PUT("/collections/:collection/items/:id", write, h.putItem)
	r.PATCH("/collections/:collection/items/:id", write, h.patchItem)
	r.DELETE("/collections/:collection/items/:id", write, h.deleteItem)
	r.GET("/collections/:collection/clusters", read, h.clusters)
	// TileJSON is /tiles/{c}.json: Gin cannot put a literal suffix after a
	// parameter, so the one-segment route takes "{c}.json" whole.
	r.GET("/tiles/:collection", read, h.tileJSON)
	r.GET("/tiles/:collection/:z/:x/:yfile", read, h.tile)
	// The base map holds no collection's data: open like the map page.
	r.GET("/basemap/:z/:x/:yfile", h.basemapTile)
}

// base is the URL the links start with: Options.BaseURL, else the
// request's scheme and host.
func (h *Handler) base(c *gin.Context) string {
	if h.svc.opts.BaseURL != "" {
		return strings.TrimRight(h.svc.opts.BaseURL, "/")
	}
	scheme := "http"
	if c.Request.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + c.Request.Host
}

// wantsHTML decides between HTML and JSON: ?f= wins, then Accept.
func wantsHTML(c *gin.Context) (bool, error) {
	switch f := c.Query("f"); f {
	case "html":
		return true, nil
	case "json", "geojson", "":
		if f != "" {
			return false, nil
		}
	default:
		return false, problem.Invalid("f", "unknown format %q (json, html)", f)
	}
	acc := c.GetHeader("Accept")
	return strings.Contains(acc, "text/html") && !strings.Contains(acc, "json"), nil
}

func (h *Handler) writeJSON(c *gin.Context, status int, ct string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		httpx.Respond(c, err)
		return
	}
	c.Data(status, ct, b)
}

// respondDoc answers a metadata document: as an HTML page titled title
// when the client asks for HTML, else as JSON.
func (h *Handler) respondDoc(c *gin.Context, asHTML bool, title string, doc any) {
	if asHTML {
		h.htmlDoc(c, title, doc)
		return
	}
	h.writeJSON(c, http.StatusOK, JSON, doc)
}

func acceptsGzip(c *gin.Context) bool {
	for part := range strings.SplitSeq(c.GetHeader("Accept-Encoding"), ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(name), "gzip") && !strings.Contains(strings.ReplaceAll(params, " ", ""), "q=0") {
			return true
		}
	}
	return false
}

// abort ends a response that failed after its first byte: the connection is
// cut so the client sees a broken response, not a short but valid one.
func (h *Handler) abort(c *gin.Context, err error) {
	if errors.Is(err, c.Request.Context().Err()) && c.Request.Context().Err() != nil {
		panic(http.ErrAbortHandler)
	}
	h.logger.ErrorContext(c.Request.Context(), "geo: response failed mid-stream", "err", err, "path", c.Request.URL.Path,
		"request_id", c.GetString(httpx.RequestIDKey))
	panic(http.ErrAbortHandler)
}

// mediaType is the request body's media type without parameters ("" when
// absent or malformed).
func mediaType(c *gin.Context) string {
	mt, _, err := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if err != nil {
		return ""
	}
	return mt
}
