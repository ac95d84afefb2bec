package search

import (
	"encoding/json"
	"math/rand/v2"
	"net/url"
	"reflect"
	"testing"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// semanticBody is a POST /search body as a semantic client sends it: a
// 384-d query vector, a limit and a tag filter.
func semanticBody(tb testing.TB) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	v := make([]float32, 384)
	for i := range v {
		v[i] = float32(r.NormFloat64() / 20)
	}
	b, err := json.Marshal(map[string]any{"collection": "bench_vectors", "mode": "semantic", "vector": v, "limit": 10,
		"highlight": false, "filter": map[string]any{"tags": map[string]any{"all": []string{"s01"}}}})
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// semanticResult is a page of 10 hits as semantic mode returns them.
func semanticResult() *Result {
	res := &Result{Collection: "bench_vectors", Mode: ModeSemantic, NextCursor: "eyJoIjoiYWJjIiwiayI6bnVsbCwiaSI6NDIsInMiOjEwfQ.c2lnbmF0dXJl"}
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	for i := range 10 {
		ext := "v" + string(rune('0'+i))
		score := 0.8 - float64(i)/100
		res.Hits = append(res.Hits, Hit{
			ID: int64(1000 + i), ExternalID: &ext, Title: "GNU Image Manipulation Program & friends", Lang: "english",
			Score: &score, Tags: []string{"s1", "s10"}, Props: json.RawMessage(`{"section":"graphics","n":12}`),
			Geometry: json.RawMessage(`{"type":"Point","coordinates":[13.405,52.52]}`), CreatedAt: now, UpdatedAt: now,
		})
	}
	return res
}

func BenchmarkParseBodySemantic(b *testing.B) {
	body := semanticBody(b)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := ParseBody(body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseValues parses a GET /search query string with text,
// simple filters of several kinds, facets and a sort.
func BenchmarkParseValues(b *testing.B) {
	v, err := url.ParseQuery("collection=pkgs&q=image+editor&limit=20&sort=-created&tags=graphics,gtk" +
		"&prop=specs.memory+>%3D+16&bbox=5,45,15,55&created=2024-01-01/..&facets=tags,props.section&highlight=false")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseValues(v); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkResultJSON(b *testing.B) {
	res := semanticResult()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal(res); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkQueryHash(b *testing.B) {
	q, err := ParseBody(semanticBody(b))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = q.hash()
	}
}

// FuzzDecodeBody: json/v2, decodeBody's fast path, accepts no body that
// encoding/json (its fallback, the decoder of record) refuses, and decodes
// every body it accepts as encoding/json does.
func FuzzDecodeBody(f *testing.F) {
	f.Add(semanticBody(f))
	for _, s := range []string{
		`{"collection":"c","q":"x","limit":5,"facets":{"tags":true,"props":["a.b"],"limit":3}}`,
		`{"collection":"c","mode":"hybrid","q":"x","semantic_ratio":0.5,"point":[1,2],"sort":"-date"}`,
		`{"collection":"c","COLLECTION":"d"}`, `{"collection":"c","collection":"d"}`, `{"limit":1e2}`,
		`{"q":"\ud800"}`, `{"vector":[1,2,3]} `, `{"vector":[1,2,3]}]`, `{"filter":null,"vector":null}`,
		`{"explain":null,"prefix":false,"highlight":true,"f":"geojson","min_similarity":0.2,"ef_search":80}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var fast Body
		if jsonv2.Unmarshal(data, &fast, jsonv2.RejectUnknownMembers(true)) != nil {
			return
		}
		var std Body
		if err := decodeStrict(data, &std); err != nil {
			t.Fatalf("json/v2 accepts %q, encoding/json refuses it: %v", data, err)
		}
		// Raw members may differ in insignificant white space only.
		for _, raw := range []*jsontext.Value{&fast.Filter, &fast.Vector, &std.Filter, &std.Vector} {
			if len(*raw) > 0 {
				_ = raw.Compact()
			}
		}
		if !reflect.DeepEqual(fast, std) {
			t.Fatalf("%q: json/v2 decodes %+v, encoding/json %+v", data, fast, std)
		}
	})
}
