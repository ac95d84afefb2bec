package search_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/geoseek/geoseek/document"
	"github.com/geoseek/geoseek/geo"
	"github.com/twpayne/go-geom"

	"github.com/geoseek/geoseek/search"
)

// TestMeasureSearchGeoJSON measures what GeoJSON answers add to a search
// (the Features query and the assembly) on 2,000 documents; it runs only
// with GEOSEEK_MEASURE=1 (numbers in docs/performance.md):
//
//	GEOSEEK_MEASURE=1 go test -count=1 -v -run TestMeasureSearchGeoJSON ./search/
func TestMeasureSearchGeoJSON(t *testing.T) {
	if os.Getenv("GEOSEEK_MEASURE") == "" {
		t.Skip("SKIP: a measurement, not a test: set GEOSEEK_MEASURE=1 to run it")
	}
	b := setup(t, search.Config{})
	ctx := context.Background()
	for i := 0; i < 2000; i++ {
		d := document.Doc{Collection: "t", Title: fmt.Sprintf("harbour photo %d", i), Body: "boats in the harbour at dawn",
			Tags: []string{"sea"}, Props: map[string]any{"iso": i, "camera": "X100V"},
			Geometry: geom.NewPointFlat(geom.XY, []float64{13 + float64(i)/1e4, 52})}
		_, err := document.Insert(ctx, b.db.Pool, &d)
		if err != nil {
			t.Fatal(err)
		}
	}
	srv, _ := serve(t, b)
	{
		gs := geo.NewService(b.db.Pool, nil, geo.Options{})
		q, _ := search.ParseBody([]byte(`{"collection":"t","q":"harbour","limit":100}`))
		res, err := b.svc.Search(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		ids := []int64{}
		for _, h := range res.Hits {
			ids = append(ids, h.ID)
		}
		for r := 0; r < 3; r++ {
			var tf, tg, ts time.Duration
			for i := 0; i < 200; i++ {
				s0 := time.Now()
				if _, err := b.svc.Search(ctx, q); err != nil {
					t.Fatal(err)
				}
				s1 := time.Now()
				feats, err := gs.Features(ctx, "t", ids)
				if err != nil {
					t.Fatal(err)
				}
				s2 := time.Now()
				if _, err := res.GeoJSON(feats); err != nil {
					t.Fatal(err)
				}
				s3 := time.Now()
				ts += s1.Sub(s0)
				tf += s2.Sub(s1)
				tg += s3.Sub(s2)
			}
			t.Logf("100 hits: search %v, features %v, assemble %v (mean)", ts/200, tf/200, tg/200)
		}
	}
	for _, lim := range []int{20, 100} {
		for _, f := range []string{"json", "geojson", "json", "geojson"} {
			var ds []time.Duration
			for i := 0; i < 300; i++ {
				start := time.Now()
				resp, err := http.Post(srv.URL+"/search?f="+f, "application/json", strings.NewReader(fmt.Sprintf(`{"collection":"t","q":"harbour","limit":%d}`, lim)))
				if err != nil {
					t.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				ds = append(ds, time.Since(start))
			}
			sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
			t.Logf("limit %d f=%s p50 %v p90 %v", lim, f, ds[len(ds)/2], ds[len(ds)*9/10])
		}
	}
}
