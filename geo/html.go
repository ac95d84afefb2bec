package geo

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"html/template"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/geoseek/geoseek/internal/httpx"
)

// PageMap is how the HTML pages draw their features on a map: the map
// page's features bundle (web/), and the online style if one is configured.
// Without a Script the pages are tables only.
type PageMap struct {
	Script, Style, StyleURL string
}

// The HTML pages give a browser user the same content as the JSON: links,
// collections, and items as a map over a table of their typed properties,
// paged by the next and prev links. Every page carries the request's CSP
// nonce on its script and styles.
var pageTmpl = template.Must(template.New("page").Funcs(template.FuncMap{"value": valueHTML}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title>
<link rel="icon" href="/map/icon.svg" type="image/svg+xml">
<meta name="viewport" content="width=device-width, initial-scale=1">
<style nonce="{{.Nonce}}">body{font:15px/1.4 system-ui,sans-serif;margin:0;color:#1f2933}main{max-width:72rem;margin:0 auto;padding:1rem 1.2rem 3rem}
table{border-collapse:collapse;width:100%;font-size:.9rem}td,th{border-bottom:1px solid #d8dee6;padding:.35rem .5rem;text-align:left;vertical-align:top}
pre{background:#f6f7f9;padding:1rem;overflow:auto}.n{font-variant-numeric:tabular-nums;text-align:right}.b,.z{color:#5f6b7a}
.chip{display:inline-block;background:#eef2ff;border-radius:999px;padding:0 .5rem;margin:0 .2rem .2rem 0}
dl.o{margin:0;display:grid;grid-template-columns:max-content 1fr;gap:0 .5rem}dl.o dt{color:#5f6b7a}dl.o dd{margin:0}
nav.pages{display:flex;gap:1rem;margin:.8rem 0}#features-map{height:min(50vh,28rem);border:1px solid #d8dee6;border-radius:8px;margin:1rem 0}
tr.picked{background:#fff7ed}a{color:#1d4ed8}</style>
{{if .Map.Script}}<link rel="stylesheet" href="{{.Map.Style}}" nonce="{{.Nonce}}">
<script type="module" src="{{.Map.Script}}" nonce="{{.Nonce}}"></script>{{end}}
</head><body><main class="ogc">
<p><a href="/">geoseek</a> · <a href="/collections?f=html">collections</a> · <a href="/map">map</a></p>
<h1>{{.Title}}</h1>
{{with .Description}}<p>{{.}}</p>{{end}}
{{if .Links}}<ul>{{range .Links}}<li><a href="{{.Href}}">{{if .Title}}{{.Title}}{{else}}{{.Rel}}{{end}}</a> <small>({{.Rel}}{{with .Type}}, {{.}}{{end}})</small></li>{{end}}</ul>{{end}}
{{if .Collections}}<table><tr><th>id</th><th>title</th><th>description</th><th></th></tr>
{{range .Collections}}<tr><td><a href="{{.Href}}">{{.ID}}</a></td><td>{{.Title}}</td><td>{{.Description}}</td><td><a href="/map#c={{.ID}}">map</a></td></tr>{{end}}</table>{{end}}
{{if and .Map.Script .DataURL}}<div id="features-map" role="region" aria-label="Map of the features" data-src="{{.DataURL}}"{{with .Map.StyleURL}} data-style="{{.}}"{{end}}></div>{{end}}
{{if .Items}}<p>{{.Returned}} features{{with .Matched}} of {{.}}{{end}}</p>
{{if .Pages}}<nav class="pages" aria-label="Pages">{{range .Pages}}<a href="{{.Href}}" rel="{{.Rel}}">{{.Title}}</a>{{end}}</nav>{{end}}
<table><thead><tr><th>id</th><th>title</th><th>geometry</th>{{range .Columns}}<th>{{.}}</th>{{end}}</tr></thead><tbody>
{{range .Items}}<tr id="f-{{.ID}}"><td><a href="{{.Href}}">{{.ID}}</a></td><td>{{.Title}}</td><td>{{.Type}}</td>{{range .Values}}<td>{{value .}}</td>{{end}}</tr>
{{end}}</tbody></table>
{{if .Pages}}<nav class="pages" aria-label="Pages">{{range .Pages}}<a href="{{.Href}}" rel="{{.Rel}}">{{.Title}}</a>{{end}}</nav>{{end}}{{end}}
{{if .Props}}<table><tbody>{{range .Props}}<tr><th>{{.Key}}</th><td>{{value .Value}}</td></tr>{{end}}</tbody></table>{{end}}
{{with .JSON}}<details{{if not $.Props}} open{{end}}><summary>JSON</summary><pre>{{.}}</pre></details>{{end}}
</main></body></html>`))

type htmlPage struct {
	Title, Description string
	Links              []Link
	Collections        []htmlRow
	Returned           int
	// Matched is numberMatched; 0 when unknown (not shown).
	Matched int64
	// JSON is the document itself, indented.
	JSON string
	// Items are the page's features, Columns the property keys they show
	// (in their Values), Pages the next and prev links.
	Items   []htmlItem
	Columns []string
	Pages   []Link
	// Props are one feature's properties.
	Props []htmlProp
	// DataURL is the GeoJSON the page's map draws.
	DataURL string
	Map     PageMap
	Nonce   string
}

type htmlRow struct {
	ID, Title, Description, Type, Href string
}

type htmlItem struct {
	htmlRow
	props  map[string]any
	Values []any
}

type htmlProp struct {
	Key   string
	Value any
}

// maxColumns bounds the property columns of an items page.
const maxColumns = 12

func (h *Handler) render(c *gin.Context, p htmlPage) {
	p.Nonce = httpx.Nonce(c)
	p.Map = h.svc.opts.PageMap
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
		p.Links = append([]Link{{Href: "/map", Rel: "map", Type: HTML, Title: "the map"}}, p.Links...)
	case *CollectionDoc:
		p.Description, p.Links = d.Description, d.Links
		p.Links = append(p.Links, Link{Href: "/map#c=" + url.QueryEscape(d.ID), Rel: "map", Type: HTML, Title: "on the map"})
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

// htmlItems renders a page of items: a map of them and a table of their id,
// title (when q selects it), geometry type and properties, with links to
// the next and previous pages.
func (h *Handler) htmlItems(c *gin.Context, q *ItemsQuery, st *FeatureStream, pl *pageLinks) {
	p := htmlPage{Title: "Items of " + q.Collection}
	withTitle := newSelector(q.Properties).want("title")
	seen := map[string]bool{}
	for f := st.next(); f != nil; f = st.next() {
		id := strconv.FormatInt(f.ID, 10)
		it := htmlItem{htmlRow: htmlRow{ID: id, Type: geometryTypeName(f), Href: "items/" + id + "?f=html"}}
		if withTitle {
			it.Title = string(f.Title)
		}
		// The row's bytes are the driver's until the next row: decoded now.
		if len(f.Props) > 0 {
			d := json.NewDecoder(bytes.NewReader(f.Props))
			d.UseNumber()
			if err := d.Decode(&it.props); err != nil {
				st.Close()
				httpx.Respond(c, fmt.Errorf("geo: html items: props of %d: %w", f.ID, err))
				return
			}
			for k := range it.props {
				if !seen[k] && len(p.Columns) < maxColumns {
					seen[k] = true
					p.Columns = append(p.Columns, k)
				}
			}
		}
		if len(f.Tags) > 2 { // not "[]"
			var tags []any
			if err := json.Unmarshal(f.Tags, &tags); err == nil && it.props["tags"] == nil {
				if it.props == nil {
					it.props = map[string]any{}
				}
				it.props["tags"] = tags
				if !seen["tags"] && len(p.Columns) < maxColumns {
					seen["tags"] = true
					p.Columns = append(p.Columns, "tags")
				}
			}
		}
		p.Items = append(p.Items, it)
	}
	page, err := st.finish()
	if err != nil {
		httpx.Respond(c, err)
		return
	}
	slices.Sort(p.Columns)
	for i := range p.Items {
		vals := make([]any, len(p.Columns))
		for j, k := range p.Columns {
			vals[j] = p.Items[i].props[k]
		}
		p.Items[i].Values = vals
	}
	p.Returned, p.Links = page.Returned, pl.html(page)
	for _, l := range p.Links {
		if l.Rel == "next" || l.Rel == "prev" {
			p.Pages = append(p.Pages, l)
		}
	}
	if page.HasMatched {
		p.Matched = page.Matched
	}
	p.DataURL = pl.href(c.Query("cursor"), "json")
	h.render(c, p)
}

// htmlFeature renders one feature: a map of it, its properties and its
// GeoJSON, indented.
func (h *Handler) htmlFeature(c *gin.Context, collection string, id int64, geojson []byte) {
	var b bytes.Buffer
	if err := json.Indent(&b, geojson, "", "  "); err != nil {
		httpx.Respond(c, err)
		return
	}
	var f struct {
		Properties map[string]any `json:"properties"`
	}
	d := json.NewDecoder(bytes.NewReader(geojson))
	d.UseNumber()
	if err := d.Decode(&f); err != nil {
		httpx.Respond(c, fmt.Errorf("geo: html feature: %w", err))
		return
	}
	p := htmlPage{Title: collection + " / " + strconv.FormatInt(id, 10), JSON: b.String(),
		Links:   []Link{{Href: "../items?f=html", Rel: "collection", Title: "items of " + collection}},
		DataURL: c.Request.URL.Path + "?f=json"}
	for _, k := range slices.Sorted(maps.Keys(f.Properties)) {
		p.Props = append(p.Props, htmlProp{Key: k, Value: f.Properties[k]})
	}
	h.render(c, p)
}

// valueHTML renders a JSON value by its type: numbers aligned, booleans
// and nulls muted, lists as chips, objects as nested definition lists,
// links as links; every string escaped.
func valueHTML(v any) template.HTML {
	var b strings.Builder
	writeValue(&b, v, 0)
	return template.HTML(b.String()) // #nosec: every piece is escaped in writeValue
}

func writeValue(b *strings.Builder, v any, depth int) {
	if depth > 8 {
		b.WriteString("…")
		return
	}
	switch x := v.(type) {
	case nil:
		b.WriteString(`<span class="z">—</span>`)
	case bool:
		fmt.Fprintf(b, `<span class="b">%t</span>`, x)
	case json.Number:
		b.WriteString(`<span class="n">` + template.HTMLEscapeString(x.String()) + `</span>`)
	case float64:
		b.WriteString(`<span class="n">` + strconv.FormatFloat(x, 'g', -1, 64) + `</span>`)
	case string:
		if u, err := url.Parse(x); err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
			e := template.HTMLEscapeString(x)
			b.WriteString(`<a href="` + e + `" rel="noopener noreferrer">` + e + `</a>`)
			return
		}
		b.WriteString(template.HTMLEscapeString(x))
	case []any:
		for _, e := range x {
			b.WriteString(`<span class="chip">`)
			writeValue(b, e, depth+1)
			b.WriteString(`</span>`)
		}
	case map[string]any:
		b.WriteString(`<dl class="o">`)
		for _, k := range slices.Sorted(maps.Keys(x)) {
			b.WriteString("<dt>" + template.HTMLEscapeString(k) + "</dt><dd>")
			writeValue(b, x[k], depth+1)
			b.WriteString("</dd>")
		}
		b.WriteString(`</dl>`)
	default:
		b.WriteString(template.HTMLEscapeString(fmt.Sprint(x)))
	}
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
