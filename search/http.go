package search

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/geoseek/geoseek/internal/auth"
	"github.com/geoseek/geoseek/internal/httpx"
	"github.com/geoseek/geoseek/internal/problem"
)

// MaxBodyBytes caps a POST /search body (a GeoJSON polygon filter may be
// large, a query otherwise is small).
const MaxBodyBytes = 2 << 20

// Handler serves GET and POST /search.
type Handler struct {
	svc      *Service
	logger   *slog.Logger
	features FeatureWriter
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
	// JSON or GeoJSON only: any other Accept is a 406 before any work.
	produces := httpx.Produces("application/json", "application/geo+json")
	r.GET("/search", auth.Require(auth.Read), produces, h.get)
	r.POST("/search", auth.Require(auth.Read), produces, h.post)
}

func (h *Handler) get(c *gin.Context) {
	q, err := ParseValues(c.Request.URL.Query())
	if err != nil {
		httpx.Respond(c, err)
		return
	}
	h.run(c, q)
}

func (h *Handler) post(c *gin.Context) {
	if ct := c.GetHeader("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			httpx.Respond(c, problem.Wrap(problem.ErrUnsupportedMedia, fmt.Sprintf("send the search as application/json, not %q", ct)))
			return
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, MaxBodyBytes))
	if err != nil {
		httpx.Respond(c, err)
		return
	}
	q, err := ParseBody(body)
	if err != nil {
		httpx.Respond(c, err)
		return
	}
	// ?f=geojson also works on POST, so a map can post a body and ask for
	// GeoJSON in the URL.
	if f := c.Query("f"); f != "" {
		if f != string(FormatJSON) && f != string(FormatGeoJSON) {
			httpx.Respond(c, problem.Invalid("f", "unknown format %q (want json or geojson)", f))
			return
		}
		q.Format = Format(f)
	}
	h.run(c, q)
}

func (h *Handler) run(c *gin.Context, q *Query) {
	ctx := c.Request.Context()
	if q.Format == FormatGeoJSON && h.features == nil {
		httpx.Respond(c, problem.Wrap(problem.ErrNotAcceptable, "GeoJSON output is not available on this server"))
		return
	}
	res, err := h.svc.Search(ctx, q)
	if err != nil {
		httpx.Respond(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	if q.Format == FormatGeoJSON {
		ids := make([]int64, len(res.Hits))
		for i, hit := range res.Hits {
			ids[i] = hit.ID
		}
		feats, err := h.features.Features(ctx, res.Collection, ids)
		if err != nil {
			httpx.Respond(c, err)
			return
		}
		b, err := res.GeoJSON(feats)
		if err != nil {
			httpx.Respond(c, err)
			return
		}
		c.Data(http.StatusOK, "application/geo+json", b)
		return
	}
	c.JSON(http.StatusOK, res)
}

// FeatureWriter encodes documents as GeoJSON Features. geoseek wires the
// OGC API's encoder into search, so a document found by /search?f=geojson
// is the same Feature, byte for byte, as in /collections/{c}/items.
type FeatureWriter interface {
	// Features returns the Features of the documents ids of collection, by
	// id; a document deleted meanwhile is absent.
	Features(ctx context.Context, collection string, ids []int64) (map[int64]json.RawMessage, error)
}

// UseFeatures sets the encoder of GeoJSON answers; without one, f=geojson
// is answered 406.
func (h *Handler) UseFeatures(fw FeatureWriter) { h.features = fw }

// GeoJSON is the result as a FeatureCollection: for each hit its document's
// Feature from feats (hits missing from feats, deleted since, are left out)
// with the hit's search values in a "search" foreign member, and the
// result's other members (paging, facets, flags) as foreign members of the
// collection.
func (r *Result) GeoJSON(feats map[int64]json.RawMessage) ([]byte, error) {
	b := []byte(`{"type":"FeatureCollection","features":[`)
	n := 0
	for i := range r.Hits {
		f, ok := feats[r.Hits[i].ID]
		if !ok || len(f) < 2 || f[len(f)-1] != '}' {
			continue
		}
		if n > 0 {
			b = append(b, ',')
		}
		n++
		h := &r.Hits[i]
		if !hasSearchValues(h) {
			b = append(b, f...)
			continue
		}
		extra, err := json.Marshal(hitSearch{Score: h.Score, DistanceM: h.DistanceM, Highlights: h.Highlights, Explain: h.Explain})
		if err != nil {
			return nil, fmt.Errorf("search: encode hit: %w", err)
		}
		b = append(b, f[:len(f)-1]...)
		b = append(b, `,"search":`...)
		b = append(b, extra...)
		b = append(b, '}')
	}
	b = append(b, ']')
	page := *r
	page.Hits = nil
	rest, err := membersExcept(&page, "hits")
	if err != nil {
		return nil, err
	}
	if len(rest) > 2 {
		b = append(b, ',')
		b = append(b, rest[1:len(rest)-1]...)
	}
	return append(b, "}\n"...), nil
}

// hitSearch is what a hit has besides its document: the Feature's
// "search" member. TestHitFieldsHaveAGeoJSONPlace fails when Hit gains a
// field that is in neither the Feature nor here (add it to hasSearchValues
// and to GeoJSON's copy too).
type hitSearch struct {
	Score      *float64        `json:"score,omitempty"`
	DistanceM  *float64        `json:"distance_m,omitempty"`
	Highlights *Highlights     `json:"highlights,omitempty"`
	Explain    json.RawMessage `json:"explain,omitempty"`
}

// hasSearchValues reports whether h has any of hitSearch's values.
func hasSearchValues(h *Hit) bool {
	return h.Score != nil || h.DistanceM != nil || h.Highlights != nil || len(h.Explain) > 0
}

// membersExcept is v encoded as a JSON object without the named members.
func membersExcept(v any, drop ...string) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("search: encode: %w", err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("search: encode: %w", err)
	}
	for _, k := range drop {
		delete(m, k)
	}
	if b, err = json.Marshal(m); err != nil {
		return nil, fmt.Errorf("search: encode: %w", err)
	}
	return b, nil
}
