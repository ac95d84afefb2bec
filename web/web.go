// Package web serves geoseek's map page (/map) and its assets. The page is
// built from npm packages (MapLibre GL JS, bundled by esbuild: see
// package.json and build.mjs) into dist/, which the binary embeds. Without
// a build (no Node.js where the binary was built) dist/ holds only its
// placeholder and /map says how to build the assets.
package web

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/geoseek/geoseek/internal/httpx"
	"github.com/geoseek/geoseek/internal/problem"
)

//go:embed all:dist
var dist embed.FS

// AssetsPrefix is the path the assets are served under; FaviconPath is
// the pages' icon (served without a build).
const (
	AssetsPrefix = "/map/assets/"
	FaviconPath  = "/map/icon.svg"
)

// faviconSVG is a map pin.
const faviconSVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><path fill="#2563eb" d="M16 2a10 10 0 0 0-10 10c0 7.5 10 18 10 18s10-10.5 10-18A10 10 0 0 0 16 2z"/><circle cx="16" cy="12" r="4" fill="#fff"/></svg>`

func favicon(c *gin.Context) {
	c.Header("Cache-Control", "public, max-age=86400")
	c.Data(http.StatusOK, "image/svg+xml", []byte(faviconSVG))
}

// Options configure the map page.
type Options struct {
	// StyleURL, when set, is an online MapLibre style drawn under the data
	// instead of the offline base map; its origin is allowed by the pages'
	// Content-Security-Policy (see CSPOrigins).
	StyleURL string
	// PhotosCollection is the collection uploads go to (default "photos").
	PhotosCollection string
	// Assets replaces the embedded build (tests build into a directory).
	Assets fs.FS
}

// Handler serves /map and /map/assets/.
type Handler struct {
	opts     Options
	assets   fs.FS
	manifest map[string]string
	early    template.JS
}

// NewHandler reads the build's manifest; a missing build is not an error
// (Built reports it and the page explains it).
func NewHandler(opts Options) (*Handler, error) {
	if opts.PhotosCollection == "" {
		opts.PhotosCollection = "photos"
	}
	if opts.StyleURL != "" {
		if _, err := StyleOrigin(opts.StyleURL); err != nil {
			return nil, err
		}
	}
	h := &Handler{opts: opts, assets: opts.Assets}
	if h.assets == nil {
		sub, err := fs.Sub(dist, "dist")
		if err != nil {
			return nil, fmt.Errorf("web: assets: %w", err)
		}
		h.assets = sub
	}
	b, err := fs.ReadFile(h.assets, "manifest.json")
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return h, nil
	case err != nil:
		return nil, fmt.Errorf("web: manifest: %w", err)
	}
	if err := json.Unmarshal(b, &h.manifest); err != nil {
		return nil, fmt.Errorf("web: manifest: %w", err)
	}
	if f := h.manifest["early.js"]; f != "" {
		e, err := fs.ReadFile(h.assets, f)
		if err != nil {
			return nil, fmt.Errorf("web: early script: %w", err)
		}
		// The build's own output, inlined under the page's nonce.
		h.early = template.JS(e)
	}
	return h, nil
}

// StyleOrigin is the scheme://host[:port] of an online style URL, which
// must be absolute http(s).
func StyleOrigin(styleURL string) (string, error) {
	u, err := url.Parse(styleURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", fmt.Errorf("web: map style URL %q: want an absolute http(s) URL", styleURL)
	}
	return u.Scheme + "://" + u.Host, nil
}

// preload is the paths of the chunks page's module imports.
func (h *Handler) preload(page string) []string {
	var out []string
	for f := range strings.SplitSeq(h.manifest[page+".preload"], ",") {
		if f != "" {
			out = append(out, AssetsPrefix+f)
		}
	}
	return out
}

// Built reports whether the assets were built.
func (h *Handler) Built() bool { return h.manifest["map.js"] != "" }

// Asset is the path of a built asset by its logical name ("features.js",
// "features.css"); "" when the assets were not built.
func (h *Handler) Asset(name string) string {
	if f := h.manifest[name]; f != "" {
		return AssetsPrefix + f
	}
	return ""
}

// Register adds /map and the assets. Both are open: the page holds no data,
// and its requests carry the key the user enters when reads need one.
func (h *Handler) Register(r gin.IRouter) {
	r.GET("/map", h.page)
	r.GET(FaviconPath, favicon)
	r.GET(AssetsPrefix+":file", h.asset)
	r.HEAD(AssetsPrefix+":file", h.asset)
}

type pageConfig struct {
	StyleURL string `json:"styleURL,omitempty"`
	Photos   string `json:"photos"`
}

type pageData struct {
	Nonce, Script, Style string
	Config, Photos       string
	// Preload are the chunks the page's module imports; Early is the
	// inline script that sends the page's first request (see src/early.js).
	Preload []string
	Early   template.JS
	Built   bool
}

func (h *Handler) page(c *gin.Context) {
	cfg, err := json.Marshal(pageConfig{StyleURL: h.opts.StyleURL, Photos: h.opts.PhotosCollection})
	if err != nil {
		httpx.Respond(c, fmt.Errorf("web: page config: %w", err))
		return
	}
	d := pageData{Nonce: httpx.Nonce(c), Script: h.Asset("map.js"), Style: h.Asset("map.css"), Config: string(cfg),
		Photos: h.opts.PhotosCollection, Preload: h.preload("map"), Early: h.early, Built: h.Built()}
	c.Header("Content-Type", "text/html; charset=utf-8")
	c.Header("Cache-Control", "no-cache")
	c.Status(http.StatusOK)
	if err := mapPage.Execute(c.Writer, d); err != nil {
		_ = c.Error(fmt.Errorf("web: render map page: %w", err))
	}
}

// asset serves a built file. Names carry a hash of their content, so they
// are cached for a year; the gzipped copy the build wrote is sent to
// clients that accept it.
func (h *Handler) asset(c *gin.Context) {
	name := c.Param("file")
	if name == "" || strings.ContainsAny(name, `/\`) || strings.HasPrefix(name, ".") || name == "manifest.json" || strings.HasSuffix(name, ".gz") {
		httpx.Respond(c, fmt.Errorf("web: asset %q: %w", name, problem.ErrNotFound))
		return
	}
	ct := map[string]string{".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".txt": "text/plain; charset=utf-8"}[path.Ext(name)]
	if ct == "" {
		httpx.Respond(c, fmt.Errorf("web: asset %q: %w", name, problem.ErrNotFound))
		return
	}
	file, enc := name, ""
	if acceptsGzip(c.GetHeader("Accept-Encoding")) {
		if _, err := fs.Stat(h.assets, name+".gz"); err == nil {
			file, enc = name+".gz", "gzip"
		}
	}
	b, err := fs.ReadFile(h.assets, file)
	if err != nil {
		httpx.Respond(c, fmt.Errorf("web: asset %q: %w", name, problem.ErrNotFound))
		return
	}
	c.Header("Cache-Control", "public, max-age=31536000, immutable")
	c.Header("Vary", "Accept-Encoding")
	if enc != "" {
		c.Header("Content-Encoding", enc)
	}
	c.Data(http.StatusOK, ct, b)
}

func acceptsGzip(v string) bool {
	for part := range strings.SplitSeq(v, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(name), "gzip") && !strings.Contains(strings.ReplaceAll(params, " ", ""), "q=0") {
			return true
		}
	}
	return false
}

var mapPage = template.Must(template.New("map").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>geoseek map</title>
<link rel="icon" href="/map/icon.svg" type="image/svg+xml">
{{if .Built}}{{if .Early}}<script nonce="{{.Nonce}}" data-photos="{{.Photos}}">{{.Early}}</script>
{{end}}<link rel="stylesheet" href="{{.Style}}" nonce="{{.Nonce}}">
<script type="module" src="{{.Script}}" nonce="{{.Nonce}}"></script>
{{range .Preload}}<link rel="modulepreload" href="{{.}}" nonce="{{$.Nonce}}">
{{end}}{{else}}<style nonce="{{.Nonce}}">body{font:16px/1.5 system-ui,sans-serif;margin:2em;max-width:40em}code{background:#eee;padding:0 .2em}</style>{{end}}
</head>
<body data-config="{{.Config}}">
{{if .Built}}<header class="bar">
 <a class="brand" href="/">geoseek</a>
 <form id="search" role="search" aria-label="Filter the map">
  <label class="sr" for="collection">Collection</label>
  <select id="collection" name="c" title="Collection"></select>
  <label class="sr" for="q">Search</label>
  <input id="q" name="q" type="search" placeholder="Search…" autocomplete="off">
  <label class="sr" for="mode">Search mode</label>
  <select id="mode" name="mode" title="Search mode"><option value="keyword">keyword</option><option value="semantic">semantic</option><option value="hybrid">hybrid</option></select>
  <span class="dates"><label for="from">from</label> <input id="from" name="from" type="date"> <label for="to">to</label> <input id="to" name="to" type="date"></span>
  <button type="submit">Search</button>
  <button type="button" id="clear" hidden>Clear</button>
 </form>
 <button type="button" id="upload-toggle" aria-expanded="false" aria-controls="upload">Upload</button>
</header>
<main>
 <div id="map" role="region" aria-label="Map"></div>
 <button type="button" id="area" class="float" hidden>Search this area</button>
 <p id="status" class="status" role="status" aria-live="polite"></p>
 <aside id="panel" aria-label="Details" hidden></aside>
 <section id="upload" aria-label="Upload photos" hidden>
  <h2>Upload photos</h2>
  <form id="key-form"><label for="key">API key (kept for this tab only)</label>
   <input id="key" type="password" autocomplete="off" placeholder="gsk_…"> <button type="submit">Keep</button></form>
  <label id="drop" class="drop" for="files">Drop photos here or <u>choose files</u></label>
  <input id="files" type="file" accept="image/*" multiple>
  <ul id="uploads"></ul>
 </section>
</main>
<noscript>The map needs JavaScript; the data is also at <a href="/collections">/collections</a>.</noscript>
{{else}}<h1>geoseek map</h1>
<p>This server was built without the map page's assets. Build them with
<code>make build</code> (it runs <code>npm ci</code> and <code>npm run build</code> in <code>web/</code>;
Node.js and npm are needed) and start the server again.</p>
<p>The data is at <a href="/collections">/collections</a>.</p>{{end}}
</body></html>`))
