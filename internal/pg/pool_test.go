package pg_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/geoseek/geoseek/internal/pg"
	"github.com/geoseek/geoseek/internal/pgtest"
)

// TestConnectionLifetimesSpread: connections opened together are not all
// renewed together (each renewal is a new backend's slow first
// statements), unless the URL says otherwise.
func TestConnectionLifetimesSpread(t *testing.T) {
	t.Parallel()
	db := pgtest.NewEmpty(t, "")
	ctx := context.Background()
	pool, err := pg.Open(ctx, pg.Config{URL: db.URL, MaxConns: 1}, nil)
	require.NoError(t, err)
	defer pool.Close()
	c := pool.Config()
	require.Positive(t, c.MaxConnLifetime)
	require.Equal(t, c.MaxConnLifetime/4, c.MaxConnLifetimeJitter)

	own, err := pg.Open(ctx, pg.Config{URL: db.URL + "&pool_max_conn_lifetime=10m&pool_max_conn_lifetime_jitter=1s", MaxConns: 1}, nil)
	require.NoError(t, err)
	defer own.Close()
	require.Equal(t, 10*time.Minute, own.Config().MaxConnLifetime)
	require.Equal(t, time.Second, own.Config().MaxConnLifetimeJitter)
}
