package main

import (
	"strings"
	"testing"
	"time"

	"github.com/geoseek/geoseek/internal/pgtest"
)

func TestParseExpiry(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"":                     {},
		"90d":                  now.AddDate(0, 0, 90),
		"2w":                   now.AddDate(0, 0, 14),
		"36h":                  now.Add(36 * time.Hour),
		"2027-03-31":           time.Date(2027, 3, 31, 0, 0, 0, 0, time.UTC),
		"2027-03-31T12:00:00Z": time.Date(2027, 3, 31, 12, 0, 0, 0, time.UTC),
	} {
		got, err := parseExpiry(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("%q: %v %v, want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"0d", "-5d", "soon", "90x", "2020-01-01", "d", "-1h"} {
		if _, err := parseExpiry(in, now); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

// TestKeysExpire: keys create --expires sets the expiry, keys list shows
// it, and a malformed one is a usage error.
func TestKeysExpire(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	vars := map[string]string{"DATABASE_URL": db.URL}
	out, stderr, err := run(t, vars, "keys", "create", "--name", "ci", "--expires", "90d")
	want := time.Now().AddDate(0, 0, 90).UTC().Format("2006-01-02")
	if err != nil || !strings.Contains(out, "expires "+want) {
		t.Fatalf("keys create --expires 90d: %v\n%s%s", err, out, stderr)
	}
	if _, _, err := run(t, vars, "keys", "create", "--name", "forever"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := run(t, vars, "keys", "create", "--name", "x", "--expires", "someday"); exitCode(err) != 2 || !strings.Contains(err.Error(), "--expires") {
		t.Fatalf("a malformed --expires: %v", err)
	}
	out, _, err = run(t, vars, "keys", "list")
	if err != nil || !strings.Contains(out, "EXPIRES") || !strings.Contains(out, want+"T") || !strings.Contains(out, "never") {
		t.Fatalf("keys list: %v\n%s", err, out)
	}
	if _, err := db.Pool.Exec(t.Context(), `UPDATE api_keys SET expires_at = now() - interval '1 day' WHERE name = 'ci'`); err != nil {
		t.Fatal(err)
	}
	if out, _, err = run(t, vars, "keys", "list"); err != nil || !strings.Contains(out, "expired") {
		t.Fatalf("keys list with an expired key: %v\n%s", err, out)
	}
}
