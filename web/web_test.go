package web

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/require"

	"github.com/geoseek/geoseek/internal/httpx"
)

func serve(t *testing.T, h *Handler, method, path string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	gin.SetMode(gin.TestMode)
	r := gin.New()
	r.Use(func(c *gin.Context) { c.Header("Content-Security-Policy", httpx.BaseCSP); c.Next() })
	h.Register(r)
	req := httptest.NewRequest(method, path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	r.ServeHTTP(w, req)
	return w
}

func gz(t *testing.T, s string) []byte {
	t.Helper()
	var b strings.Builder
	z := gzip.NewWriter(&b)
	_, err := z.Write([]byte(s))
	require.NoError(t, err)
	require.NoError(t, z.Close())
	return []byte(b.String())
}

func built(t *testing.T) fstest.MapFS {
	return fstest.MapFS{
		"manifest.json":        {Data: []byte(`{"map.js":"map-ABC.js","map.css":"map-DEF.css","features.js":"features-1.js","features.css":"features-2.css"}`)},
		"map-ABC.js":           {Data: []byte("console.log('map')")},
		"map-ABC.js.gz":        {Data: gz(t, "console.log('map')")},
		"map-DEF.css":          {Data: []byte("body{}")},
		"chunk-X.js":           {Data: []byte("export{}")},
		"chunk-X.js.LEGAL.txt": {Data: []byte("licences")},
	}
}

var nonceRE = regexp.MustCompile(`nonce="([^"]+)"`)

func TestMapPage(t *testing.T) {
	t.Parallel()
	h, err := NewHandler(Options{Assets: built(t), StyleURL: "https://tiles.example.org/style.json"})
	require.NoError(t, err)
	require.True(t, h.Built())
	require.Equal(t, "/map/assets/features-1.js", h.Asset("features.js"))

	w := serve(t, h, "GET", "/map")
	require.Equal(t, http.StatusOK, w.Code)
	body := w.Body.String()
	require.Contains(t, body, `<script type="module" src="/map/assets/map-ABC.js"`)
	require.Contains(t, body, `href="/map/assets/map-DEF.css"`)
	// The configuration travels in an attribute, escaped; no inline script.
	require.Contains(t, body, `data-config="{&#34;styleURL&#34;:&#34;https://tiles.example.org/style.json&#34;,&#34;photos&#34;:&#34;photos&#34;}"`)
	require.NotRegexp(t, `<script(?: [^>]*)?>[^<]`, body)
	// Every script and style carries the nonce of the page's policy.
	csp := w.Header().Get("Content-Security-Policy")
	nonces := nonceRE.FindAllStringSubmatch(body, -1)
	require.Len(t, nonces, 2)
	for _, n := range nonces {
		require.Contains(t, csp, "'nonce-"+n[1]+"'")
	}
	require.Contains(t, csp, "default-src 'none'")
	require.Contains(t, csp, "worker-src blob:")
	require.NotContains(t, csp, "unsafe-inline")
	require.NotContains(t, csp, "unsafe-eval")
	// A new nonce per request.
	again := nonceRE.FindStringSubmatch(serve(t, h, "GET", "/map").Body.String())
	require.NotEqual(t, nonces[0][1], again[1])
}

// The page's first request is sent by the build's inline script (under
// the page's nonce, before the stylesheet holds the parser), and the chunk
// the module imports is preloaded with it.
func TestMapPageFirstRequest(t *testing.T) {
	t.Parallel()
	fsys := built(t)
	fsys["manifest.json"] = &fstest.MapFile{Data: []byte(`{"map.js":"map-ABC.js","map.css":"map-DEF.css","map.preload":"chunk-X.js","early.js":"early.js"}`)}
	fsys["early.js"] = &fstest.MapFile{Data: []byte(`(()=>{window.geoseekFirst={a:1<2}})();`)}
	h, err := NewHandler(Options{Assets: fsys, PhotosCollection: "pics"})
	require.NoError(t, err)
	w := serve(t, h, "GET", "/map")
	require.Equal(t, http.StatusOK, w.Code)
	body := w.Body.String()
	early := strings.Index(body, `data-photos="pics">(()=>{window.geoseekFirst={a:1<2}})();</script>`)
	require.Positive(t, early, body)
	require.Less(t, early, strings.Index(body, `<link rel="stylesheet"`))
	require.Contains(t, body, `<link rel="modulepreload" href="/map/assets/chunk-X.js"`)
	csp := w.Header().Get("Content-Security-Policy")
	nonces := nonceRE.FindAllStringSubmatch(body, -1)
	require.Len(t, nonces, 4)
	for _, n := range nonces {
		require.Contains(t, csp, "'nonce-"+n[1]+"'")
	}
	require.NotContains(t, csp, "unsafe-inline")

	// A build that names an early script it lacks is refused at start.
	delete(fsys, "early.js")
	_, err = NewHandler(Options{Assets: fsys})
	require.ErrorContains(t, err, "early script")
}

func TestMapPageWithoutBuild(t *testing.T) {
	t.Parallel()
	h, err := NewHandler(Options{Assets: fstest.MapFS{".keep": {Data: []byte("x")}}})
	require.NoError(t, err)
	require.False(t, h.Built())
	require.Equal(t, "", h.Asset("features.js"))
	w := serve(t, h, "GET", "/map")
	require.Equal(t, http.StatusOK, w.Code)
	require.Contains(t, w.Body.String(), "built without the map page's assets")
	require.Contains(t, w.Body.String(), "make build")
	require.NotContains(t, w.Body.String(), "<script")
}

func TestAssets(t *testing.T) {
	t.Parallel()
	h, err := NewHandler(Options{Assets: built(t)})
	require.NoError(t, err)

	w := serve(t, h, "GET", "/map/assets/map-ABC.js", "Accept-Encoding", "gzip, br")
	require.Equal(t, http.StatusOK, w.Code)
	require.Equal(t, "gzip", w.Header().Get("Content-Encoding"))
	require.Equal(t, "text/javascript; charset=utf-8", w.Header().Get("Content-Type"))
	require.Equal(t, "public, max-age=31536000, immutable", w.Header().Get("Cache-Control"))
	z, err := gzip.NewReader(w.Body)
	require.NoError(t, err)
	b, err := io.ReadAll(z)
	require.NoError(t, err)
	require.Equal(t, "console.log('map')", string(b))

	w = serve(t, h, "GET", "/map/assets/map-ABC.js", "Accept-Encoding", "gzip;q=0")
	require.Equal(t, "", w.Header().Get("Content-Encoding"))
	require.Equal(t, "console.log('map')", w.Body.String())
	w = serve(t, h, "GET", "/map/assets/map-DEF.css", "Accept-Encoding", "gzip")
	require.Equal(t, "", w.Header().Get("Content-Encoding")) // no gzipped copy: sent as is
	require.Equal(t, "text/css; charset=utf-8", w.Header().Get("Content-Type"))
	require.Equal(t, http.StatusOK, serve(t, h, "GET", "/map/assets/chunk-X.js.LEGAL.txt").Code)

	for _, p := range []string{"/map/assets/manifest.json", "/map/assets/map-ABC.js.gz", "/map/assets/.keep",
		"/map/assets/nope.js", "/map/assets/x.html"} {
		w := serve(t, h, "GET", p)
		require.Equal(t, http.StatusNotFound, w.Code, p)
		require.Equal(t, "application/problem+json", w.Header().Get("Content-Type"), p)
	}
	// A path out of the directory does not reach the handler.
	require.Equal(t, http.StatusNotFound, serve(t, h, "GET", "/map/assets/..%2fweb.go").Code)
	w = serve(t, h, "GET", "/map/icon.svg")
	require.Equal(t, "image/svg+xml", w.Header().Get("Content-Type"))
}

func TestStyleURL(t *testing.T) {
	t.Parallel()
	o, err := StyleOrigin("https://tiles.example.org:8443/styles/x/style.json?key=1")
	require.NoError(t, err)
	require.Equal(t, "https://tiles.example.org:8443", o)
	for _, bad := range []string{"tiles.example.org/style.json", "javascript:alert(1)", "/style.json", "ftp://x/y", "https://"} {
		_, err := StyleOrigin(bad)
		require.Error(t, err, bad)
		_, err = NewHandler(Options{StyleURL: bad})
		require.Error(t, err, bad)
	}
}
