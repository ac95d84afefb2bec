// Package auth holds geoseek's API keys and the Gin middleware that checks them.
//
// A key is 32 random bytes shown once, as "gsk_" + base64url. Only its SHA-256
// is stored: keys carry 256 bits of entropy, so a slow password hash would add
// latency to every request without adding safety. Lookups are by hash through a
// unique index. The first 12 characters ("gsk_" + 8) are kept as a prefix so
// people can tell keys apart in listings and revoke one by prefix.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/geoseek/geoseek/internal/pg"
	"github.com/geoseek/geoseek/internal/problem"
)

// Scope is what a key may do.
type Scope string

// The scopes. Admin implies write, and write implies read.
const (
	Read  Scope = "read"
	Write Scope = "write"
	Admin Scope = "admin"
)

// ParseScopes parses a comma-separated scope list ("read,write").
func ParseScopes(s string) ([]Scope, error) {
	var out []Scope
	for _, part := range strings.Split(s, ",") {
		sc := Scope(strings.TrimSpace(part))
		switch sc {
		case Read, Write, Admin:
			if !slices.Contains(out, sc) {
				out = append(out, sc)
			}
		case "":
		default:
			return nil, problem.Invalid("scopes", "unknown scope %q (want read, write or admin)", sc)
		}
	}
	if len(out) == 0 {
		return nil, problem.Invalid("scopes", "at least one scope is required (read, write, admin)")
	}
	return out, nil
}

// Key is a stored API key (never its secret).
type Key struct {
	ID         int64      `json:"id"`
	Name       string     `json:"name"`
	Prefix     string     `json:"prefix"`
	Scopes     []Scope    `json:"scopes"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
	// ExpiresAt, when set, is when the key stops working.
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// Expired reports whether the key has expired at now.
func (k Key) Expired(now time.Time) bool { return k.ExpiresAt != nil && !now.Before(*k.ExpiresAt) }

// Allows reports whether the key grants scope: admin ⊇ write ⊇ read.
func (k Key) Allows(scope Scope) bool {
	rank := map[Scope]int{Read: 1, Write: 2, Admin: 3}
	for _, s := range k.Scopes {
		if rank[s] >= rank[scope] {
			return true
		}
	}
	return false
}

// Store keeps keys in the api_keys table.
type Store struct {
	pool *pgxpool.Pool
	// touchEvery limits last_used_at writes to one per key per interval, so
	// busy keys do not turn every read into a write.
	touchEvery time.Duration
	// cacheTTL is how long a verified key is trusted without asking the
	// database again. A database round trip per request was the largest
	// fixed cost of small requests (docs/performance.md, "API key cache").
	// A key revoked through this Store stops
	// working at once; revoked elsewhere (`geoseek keys revoke`, another
	// instance), within cacheTTL.
	cacheTTL time.Duration
	// missTTL is how long a secret that matched no key is answered 401
	// without asking the database again, so a client (or an attacker)
	// repeating unknown keys does not cost a query each.
	missTTL time.Duration
	mu      sync.Mutex
	cache   map[[32]byte]cachedKey
	misses  map[[32]byte]time.Time
	// gen counts forgets: a lookup that began before one does not cache
	// what it read, which may be the key just revoked.
	gen uint64
	// refreshing holds the keys being refreshed ahead of their expiry.
	refreshing map[[32]byte]bool
	// lookups makes concurrent lookups of one secret share a round trip.
	lookups singleflight.Group
	// fetches counts database lookups and waits the lookups that waited
	// for one, for tests.
	fetches, waits atomic.Int64
}

type cachedKey struct {
	key   Key
	until time.Time
}

// maxCachedKeys bounds each cache (keys and misses); past it, that cache
// starts over.
const maxCachedKeys = 10_000

// MissTTL is how long an unknown key is remembered as unknown (see Store).
const MissTTL = 30 * time.Second

// CacheTTL is how long a verified key is trusted before it is looked up
// again (see Store).
const CacheTTL = 5 * time.Second

// NewStore returns a Store on pool.
func NewStore(pool *pgxpool.Pool) *Store {
	return &Store{pool: pool, touchEvery: time.Minute, cacheTTL: CacheTTL, missTTL: MissTTL,
		cache: map[[32]byte]cachedKey{}, misses: map[[32]byte]time.Time{}, refreshing: map[[32]byte]bool{}}
}

const secretPrefix = "gsk_"

// Create makes a key that does not expire and returns it with its secret,
// which is not stored and cannot be shown again.
func (s *Store) Create(ctx context.Context, name string, scopes []Scope) (Key, string, error) {
	return s.CreateExpiring(ctx, name, scopes, time.Time{})
}

// CreateExpiring is Create for a key that stops working at expires (zero:
// never). An expiry not in the future is a *problem.ValidationError.
func (s *Store) CreateExpiring(ctx context.Context, name string, scopes []Scope, expires time.Time) (Key, string, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return Key{}, "", problem.Invalid("name", "a key needs a name")
	}
	if len(scopes) == 0 {
		return Key{}, "", problem.Invalid("scopes", "at least one scope is required")
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return Key{}, "", fmt.Errorf("auth: random: %w", err)
	}
	secret := secretPrefix + base64.RawURLEncoding.EncodeToString(raw)
	sum := sha256.Sum256([]byte(secret))
	if !expires.IsZero() && !expires.After(time.Now()) {
		return Key{}, "", problem.Invalid("expires", "the expiry %s is not in the future", expires.Format(time.RFC3339))
	}
	k := Key{Name: name, Prefix: secret[:12], Scopes: scopes}
	var exp *time.Time
	if !expires.IsZero() {
		exp = &expires
	}
	strs := make([]string, len(scopes))
	for i, sc := range scopes {
		strs[i] = string(sc)
	}
	err := s.pool.QueryRow(ctx,
		`INSERT INTO api_keys (name, prefix, hash, scopes, expires_at) VALUES ($1, $2, $3, $4, $5) RETURNING id, created_at, expires_at`,
		k.Name, k.Prefix, sum[:], strs, exp).Scan(&k.ID, &k.CreatedAt, &k.ExpiresAt)
	if err != nil {
		return Key{}, "", fmt.Errorf("auth: create key: %w", pg.Interpret(err))
	}
	return k, secret, nil
}

// List returns every key, newest first, revoked ones included.
func (s *Store) List(ctx context.Context) ([]Key, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+keyCols+` FROM api_keys ORDER BY id DESC`)
	if err != nil {
		return nil, fmt.Errorf("auth: list keys: %w", err)
	}
	keys, err := pgx.CollectRows(rows, scanKey)
	if err != nil {
		return nil, fmt.Errorf("auth: list keys: %w", err)
	}
	return keys, nil
}

// AmbiguousError is Revoke's error when its reference matches several active
// keys (a name given to more than one key, say); none is revoked then.
type AmbiguousError struct {
	Ref  string
	Keys []Key // the matching keys, oldest first
}

func (e *AmbiguousError) Error() string {
	return fmt.Sprintf("auth: %q matches %d active keys; name one by its id or prefix", e.Ref, len(e.Keys))
}

// Unwrap makes an AmbiguousError a problem.ErrConflict.
func (e *AmbiguousError) Unwrap() error { return problem.ErrConflict }

// Revoke revokes the active key that ref names: by its id, its prefix or its
// name. It returns problem.ErrNotFound if no active key matches, and an
// *AmbiguousError (which is a problem.ErrConflict) if several do.
func (s *Store) Revoke(ctx context.Context, ref string) (Key, error) {
	ref = strings.TrimSpace(ref)
	var id *int64
	if n, err := strconv.ParseInt(ref, 10, 64); err == nil {
		id = &n
	}
	var k Key
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// FOR UPDATE: a concurrent revoke of the same key waits, then finds
		// it revoked.
		rows, err := tx.Query(ctx, `SELECT `+keyCols+` FROM api_keys
			WHERE revoked_at IS NULL AND (id = $1 OR prefix = $2 OR name = $2)
			ORDER BY id FOR UPDATE`, id, ref)
		if err != nil {
			return err
		}
		keys, err := pgx.CollectRows(rows, scanKey)
		if err != nil {
			return err
		}
		switch {
		case len(keys) == 0:
			return fmt.Errorf("auth: no active key %q: %w", ref, problem.ErrNotFound)
		case len(keys) > 1:
			return &AmbiguousError{Ref: ref, Keys: keys}
		}
		rows, err = tx.Query(ctx, `UPDATE api_keys SET revoked_at = now() WHERE id = $1 RETURNING `+keyCols, keys[0].ID)
		if err != nil {
			return err
		}
		k, err = pgx.CollectExactlyOneRow(rows, scanKey)
		return err
	})
	var amb *AmbiguousError
	if errors.As(err, &amb) || errors.Is(err, problem.ErrNotFound) {
		return Key{}, err
	}
	if err != nil {
		return Key{}, fmt.Errorf("auth: revoke: %w", err)
	}
	s.forget(k.ID)
	return k, nil
}

// ErrInvalidKey is returned by Lookup for unknown, malformed or revoked keys.
var ErrInvalidKey = errors.New("auth: invalid or revoked API key")

// ExpiredError is Lookup's error for a key past its expiry; it is an
// ErrInvalidKey too.
type ExpiredError struct{ At time.Time }

func (e *ExpiredError) Error() string {
	return "auth: the API key expired at " + e.At.UTC().Format(time.RFC3339)
}

// Unwrap makes an ExpiredError an ErrInvalidKey.
func (e *ExpiredError) Unwrap() error { return ErrInvalidKey }

// Lookup finds the active key for secret and records its use (at most once
// per minute per key). It returns ErrInvalidKey when there is none, and an
// *ExpiredError (an ErrInvalidKey) when the key has expired.
func (s *Store) Lookup(ctx context.Context, secret string) (Key, error) {
	if !strings.HasPrefix(secret, secretPrefix) || len(secret) > 128 {
		return Key{}, ErrInvalidKey
	}
	sum := sha256.Sum256([]byte(secret))
	now := time.Now()
	s.mu.Lock()
	c, ok := s.cache[sum]
	missUntil, missed := s.misses[sum]
	s.mu.Unlock()
	if ok && now.Before(c.until) {
		if now.After(c.until.Add(-s.cacheTTL / 5)) {
			// A busy key is read again before it expires, so its requests
			// never wait for the round trip (nor for the once-a-minute
			// touch's commit).
			s.refreshAhead(sum)
		}
		return c.key, checkExpiry(c.key, now)
	}
	if missed && now.Before(missUntil) {
		return Key{}, ErrInvalidKey
	}
	// Concurrent lookups of one secret share one round trip, which no
	// single caller's cancellation cuts short; each waits at most until its
	// own context ends.
	s.waits.Add(1)
	ch := s.lookups.DoChan(string(sum[:]), func() (any, error) {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), lookupTimeout)
		defer cancel()
		return s.fetch(fctx, sum)
	})
	var res singleflight.Result
	select {
	case res = <-ch:
	case <-ctx.Done():
		return Key{}, fmt.Errorf("auth: look up key: %w", ctx.Err())
	}
	if res.Err != nil {
		return Key{}, res.Err
	}
	k, found := res.Val.(Key)
	if !found {
		return Key{}, ErrInvalidKey
	}
	return k, checkExpiry(k, now)
}

// refreshAhead reads a cached key again in the background, once at a time
// per key, bounded by lookupTimeout.
func (s *Store) refreshAhead(sum [32]byte) {
	s.mu.Lock()
	busy := s.refreshing[sum]
	s.refreshing[sum] = true
	s.mu.Unlock()
	if busy {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
		defer cancel()
		_, _ = s.fetch(ctx, sum)
		s.mu.Lock()
		delete(s.refreshing, sum)
		s.mu.Unlock()
	}()
}

// lookupTimeout bounds a database lookup of a key.
const lookupTimeout = 5 * time.Second

// fetch reads the active key whose secret hashes to sum, caches the answer
// (a Key, or nil for none) and returns it.
func (s *Store) fetch(ctx context.Context, sum [32]byte) (any, error) {
	s.fetches.Add(1)
	s.mu.Lock()
	gen := s.gen
	s.mu.Unlock()
	now := time.Now()
	// One round trip per key per cacheTTL: read the key and, in
	// the same statement, touch last_used_at unless it was touched within
	// touchEvery (busy keys do not turn every read into a row write).
	rows, err := s.pool.Query(ctx, `
		WITH k AS (SELECT `+keyCols+` FROM api_keys WHERE hash = $1 AND revoked_at IS NULL),
		     touch AS (UPDATE api_keys SET last_used_at = now()
		                WHERE id IN (SELECT id FROM k WHERE expires_at IS NULL OR expires_at > now())
		                  AND (last_used_at IS NULL OR last_used_at < now() - $2::interval))
		SELECT `+keyCols+` FROM k`, sum[:], s.touchEvery.String())
	if err != nil {
		return nil, fmt.Errorf("auth: look up key: %w", err)
	}
	keys, err := pgx.CollectRows(rows, scanKey)
	if err != nil {
		return nil, fmt.Errorf("auth: look up key: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(keys) == 0 {
		delete(s.cache, sum)
		if len(s.misses) >= maxCachedKeys {
			clear(s.misses)
		}
		s.misses[sum] = now.Add(s.missTTL)
		return nil, nil
	}
	if gen == s.gen {
		if len(s.cache) >= maxCachedKeys {
			clear(s.cache)
		}
		s.cache[sum] = cachedKey{key: keys[0], until: now.Add(s.cacheTTL)}
	}
	return keys[0], nil
}

func checkExpiry(k Key, now time.Time) error {
	if k.Expired(now) {
		return &ExpiredError{At: *k.ExpiresAt}
	}
	return nil
}

// forget drops the cached entries of key id.
func (s *Store) forget(id int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen++
	for h, c := range s.cache {
		if c.key.ID == id {
			delete(s.cache, h)
		}
	}
}

const keyCols = `id, name, prefix, scopes, created_at, last_used_at, revoked_at, expires_at`

func scanKey(row pgx.CollectableRow) (Key, error) {
	var k Key
	var scopes []string
	err := row.Scan(&k.ID, &k.Name, &k.Prefix, &scopes, &k.CreatedAt, &k.LastUsedAt, &k.RevokedAt, &k.ExpiresAt)
	for _, s := range scopes {
		k.Scopes = append(k.Scopes, Scope(s))
	}
	return k, err
}
