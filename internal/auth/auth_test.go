package auth_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/geoseek/geoseek/internal/auth"
	"github.com/geoseek/geoseek/internal/pgtest"
	"github.com/geoseek/geoseek/internal/problem"
)

type bundle struct {
	store  *auth.Store
	engine *gin.Engine
	db     *pgtest.DB
}

func setup(t *testing.T, requireReads bool) bundle {
	t.Helper()
	db := pgtest.New(t)
	gin.SetMode(gin.TestMode)
	s := auth.NewStore(db.Pool)
	r := gin.New()
	r.Use(auth.Middleware(s, requireReads))
	ok := func(c *gin.Context) { c.String(http.StatusOK, "ok") }
	r.GET("/read", auth.Require(auth.Read), ok)
	r.POST("/write", auth.Require(auth.Write), ok)
	r.POST("/admin", auth.Require(auth.Admin), ok)
	return bundle{store: s, engine: r, db: db}
}

func (b bundle) do(t *testing.T, method, path, authz string) (int, problem.Details) {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	w := httptest.NewRecorder()
	b.engine.ServeHTTP(w, req)
	var d problem.Details
	if w.Code >= 400 {
		if ct := w.Header().Get("Content-Type"); ct != problem.ContentType {
			t.Fatalf("%s %s: content type %q", method, path, ct)
		}
		if err := json.Unmarshal(w.Body.Bytes(), &d); err != nil {
			t.Fatalf("problem body: %v: %s", err, w.Body)
		}
	}
	return w.Code, d
}

func TestScopes(t *testing.T) {
	t.Parallel()
	b := setup(t, false)
	ctx := context.Background()
	_, reader, err := b.store.Create(ctx, "reader", []auth.Scope{auth.Read})
	if err != nil {
		t.Fatal(err)
	}
	_, writer, err := b.store.Create(ctx, "writer", []auth.Scope{auth.Write})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		method, path, authz string
		want                int
		wantType            string
	}{
		{"GET", "/read", "", 200, ""},
		{"POST", "/write", "", 401, problem.ErrUnauthorized.Type()},
		{"POST", "/write", "Bearer " + reader, 403, problem.ErrForbidden.Type()},
		{"POST", "/write", "Bearer " + writer, 200, ""},
		{"GET", "/read", "Bearer " + writer, 200, ""}, // write implies read
		{"POST", "/admin", "Bearer " + writer, 403, problem.ErrForbidden.Type()},
		{"POST", "/write", "Bearer gsk_not-a-key", 401, problem.ErrUnauthorized.Type()},
		{"POST", "/write", "Basic dXNlcjpwdw==", 401, problem.ErrUnauthorized.Type()},
		// A bad key is refused even where no key is needed: a caller who
		// sends one wants to know it is wrong.
		{"GET", "/read", "Bearer gsk_wrong", 401, problem.ErrUnauthorized.Type()},
	}
	for _, c := range cases {
		code, d := b.do(t, c.method, c.path, c.authz)
		if code != c.want || d.Type != c.wantType {
			t.Errorf("%s %s %q: %d %q, want %d %q", c.method, c.path, c.authz, code, d.Type, c.want, c.wantType)
		}
	}
}

func TestReadsCanRequireKey(t *testing.T) {
	t.Parallel()
	b := setup(t, true)
	_, reader, err := b.store.Create(context.Background(), "reader", []auth.Scope{auth.Read})
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := b.do(t, "GET", "/read", ""); code != 401 {
		t.Fatalf("anonymous read with reads closed: %d", code)
	}
	if code, _ := b.do(t, "GET", "/read", "Bearer "+reader); code != 200 {
		t.Fatalf("keyed read: %d", code)
	}
}

func TestStoreListRevokeAndLastUse(t *testing.T) {
	t.Parallel()
	b := setup(t, false)
	ctx := context.Background()
	k, secret, err := b.store.Create(ctx, "script", []auth.Scope{auth.Write, auth.Read})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, k.Prefix) || len(secret) < 40 {
		t.Fatalf("secret %q prefix %q", secret, k.Prefix)
	}
	if code, _ := b.do(t, "POST", "/write", "Bearer "+secret); code != 200 {
		t.Fatalf("write with new key: %d", code)
	}
	keys, err := b.store.List(ctx)
	if err != nil || len(keys) != 1 || keys[0].LastUsedAt == nil {
		t.Fatalf("list: %+v %v (last use must be recorded)", keys, err)
	}
	if _, err := b.store.Revoke(ctx, k.Prefix); err != nil {
		t.Fatal(err)
	}
	if code, _ := b.do(t, "POST", "/write", "Bearer "+secret); code != 401 {
		t.Fatalf("revoked key still works: %d", code)
	}
	if _, err := b.store.Revoke(ctx, k.Prefix); !errors.Is(err, problem.ErrNotFound) {
		t.Fatalf("second revoke: %v", err)
	}
	if _, err := auth.ParseScopes("read,root"); err == nil {
		t.Fatal("unknown scope accepted")
	}
	if _, _, err := b.store.Create(ctx, " ", []auth.Scope{auth.Read}); err == nil {
		t.Fatal("empty name accepted")
	}
}

// TestRevokeByName: a key is revoked by its name too, and a name (or any
// reference) that matches several active keys revokes none of them.
func TestRevokeByName(t *testing.T) {
	t.Parallel()
	b := setup(t, false)
	ctx := context.Background()
	create := func(name string) auth.Key {
		t.Helper()
		k, _, err := b.store.Create(ctx, name, []auth.Scope{auth.Read})
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	solo := create("solo")
	if k, err := b.store.Revoke(ctx, "solo"); err != nil || k.ID != solo.ID {
		t.Fatalf("revoke by name: %+v %v", k, err)
	}
	t1, t2 := create("temp"), create("temp")
	_, err := b.store.Revoke(ctx, "temp")
	var amb *auth.AmbiguousError
	if !errors.As(err, &amb) || !errors.Is(err, problem.ErrConflict) || len(amb.Keys) != 2 || amb.Keys[0].ID != t1.ID || amb.Keys[1].ID != t2.ID {
		t.Fatalf("ambiguous name: %v %+v", err, amb)
	}
	keys, _ := b.store.List(ctx)
	for _, k := range keys {
		if k.Name == "temp" && k.RevokedAt != nil {
			t.Fatalf("an ambiguous revoke revoked key %d", k.ID)
		}
	}
	// Once one is revoked by id, the name names the other alone.
	if _, err := b.store.Revoke(ctx, strconv.FormatInt(t1.ID, 10)); err != nil {
		t.Fatal(err)
	}
	if k, err := b.store.Revoke(ctx, " temp "); err != nil || k.ID != t2.ID {
		t.Fatalf("revoke by the name left to one key: %+v %v", k, err)
	}
	if _, err := b.store.Revoke(ctx, "temp"); !errors.Is(err, problem.ErrNotFound) {
		t.Fatalf("revoking a name with no active key: %v", err)
	}
}

func TestRequireWithoutMiddlewareFailsClosed(t *testing.T) {
	t.Parallel()
	r := gin.New()
	r.POST("/w", auth.Require(auth.Write), func(c *gin.Context) { c.String(200, "ok") })
	w := httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest("POST", "/w", nil))
	if w.Code != 500 {
		t.Fatalf("got %d", w.Code)
	}
}

// TestRevokedElsewhere: a key revoked by another process (the CLI, another
// instance) stops working once this store's cache entry expires.
func TestRevokedElsewhere(t *testing.T) {
	t.Parallel()
	b := setup(t, false)
	ctx := context.Background()
	auth.SetCacheTTL(b.store, 200*time.Millisecond)
	k, secret, err := b.store.Create(ctx, "script", []auth.Scope{auth.Read})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.Lookup(ctx, secret); err != nil {
		t.Fatal(err)
	}
	if _, err := auth.NewStore(b.db.Pool).Revoke(ctx, k.Prefix); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if _, err := b.store.Lookup(ctx, secret); !errors.Is(err, auth.ErrInvalidKey) {
		t.Fatalf("key revoked elsewhere still accepted after the cache TTL: %v", err)
	}
}

// TestUnknownKeysAreRemembered: an unknown key is answered from the miss
// cache, without a query, until its TTL; a known key from the key cache.
// Shown by taking the table away after the first lookups: a query would fail.
func TestUnknownKeysAreRemembered(t *testing.T) {
	t.Parallel()
	b := setup(t, false)
	ctx := context.Background()
	_, secret, err := b.store.Create(ctx, "script", []auth.Scope{auth.Read})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.Lookup(ctx, "gsk_unknown"); !errors.Is(err, auth.ErrInvalidKey) {
		t.Fatal(err)
	}
	if _, err := b.store.Lookup(ctx, secret); err != nil {
		t.Fatal(err)
	}
	if _, err := b.db.Pool.Exec(ctx, `ALTER TABLE api_keys RENAME TO api_keys_gone`); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := b.store.Lookup(ctx, "gsk_unknown"); !errors.Is(err, auth.ErrInvalidKey) {
			t.Fatalf("a remembered unknown key was looked up again: %v", err)
		}
		if _, err := b.store.Lookup(ctx, secret); err != nil {
			t.Fatalf("a cached key was looked up again: %v", err)
		}
	}
	// Another unknown key does cost a query (and here fails with it).
	if _, err := b.store.Lookup(ctx, "gsk_other"); err == nil || errors.Is(err, auth.ErrInvalidKey) {
		t.Fatalf("a new unknown key answered without a query: %v", err)
	}
}

// TestExpiredKey: a key past its expiry is a 401 that says so, whether it
// expired before it was first seen or while it was cached; an expiry not in
// the future is refused.
func TestExpiredKey(t *testing.T) {
	t.Parallel()
	b := setup(t, false)
	ctx := context.Background()
	auth.SetCacheTTL(b.store, time.Hour)
	k, secret, err := b.store.CreateExpiring(ctx, "ci", []auth.Scope{auth.Write}, time.Now().Add(90*24*time.Hour))
	if err != nil || k.ExpiresAt == nil {
		t.Fatalf("%v %+v", err, k)
	}
	if code, _ := b.do(t, "POST", "/write", "Bearer "+secret); code != 200 {
		t.Fatalf("a key before its expiry: %d", code)
	}
	if _, err := b.db.Pool.Exec(ctx, `UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = $1`, k.ID); err != nil {
		t.Fatal(err)
	}
	// The cached entry still holds the old expiry; a fresh store reads the new one.
	fresh := bundle{store: auth.NewStore(b.db.Pool), db: b.db}
	r := gin.New()
	r.Use(auth.Middleware(fresh.store, false))
	r.POST("/write", auth.Require(auth.Write), func(c *gin.Context) { c.Status(200) })
	fresh.engine = r
	code, d := fresh.do(t, "POST", "/write", "Bearer "+secret)
	if code != 401 || !strings.Contains(d.Detail, "expired") {
		t.Fatalf("an expired key: %d %+v", code, d)
	}
	// A key that expires while cached stops at its expiry, not at the TTL.
	k2, secret2, err := b.store.CreateExpiring(ctx, "short", []auth.Scope{auth.Write}, time.Now().Add(300*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.Lookup(ctx, secret2); err != nil {
		t.Fatal(err)
	}
	time.Sleep(400 * time.Millisecond)
	var exp *auth.ExpiredError
	if _, err := b.store.Lookup(ctx, secret2); !errors.As(err, &exp) || !errors.Is(err, auth.ErrInvalidKey) || !exp.At.Equal(*k2.ExpiresAt) {
		t.Fatalf("a cached key past its expiry: %v", err)
	}
	if _, _, err := b.store.CreateExpiring(ctx, "past", []auth.Scope{auth.Read}, time.Now().Add(-time.Minute)); err == nil {
		t.Fatal("an expiry in the past was accepted")
	}
}
