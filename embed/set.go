package embed

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/geoseek/geoseek/internal/problem"
)

// Embedder names as stored in collections.embedder.
const (
	// KindOffline is the built-in Offline embedder.
	KindOffline = "offline"
	// KindOpenAI is the configured OpenAI-compatible server.
	KindOpenAI = "openai"
	// KindNone takes user-provided vectors only: no text is embedded.
	KindNone = "none"
)

// Spec is a collection's embedder settings (collections.embedder,
// embedding_model, embedding_dim, default_lang).
type Spec struct {
	Embedder string
	// Model overrides the configured model for KindOpenAI; "" keeps it.
	Model string
	// Dim is the dimension of the collection's vectors; 0 means the
	// collection has no embeddings.
	Dim int
	// Lang is the collection's default language (a text search
	// configuration name), used by the offline embedder's stemmer.
	Lang string
}

// Config is geoseek's embedder configuration (GEOSEEK_EMBEDDER* settings).
type Config struct {
	// Default is the embedder of new collections that name none: "offline"
	// (default) or "openai".
	Default string
	// DefaultDim is the dimension of new collections that name none
	// (default DefaultDim for offline, OpenAI.Dim for openai).
	DefaultDim int
	// OpenAI configures the OpenAI-compatible server; BaseURL "" means
	// there is none and collections with embedder "openai" cannot embed
	// text (503).
	OpenAI OpenAIConfig
	// SweepInterval is how often documents without a vector are embedded
	// (see SweepArgs); 0 means DefaultSweepInterval.
	SweepInterval time.Duration
}

// Set hands out the embedder of each collection spec, sharing one HTTP
// client and rate limit among all collections that use the same server.
type Set struct {
	cfg    Config
	openai *OpenAI // nil when not configured

	mu    sync.Mutex
	cache map[Spec]Embedder
}

// NewSet checks cfg and returns the set. Invalid settings are
// *problem.ValidationError naming the setting.
func NewSet(cfg Config) (*Set, error) {
	s := &Set{cfg: cfg, cache: map[Spec]Embedder{}}
	if s.cfg.Default == "" {
		s.cfg.Default = KindOffline
	}
	if cfg.OpenAI.BaseURL != "" {
		o, err := NewOpenAI(cfg.OpenAI)
		if err != nil {
			return nil, err
		}
		s.openai = o
	}
	switch s.cfg.Default {
	case KindOffline:
		if s.cfg.DefaultDim == 0 {
			s.cfg.DefaultDim = DefaultDim
		}
	case KindOpenAI:
		if s.openai == nil {
			return nil, problem.Invalid("embedder_url", "is required when the default embedder is openai")
		}
		if s.cfg.DefaultDim == 0 {
			s.cfg.DefaultDim = s.openai.Dim()
		}
	default:
		return nil, problem.Invalid("embedder", "must be %q or %q, got %q", KindOffline, KindOpenAI, cfg.Default)
	}
	if s.cfg.DefaultDim < 1 || s.cfg.DefaultDim > MaxDim {
		return nil, problem.Invalid("embedder_dim", "must be between 1 and %d, got %d", MaxDim, s.cfg.DefaultDim)
	}
	return s, nil
}

// Default is the spec of a new collection that names no embedder.
func (s *Set) Default() Spec {
	sp := Spec{Embedder: s.cfg.Default, Dim: s.cfg.DefaultDim}
	if sp.Embedder == KindOpenAI {
		sp.Model = s.openai.Model()
	}
	return sp
}

// CheckSpec validates a collection's embedder settings as a client sent them
// (for POST /collections): a known embedder, a dimension within limits, and
// for "openai" a configured server. Errors are *problem.ValidationError.
func (s *Set) CheckSpec(sp Spec) error {
	switch sp.Embedder {
	case KindOffline, KindNone:
	case KindOpenAI:
		if s.openai == nil {
			return problem.Invalid("embedder", "openai is not configured on this server (GEOSEEK_EMBEDDER_URL)")
		}
	default:
		return problem.Invalid("embedder", "must be one of %s, got %q", strings.Join([]string{KindOffline, KindOpenAI, KindNone}, ", "), sp.Embedder)
	}
	if sp.Dim < 0 || sp.Dim > MaxDim {
		return problem.Invalid("embedding_dim", "must be between 1 and %d, got %d", MaxDim, sp.Dim)
	}
	return nil
}

// For returns the embedder for a collection's spec. It returns an error
// wrapping ErrNoEmbedder and a *problem.ValidationError (400) when the
// collection embeds no text (embedder "none" or no dimension), and one
// wrapping problem.ErrUnavailable (503) when its embedder is "openai" but no
// server is configured.
func (s *Set) For(sp Spec) (Embedder, error) {
	if sp.Dim == 0 || sp.Embedder == KindNone {
		return nil, fmt.Errorf("%w: %w", ErrNoEmbedder, problem.Invalid("q", "the collection has no text embedder; send a vector instead"))
	}
	if sp.Embedder != KindOpenAI {
		sp.Model = "" // the offline model has one version per binary
	} else {
		sp.Lang = "" // models handle languages themselves
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.cache[sp]; ok {
		return e, nil
	}
	var (
		e   Embedder
		err error
	)
	switch sp.Embedder {
	case KindOffline:
		e, err = NewOffline(sp.Dim, sp.Lang)
	case KindOpenAI:
		if s.openai == nil {
			return nil, fmt.Errorf("embed: collection embedder is openai but GEOSEEK_EMBEDDER_URL is not set: %w", problem.ErrUnavailable)
		}
		e, err = s.openai.withModel(sp.Model, sp.Dim)
	default:
		return nil, fmt.Errorf("embed: unknown embedder %q: %w", sp.Embedder, problem.ErrUnavailable)
	}
	if err != nil {
		return nil, fmt.Errorf("embed: %s: %w", sp.Embedder, err)
	}
	s.cache[sp] = e
	return e, nil
}
