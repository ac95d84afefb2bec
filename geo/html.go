package geo

import (
	"encoding/json"
	"html/template"
	"net/http"

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
	Matched            any
	JSON               string
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

// html renders a metadata document (landing, conformance, collections).
func (h *Handler) html(c *gin.Context, title string, v map[string]any) {
	p := htmlPage{Title: title}
	if d, ok := v["description"].(string); ok {
		p.Description = d
	}
	if ls, ok := v["links"].([]Link); ok {
		p.Links = ls
	}
	if cols, ok := v["collections"].([]map[string]any); ok {
		for _, col := range cols {
			id, _ := col["id"].(string)
			t, _ := col["title"].(string)
			d, _ := col["description"].(string)
			p.Collections = append(p.Collections, htmlRow{ID: id, Title: t, Description: d, Href: "collections/" + id + "?f=html"})
		}
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		httpx.Respond(c, err)
		return
	}
	p.JSON = string(b)
	h.render(c, p)
}

// htmlFeatures renders a page of items from its GeoJSON.
func (h *Handler) htmlFeatures(c *gin.Context, collection string, geojson []byte) {
	var fc struct {
		Features []struct {
			ID         int64                  `json:"id"`
			Geometry   *struct{ Type string } `json:"geometry"`
			Properties struct {
				Title string `json:"title"`
			} `json:"properties"`
		} `json:"features"`
		Returned int    `json:"numberReturned"`
		Matched  *int64 `json:"numberMatched"`
		Links    []Link `json:"links"`
	}
	if err := json.Unmarshal(geojson, &fc); err != nil {
		httpx.Respond(c, err)
		return
	}
	p := htmlPage{Title: "Items of " + collection, Returned: fc.Returned}
	if fc.Matched != nil {
		p.Matched = *fc.Matched
	}
	for _, l := range fc.Links {
		if l.Rel == "next" || l.Rel == "prev" {
			l.Href += "&f=html"
		}
		p.Links = append(p.Links, l)
	}
	for _, f := range fc.Features {
		t := "none"
		if f.Geometry != nil {
			t = f.Geometry.Type
		}
		id := jsonInt(f.ID)
		p.Features = append(p.Features, htmlRow{ID: id, Title: f.Properties.Title, Type: t, Href: "items/" + id + "?f=html"})
	}
	h.render(c, p)
}

// htmlFeature renders one feature.
func (h *Handler) htmlFeature(c *gin.Context, collection string, id int64, geojson []byte) {
	var v any
	if err := json.Unmarshal(geojson, &v); err != nil {
		httpx.Respond(c, err)
		return
	}
	b, _ := json.MarshalIndent(v, "", "  ")
	h.render(c, htmlPage{Title: collection + " / " + jsonInt(id), JSON: string(b),
		Links: []Link{{Href: "../items?f=html", Rel: "collection", Title: "items of " + collection}}})
}

func jsonInt(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
