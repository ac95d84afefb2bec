package embed

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"

	"github.com/geoseek/geoseek/internal/problem"
)

// OpenAIConfig configures an OpenAI-compatible embedding client.
type OpenAIConfig struct {
	// BaseURL is the API root that /embeddings is appended to:
	// https://api.openai.com/v1, http://127.0.0.1:11434/v1 (Ollama),
	// http://127.0.0.1:8080/v1 (TEI), http://127.0.0.1:8000/v1 (vLLM).
	BaseURL string
	// Model is sent as "model"; required (TEI ignores it).
	Model string
	// APIKey, when set, is sent as "Authorization: Bearer <key>".
	APIKey string
	// Dim is the dimension every returned vector must have; required.
	Dim int
	// SendDimensions sends "dimensions": Dim, for models that shorten their
	// vectors on request (OpenAI text-embedding-3-*, Matryoshka models on
	// vLLM). Servers that do not support it may refuse the field.
	SendDimensions bool
	// BatchSize is the most texts sent in one request (default 64).
	BatchSize int
	// Concurrency is the most requests in flight per Embed call (default 2).
	Concurrency int
	// RequestsPerSecond limits requests across all Embed calls of this
	// client; 0 means no limit.
	RequestsPerSecond float64
	// Timeout bounds one HTTP request, including reading its answer
	// (default 60s).
	Timeout time.Duration
	// MaxRetries is how often a request is retried after a 429, a 5xx or a
	// network error (default 4; negative means none).
	MaxRetries int
	// MaxBackoff caps the wait between retries, including a server's
	// Retry-After (default 30s): a server asking for longer fails the call.
	MaxBackoff time.Duration
	// Client is the HTTP client; nil uses a client of its own.
	Client *http.Client
}

// OpenAI embeds texts with a server speaking the OpenAI embeddings API.
type OpenAI struct {
	cfg      OpenAIConfig
	endpoint string
	client   *http.Client
	limiter  *rate.Limiter
	// baseBackoff is the first retry's wait; a variable so tests are fast.
	baseBackoff time.Duration
}

// maxResponseBytes bounds an answer: 64 texts × 4,096 dims as JSON text is
// about 5 MB; anything far larger is not an embeddings answer.
const maxResponseBytes = 64 << 20

// NewOpenAI checks cfg and returns the client. Invalid settings are
// *problem.ValidationError naming the setting.
func NewOpenAI(cfg OpenAIConfig) (*OpenAI, error) {
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, problem.Invalid("embedder_url", "must be an http(s) URL such as https://api.openai.com/v1, got %q", cfg.BaseURL)
	}
	if cfg.Model == "" {
		return nil, problem.Invalid("embedder_model", "is required")
	}
	if cfg.Dim < 1 || cfg.Dim > MaxDim {
		return nil, problem.Invalid("embedder_dim", "must be between 1 and %d, got %d", MaxDim, cfg.Dim)
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 64
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 2
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 60 * time.Second
	}
	if cfg.MaxRetries == 0 {
		cfg.MaxRetries = 4
	} else if cfg.MaxRetries < 0 {
		cfg.MaxRetries = 0
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	o := &OpenAI{
		cfg:         cfg,
		endpoint:    strings.TrimRight(cfg.BaseURL, "/") + "/embeddings",
		client:      cfg.Client,
		limiter:     rate.NewLimiter(rate.Inf, 0),
		baseBackoff: 500 * time.Millisecond,
	}
	if o.client == nil {
		o.client = &http.Client{}
	}
	if cfg.RequestsPerSecond > 0 {
		o.limiter = rate.NewLimiter(rate.Limit(cfg.RequestsPerSecond), max(1, cfg.Concurrency))
	}
	return o, nil
}

// withModel returns a client for another model and dimension sharing this
// client's connection pool and rate limit (one server, one budget).
func (o *OpenAI) withModel(model string, dim int) (*OpenAI, error) {
	cfg := o.cfg
	if model != "" {
		cfg.Model = model
	}
	cfg.Dim = dim
	if cfg.MaxRetries == 0 {
		cfg.MaxRetries = -1 // no retries, as configured (NewOpenAI reads 0 as the default)
	}
	n, err := NewOpenAI(cfg)
	if err != nil {
		return nil, err
	}
	n.client, n.limiter, n.baseBackoff = o.client, o.limiter, o.baseBackoff
	return n, nil
}

// Dim implements Embedder.
func (o *OpenAI) Dim() int { return o.cfg.Dim }

// Model implements Embedder.
func (o *OpenAI) Model() string { return o.cfg.Model }

type embedRequest struct {
	Model      string   `json:"model"`
	Input      []string `json:"input"`
	Dimensions int      `json:"dimensions,omitempty"`
}

type embedResponse struct {
	Data []struct {
		Index     int       `json:"index"`
		Embedding []float32 `json:"embedding"`
	} `json:"data"`
}

// Embed implements Embedder: texts are sent in batches of BatchSize, up to
// Concurrency at a time; the first failure cancels the rest.
func (o *OpenAI) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, len(texts))
	if len(texts) == 0 {
		return out, nil
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(o.cfg.Concurrency)
	for start := 0; start < len(texts); start += o.cfg.BatchSize {
		end := min(start+o.cfg.BatchSize, len(texts))
		g.Go(func() error {
			vecs, err := o.batch(gctx, texts[start:end])
			if err != nil {
				return err
			}
			copy(out[start:end], vecs)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("embed: %s: %w", o.cfg.Model, ctx.Err())
		}
		return nil, err
	}
	return out, nil
}

// statusError is an answer that was not 200.
type statusError struct {
	status     int
	message    string
	retryAfter time.Duration // from Retry-After, 0 when absent
}

func (e *statusError) Error() string {
	return fmt.Sprintf("HTTP %d: %s", e.status, e.message)
}

func retryable(status int) bool {
	return status == http.StatusTooManyRequests || status == http.StatusRequestTimeout || status >= 500
}

// batch sends one request, retrying what may succeed later.
func (o *OpenAI) batch(ctx context.Context, texts []string) ([][]float32, error) {
	req := embedRequest{Model: o.cfg.Model, Input: texts}
	if o.cfg.SendDimensions {
		req.Dimensions = o.cfg.Dim
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("embed: encode request: %w", err)
	}
	for attempt := 0; ; attempt++ {
		vecs, err := o.post(ctx, body, len(texts))
		if err == nil {
			return vecs, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("embed: %s: %w", o.cfg.Model, ctx.Err())
		}
		var se *statusError
		isStatus := errors.As(err, &se)
		if isStatus && !retryable(se.status) {
			if se.status == http.StatusBadRequest || se.status == http.StatusRequestEntityTooLarge || se.status == http.StatusUnprocessableEntity {
				// The server refused the input (too long for the model, ...).
				return nil, problem.Invalid("text", "the embedding service refused the text: %s", se.message)
			}
			return nil, fmt.Errorf("embed: %s: %w: %w", o.cfg.Model, err, problem.ErrUnavailable)
		}
		if errors.Is(err, errBadAnswer) || attempt >= o.cfg.MaxRetries {
			return nil, fmt.Errorf("embed: %s: after %d attempts: %w: %w", o.cfg.Model, attempt+1, err, problem.ErrUnavailable)
		}
		wait := o.backoff(attempt)
		if isStatus && se.retryAfter > 0 {
			wait = se.retryAfter
			if wait > o.cfg.MaxBackoff {
				return nil, fmt.Errorf("embed: %s: the server asks to retry after %s, longer than %s: %w: %w", o.cfg.Model, wait, o.cfg.MaxBackoff, err, problem.ErrUnavailable)
			}
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			return nil, fmt.Errorf("embed: %s: no time left to retry: %w: %w", o.cfg.Model, err, problem.ErrUnavailable)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("embed: %s: %w", o.cfg.Model, ctx.Err())
		case <-t.C:
		}
	}
}

// backoff is exponential with full jitter, capped at MaxBackoff.
func (o *OpenAI) backoff(attempt int) time.Duration {
	d := o.baseBackoff << min(attempt, 20)
	if d > o.cfg.MaxBackoff || d <= 0 {
		d = o.cfg.MaxBackoff
	}
	return d/2 + rand.N(d/2+1)
}

var errBadAnswer = errors.New("malformed answer")

func (o *OpenAI) post(ctx context.Context, body []byte, n int) ([][]float32, error) {
	if err := o.limiter.Wait(ctx); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, o.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if o.cfg.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+o.cfg.APIKey)
	}
	resp, err := o.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return nil, &statusError{status: resp.StatusCode, message: errorMessage(msg), retryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())}
	}
	vecs, err := decodeAnswer(io.LimitReader(resp.Body, maxResponseBytes), n, o.cfg.Dim)
	if err != nil && ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return vecs, err
}

// decodeAnswer reads an embeddings answer for n inputs of dim dimensions.
// Anything else (wrong count, index or dimension, non-finite numbers) is an
// error wrapping errBadAnswer.
func decodeAnswer(r io.Reader, n, dim int) ([][]float32, error) {
	var er embedResponse
	if err := json.NewDecoder(r).Decode(&er); err != nil {
		return nil, fmt.Errorf("%w: %w", errBadAnswer, err)
	}
	vecs := make([][]float32, n)
	for _, d := range er.Data {
		if d.Index < 0 || d.Index >= n || vecs[d.Index] != nil {
			return nil, fmt.Errorf("%w: index %d out of range or repeated", errBadAnswer, d.Index)
		}
		vecs[d.Index] = d.Embedding
	}
	if len(er.Data) != n {
		return nil, fmt.Errorf("%w: %d embeddings for %d inputs", errBadAnswer, len(er.Data), n)
	}
	if err := checkBatch(vecs, n, dim); err != nil {
		return nil, fmt.Errorf("%w: %w", errBadAnswer, err)
	}
	return vecs, nil
}

// errorMessage extracts {"error":{"message":…}} (OpenAI, vLLM, Ollama) or
// {"error":"…"} (TEI), else the raw text, shortened.
func errorMessage(b []byte) string {
	var v struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(b, &v) == nil && len(v.Error) > 0 {
		var obj struct {
			Message string `json:"message"`
		}
		var s string
		if json.Unmarshal(v.Error, &obj) == nil && obj.Message != "" {
			return shorten(obj.Message)
		}
		if json.Unmarshal(v.Error, &s) == nil && s != "" {
			return shorten(s)
		}
	}
	return shorten(strings.TrimSpace(string(b)))
}

func shorten(s string) string {
	if len(s) > 300 {
		return s[:300] + "…"
	}
	return s
}

// parseRetryAfter reads delay-seconds or an HTTP date (RFC 9110 §10.2.3).
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil {
		if !(s > 0) { // also NaN
			return 0
		}
		s = min(s, 1e6)
		return time.Duration(s * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}
