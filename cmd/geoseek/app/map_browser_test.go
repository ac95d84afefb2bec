package app_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/geoseek/geoseek/cmd/geoseek/app"
	"github.com/geoseek/geoseek/ingest"
	"github.com/geoseek/geoseek/internal/pgtest"
	"github.com/geoseek/geoseek/web"
)

// testPhotos is the shared photo corpus, beside the repository.
func testPhotos(t *testing.T) string {
	t.Helper()
	root, err := pgtest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, "..", "shared", "testdata", "photos")
}

// heldBack is the photo the browser uploads itself (Sheffield).
const heldBack = "exiftool__Apple.jpg"

// seeded are real photos with GPS positions (reference.json; SOURCES.md).
var seeded = []string{
	"exif-samples__DSCN0010.jpg", "exifr__IMG_20180725_163423-tiny.jpg", "exifr__issue-exifr-13.jpg",
	"exifr__issue-exifr-59.jpg", "exiftool__GoPro.jpg", "exiftool__Google.jpg", "exiftool__Ricoh2.jpg",
	"go-exif__gps.jpg", "goexif__geodegrees_as_string.jpg", "goexif__has-lens-info.jpg", "goexif__sample1.jpg",
	"mei__Apple_iPhone_4.jpg", "mei__FujiFilm_FinePixS1Pro_4_.jpg", "mei__Issue_508.jpg", "mei__Sony_DSC-HX5V_2_.jpg",
	"exif-samples__Kodak_CX7530.jpg",
}

// chromium finds Debian's browser: a test that cannot run fails under CI
// and says loudly why it skips elsewhere.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed: the map page's browser tests need it (apt-get install -y chromium; scripts/setup.sh does it)")
	}
	t.Skip("SKIP: chromium is not installed, so the map page's browser tests do not run (apt-get install -y chromium)")
	return ""
}

// mapAssets builds the map page's assets (npm ci and the esbuild build in
// web/) unless they are built, and serves them from web/dist.
func mapAssets(t *testing.T) fs.FS {
	t.Helper()
	root, err := pgtest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "web")
	if _, err := os.Stat(filepath.Join(dir, "dist", "manifest.json")); err != nil {
		for _, args := range [][]string{{"npm", "ci", "--no-audit", "--no-fund"}, {"npm", "run", "build"}} {
			cmd := exec.Command(args[0], args[1:]...)
			cmd.Dir = dir
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("building the map page's assets (%s): %v\n%s", strings.Join(args, " "), err, out)
			}
		}
	}
	return os.DirFS(filepath.Join(dir, "dist"))
}

// artifactDir is where the screenshots go: GEOSEEK_ARTIFACTS, else a
// directory under the test's temporary root that outlives the test.
func artifactDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("GEOSEEK_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "geoseek-map-artifacts")
	}
	dir = filepath.Join(dir, t.Name())
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots: %s", dir)
	return dir
}

// uploadPhoto posts one file as the upload client does.
func (s *liveServer) uploadPhoto(name string) {
	s.t.Helper()
	f, err := os.Open(filepath.Join(testPhotos(s.t), name))
	if err != nil {
		s.t.Fatal(err)
	}
	defer f.Close()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	part, err := mw.CreateFormFile("file", name)
	if err != nil {
		s.t.Fatal(err)
	}
	if _, err := io.Copy(part, f); err != nil {
		s.t.Fatal(err)
	}
	if err := mw.Close(); err != nil {
		s.t.Fatal(err)
	}
	req, err := http.NewRequest("POST", s.url+"/photos", &body)
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+s.key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		b, _ := io.ReadAll(resp.Body)
		s.t.Fatalf("upload %s: %d %s", name, resp.StatusCode, b)
	}
}

// browserLog collects what the page must not produce: console errors,
// uncaught exceptions and Content-Security-Policy violations.
type browserLog struct {
	mu       sync.Mutex
	problems []string
}

func (l *browserLog) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.problems = append(l.problems, s)
}

func (l *browserLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.problems
	l.problems = nil
	return p
}

// newBrowser starts headless Chromium with a fresh profile, software WebGL
// and no background traffic, and listens to the page's console, exceptions
// and log (where CSP violations land).
func newBrowser(t *testing.T, bin string) (context.Context, *browserLog) {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("use-angle", "swiftshader"),
		chromedp.Flag("enable-unsafe-swiftshader", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelCtx(); cancelAlloc() })
	blog := &browserLog{}
	err := chromedp.Listen(ctx, func(ev any) {
		switch e := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeWarning {
				var args []string
				for _, a := range e.Args {
					args = append(args, fmt.Sprint(a.Value)+a.Description)
				}
				blog.add(fmt.Sprintf("console.%s: %s", e.Type, strings.Join(args, " ")))
			}
		case *log.EventEntryAdded:
			if e.Entry.Level == log.EntryLevelError {
				blog.add(fmt.Sprintf("log %s: %s %s", e.Entry.Source, e.Entry.Text, e.Entry.URL))
			}
		case *runtime.EventExceptionThrown:
			blog.add(fmt.Sprintf("exception: %s %s", e.ExceptionDetails.Text, e.ExceptionDetails.Exception.Description))
		}
	})
	if err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	if _, err := chromedp.Call(ctx, log.Enable, cdp.Empty{}); err != nil {
		t.Fatalf("chromium log: %v", err)
	}
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: cspWatch}); err != nil {
		t.Fatalf("chromium: %v", err)
	}
	return ctx, blog
}

// cspWatch reports every violation in every document on the console,
// naming the directive.
const cspWatch = `document.addEventListener('securitypolicyviolation', (e) => console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI));`

// markerSum is the sum of the counts of the markers inside the map.
const markerSum = `(() => {
  const m = document.getElementById('map').getBoundingClientRect();
  let n = 0;
  for (const e of document.querySelectorAll('.marker')) {
    const r = e.getBoundingClientRect();
    const x = r.left + r.width / 2, y = r.top + r.height / 2;
    if (x >= m.left && x <= m.right && y >= m.top && y <= m.bottom) n += Number(e.dataset.count);
  }
  return n;
})()`

// waitTrue polls a JavaScript expression until it is true.
func waitTrue(expr string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		for {
			ok, err := chromedp.Evaluate[bool](expr)(ctx, tg)
			if err != nil {
				return chromedp.Void{}, err
			}
			if ok {
				return chromedp.Void{}, nil
			}
			select {
			case <-ctx.Done():
				return chromedp.Void{}, fmt.Errorf("waiting for %s: %w", expr, ctx.Err())
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
}

// waitIdle waits until the page has no request of its own in flight
// (body[data-state]) and sel is in the page.
func waitIdle(sel string) chromedp.Action[chromedp.Void] {
	return waitTrue(`!!document.body && document.body.dataset.state === 'idle' && !!document.querySelector(` + "`" + sel + "`" + `)`)
}

func eval(expr string, out *float64) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		v, err := chromedp.Evaluate[float64](expr)(ctx, tg)
		*out = v
		return chromedp.Void{}, err
	}
}

func js(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Evaluate[chromedp.Void](expr)
}

func text(sel string, out *string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		v, err := chromedp.Text(chromedp.CSS(sel))(ctx, tg)
		*out = v
		return chromedp.Void{}, err
	}
}

func screenshot(t *testing.T, dir, name string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		png, err := chromedp.CaptureScreenshot()(ctx, tg)
		if err != nil {
			return chromedp.Void{}, err
		}
		p := filepath.Join(dir, name+".png")
		t.Logf("screenshot %s", p)
		return chromedp.Void{}, os.WriteFile(p, png, 0o644)
	}
}

// stepper runs a test step's actions in the browser, each step with a
// bound: a page that never settles fails it, with what the browser logged.
func stepper(t *testing.T, bctx context.Context, blog *browserLog) func(step string, actions ...chromedp.Action[chromedp.Void]) {
	return func(step string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		ctx, cancel := context.WithTimeout(bctx, 30*time.Second)
		defer cancel()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v (browser: %q)", step, err, blog.take())
		}
	}
}

// TestMapPageInBrowser drives /map and the OGC API HTML pages in headless
// Chromium over real photos and documents.
func TestMapPageInBrowser(t *testing.T) {
	bin := chromium(t)
	assets := mapAssets(t)
	db := pgtest.New(t)
	ctx := context.Background()
	// The base map draws Natural Earth's countries; photos get their
	// country from the same table.
	if err := ingest.LoadPlaces(ctx, db.Pool, []string{"Countries110"}); err != nil {
		t.Fatal(err)
	}
	key := writeKey(t, db.Pool)
	s := startServer(t, db.Pool, key, app.Options{Map: web.Options{Assets: assets}})
	for _, name := range seeded {
		s.uploadPhoto(name)
	}
	var located int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM photos WHERE geom IS NOT NULL`).Scan(&located); err != nil {
		t.Fatal(err)
	}
	if located < 10 {
		t.Fatalf("only %d seeded photos have a position", located)
	}
	var apple int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM photos WHERE geom IS NOT NULL AND camera_make = 'Apple'`).Scan(&apple); err != nil {
		t.Fatal(err)
	}
	// Documents with a line, a polygon and a point.
	if code, m := s.do("POST", "/collections", map[string]any{"name": "trails", "title": "Trails"}); code != 201 {
		t.Fatalf("create collection: %d %v", code, m)
	}
	for _, f := range []string{
		`{"type":"Feature","geometry":{"type":"LineString","coordinates":[[7.0,46.0],[7.5,46.3],[8.1,46.2]]},"properties":{"title":"Ridge walk","km":21.5,"open":true,"tags":["alpine","summer"]}}`,
		`{"type":"Feature","geometry":{"type":"Polygon","coordinates":[[[8.3,46.4],[8.9,46.4],[8.9,46.8],[8.3,46.8],[8.3,46.4]]]},"properties":{"title":"Nature park","area_km2":1200,"operator":{"name":"Canton"}}}`,
		`{"type":"Feature","geometry":{"type":"Point","coordinates":[7.75,46.02]},"properties":{"title":"Hut","beds":48,"open":false}}`,
	} {
		req, _ := http.NewRequest("POST", s.url+"/collections/trails/items", strings.NewReader(f))
		req.Header.Set("Content-Type", "application/geo+json")
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 201 {
			t.Fatalf("post item: %d %s", resp.StatusCode, b)
		}
	}

	dir := artifactDir(t)
	bctx, blog := newBrowser(t, bin)
	var total, inView, n float64
	run := stepper(t, bctx, blog)

	// 1. The page opens on the photos' extent with clusters whose counts
	// add up to every located photo.
	run("open /map",
		chromedp.Navigate(s.url+"/map"),
		waitIdle(".marker"),
		eval(markerSum, &inView),
		eval(`Number(document.body.dataset.total)`, &total),
		screenshot(t, dir, "1-clusters"))
	if int(inView) != located || int(total) != located {
		t.Errorf("first view: markers count %v (status %v), want the %d located photos", inView, total, located)
	}
	run("clusters at low zoom", eval(`document.querySelectorAll('.marker.cluster').length`, &n))
	if n == 0 {
		t.Error("first view: no cluster marker")
	}

	// 2. A link with a view zooms in: single photos (Stockholm).
	run("zoom in",
		js(`location.hash = '#c=photos&z=15&ll=59.33255,18.06494'`),
		waitIdle(".marker.single"),
		screenshot(t, dir, "2-single"))

	// 3. A click opens the popup with the thumbnail, time, camera and place.
	var popupText string
	run("popup",
		chromedp.Click(chromedp.CSS(".marker.single")),
		waitTrue(`(() => { const i = document.querySelector('.maplibregl-popup img.thumb'); return !!i && i.complete && i.naturalWidth > 0; })()`),
		text(".maplibregl-popup .card", &popupText),
		screenshot(t, dir, "3-popup"))
	for _, want := range []string{"Apple iPhone 4S", "2014-09-01", "Sweden"} {
		if !strings.Contains(popupText, want) {
			t.Errorf("popup %q lacks %q", popupText, want)
		}
	}
	run("details panel",
		chromedp.Click(chromedp.CSS(".maplibregl-popup button.link")),
		chromedp.WaitVisible(chromedp.CSS("#panel a[href$='/original']")),
		screenshot(t, dir, "4-details"),
		chromedp.KeyEvent(kb.Escape))

	// 4. A search narrows the markers to its hits (and fits the map to them).
	run("search",
		chromedp.SetValue(chromedp.CSS("#q"), "Apple"),
		chromedp.Click(chromedp.CSS("#search button[type=submit]")),
		waitTrue(`location.hash.includes('q=Apple') && document.body.dataset.state === 'idle'`),
		waitIdle(".marker"),
		eval(markerSum, &inView),
		screenshot(t, dir, "5-search"))
	if int(inView) != apple || apple == 0 || apple >= located {
		t.Errorf("search Apple: markers count %v, want the %d located Apple photos of %d", inView, apple, located)
	}
	// Fitting the map to the hits is not a move of the user's: no offer to
	// search the area yet; after a pan there is.
	var areaShown float64
	run("no area offer", eval(`document.getElementById('area').hidden ? 0 : 1`, &areaShown))
	if areaShown != 0 {
		t.Error("'Search this area' is offered right after a search")
	}
	run("area offer after a move",
		js(`document.querySelector('#map canvas').focus()`),
		chromedp.KeyEvent(kb.ArrowLeft),
		waitTrue(`!document.getElementById('area').hidden`))

	// The date range narrows it further (the photos' periods are the
	// instants they were taken).
	var appleEarly int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM photos WHERE geom IS NOT NULL AND camera_make = 'Apple'
		AND taken_at >= '2011-01-01' AND taken_at < '2015-01-01'`).Scan(&appleEarly); err != nil {
		t.Fatal(err)
	}
	run("date range",
		chromedp.SetValue(chromedp.CSS("#from"), "2011-01-01"),
		chromedp.SetValue(chromedp.CSS("#to"), "2014-12-31"),
		chromedp.Click(chromedp.CSS("#search button[type=submit]")),
		waitTrue(`location.hash.includes('from=2011-01-01') && location.hash.includes('to=2014-12-31') && document.body.dataset.state === 'idle'`),
		waitIdle(".marker"),
		eval(markerSum, &inView),
		screenshot(t, dir, "5b-dates"))
	if int(inView) != appleEarly || appleEarly == 0 || appleEarly >= apple {
		t.Errorf("search Apple 2011-2014: markers count %v, want %d of the %d Apple photos", inView, appleEarly, apple)
	}

	// 5. Uploading through the file input adds a marker without a reload.
	run("upload",
		chromedp.Click(chromedp.CSS("#clear")),
		waitTrue(`!location.hash.includes('q=') && document.body.dataset.state === 'idle'`),
		js(`location.hash = '#c=photos&z=1.5&ll=30,0'`),
		waitIdle(".marker"),
		chromedp.Click(chromedp.CSS("#upload-toggle")),
		chromedp.SetValue(chromedp.CSS("#key"), key),
		chromedp.Click(chromedp.CSS("#key-form button")),
		chromedp.SetUploadFiles(chromedp.CSS("#files"), []string{filepath.Join(testPhotos(t), heldBack)}),
		waitTrue(`document.querySelector('#uploads .note.ok') !== null && document.body.dataset.state === 'idle'`),
		waitTrue(markerSum+` === `+fmt.Sprint(located+1)),
		screenshot(t, dir, "6-uploaded"))
	var stored float64
	run("session key", eval(`sessionStorage.getItem('geoseek.key') === null ? 0 : 1`, &stored))
	if stored != 1 {
		t.Error("the API key was not kept in sessionStorage")
	}

	// 6. Another collection: lines, polygons and points, on /map and on
	// its items page with its typed properties.
	run("trails on the map",
		chromedp.Navigate(s.url+"/map#c=trails&z=8&ll=46.3,7.9"),
		waitIdle(".marker"),
		eval(markerSum, &inView),
		screenshot(t, dir, "7-trails"))
	if inView != 3 {
		t.Errorf("trails: markers count %v, want 3", inView)
	}
	// A link's clusters are asked for by the page's head, before its
	// module runs, in a single request for the view; what that
	// request holds beyond the map (the bar's height) is not drawn.
	var early, clusterReqs float64
	run("first request from a link",
		chromedp.Navigate("about:blank"), // a new page, not a move of the last one
		chromedp.Navigate(s.url+"/map#c=photos&z=1&ll=20,0"),
		waitIdle(".marker"),
		eval(markerSum, &inView),
		eval(`Number(document.body.dataset.total)`, &total),
		eval(`performance.getEntriesByType('resource').filter((e) => e.name.includes('/clusters?')).length`, &clusterReqs),
		eval(`(() => {
  const c = performance.getEntriesByType('resource').find((e) => e.name.includes('/clusters?'));
  return c && c.startTime < Number(document.body.dataset.scriptStart) ? 1 : 0;
})()`, &early))
	if int(inView) != located+1 || int(total) != located+1 || clusterReqs != 1 || early != 1 {
		t.Errorf("first request from a link: markers count %v, status %v (want the %d located photos and the upload), %v cluster requests (want 1), sent before the module ran: %v",
			inView, total, located, clusterReqs, early == 1)
	}
	var rows float64
	var cells string
	run("items page",
		chromedp.Navigate(s.url+"/collections/trails/items?f=html"),
		waitTrue(`!!document.body && document.body.dataset.state === 'idle' && document.body.dataset.total === '3'`),
		eval(`document.querySelectorAll('tbody tr').length`, &rows),
		text("table", &cells),
		screenshot(t, dir, "8-items"))
	if rows != 3 || !strings.Contains(cells, "21.5") || !strings.Contains(cells, "summer") {
		t.Errorf("items page: %v rows, table %q", rows, cells)
	}
	run("item page",
		chromedp.Navigate(s.url+"/collections/trails/items?f=html"),
		chromedp.Click(chromedp.CSS("tbody tr a")),
		waitTrue(`!!document.body && document.body.dataset.state === 'idle' && document.body.dataset.total === '1'`),
		screenshot(t, dir, "9-item"))

	// 7. Phone width.
	run("phone",
		chromedp.EmulateViewport(390, 844),
		chromedp.Navigate(s.url+"/map"),
		waitIdle(".marker"),
		screenshot(t, dir, "10-phone"))

	for _, p := range blog.take() {
		t.Errorf("browser: %s", p)
	}
}

// TestMapPageWithKeyedReads: on a server whose reads need an API key, /map
// asks for one (the key form open and focused, a sentence saying why)
// instead of showing an error, draws the view once a key is kept, shows the
// popup's thumbnail, and saves the original through the key (a link alone
// cannot send it).
func TestMapPageWithKeyedReads(t *testing.T) {
	bin := chromium(t)
	assets := mapAssets(t)
	db := pgtest.New(t)
	key := writeKey(t, db.Pool)
	s := startServer(t, db.Pool, key, app.Options{RequireKeyForReads: true, Map: web.Options{Assets: assets}})
	const photo = "goexif__has-lens-info.jpg" // Stockholm
	s.uploadPhoto(photo)
	s.uploadPhoto("exiftool__GoPro.jpg")
	want, err := os.ReadFile(filepath.Join(testPhotos(t), photo))
	if err != nil {
		t.Fatal(err)
	}

	dir := artifactDir(t)
	downloads := t.TempDir()
	bctx, blog := newBrowser(t, bin)
	if _, err := chromedp.CallBrowser(bctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: downloads}); err != nil {
		t.Fatal(err)
	}
	run := stepper(t, bctx, blog)
	var status string
	run("open /map without a key",
		chromedp.Navigate(s.url+"/map#c=photos&z=15&ll=59.33255,18.06494"),
		waitTrue(`!!document.body && document.body.dataset.state === 'idle' && !document.getElementById('upload').hidden && document.activeElement === document.getElementById('key')`),
		text("#status", &status),
		screenshot(t, dir, "1-asks-for-a-key"))
	if !strings.Contains(status, "API key") || strings.Contains(status, "Bearer") {
		t.Errorf("status without a key: %q (want a sentence for a person asking for an API key)", status)
	}
	var inView float64
	run("key kept",
		chromedp.SetValue(chromedp.CSS("#key"), key),
		chromedp.Click(chromedp.CSS("#key-form button")),
		waitIdle(".marker.single"),
		eval(markerSum, &inView),
		screenshot(t, dir, "2-view-with-the-key"))
	if inView != 1 {
		t.Errorf("with the key: markers count %v, want the Stockholm photo", inView)
	}
	run("popup and details",
		chromedp.Click(chromedp.CSS(".marker.single")),
		waitTrue(`(() => { const i = document.querySelector('.maplibregl-popup img.thumb'); return !!i && i.complete && i.naturalWidth > 0; })()`),
		chromedp.Click(chromedp.CSS(".maplibregl-popup button.link")),
		chromedp.WaitVisible(chromedp.CSS("#panel a.original")),
		chromedp.Click(chromedp.CSS("#panel a.original")),
		screenshot(t, dir, "3-details"))
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := os.ReadFile(filepath.Join(downloads, photo))
		if err == nil && bytes.Equal(got, want) {
			break
		}
		if time.Now().After(deadline) {
			entries, _ := os.ReadDir(downloads)
			t.Fatalf("the original was not saved as %s with its bytes (read: %v; downloads: %v)", photo, err, entries)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, p := range blog.take() {
		// The refused reads before the key was kept are the point of the test.
		if strings.Contains(p, "status of 401") {
			continue
		}
		t.Errorf("browser: %s", p)
	}
}
