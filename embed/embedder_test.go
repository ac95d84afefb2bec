package embed

import (
	"errors"
	"math"
	"testing"

	"github.com/geoseek/geoseek/internal/problem"
)

func TestValidate(t *testing.T) {
	t.Parallel()
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	bad := map[string][]float32{
		"short":    {1, 2},
		"long":     {1, 2, 3, 4},
		"nan":      {1, nan, 0},
		"inf":      {inf, 0, 0},
		"zero":     {0, 0, 0},
		"overflow": {3e38, 3e38, 3e38},
	}
	for name, v := range bad {
		var ve *problem.ValidationError
		if err := Validate("vector", v, 3); !errors.As(err, &ve) || ve.Field != "vector" {
			t.Errorf("%s: want a ValidationError on vector, got %v", name, err)
		}
	}
	if err := Validate("vector", []float32{0.1, -2, 3}, 3); err != nil {
		t.Errorf("valid vector: %v", err)
	}
}

func TestSet(t *testing.T) {
	t.Parallel()
	s, err := NewSet(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if d := s.Default(); d.Embedder != KindOffline || d.Dim != DefaultDim {
		t.Errorf("default spec %+v", d)
	}
	e, err := s.For(Spec{Embedder: KindOffline, Dim: 32, Lang: "english"})
	if err != nil || e.Dim() != 32 || e.Model() != OfflineModel {
		t.Fatalf("offline: %v %v", e, err)
	}
	if e2, _ := s.For(Spec{Embedder: KindOffline, Dim: 32, Lang: "english", Model: "ignored"}); e2 != e {
		t.Error("the same spec should share one embedder")
	}
	var ve *problem.ValidationError
	if _, err := s.For(Spec{Embedder: KindNone, Dim: 32}); !errors.Is(err, ErrNoEmbedder) || !errors.As(err, &ve) {
		t.Errorf("none: %v", err)
	}
	if _, err := s.For(Spec{Embedder: KindOffline}); !errors.Is(err, ErrNoEmbedder) {
		t.Errorf("no dim: %v", err)
	}
	if _, err := s.For(Spec{Embedder: KindOpenAI, Dim: 8}); !errors.Is(err, problem.ErrUnavailable) {
		t.Errorf("openai unconfigured: %v", err)
	}
	if err := s.CheckSpec(Spec{Embedder: "bogus", Dim: 3}); !errors.As(err, &ve) {
		t.Errorf("bogus embedder accepted: %v", err)
	}
	if err := s.CheckSpec(Spec{Embedder: KindOpenAI, Dim: 3}); !errors.As(err, &ve) {
		t.Errorf("openai unconfigured accepted: %v", err)
	}
	if _, err := NewSet(Config{Default: KindOpenAI}); err == nil {
		t.Error("default openai without URL accepted")
	}
	if _, err := NewSet(Config{Default: "word2vec"}); err == nil {
		t.Error("unknown default accepted")
	}

	s2, err := NewSet(Config{Default: KindOpenAI, OpenAI: OpenAIConfig{BaseURL: "http://127.0.0.1:9/v1", Model: "nomic-embed-text", Dim: 768}})
	if err != nil {
		t.Fatal(err)
	}
	if d := s2.Default(); d.Embedder != KindOpenAI || d.Dim != 768 || d.Model != "nomic-embed-text" {
		t.Errorf("default spec %+v", d)
	}
	e3, err := s2.For(Spec{Embedder: KindOpenAI, Model: "other", Dim: 256})
	if err != nil || e3.Model() != "other" || e3.Dim() != 256 {
		t.Errorf("openai per-collection model: %v %v", e3, err)
	}
}
