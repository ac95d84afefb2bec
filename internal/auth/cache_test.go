package auth_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/geoseek/geoseek/internal/auth"
	"github.com/geoseek/geoseek/internal/pgtest"
)

// Concurrent requests with a key that is not cached share one round trip
// instead of each asking the database.
func TestConcurrentLookupsShareOneRoundTrip(t *testing.T) {
	db := pgtest.New(t)
	ctx := context.Background()
	s := auth.NewStore(db.Pool)
	_, secret, err := s.Create(ctx, "herd", []auth.Scope{auth.Read})
	if err != nil {
		t.Fatal(err)
	}
	fresh := auth.NewStore(db.Pool) // nothing cached
	const n = 32
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, err := fresh.Lookup(ctx, secret)
			errs <- err
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	fetches, waits := auth.Fetches(fresh)
	// Goroutines scheduled after the first lookup cached the key do not
	// wait at all; those before it share its round trip.
	if fetches > 2 {
		t.Errorf("%d lookups made %d database round trips (%d waited); want them shared", n, fetches, waits)
	}
}

// A key in steady use is read again before its cache entry expires, in
// the background: across several cache periods no request waits for the
// database after the first, and a revocation made elsewhere still takes
// effect within about a period.
func TestBusyKeyRefreshedAhead(t *testing.T) {
	db := pgtest.New(t)
	ctx := context.Background()
	s := auth.NewStore(db.Pool)
	k, secret, err := s.Create(ctx, "busy", []auth.Scope{auth.Read})
	if err != nil {
		t.Fatal(err)
	}
	const ttl = 200 * time.Millisecond
	busy := auth.NewStore(db.Pool)
	auth.SetCacheTTL(busy, ttl)
	end := time.Now().Add(5 * ttl)
	for time.Now().Before(end) {
		if _, err := busy.Lookup(ctx, secret); err != nil {
			t.Fatal(err)
		}
		time.Sleep(ttl / 20)
	}
	fetches, waits := auth.Fetches(busy)
	if waits != 1 {
		t.Errorf("over 5 cache periods %d lookups waited for the database; want only the first", waits)
	}
	if fetches < 3 {
		t.Errorf("the key was read %d times over 5 cache periods; want it refreshed ahead each period", fetches)
	}
	// Revoked through another store (another instance, or the CLI).
	if _, err := s.Revoke(ctx, k.Prefix); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * ttl)
	for {
		_, err := busy.Lookup(ctx, secret)
		if errors.Is(err, auth.ErrInvalidKey) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatal("a revoked key still worked after 20 cache periods")
		}
		time.Sleep(ttl / 20)
	}
}
