package embed

import (
	"context"
	"math"
	"strings"
	"testing"
)

func cosine(a, b []float32) float64 {
	var dot, na, nb float64
	for i := range a {
		dot += float64(a[i]) * float64(b[i])
		na += float64(a[i]) * float64(a[i])
		nb += float64(b[i]) * float64(b[i])
	}
	return dot / math.Sqrt(na*nb)
}

func mustOffline(t testing.TB, dim int, lang string) *Offline {
	t.Helper()
	o, err := NewOffline(dim, lang)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func embedOne(t testing.TB, e Embedder, s string) []float32 {
	t.Helper()
	v, err := e.Embed(context.Background(), []string{s})
	if err != nil {
		t.Fatal(err)
	}
	return v[0]
}

func TestOfflineDeterministicAndNormalized(t *testing.T) {
	t.Parallel()
	o := mustOffline(t, DefaultDim, "english")
	texts := []string{"The quick brown fox", "Straße in München", "日本語のテキスト", "42", "a"}
	a, err := o.Embed(context.Background(), texts)
	if err != nil {
		t.Fatal(err)
	}
	b, err := mustOffline(t, DefaultDim, "english").Embed(context.Background(), texts)
	if err != nil {
		t.Fatal(err)
	}
	for i := range texts {
		if len(a[i]) != DefaultDim {
			t.Fatalf("%q: dim %d", texts[i], len(a[i]))
		}
		for j := range a[i] {
			if a[i][j] != b[i][j] {
				t.Fatalf("%q: not deterministic at %d", texts[i], j)
			}
		}
		var n float64
		for _, x := range a[i] {
			n += float64(x) * float64(x)
		}
		if math.Abs(n-1) > 1e-5 {
			t.Errorf("%q: squared norm %v, want 1", texts[i], n)
		}
	}
}

func TestOfflineLexicalSimilarity(t *testing.T) {
	t.Parallel()
	o := mustOffline(t, DefaultDim, "english")
	cases := []struct{ q, near, far string }{
		{"running shoes for women", "Women's running shoe", "relational database server"},
		{"postgresql database", "PostgreSQL databases and tools", "image manipulation program"},
		{"colour", "colours of the rainbow", "network daemon"},
		// sub-word: a misspelling still shares most n-grams.
		{"libary for images", "library for image processing", "text editor"},
	}
	for _, c := range cases {
		q := embedOne(t, o, c.q)
		near, far := cosine(q, embedOne(t, o, c.near)), cosine(q, embedOne(t, o, c.far))
		if near <= far || near < 0.3 {
			t.Errorf("%q: near %q = %.3f, far %q = %.3f", c.q, c.near, near, c.far, far)
		}
	}
}

func TestOfflineNormalization(t *testing.T) {
	t.Parallel()
	o := mustOffline(t, 64, "french")
	same := [][2]string{
		{"Crème brûlée", "creme brulee"},
		{"ＦＵＬＬ　ｗｉｄｔｈ", "full width"}, // NFKC
		{"Hello, World!", "hello world"},
		{"des chats", "chat"}, // stop word dropped, plural stemmed
	}
	for _, p := range same {
		a, b := embedOne(t, o, p[0]), embedOne(t, o, p[1])
		if c := cosine(a, b); c < 0.9999 {
			t.Errorf("%q vs %q: cosine %.4f, want 1", p[0], p[1], c)
		}
	}
	if v := embedOne(t, o, " ,.;!? "); !IsZero(v) {
		t.Error("punctuation only: want the zero vector")
	}
	if v := embedOne(t, mustOffline(t, 64, "english"), "to be or not to be"); IsZero(v) {
		t.Error("stop words only: want a non-zero vector")
	}
}

func TestOfflineLanguages(t *testing.T) {
	t.Parallel()
	// "simple" has no stemmer: inflections differ more than with english.
	simple, eng := mustOffline(t, DefaultDim, "simple"), mustOffline(t, DefaultDim, "english")
	cs := cosine(embedOne(t, simple, "connection"), embedOne(t, simple, "connected"))
	ce := cosine(embedOne(t, eng, "connection"), embedOne(t, eng, "connected"))
	if ce <= cs {
		t.Errorf("stemming should bring inflections closer: english %.3f, simple %.3f", ce, cs)
	}
	if _, err := NewOffline(0, "english"); err == nil {
		t.Error("dim 0 accepted")
	}
	if _, err := NewOffline(MaxDim+1, "english"); err == nil {
		t.Error("dim > MaxDim accepted")
	}
}

func TestOfflineContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := mustOffline(t, 8, "").Embed(ctx, []string{"x"}); err == nil {
		t.Error("cancelled context: want an error")
	}
	if v, err := mustOffline(t, 8, "").Embed(context.Background(), nil); err != nil || len(v) != 0 {
		t.Errorf("empty batch: %v, %v", v, err)
	}
}

func FuzzOffline(f *testing.F) {
	for _, s := range []string{"", "hello world", "Crème brûlée", "日本語", "a\u0301", strings.Repeat("x", 200), "\xff\xfe", "ǅemal ﬁ"} {
		f.Add(s)
	}
	o := mustOffline(f, 32, "english")
	f.Fuzz(func(t *testing.T, s string) {
		v := embedOne(t, o, s)
		w := embedOne(t, o, s)
		var n float64
		for i, x := range v {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				t.Fatalf("non-finite element %d", i)
			}
			if x != w[i] {
				t.Fatal("not deterministic")
			}
			n += float64(x) * float64(x)
		}
		if !IsZero(v) && math.Abs(n-1) > 1e-4 {
			t.Fatalf("squared norm %v", n)
		}
	})
}

// A Debian-like package description: the offline embedder's typical input.
const benchText = `libpq5 - PostgreSQL C client library
libpq is a C library that enables user programs to communicate with the
PostgreSQL object-relational database server. The server can be on another
machine and accessed through TCP/IP. This version of libpq is compatible with
servers from PostgreSQL 8.2 or later.`

func BenchmarkOffline(b *testing.B) {
	o := mustOffline(b, DefaultDim, "english")
	v := make([]float32, DefaultDim)
	b.SetBytes(int64(len(benchText)))
	b.ReportAllocs()
	for b.Loop() {
		o.EmbedInto(benchText, v)
	}
}

func BenchmarkOfflineBatch64(b *testing.B) {
	o := mustOffline(b, DefaultDim, "english")
	texts := make([]string, 64)
	for i := range texts {
		texts[i] = benchText
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := o.Embed(context.Background(), texts); err != nil {
			b.Fatal(err)
		}
	}
}
