package ratelimit

import (
	"strconv"
	"testing"
	"time"
)

// clock is a settable time for the buckets.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newAt(cfg Config) (*Memory, *clock) {
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	m := New(cfg)
	m.now = c.now
	return m, c
}

func TestBucketRefillsOverSeveralPeriods(t *testing.T) {
	t.Parallel()
	m, c := newAt(Config{Rate: 2, Burst: 4})
	for period := range 3 {
		for i := range 4 {
			d := m.Take("a")
			if !d.Allowed || d.Limit != 4 || d.Remaining != 3-i {
				t.Fatalf("period %d request %d: %+v", period, i, d)
			}
		}
		d := m.Take("a")
		if d.Allowed || d.Remaining != 0 || d.RetryAfter <= 0 || d.RetryAfter > 500*time.Millisecond || d.Reset != 2*time.Second {
			t.Fatalf("period %d: over the burst: %+v", period, d)
		}
		if p := m.Peek("a"); p.Allowed {
			t.Fatalf("peek allows an empty bucket: %+v", p)
		}
		// Other keys have their own buckets.
		if d := m.Take("b" + strconv.Itoa(period)); !d.Allowed {
			t.Fatalf("another key refused: %+v", d)
		}
		c.t = c.t.Add(2 * time.Second) // the bucket refills (Burst / Rate)
	}
}

func TestNilWhenOff(t *testing.T) {
	t.Parallel()
	if New(Config{}) != nil {
		t.Fatal("a zero rate must mean no limiter")
	}
}

// TestFloodOfKeysIsBounded: a flood of distinct keys (random addresses,
// invented API keys) keeps at most MaxKeys buckets, while a key still
// spending its burst keeps being limited when the map has room for it.
func TestFloodOfKeysIsBounded(t *testing.T) {
	t.Parallel()
	m, c := newAt(Config{Rate: 1, Burst: 2, MaxKeys: 1000})
	for i := range 200_000 {
		m.Take("flood-" + strconv.Itoa(i))
		if i%50_000 == 0 {
			c.t = c.t.Add(time.Millisecond)
		}
	}
	if n := m.Len(); n > 1000 {
		t.Fatalf("%d buckets kept, want at most 1000", n)
	}
	// Idle (full) buckets are the first to go: after the flood refills,
	// one more key evicts every full bucket.
	c.t = c.t.Add(time.Hour)
	m.Take("x")
	m.Take("x")
	if n := m.Len(); n > 1 {
		t.Fatalf("%d buckets kept after every bucket refilled, want 1", n)
	}
	if d := m.Take("x"); d.Allowed {
		t.Fatalf("x over its burst allowed: %+v", d)
	}
}
