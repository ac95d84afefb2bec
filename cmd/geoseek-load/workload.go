package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"math"
	mrand "math/rand/v2"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The seeded area (greater Berlin).
const (
	minLon, maxLon = 13.0, 13.8
	minLat, maxLat = 52.3, 52.7
	collection     = "load"
)

// vocabulary is the words documents are made of.
func vocabulary() []string {
	return strings.Fields(`harbour bridge river tower market station garden museum church castle
	lake forest street square palace theatre library school bakery brewery canal island
	mill factory gallery park stadium airport harbourside old new north south east west`)
}

// workload is the clients' shared, read-only set-up.
type workload struct {
	base      string
	keys      []string
	words     []string
	photos    [][]byte
	uploadPct int
	client    *http.Client
}

func newWorkload(base string, keys []string, o options) (*workload, error) {
	w := &workload{base: base, keys: keys, uploadPct: o.uploadPct, words: vocabulary(),
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: len(keys) + 8}}}
	files, _ := filepath.Glob(filepath.Join(o.photos, "*.jpg"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		w.photos = append(w.photos, b)
	}
	if len(w.photos) == 0 && o.uploadPct > 0 {
		return nil, fmt.Errorf("no .jpg photos in %s (-photos)", o.photos)
	}
	return w, nil
}

// seed creates the collection and its documents unless they exist.
func (w *workload) seed(ctx context.Context, docs int) error {
	resp, err := w.do(ctx, w.keys[0], "GET", "/collections/"+collection, "", nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode == 200 {
		return nil
	}
	if err := w.expect(ctx, 201, "POST", "/collections", "application/json", strings.NewReader(`{"name":"`+collection+`"}`)); err != nil {
		return err
	}
	r := mrand.New(mrand.NewPCG(1, 2))
	for start := 0; start < docs; start += 5000 {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		for i := start; i < min(docs, start+5000); i++ {
			_ = enc.Encode(map[string]any{
				"external_id": fmt.Sprint(i),
				"title":       w.phrase(r, 3),
				"body":        w.phrase(r, 20),
				"tags":        []string{w.words[r.IntN(len(w.words))]},
				"geometry":    map[string]any{"type": "Point", "coordinates": []float64{minLon + r.Float64()*(maxLon-minLon), minLat + r.Float64()*(maxLat-minLat)}},
			})
		}
		if err := w.expect(ctx, 200, "POST", "/collections/"+collection+"/documents/bulk", "application/x-ndjson", &buf); err != nil {
			return err
		}
	}
	return nil
}

func (w *workload) phrase(r *mrand.Rand, n int) string {
	p := make([]string, n)
	for i := range p {
		p[i] = w.words[r.IntN(len(w.words))]
	}
	return strings.Join(p, " ")
}

func (w *workload) expect(ctx context.Context, status int, method, path, ct string, body io.Reader) error {
	resp, err := w.do(ctx, w.keys[0], method, path, ct, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != status {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	return nil
}

func (w *workload) do(ctx context.Context, key, method, path, ct string, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, w.base+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	return w.client.Do(req)
}

// request picks the next request of a client: a family and its call.
func (w *workload) request(r *mrand.Rand) (family, method, path, ct string, body io.Reader) {
	p := r.IntN(100)
	switch {
	case p < w.uploadPct:
		ct, body := w.upload(r)
		return "upload", "POST", "/photos", ct, body
	case p < w.uploadPct+(100-w.uploadPct)*40/100:
		return "search", "GET", "/search?collection=" + collection + "&limit=20&q=" + w.words[r.IntN(len(w.words))] + "+" + w.words[r.IntN(len(w.words))], "", nil
	case p < w.uploadPct+(100-w.uploadPct)*70/100:
		lon, lat := minLon+r.Float64()*(maxLon-minLon-0.05), minLat+r.Float64()*(maxLat-minLat-0.03)
		return "items", "GET", fmt.Sprintf("/collections/%s/items?limit=50&bbox=%.4f,%.4f,%.4f,%.4f", collection, lon, lat, lon+0.05, lat+0.03), "", nil
	default:
		z := 9 + r.IntN(6)
		x, y := tileOf(minLon+r.Float64()*(maxLon-minLon), minLat+r.Float64()*(maxLat-minLat), z)
		return "tiles", "GET", fmt.Sprintf("/tiles/%s/%d/%d/%d.mvt", collection, z, x, y), "", nil
	}
}

// upload is a multipart body of one test photo made unique by bytes after
// its end (JPEG readers stop at the end-of-image marker), so every upload
// stores a new photo instead of finding the same one.
func (w *workload) upload(r *mrand.Rand) (string, io.Reader) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	part, _ := mw.CreateFormFile("file", "load.jpg")
	part.Write(w.photos[r.IntN(len(w.photos))])
	var tail [16]byte
	rand.Read(tail[:])
	part.Write(tail[:])
	mw.Close()
	return mw.FormDataContentType(), &buf
}

func tileOf(lon, lat float64, z int) (int, int) {
	n := math.Exp2(float64(z))
	x := int((lon + 180) / 360 * n)
	rad := lat * math.Pi / 180
	y := int((1 - math.Log(math.Tan(rad)+1/math.Cos(rad))/math.Pi) / 2 * n)
	return x, y
}

// phase runs n clients for d.
func (w *workload) phase(ctx context.Context, n int, d time.Duration) *report {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	rep := newReport(n, d)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec := newRecorder()
			r := mrand.New(mrand.NewPCG(uint64(i), uint64(time.Now().UnixNano())))
			for ctx.Err() == nil {
				w.one(ctx, r, w.keys[i], rec)
			}
			rep.merge(rec)
		}()
	}
	wg.Wait()
	return rep
}

// one sends one request and records its outcome.
func (w *workload) one(ctx context.Context, r *mrand.Rand, key string, rec *recorder) {
	family, method, path, ct, body := w.request(r)
	t0 := time.Now()
	// Each request gets its own bound; the phase's end only stops new ones.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	resp, err := w.do(rctx, key, method, path, ct, body)
	if err != nil {
		rec.fail(family, err)
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	retry := resp.Header.Get("Retry-After")
	rec.add(family, resp.StatusCode, retry != "", time.Since(t0))
	// A well-behaved client waits as told before it asks again.
	if s, err := strconv.Atoi(retry); err == nil && (resp.StatusCode == 503 || resp.StatusCode == 429) {
		t := time.NewTimer(time.Duration(s) * time.Second)
		defer t.Stop()
		select {
		case <-ctx.Done():
		case <-t.C:
		}
	}
}
