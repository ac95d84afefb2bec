package search

import (
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"
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
