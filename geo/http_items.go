package geo

import (
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"

	"github.com/gin-gonic/gin"

	"github.com/geoseek/geoseek/internal/httpx"
	"github.com/geoseek/geoseek/internal/problem"
)

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
	for _, k := range []string{"bbox-crs", "crs", "filter-crs"} {
		if s := v.Get(k); s != "" && s != crs84 {
			return nil, problem.Invalid(k, "only %s is supported", crs84)
		}
	}
	// In this order: a request with several bad parameters hears of the
	// same one as before.
	for _, parse := range []func(*ItemsQuery, url.Values) error{parseItemsArea, parseItemsPage, parseItemsText} {
		if err := parse(q, v); err != nil {
			return nil, err
		}
	}
	return q, nil
}

// parseItemsArea reads bbox and datetime.
func parseItemsArea(q *ItemsQuery, v url.Values) error {
	if s := v.Get("bbox"); s != "" {
		b, err := ParseBBox("bbox", s)
		if err != nil {
			return err
		}
		q.BBox = &b
	}
	if s := v.Get("datetime"); s != "" {
		iv, err := ParseDatetime("datetime", s)
		if err != nil {
			return err
		}
		q.Datetime = &iv
	}
	return nil
}

// parseItemsText reads the full-text query q and the CQL2 filter.
func parseItemsText(q *ItemsQuery, v url.Values) error {
	q.Q = v.Get("q")
	if len(q.Q) > 1000 {
		return problem.Invalid("q", "longer than 1000 bytes")
	}
	q.Filter = v.Get("filter")
	if fl := v.Get("filter-lang"); fl != "" && fl != "cql2-text" {
		return problem.Invalid("filter-lang", "only cql2-text is supported")
	}
	return nil
}

// parseItemsPage reads the parameters that shape the page: limit, sortby,
// cursor, properties and precision.
func parseItemsPage(q *ItemsQuery, v url.Values) error {
	var err error
	if q.Limit, err = ParseLimit("limit", v.Get("limit")); err != nil {
		return err
	}
	if q.Sort, err = ParseSortby("sortby", v.Get("sortby")); err != nil {
		return err
	}
	if q.Cursor, err = ParseCursor("cursor", v.Get("cursor"), q.Sort); err != nil {
		return err
	}
	if q.Properties, err = ParseProperties("properties", v.Get("properties")); err != nil {
		return err
	}
	q.Precision, err = ParsePrecision("precision", v.Get("precision"))
	return err
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
	st, err := h.svc.Items(c.Request.Context(), q)
	if err != nil {
		httpx.Respond(c, err)
		return
	}
	defer st.Close()
	pl := h.newPageLinks(c, q.Collection)
	if asHTML {
		h.htmlItems(c, q, st, pl)
		return
	}
	h.streamItems(c, st, pl)
}

// streamItems writes the page as GeoJSON while the rows arrive, gzipped when
// the client accepts it.
func (h *Handler) streamItems(c *gin.Context, st *FeatureStream, pl *pageLinks) {
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
	if err := st.WriteTo(w, pl.geoJSON); err != nil {
		h.abort(c, err)
	}
	if gz != nil {
		if err := gz.Close(); err != nil {
			h.abort(c, err)
		}
	}
}

// pageLinks builds the links of a page of items: the request's own query
// with another cursor or format.
type pageLinks struct {
	self       string // the items URL without its query
	collection string
	query      url.Values
}

func (h *Handler) newPageLinks(c *gin.Context, collection string) *pageLinks {
	b := h.base(c)
	return &pageLinks{
		self:       b + c.Request.URL.Path,
		collection: b + "/collections/" + url.PathEscape(collection),
		query:      c.Request.URL.Query(),
	}
}

// href is the page's URL with cursor and f in place of the request's.
func (l *pageLinks) href(cursor, f string) string {
	v := maps.Clone(l.query)
	v.Del("cursor")
	v.Del("f")
	if cursor != "" {
		v.Set("cursor", cursor)
	}
	if f != "" {
		v.Set("f", f)
	}
	if len(v) == 0 {
		return l.self
	}
	return l.self + "?" + v.Encode()
}

// geoJSON are the links of the GeoJSON page p.
func (l *pageLinks) geoJSON(p Page) []Link { return l.links(p, "", GeoJSON) }

// html are the links of the HTML page p: its neighbours as HTML too.
func (l *pageLinks) html(p Page) []Link { return l.links(p, "html", HTML) }

// links are p's links; the next and prev pages have format f, of media type
// typ.
func (l *pageLinks) links(p Page, f, typ string) []Link {
	cur := l.query.Get("cursor")
	ls := []Link{
		link(l.href(cur, ""), "self", GeoJSON, "this page"),
		link(l.href(cur, "html"), "alternate", HTML, "this page as HTML"),
		link(l.collection, "collection", JSON, "the collection"),
	}
	if p.Next != "" {
		ls = append(ls, link(l.href(p.Next, f), "next", typ, "next page"))
	}
	if p.Prev != "" {
		ls = append(ls, link(l.href(p.Prev, f), "prev", typ, "previous page"))
	}
	return ls
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
	colURL := h.base(c) + "/collections/" + url.PathEscape(col)
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
