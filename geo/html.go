package geo

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"html/template"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/geoseek/geoseek/internal/httpx"
)

// The HTML pages are deliberately plain: a browser user gets the same
// content as the JSON, readable and linked; the map page is web/'s job.
var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font:15px/1.4 system-ui,sans-serif;margin:2em;max-width:70em}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left}pre{background:#f6f6f6;padding:1em;overflow:auto}</style>
</head><body>
<h1>{{.Title}}</h1>
{{with .Description}}<p>{{.}}</p>{{end}}
{{if .Links}}<ul>{{range .Links}}<li><a href="{{.Href}}">{{if .Title}}{{.Title}}{{else}}{{.Rel}}{{end}}</a> <small>({{.Rel}}{{with .Type}}, {{.}}{{end}})</small></li>{{end}}</ul>{{end}}
{{if .Collections}}<table><tr><th>id</th><th>title</th><th>description</th></tr>
{{range .Collections}}<tr><td><a href="{{.Href}}">{{.ID}}</a></td><td>{{.Title}}</td><td>{{.Description}}</td></tr>{{end}}</table>{{end}}
{{if .Features}}<p>{{.Returned}} features{{with .Matched}} of {{.}}{{end}}</p>
<table><tr><th>id</th><th>title</th><th>geometry</th></tr>
{{range .Features}}<tr><td><a href="{{.Href}}">{{.ID}}</a></td><td>{{.Title}}</td><td>{{.Type}}</td></tr>{{end}}</table>{{end}}
{{with .JSON}}<pre>{{.}}</pre>{{end}}
</body></html>`))

type htmlPage struct {
	Title, Description string
	Links              []Link
	Collections        []htmlRow
	Features           []htmlRow
	Returned           int
	// Matched is numberMatched; 0 when unknown (not shown).
	Matched int64
	// JSON is the document itself, indented.
	JSON string
}

type htmlRow struct {
	ID, Title, Description, Type, Href string
}

func (h *Handler) render(c *gin.Context, p htmlPage) {
	c.Header("Content-Type", HTML)
	c.Status(http.StatusOK)
	if err := pageTmpl.Execute(c.Writer, p); err != nil {
		h.logger.ErrorContext(c.Request.Context(), "geo: render html", "err", err)
	}
}

// htmlDoc renders a metadata document (landing page, conformance,
// collections, a collection): its description, links and collections, then
// the document as JSON.
func (h *Handler) htmlDoc(c *gin.Context, title string, doc any) {
	p := htmlPage{Title: title}
	switch d := doc.(type) {
	case *Landing:
		p.Description, p.Links = d.Description, d.Links
	case *CollectionDoc:
		p.Description, p.Links = d.Description, d.Links
	case *CollectionList:
		p.Links = d.Links
		p.Collections = make([]htmlRow, 0, len(d.Collections))
		for _, col := range d.Collections {
			p.Collections = append(p.Collections, htmlRow{ID: col.ID, Title: col.Title, Description: col.Description,
				Href: "collections/" + col.ID + "?f=html"})
		}
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		httpx.Respond(c, err)
		return
	}
	p.JSON = string(b)
	h.render(c, p)
}

// htmlItems renders a page of items as a table while the rows arrive: id,
// title (when q selects it) and geometry type of each feature.
func (h *Handler) htmlItems(c *gin.Context, q *ItemsQuery, st *FeatureStream, pl *pageLinks) {
	p := htmlPage{Title: "Items of " + q.Collection}
	withTitle := newSelector(q.Properties).want("title")
	for f := st.next(); f != nil; f = st.next() {
		id := strconv.FormatInt(f.ID, 10)
		row := htmlRow{ID: id, Type: geometryTypeName(f), Href: "items/" + id + "?f=html"}
		if withTitle {
			row.Title = string(f.Title)
		}
		p.Features = append(p.Features, row)
	}
	page, err := st.finish()
	if err != nil {
		httpx.Respond(c, err)
		return
	}
	p.Returned, p.Links = page.Returned, pl.html(page)
	if page.HasMatched {
		p.Matched = page.Matched
	}
	h.render(c, p)
}

// htmlFeature renders one feature: its GeoJSON, indented.
func (h *Handler) htmlFeature(c *gin.Context, collection string, id int64, geojson []byte) {
	var b bytes.Buffer
	if err := json.Indent(&b, geojson, "", "  "); err != nil {
		httpx.Respond(c, err)
		return
	}
	h.render(c, htmlPage{Title: collection + " / " + strconv.FormatInt(id, 10), JSON: b.String(),
		Links: []Link{{Href: "../items?f=html", Rel: "collection", Title: "items of " + collection}}})
}

// wkbTypeNames are the GeoJSON names of the WKB geometry type codes.
var wkbTypeNames = [...]string{1: "Point", 2: "LineString", 3: "Polygon", 4: "MultiPoint",
	5: "MultiLineString", 6: "MultiPolygon", 7: "GeometryCollection"}

// geometryTypeName is the GeoJSON type of f's geometry, read from its EWKB
// header without decoding the rest; "none" without a geometry.
func geometryTypeName(f *Feature) string {
	if f.Geometry != nil {
		return typeName(f.Geometry)
	}
	b := f.EWKB
	if len(b) < 5 || b[0] > 1 {
		return "none"
	}
	t := binary.LittleEndian.Uint32(b[1:5])
	if b[0] == 0 {
		t = binary.BigEndian.Uint32(b[1:5])
	}
	// The EWKB flags (Z, M, SRID) are the high bits; ISO WKB adds
	// 1000, 2000 or 3000 for Z, M and ZM.
	t = (t & 0x0fffffff) % 1000
	if int(t) >= len(wkbTypeNames) || wkbTypeNames[t] == "" {
		return "unknown"
	}
	return wkbTypeNames[t]
}
