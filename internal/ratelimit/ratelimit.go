// Package ratelimit holds token-bucket rate limits keyed by client (an API
// key, an IP address), kept in memory. A bucket holds Burst tokens and
// refills at Rate per second; a request takes one. Memory is bounded: at
// most MaxKeys buckets are kept, full buckets (indistinguishable from new
// ones) are dropped first, and when a flood of distinct keys leaves none
// full, arbitrary buckets go, so a flood of invented keys costs a bounded
// map, never the process.
package ratelimit

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limiter decides whether a request of key may go on now. Implementations
// are safe for concurrent use; a shared store (Redis, say) can stand in for
// Memory behind this interface when several instances must share limits.
type Limiter interface {
	// Take spends one token of key's bucket if it has one.
	Take(key string) Decision
	// Peek reports key's bucket without spending.
	Peek(key string) Decision
}

// Decision is a Limiter's answer and the facts the RateLimit headers carry.
type Decision struct {
	Allowed bool
	// Limit is the bucket size (requests allowed in a burst).
	Limit int
	// Remaining is the whole tokens left after this request.
	Remaining int
	// Reset is how long until the bucket is full again.
	Reset time.Duration
	// RetryAfter, when not Allowed, is how long until a token is available.
	RetryAfter time.Duration
}

// Config sets a Memory limiter. Rate <= 0 means no limit (Take always
// allows and New returns nil).
type Config struct {
	Rate    float64 // tokens per second
	Burst   int     // bucket size; at least 1
	MaxKeys int     // buckets kept at most (default 100,000)
}

// DefaultMaxKeys bounds the buckets of one limiter.
const DefaultMaxKeys = 100_000

// Memory is an in-memory Limiter.
type Memory struct {
	cfg     Config
	now     func() time.Time
	mu      sync.Mutex
	buckets map[string]*rate.Limiter
}

// New returns a Memory limiter, or nil when cfg.Rate <= 0 (no limit).
func New(cfg Config) *Memory {
	if cfg.Rate <= 0 {
		return nil
	}
	if cfg.Burst < 1 {
		cfg.Burst = max(1, int(math.Ceil(cfg.Rate)))
	}
	if cfg.MaxKeys <= 0 {
		cfg.MaxKeys = DefaultMaxKeys
	}
	return &Memory{cfg: cfg, now: time.Now, buckets: map[string]*rate.Limiter{}}
}

// Len is the number of buckets held.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.buckets)
}

// Take implements Limiter.
func (m *Memory) Take(key string) Decision { return m.decide(key, true) }

// Peek implements Limiter.
func (m *Memory) Peek(key string) Decision { return m.decide(key, false) }

func (m *Memory) decide(key string, take bool) Decision {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.buckets[key]
	if !ok {
		if !take {
			return m.report(rate.NewLimiter(rate.Limit(m.cfg.Rate), m.cfg.Burst), now, true)
		}
		if len(m.buckets) >= m.cfg.MaxKeys {
			m.evict(now)
		}
		b = rate.NewLimiter(rate.Limit(m.cfg.Rate), m.cfg.Burst)
		m.buckets[key] = b
	}
	allowed := true
	if take {
		allowed = b.AllowN(now, 1)
	} else {
		allowed = b.TokensAt(now) >= 1
	}
	return m.report(b, now, allowed)
}

func (m *Memory) report(b *rate.Limiter, now time.Time, allowed bool) Decision {
	tokens := b.TokensAt(now)
	d := Decision{Allowed: allowed, Limit: m.cfg.Burst, Remaining: max(0, int(math.Floor(tokens)))}
	missing := float64(m.cfg.Burst) - tokens
	d.Reset = time.Duration(missing / m.cfg.Rate * float64(time.Second))
	if !allowed {
		d.RetryAfter = time.Duration((1 - tokens) / m.cfg.Rate * float64(time.Second))
	}
	return d
}

// evict makes room: full buckets first (dropping one loses nothing), then,
// if none was full, a tenth of the map (Go's map order is unspecified, so
// which ones is arbitrary). Called with m.mu held.
func (m *Memory) evict(now time.Time) {
	for k, b := range m.buckets {
		if b.TokensAt(now) >= float64(m.cfg.Burst) {
			delete(m.buckets, k)
		}
	}
	if len(m.buckets) < m.cfg.MaxKeys {
		return
	}
	n := max(1, m.cfg.MaxKeys/10)
	for k := range m.buckets {
		if n == 0 {
			break
		}
		delete(m.buckets, k)
		n--
	}
}
