package geo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/geoseek/geoseek/geo/cql2"
	"github.com/geoseek/geoseek/internal/auth"
	"github.com/geoseek/geoseek/internal/httpx"
	"github.com/geoseek/geoseek/internal/problem"
)

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
}

// ---- links and negotiation ----

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

func link(href, rel, typ, title string) Link {
	return Link{Href: href, Rel: rel, Type: typ, Title: title}
}

func (h *Handler) writeJSON(c *gin.Context, status int, ct string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		httpx.Respond(c, err)
		return
	}
	c.Data(status, ct, b)
}

// ---- landing, conformance, collections ----

// Conformance lists the conformance classes geoseek implements.
var Conformance = []string{
	"http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
	"http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
	"http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
	"http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
	"http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
	"http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
	"http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
	"http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
	"http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
	"http://www.opengis.net/spec/cql2/1.0/conf/advanced-comparison-operators",
	"http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions",
	"http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions-plus",
	"http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/create-replace-delete",
	"http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/update",
}

func (h *Handler) landing(c *gin.Context) {
	asHTML, err := wantsHTML(c)
	if err != nil {
		httpx.Respond(c, err)
		return
	}
	b := h.base(c)
	v := map[string]any{
		"title":       h.svc.opts.Title,
		"description": h.svc.opts.Description,
		"links": []Link{
			link(b+"/", "self", JSON, "this document"),
			link(b+"/?f=html", "alternate", HTML, "this document as HTML"),
			link(b+"/openapi.json", "service-desc", OpenAPIJSON, "the API definition"),
			link(b+"/conformance", "conformance", JSON, "conformance classes"),
			link(b+"/collections", "data", JSON, "collections"),
		},
	}
	if asHTML {
		h.html(c, h.svc.opts.Title, v)
		return
	}
	h.writeJSON(c, http.StatusOK, JSON, v)
}

func (h *Handler) conformance(c *gin.Context) {
	asHTML, err := wantsHTML(c)
	if err != nil {
		httpx.Respond(c, err)
		return
	}
	v := map[string]any{"conformsTo": Conformance}
	if asHTML {
		h.html(c, "Conformance", v)
		return
	}
	h.writeJSON(c, http.StatusOK, JSON, v)
}

const crs84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"

func (h *Handler) collectionJSON(b string, col *Collection) map[string]any {
	self := b + "/collections/" + url.PathEscape(col.Name)
	m := map[string]any{
		"id":              col.Name,
		"title":           col.Title,
		"description":     col.Description,
		"itemType":        "feature",
		"crs":             []string{crs84},
		"storageCrs":      crs84,
		"default_lang":    col.DefaultLang,
		"embedder":        col.Embedder,
		"embedding_model": col.EmbeddingModel,
		"embedding_dim":   col.EmbeddingDim,
		"links": []Link{
			link(self, "self", JSON, "this collection"),
			link(self+"?f=html", "alternate", HTML, "this collection as HTML"),
			link(self+"/items", "items", GeoJSON, "items"),
			link(self+"/items?f=html", "items", HTML, "items as HTML"),
			link(self+"/queryables", "http://www.opengis.net/def/rel/ogc/1.0/queryables", "application/schema+json", "queryables"),
			link(self+"/clusters", "clusters", GeoJSON, "server-side clusters (bbox, zoom)"),
			link(b+"/tiles/"+url.PathEscape(col.Name)+".json", "tiles", "application/json", "TileJSON of the vector tiles"),
		},
	}
	ext := map[string]any{}
	if col.Extent != nil {
		e := col.Extent
		ext["spatial"] = map[string]any{"bbox": [][]float64{{e.MinX, e.MinY, e.MaxX, e.MaxY}}, "crs": crs84}
	}
	if col.TMin != nil || col.TMax != nil {
		ext["temporal"] = map[string]any{"interval": [][]any{{timeOrNil(col.TMin), timeOrNil(col.TMax)}},
			"trs": "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"}
	}
	if len(ext) > 0 {
		m["extent"] = ext
	}
	return m
}

func (h *Handler) collections(c *gin.Context) {
	asHTML, err := wantsHTML(c)
	if err != nil {
		httpx.Respond(c, err)
		return
	}
	cols, err := h.svc.Collections(c.Request.Context())
	if err != nil {
		httpx.Respond(c, err)
		return
	}
	b := h.base(c)
	list := make([]map[string]any, 0, len(cols))
	for _, col := range cols {
		list = append(list, h.collectionJSON(b, col))
	}
	v := map[string]any{
		"links": []Link{
			link(b+"/collections", "self", JSON, "collections"),
			link(b+"/collections?f=html", "alternate", HTML, "collections as HTML"),
		},
		"collections": list,
	}
	if asHTML {
		h.html(c, "Collections", v)
		return
	}
	h.writeJSON(c, http.StatusOK, JSON, v)
}

func (h *Handler) collection(c *gin.Context) {
	asHTML, err := wantsHTML(c)
	if err != nil {
		httpx.Respond(c, err)
		return
	}
	col, err := h.svc.Collection(c.Request.Context(), c.Param("collection"))
	if err != nil {
		httpx.Respond(c, err)
		return
	}
	v := h.collectionJSON(h.base(c), col)
	if asHTML {
		h.html(c, col.Title, v)
		return
	}
	h.writeJSON(c, http.StatusOK, JSON, v)
}

func (h *Handler) queryables(c *gin.Context) {
	col, err := h.svc.Collection(c.Request.Context(), c.Param("collection"))
	if err != nil {
		httpx.Respond(c, err)
		return
	}
	props := map[string]any{}
	for name, typ := range cql2.Queryables() {
		switch typ {
		case "date-time":
			props[name] = map[string]any{"type": "string", "format": "date-time"}
		case "geometry":
			props[name] = map[string]any{"format": "geometry-any"}
		case "array":
			props[name] = map[string]any{"type": "array", "items": map[string]any{"type": "string"}}
		default:
			props[name] = map[string]any{"type": typ}
		}
	}
	for _, k := range col.PropKeys {
		if _, fixed := props[k]; !fixed {
			props[k] = map[string]any{"description": "a key of the documents' props"}
		}
	}
	self := h.base(c) + "/collections/" + url.PathEscape(col.Name) + "/queryables"
	h.writeJSON(c, http.StatusOK, "application/schema+json", map[string]any{
		"$schema":    "https://json-schema.org/draft/2020-12/schema",
		"$id":        self,
		"type":       "object",
		"title":      col.Title,
		"properties": props,
	})
}

// ---- items ----

// itemsParams are the query parameters /items defines; any other parameter
// is a property equality filter.
var itemsParams = map[string]bool{
	"bbox": true, "bbox-crs": true, "datetime": true, "limit": true, "cursor": true, "sortby": true,
	"properties": true, "q": true, "filter": true, "filter-lang": true, "filter-crs": true, "f": true,
	"precision": true, "crs": true,
}

// parseItemsQuery validates the /items query string.
func parseItemsQuery(collection string, v url.Values) (*ItemsQuery, error) {
	q := &ItemsQuery{Collection: collection, Precision: -1}
	one := func(k string) (string, error) {
		if len(v[k]) > 1 {
			return "", problem.Invalid(k, "given more than once")
		}
		return v.Get(k), nil
	}
	var err error
	for k := range v {
		if len(v[k]) > 1 {
			return nil, problem.Invalid(k, "given more than once")
		}
		if !itemsParams[k] {
			if q.Equal == nil {
				q.Equal = map[string]string{}
			}
			q.Equal[k] = v.Get(k)
		}
	}
	if s, _ := one("bbox-crs"); s != "" && s != crs84 {
		return nil, problem.Invalid("bbox-crs", "only %s is supported", crs84)
	}
	if s, _ := one("crs"); s != "" && s != crs84 {
		return nil, problem.Invalid("crs", "only %s is supported", crs84)
	}
	if s, _ := one("filter-crs"); s != "" && s != crs84 {
		return nil, problem.Invalid("filter-crs", "only %s is supported", crs84)
	}
	if s, _ := one("bbox"); s != "" {
		b, err := ParseBBox("bbox", s)
		if err != nil {
			return nil, err
		}
		q.BBox = &b
	}
	if s, _ := one("datetime"); s != "" {
		iv, err := ParseDatetime("datetime", s)
		if err != nil {
			return nil, err
		}
		q.Datetime = &iv
	}
	if q.Limit, err = ParseLimit("limit", v.Get("limit")); err != nil {
		return nil, err
	}
	if q.Sort, err = ParseSortby("sortby", v.Get("sortby")); err != nil {
		return nil, err
	}
	if q.Cursor, err = ParseCursor("cursor", v.Get("cursor"), q.Sort); err != nil {
		return nil, err
	}
	if q.Properties, err = ParseProperties("properties", v.Get("properties")); err != nil {
		return nil, err
	}
	if q.Precision, err = ParsePrecision("precision", v.Get("precision")); err != nil {
		return nil, err
	}
	q.Q = v.Get("q")
	if len(q.Q) > 1000 {
		return nil, problem.Invalid("q", "longer than 1000 bytes")
	}
	q.Filter = v.Get("filter")
	if fl := v.Get("filter-lang"); fl != "" && fl != "cql2-text" {
		return nil, problem.Invalid("filter-lang", "only cql2-text is supported")
	}
	return q, nil
}

func (h *Handler) items(c *gin.Context) {
	asHTML, err := wantsHTML(c)
	if err != nil {
		httpx.Respond(c, err)
		return
	}
	q, err := parseItemsQuery(c.Param("collection"), c.Request.URL.Query())
	if err != nil {
		httpx.Respond(c, err)
		return
	}
	ctx := c.Request.Context()
	st, err := h.svc.Items(ctx, q)
	if err != nil {
		httpx.Respond(c, err)
		return
	}
	defer st.Close()
	self := h.base(c) + c.Request.URL.Path
	links := func(p Page) []Link {
		with := func(cursor string, f string) string {
			v := c.Request.URL.Query()
			v.Del("cursor")
			v.Del("f")
			if cursor != "" {
				v.Set("cursor", cursor)
			}
			if f != "" {
				v.Set("f", f)
			}
			if len(v) == 0 {
				return self
			}
			return self + "?" + v.Encode()
		}
		cur := c.Query("cursor")
		ls := []Link{
			link(with(cur, ""), "self", GeoJSON, "this page"),
			link(with(cur, "html"), "alternate", HTML, "this page as HTML"),
			link(h.base(c)+"/collections/"+url.PathEscape(q.Collection), "collection", JSON, "the collection"),
		}
		if p.Next != "" {
			ls = append(ls, link(with(p.Next, ""), "next", GeoJSON, "next page"))
		}
		if p.Prev != "" {
			ls = append(ls, link(with(p.Prev, ""), "prev", GeoJSON, "previous page"))
		}
		return ls
	}
	if asHTML {
		var buf bytes.Buffer
		if err := st.WriteTo(&buf, links); err != nil {
			httpx.Respond(c, err)
			return
		}
		h.htmlFeatures(c, q.Collection, buf.Bytes())
		return
	}
	c.Header("Content-Type", GeoJSON)
	c.Header("Vary", "Accept, Accept-Encoding")
	var w io.Writer = c.Writer
	var gz interface{ Close() error }
	if acceptsGzip(c) {
		c.Header("Content-Encoding", "gzip")
		z := getGzip(c.Writer)
		defer putGzip(z) // also when abort panics: Reset drops a half-written stream
		gz, w = z, z
	}
	c.Status(http.StatusOK)
	if err := st.WriteTo(w, links); err != nil {
		h.abort(c, err)
	}
	if gz != nil {
		if err := gz.Close(); err != nil {
			h.abort(c, err)
		}
	}
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

func (h *Handler) item(c *gin.Context) {
	asHTML, err := wantsHTML(c)
	if err != nil {
		httpx.Respond(c, err)
		return
	}
	id, err := parseID(c.Param("id"))
	if err != nil {
		httpx.Respond(c, err)
		return
	}
	prec, err := ParsePrecision("precision", c.Query("precision"))
	if err != nil {
		httpx.Respond(c, err)
		return
	}
	col := c.Param("collection")
	b := h.base(c)
	colURL := b + "/collections/" + url.PathEscape(col)
	self := fmt.Sprintf("%s/items/%d", colURL, id)
	body, err := h.svc.Item(c.Request.Context(), col, id, prec, []Link{
		link(self, "self", GeoJSON, "this feature"),
		link(self+"?f=html", "alternate", HTML, "this feature as HTML"),
		link(colURL, "collection", JSON, "the collection"),
	})
	if err != nil {
		httpx.Respond(c, err)
		return
	}
	if asHTML {
		h.htmlFeature(c, col, id, body)
		return
	}
	c.Data(http.StatusOK, GeoJSON, body)
}

// ---- writes ----

func mediaType(c *gin.Context) string {
	mt, _, err := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if err != nil {
		return ""
	}
	return mt
}

// postItems takes a Feature (201 with Location), a FeatureCollection or a
// GeoJSON sequence (bulk: COPY, all or nothing; 201 with counts). ?title=
// names the property titles come from (default: title, then name).
func (h *Handler) postItems(c *gin.Context) {
	col := c.Param("collection")
	ctx := c.Request.Context()
	switch mediaType(c) {
	case "application/geo+json-seq", "application/x-ndjson", "application/ndjson", "application/geo+ndjson":
		body := http.MaxBytesReader(c.Writer, c.Request.Body, h.svc.opts.MaxImportBytes)
		res, err := h.svc.Import(ctx, col, FormatSeq, c.Query("title"), body)
		if err != nil {
			httpx.Respond(c, err)
			return
		}
		h.writeJSON(c, http.StatusCreated, JSON, res)
		return
	case GeoJSON, JSON, "":
	default:
		httpx.Respond(c, problem.Wrap(problem.ErrUnsupportedMedia, "send application/geo+json (a Feature or FeatureCollection) or application/geo+json-seq / application/x-ndjson"))
		return
	}
	// Peek at the type without reading the body: a FeatureCollection streams
	// into COPY, a Feature is small and goes through internal/document.
	body := http.MaxBytesReader(c.Writer, c.Request.Body, h.svc.opts.MaxImportBytes)
	br := newPeekReader(body)
	isCollection, err := br.looksLikeCollection()
	if err != nil {
		httpx.Respond(c, err)
		return
	}
	if isCollection {
		res, err := h.svc.Import(ctx, col, FormatFeatureCollection, c.Query("title"), br)
		if err != nil {
			httpx.Respond(c, err)
			return
		}
		h.writeJSON(c, http.StatusCreated, JSON, res)
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

// ---- clusters and tiles ----

func (h *Handler) clusters(c *gin.Context) {
	bs := c.Query("bbox")
	if bs == "" {
		bs = "-180,-90,180,90"
	}
	bbox, err := ParseBBox("bbox", bs)
	if err != nil {
		httpx.Respond(c, err)
		return
	}
	zs := c.Query("zoom")
	zoom, convErr := strconv.Atoi(zs)
	if convErr != nil || zoom < 0 || zoom > MaxZoom {
		httpx.Respond(c, problem.Invalid("zoom", "an integer from 0 to %d is required", MaxZoom))
		return
	}
	col := c.Param("collection")
	res, err := h.svc.Clusters(c.Request.Context(), col, bbox, zoom)
	if err != nil {
		httpx.Respond(c, err)
		return
	}
	photos := col == h.svc.opts.PhotosCollection
	b := make([]byte, 0, 256+len(res.Clusters)*200)
	b = append(b, `{"type":"FeatureCollection","bbox":`...)
	b = appendFloats(b, res.BBox.MinX, res.BBox.MinY, res.BBox.MaxX, res.BBox.MaxY)
	b = append(b, `,"zoom":`...)
	b = strconv.AppendInt(b, int64(zoom), 10)
	b = append(b, `,"cellSize":`...)
	b = strconv.AppendFloat(b, res.CellSize, 'g', -1, 64)
	b = append(b, `,"features":[`...)
	for i, cl := range res.Clusters {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"type":"Feature","id":`...)
		if cl.Count == 1 {
			b = strconv.AppendInt(b, cl.ID, 10)
		} else {
			b = appendJSONString(b, fmt.Sprintf("cluster/%d/%d/%d", zoom, int64(math.Floor(cl.X/res.CellSize)), int64(math.Floor(cl.Y/res.CellSize))))
		}
		b = append(b, `,"geometry":{"type":"Point","coordinates":`...)
		b = appendFloats(b, cl.X, cl.Y)
		b = append(b, `},"properties":{"count":`...)
		b = strconv.AppendInt(b, cl.Count, 10)
		b = append(b, `,"cluster":`...)
		b = strconv.AppendBool(b, cl.Count > 1)
		b = append(b, `,"representative_id":`...)
		b = strconv.AppendInt(b, cl.ID, 10)
		b = append(b, `,"extent":`...)
		b = appendFloats(b, cl.MinX, cl.MinY, cl.MaxX, cl.MaxY)
		if cl.Count == 1 {
			b = append(b, `,"title":`...)
			b = appendJSONString(b, cl.Title)
		}
		if photos {
			b = append(b, `,"thumbnail":`...)
			b = appendJSONString(b, fmt.Sprintf(h.svc.opts.ThumbnailPath, cl.ID))
		}
		b = append(b, "}}"...)
	}
	b = append(b, `],"numberReturned":`...)
	b = strconv.AppendInt(b, int64(len(res.Clusters)), 10)
	b = append(b, "}\n"...)
	c.Data(http.StatusOK, GeoJSON, b)
}

func appendFloats(b []byte, fs ...float64) []byte {
	b = append(b, '[')
	for i, f := range fs {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendFloat(b, f, 'f', -1, 64)
	}
	return append(b, ']')
}

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
	c.Header("Cache-Control", h.tileCacheControl)
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
	b := h.base(c)
	v := map[string]any{
		"tilejson":    "3.0.0",
		"name":        col.Name,
		"description": col.Description,
		"scheme":      "xyz",
		"tiles":       []string{b + "/tiles/" + url.PathEscape(col.Name) + "/{z}/{x}/{y}.mvt"},
		"minzoom":     0,
		"maxzoom":     MaxZoom,
		"vector_layers": []map[string]any{{
			"id":          col.Name,
			"description": fmt.Sprintf("below zoom %d points are clustered in 64 px cells (count, cluster, extent, id of a member); from it on, features (id, title)", ClusterMaxZoom),
			"fields":      map[string]string{"id": "Number", "count": "Number", "cluster": "Boolean", "extent": "String", "title": "String"},
			"minzoom":     0, "maxzoom": MaxZoom,
		}},
	}
	if e := col.Extent; e != nil {
		v["bounds"] = []float64{e.MinX, math.Max(e.MinY, -85.0511), e.MaxX, math.Min(e.MaxY, 85.0511)}
	}
	c.Header("Cache-Control", "public, max-age=60")
	h.writeJSON(c, http.StatusOK, JSON, v)
}
