package search

import (
	"encoding/json"
	"io"
	"log/slog"
	"mime"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/geoseek/geoseek/internal/auth"
	"github.com/geoseek/geoseek/internal/problem"
)

// MaxBodyBytes caps a POST /search body (a GeoJSON polygon filter may be
// large, a query otherwise is small).
const MaxBodyBytes = 2 << 20

// Handler serves GET and POST /search.
type Handler struct {
	svc    *Service
	logger *slog.Logger
}

// NewHandler returns the search HTTP handler.
func NewHandler(svc *Service, logger *slog.Logger) *Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Handler{svc: svc, logger: logger}
}

// Register adds GET /search and POST /search (read scope).
func (h *Handler) Register(r gin.IRouter) {
	r.GET("/search", auth.Require(auth.Read), h.get)
	r.POST("/search", auth.Require(auth.Read), h.post)
}

func (h *Handler) get(c *gin.Context) {
	q, err := ParseValues(c.Request.URL.Query())
	if err != nil {
		problem.Respond(c, err)
		return
	}
	h.run(c, q)
}

func (h *Handler) post(c *gin.Context) {
	if ct := c.GetHeader("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			problem.Respond(c, problem.ErrUnsupportedMedia)
			return
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, MaxBodyBytes))
	if err != nil {
		problem.Respond(c, err)
		return
	}
	q, err := ParseBody(body)
	if err != nil {
		problem.Respond(c, err)
		return
	}
	// ?f=geojson also works on POST, so a map can post a body and ask for
	// GeoJSON in the URL.
	if f := c.Query("f"); f != "" {
		if f != string(FormatJSON) && f != string(FormatGeoJSON) {
			problem.Respond(c, problem.Invalid("f", "unknown format %q (want json or geojson)", f))
			return
		}
		q.Format = Format(f)
	}
	h.run(c, q)
}

func (h *Handler) run(c *gin.Context, q *Query) {
	res, err := h.svc.Search(c.Request.Context(), q)
	if err != nil {
		problem.Respond(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	if q.Format == FormatGeoJSON {
		c.Header("Content-Type", "application/geo+json")
		c.Status(http.StatusOK)
		_ = json.NewEncoder(c.Writer).Encode(res.FeatureCollection())
		return
	}
	c.JSON(http.StatusOK, res)
}

// FeatureCollection is the result as GeoJSON: one Feature per hit (geometry
// null for documents without one), the hit's other fields as properties, and
// paging, facets and flags as foreign members.
func (r *Result) FeatureCollection() map[string]any {
	feats := make([]map[string]any, len(r.Hits))
	for i, h := range r.Hits {
		props := map[string]any{
			"title": h.Title, "lang": h.Lang, "tags": h.Tags, "props": h.Props,
			"created_at": h.CreatedAt, "updated_at": h.UpdatedAt,
		}
		if h.ExternalID != nil {
			props["external_id"] = *h.ExternalID
		}
		if h.Score != nil {
			props["score"] = *h.Score
		}
		if h.DistanceM != nil {
			props["distance_m"] = *h.DistanceM
		}
		if h.Highlights != nil {
			props["highlights"] = h.Highlights
		}
		if h.Period != nil {
			props["period"] = h.Period
		}
		if h.Explain != nil {
			props["explain"] = h.Explain
		}
		feats[i] = map[string]any{"type": "Feature", "id": h.ID, "geometry": h.Geometry, "properties": props}
	}
	fc := map[string]any{"type": "FeatureCollection", "features": feats, "collection": r.Collection, "mode": r.Mode}
	if r.NextCursor != "" {
		fc["next_cursor"] = r.NextCursor
	}
	if r.Total != nil {
		fc["total"] = *r.Total
	}
	if r.Facets != nil {
		fc["facets"] = r.Facets
	}
	if r.Fuzzy {
		fc["fuzzy"] = true
	}
	if len(r.Corrections) > 0 {
		fc["corrections"] = r.Corrections
	}
	if r.Truncated {
		fc["truncated"] = true
	}
	if r.Ranking != "" {
		fc["ranking"] = r.Ranking
	}
	return fc
}
