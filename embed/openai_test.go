package embed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/geoseek/geoseek/internal/problem"
)

// fakeServer speaks the OpenAI embeddings wire format. Its vectors are the
// offline embedder's, so answers can be checked; it answers data in reverse
// order, as the index field allows.
type fakeServer struct {
	t        *testing.T
	dim      int
	requests atomic.Int32
	inFlight atomic.Int32
	maxIn    atomic.Int32
	mu       sync.Mutex
	batches  []int
	// fail, when set, may answer a request itself (returns true).
	fail func(w http.ResponseWriter, n int32) bool
	// answerDim overrides the dimension answered.
	answerDim int
	lastReq   embedRequest
	lastAuth  string
}

func (f *fakeServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := f.requests.Add(1)
	in := f.inFlight.Add(1)
	defer f.inFlight.Add(-1)
	for {
		m := f.maxIn.Load()
		if in <= m || f.maxIn.CompareAndSwap(m, in) {
			break
		}
	}
	if r.Method != http.MethodPost || r.URL.Path != "/v1/embeddings" {
		http.Error(w, `{"error":{"message":"not found"}}`, http.StatusNotFound)
		return
	}
	if f.fail != nil && f.fail(w, n) {
		return
	}
	var req embedRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, `{"error":"bad json"}`, http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.batches = append(f.batches, len(req.Input))
	f.lastReq, f.lastAuth = req, r.Header.Get("Authorization")
	f.mu.Unlock()
	time.Sleep(2 * time.Millisecond) // let requests overlap
	dim := f.dim
	if f.answerDim != 0 {
		dim = f.answerDim
	}
	o, _ := NewOffline(dim, "english")
	vecs, _ := o.Embed(r.Context(), req.Input)
	type item struct {
		Object    string    `json:"object"`
		Index     int       `json:"index"`
		Embedding []float32 `json:"embedding"`
	}
	var resp struct {
		Object string `json:"object"`
		Data   []item `json:"data"`
		Model  string `json:"model"`
	}
	resp.Object, resp.Model = "list", req.Model
	for i := len(vecs) - 1; i >= 0; i-- {
		resp.Data = append(resp.Data, item{"embedding", i, vecs[i]})
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(resp)
}

func newFake(t *testing.T, dim int) (*fakeServer, *httptest.Server) {
	f := &fakeServer{t: t, dim: dim}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func newClient(t *testing.T, srv *httptest.Server, mod func(*OpenAIConfig)) *OpenAI {
	t.Helper()
	cfg := OpenAIConfig{BaseURL: srv.URL + "/v1/", Model: "test-model", APIKey: "sk-test", Dim: 16, BatchSize: 10, Concurrency: 3, MaxRetries: 3}
	if mod != nil {
		mod(&cfg)
	}
	c, err := NewOpenAI(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.baseBackoff = time.Millisecond
	return c
}

func TestOpenAIBatching(t *testing.T) {
	t.Parallel()
	f, srv := newFake(t, 16)
	c := newClient(t, srv, func(c *OpenAIConfig) { c.SendDimensions = true })
	texts := make([]string, 35)
	for i := range texts {
		texts[i] = fmt.Sprintf("document number %d about topic %d", i, i%3)
	}
	got, err := c.Embed(context.Background(), texts)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := mustOffline(t, 16, "english").Embed(context.Background(), texts)
	for i := range texts {
		for j := range want[i] {
			if got[i][j] != want[i][j] {
				t.Fatalf("text %d: vector differs at %d (order lost?)", i, j)
			}
		}
	}
	if n := f.requests.Load(); n != 4 {
		t.Errorf("requests = %d, want 4 (35 texts in batches of 10)", n)
	}
	for _, b := range f.batches {
		if b > 10 {
			t.Errorf("batch of %d > BatchSize 10", b)
		}
	}
	if m := f.maxIn.Load(); m > 3 {
		t.Errorf("%d requests in flight, Concurrency is 3", m)
	}
	if f.lastAuth != "Bearer sk-test" || f.lastReq.Model != "test-model" || f.lastReq.Dimensions != 16 {
		t.Errorf("request: auth %q model %q dimensions %d", f.lastAuth, f.lastReq.Model, f.lastReq.Dimensions)
	}
	if v, err := c.Embed(context.Background(), nil); err != nil || len(v) != 0 {
		t.Errorf("empty batch: %v %v", v, err)
	}
}

func TestOpenAIRetryAfter429(t *testing.T) {
	t.Parallel()
	f, srv := newFake(t, 16)
	var firstAt, secondAt time.Time
	f.fail = func(w http.ResponseWriter, n int32) bool {
		if n == 1 {
			firstAt = time.Now()
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = w.Write([]byte(`{"error":{"message":"Rate limit reached","type":"requests"}}`))
			return true
		}
		secondAt = time.Now()
		return false
	}
	c := newClient(t, srv, nil)
	if _, err := c.Embed(context.Background(), []string{"hello"}); err != nil {
		t.Fatal(err)
	}
	if f.requests.Load() != 2 {
		t.Fatalf("requests = %d, want 2", f.requests.Load())
	}
	// Not a timing assertion on speed: the client must not retry before the
	// server's Retry-After (a lower bound the client controls).
	if secondAt.Sub(firstAt) < 900*time.Millisecond {
		t.Errorf("retried after %s, before Retry-After: 1", secondAt.Sub(firstAt))
	}
}

func TestOpenAIRetries5xxThenGivesUp(t *testing.T) {
	t.Parallel()
	f, srv := newFake(t, 16)
	f.fail = func(w http.ResponseWriter, n int32) bool {
		if n <= 2 {
			http.Error(w, "upstream overloaded", http.StatusServiceUnavailable)
			return true
		}
		return false
	}
	c := newClient(t, srv, nil)
	if _, err := c.Embed(context.Background(), []string{"a"}); err != nil {
		t.Fatalf("two 503s then success: %v", err)
	}

	f2, srv2 := newFake(t, 16)
	f2.fail = func(w http.ResponseWriter, n int32) bool {
		w.WriteHeader(http.StatusBadGateway)
		return true
	}
	c2 := newClient(t, srv2, func(c *OpenAIConfig) { c.MaxRetries = 2 })
	_, err := c2.Embed(context.Background(), []string{"a"})
	if !errors.Is(err, problem.ErrUnavailable) {
		t.Fatalf("want ErrUnavailable, got %v", err)
	}
	if f2.requests.Load() != 3 {
		t.Errorf("requests = %d, want 1 + 2 retries", f2.requests.Load())
	}
}

func TestOpenAIErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		status   int
		body     string
		header   string
		wantReqs int32
		check    func(error) bool
		wantText string
	}{
		{"bad input is 400", http.StatusBadRequest, `{"error":{"message":"input too long for model"}}`, "", 1,
			func(err error) bool { var ve *problem.ValidationError; return errors.As(err, &ve) }, "input too long"},
		{"bad key is 503", http.StatusUnauthorized, `{"error":{"message":"Incorrect API key"}}`, "", 1,
			func(err error) bool { return errors.Is(err, problem.ErrUnavailable) }, "Incorrect API key"},
		{"tei string error", http.StatusNotFound, `{"error":"model not loaded","error_type":"x"}`, "", 1,
			func(err error) bool { return errors.Is(err, problem.ErrUnavailable) }, "model not loaded"},
		{"retry-after too long", http.StatusTooManyRequests, `slow down`, "3600", 1,
			func(err error) bool { return errors.Is(err, problem.ErrUnavailable) }, "retry after"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f, srv := newFake(t, 16)
			f.fail = func(w http.ResponseWriter, n int32) bool {
				if tc.header != "" {
					w.Header().Set("Retry-After", tc.header)
				}
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
				return true
			}
			_, err := newClient(t, srv, nil).Embed(context.Background(), []string{"x"})
			if err == nil || !tc.check(err) || !strings.Contains(err.Error(), tc.wantText) {
				t.Fatalf("got %v", err)
			}
			if f.requests.Load() != tc.wantReqs {
				t.Errorf("requests = %d, want %d", f.requests.Load(), tc.wantReqs)
			}
		})
	}
}

func TestOpenAIWrongDimension(t *testing.T) {
	t.Parallel()
	f, srv := newFake(t, 16)
	f.answerDim = 8
	_, err := newClient(t, srv, nil).Embed(context.Background(), []string{"a", "b"})
	if !errors.Is(err, problem.ErrUnavailable) || !strings.Contains(err.Error(), "dimensions") {
		t.Fatalf("got %v", err)
	}
	if f.requests.Load() != 1 {
		t.Errorf("a wrong answer is not retried: %d requests", f.requests.Load())
	}
}

func TestOpenAIContext(t *testing.T) {
	t.Parallel()
	f, srv := newFake(t, 16)
	f.fail = func(w http.ResponseWriter, n int32) bool {
		w.WriteHeader(http.StatusServiceUnavailable)
		return true
	}
	c := newClient(t, srv, func(c *OpenAIConfig) { c.MaxRetries = 100 })
	c.baseBackoff = 50 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := c.Embed(ctx, []string{"a"}); err == nil {
		t.Fatal("want an error once the context ends")
	}
}

func TestNewOpenAIValidates(t *testing.T) {
	t.Parallel()
	bad := []OpenAIConfig{
		{BaseURL: "", Model: "m", Dim: 3},
		{BaseURL: "ftp://x/v1", Model: "m", Dim: 3},
		{BaseURL: "http://127.0.0.1:1/v1", Model: "", Dim: 3},
		{BaseURL: "http://127.0.0.1:1/v1", Model: "m", Dim: 0},
	}
	for _, cfg := range bad {
		var ve *problem.ValidationError
		if _, err := NewOpenAI(cfg); !errors.As(err, &ve) {
			t.Errorf("%+v: want a ValidationError, got %v", cfg, err)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	cases := map[string]time.Duration{
		"":                              0,
		"2":                             2 * time.Second,
		"0.5":                           500 * time.Millisecond,
		"-1":                            0,
		"soon":                          0,
		"Fri, 02 Jan 2026 03:04:15 GMT": 10 * time.Second,
		"Fri, 02 Jan 2026 03:04:00 GMT": 0,
	}
	for in, want := range cases {
		if got := parseRetryAfter(in, now); got != want {
			t.Errorf("%q: %s, want %s", in, got, want)
		}
	}
}

func FuzzDecodeAnswer(f *testing.F) {
	f.Add([]byte(`{"data":[{"index":0,"embedding":[1,0]},{"index":1,"embedding":[0,1]}]}`), 2, 2)
	f.Add([]byte(`{"data":[{"index":1,"embedding":[1,0]},{"index":1,"embedding":[0,1]}]}`), 2, 2)
	f.Add([]byte(`{"data":[{"index":0,"embedding":null}]}`), 1, 2)
	f.Add([]byte(`{"data":[{"index":-5,"embedding":[1e40]}]}`), 1, 1)
	f.Add([]byte(`[]`), 0, 3)
	f.Fuzz(func(t *testing.T, body []byte, n, dim int) {
		if n < 0 || n > 64 || dim < 1 || dim > 64 {
			return
		}
		vecs, err := decodeAnswer(strings.NewReader(string(body)), n, dim)
		if err != nil {
			if !errors.Is(err, errBadAnswer) {
				t.Fatalf("error not marked bad answer: %v", err)
			}
			return
		}
		if len(vecs) != n {
			t.Fatalf("%d vectors for %d", len(vecs), n)
		}
		for _, v := range vecs {
			if len(v) != dim {
				t.Fatalf("dim %d, want %d", len(v), dim)
			}
		}
	})
}

func FuzzErrorMessage(f *testing.F) {
	for _, s := range []string{`{"error":{"message":"x"}}`, `{"error":"y"}`, `oops`, `{"error":5}`, ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if m := errorMessage(b); len(m) > 310 {
			t.Fatalf("message not shortened: %d bytes", len(m))
		}
	})
}

func TestOpenAIRateLimit(t *testing.T) {
	t.Parallel()
	f, srv := newFake(t, 16)
	// One request per 1,000 s with a burst of one: the first batch goes out,
	// the second would wait far past the deadline, so the limiter refuses
	// at once instead of sending it.
	c := newClient(t, srv, func(c *OpenAIConfig) { c.RequestsPerSecond, c.Concurrency, c.BatchSize = 0.001, 1, 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.Embed(ctx, []string{"a", "b"}); err == nil {
		t.Fatal("second request within the rate limit's wait: want an error")
	}
	if n := f.requests.Load(); n != 1 {
		t.Errorf("%d requests sent, the limit allows 1", n)
	}
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"", "1", "0.5", "-3", "1e400", "NaN", "Fri, 02 Jan 2026 03:04:15 GMT", "soon"} {
		f.Add(s)
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		if d := parseRetryAfter(s, now); d < 0 {
			t.Fatalf("%q: negative wait %s", s, d)
		}
	})
}

// TestWithModelKeepsRetrySetting: a collection's client (another model or
// dimension) retries as configured, also when retries are switched off.
func TestWithModelKeepsRetrySetting(t *testing.T) {
	t.Parallel()
	for _, retries := range []int{-1, 2} {
		o, err := NewOpenAI(OpenAIConfig{BaseURL: "http://127.0.0.1:1/v1", Model: "m", Dim: 4, MaxRetries: retries})
		if err != nil {
			t.Fatal(err)
		}
		n, err := o.withModel("other", 8)
		if err != nil {
			t.Fatal(err)
		}
		if n.cfg.MaxRetries != o.cfg.MaxRetries {
			t.Errorf("MaxRetries %d: the collection's client retries %d times, the configured one %d", retries, n.cfg.MaxRetries, o.cfg.MaxRetries)
		}
	}
}
