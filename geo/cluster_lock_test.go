package geo

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/geoseek/geoseek/internal/pgtest"
)

// TestClusterCellsCrossingWritersDoNotDeadlock: two transactions that each
// write a point in the north-east and one in the south-west of a collection,
// in opposite orders, used to lock each other's cluster cells in a cycle
// (SQLSTATE 40P01, one of them rolled back). With the collection lock of
// migration 00022 the second waits for the first and both commit.
func TestClusterCellsCrossingWritersDoNotDeadlock(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	var cid int64
	require.NoError(t, db.Pool.QueryRow(ctx,
		`INSERT INTO collections (name, title, description) VALUES ('crossing', 'crossing', '') RETURNING id`).Scan(&cid))
	insert := func(tx pgx.Tx, lon, lat float64) error {
		_, err := tx.Exec(ctx, `INSERT INTO documents (collection_id, title, geom) VALUES ($1, 'p', ST_SetSRID(ST_MakePoint($2, $3), 4326))`,
			cid, lon, lat)
		return err
	}
	a, err := db.Pool.Begin(ctx)
	require.NoError(t, err)
	defer a.Rollback(context.WithoutCancel(ctx))
	b, err := db.Pool.Begin(ctx)
	require.NoError(t, err)
	defer b.Rollback(context.WithoutCancel(ctx))
	bPID := b.Conn().PgConn().PID()

	require.NoError(t, insert(a, 10, 10)) // A: north-east
	bFirst := make(chan struct{})
	bDone := make(chan error, 1)
	go func() {
		err := insert(b, -10, -10) // B: south-west
		close(bFirst)
		if err == nil {
			err = insert(b, 10, 10) // B: north-east
		}
		if err == nil {
			err = b.Commit(ctx)
		}
		bDone <- err
	}()
	// A goes on once B's first statement has finished or waits for a lock,
	// so that without the lock the two transactions do cross.
	for waiting := false; !waiting; {
		select {
		case <-bFirst:
			waiting = true
			continue
		default:
		}
		require.NoError(t, db.Pool.QueryRow(ctx,
			`SELECT COALESCE(bool_or(wait_event_type = 'Lock'), false) FROM pg_stat_activity WHERE pid = $1`, bPID).Scan(&waiting))
		if !waiting {
			time.Sleep(5 * time.Millisecond)
		}
	}
	errA := insert(a, -10, -10) // A: south-west
	if errA == nil {
		errA = a.Commit(ctx)
	} else {
		_ = a.Rollback(ctx)
	}
	require.NoError(t, errA)
	require.NoError(t, <-bDone)

	// Every point is counted once at every level.
	rows, err := db.Pool.Query(ctx, `SELECT z, sum(count) FROM geo_cluster_cells WHERE collection_id = $1 GROUP BY z ORDER BY z`, cid)
	require.NoError(t, err)
	sums, err := pgx.CollectRows(rows, pgx.RowToStructByPos[struct {
		Z int16
		N int64
	}])
	require.NoError(t, err)
	require.Len(t, sums, 9)
	for _, s := range sums {
		require.Equal(t, int64(4), s.N, "zoom %d", s.Z)
	}
}
