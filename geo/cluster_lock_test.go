package geo

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/geoseek/geoseek/document"
	"github.com/geoseek/geoseek/internal/pgtest"
)

// TestClusterCellsCrossingWritersDoNotDeadlock: two transactions that each
// write a point in the north-east and one in the south-west of a collection,
// in opposite orders, used to lock each other's cluster cells in a cycle
// (SQLSTATE 40P01, one of them rolled back). Since migration 00024 a writer
// that finds the collection's fold lock taken appends its deltas to
// geo_cluster_pending instead of touching the cells: both commit, and the
// cells plus the pending deltas count every point once.
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

	// Every point is counted once at every level, folded or still pending
	// (the writer that found the fold lock taken leaves its deltas).
	for z := 0; z <= cellsZoom; z++ {
		var n int64
		require.NoError(t, db.Pool.QueryRow(ctx,
			`SELECT COALESCE(sum(count), 0) FROM geo_cluster_cells_at($1, $2, -1000000, 1000000, -1000000, 1000000)`, cid, z).Scan(&n))
		require.Equal(t, int64(4), n, "zoom %d", z)
	}
}

// TestClusterWritersDoNotQueue: a writer of a collection does not wait for
// another writer's open transaction (before migrations 00024 and 00025 it
// waited until that one committed, for the cluster cells and for the
// collection's stats row), and clusters, tiles and the collection's extents
// count the second writer's point while its deltas are still pending.
func TestClusterWritersDoNotQueue(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	var cid int64
	require.NoError(t, db.Pool.QueryRow(ctx,
		`INSERT INTO collections (name, title, description) VALUES ('queue', 'queue', '') RETURNING id`).Scan(&cid))
	// Each point also grows the collection's extents: the spatial one, and
	// the temporal one by a day (a photo library uploaded in shooting order).
	insert := `INSERT INTO documents (collection_id, title, geom, period)
	           VALUES ($1, 'p', ST_SetSRID(ST_MakePoint($2, $3), 4326),
	                   tstzrange(timestamptz '2020-01-01' + $2 * interval '1 day', timestamptz '2020-01-01' + $2 * interval '1 day', '[]'))`
	_, err := db.Pool.Exec(ctx, insert, cid, 0, 0)
	require.NoError(t, err)
	_, err = db.Pool.Exec(ctx, insert, cid, 1, 1)
	require.NoError(t, err)

	// A inserts and stays open: it folded its own deltas and holds the
	// collection's fold lock until it ends.
	a, err := db.Pool.Begin(ctx)
	require.NoError(t, err)
	defer a.Rollback(context.WithoutCancel(ctx))
	_, err = a.Exec(ctx, insert, cid, 10, 10)
	require.NoError(t, err)

	// B writes into the same cells and commits while A is open. The lock
	// timeout only turns a wait (the old behaviour) into an error instead
	// of a hang; it is never reached otherwise.
	b, err := db.Pool.Begin(ctx)
	require.NoError(t, err)
	defer b.Rollback(context.WithoutCancel(ctx))
	_, err = b.Exec(ctx, `SET LOCAL lock_timeout = '20s'`)
	require.NoError(t, err)
	_, err = b.Exec(ctx, insert, cid, 30, 30)
	require.NoError(t, err, "B waited for A")
	require.NoError(t, b.Commit(ctx))

	var pending int
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*) FROM geo_cluster_pending WHERE collection_id = $1`, cid).Scan(&pending))
	require.Positive(t, pending, "B could not fold while A held the lock: its deltas are pending")

	svc := NewService(db.Pool, nil, Options{})
	world := BBox{MinX: -180, MinY: -90, MaxX: 180, MaxY: 90}
	total := func() int64 {
		t.Helper()
		res, err := svc.Clusters(ctx, "queue", world, 3)
		require.NoError(t, err)
		var n int64
		for _, c := range res.Clusters {
			n += c.Count
		}
		return n
	}
	require.Equal(t, int64(3), total(), "B's point is read from the pending deltas; A's is not committed")
	col, err := svc.Collection(ctx, "queue")
	require.NoError(t, err)
	require.Equal(t, &document.Extent{MinX: 0, MinY: 0, MaxX: 30, MaxY: 30}, col.Extent, "B's growth of the extent is read from the pending stats")
	require.Equal(t, time.Date(2020, 1, 31, 0, 0, 0, 0, time.UTC), col.TMax.UTC())
	// Tiles read the same cells at level z + 1.
	var atLevel int64
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT sum(count) FROM geo_cluster_cells_at($1, 5, -1000, 1000, -1000, 1000)`, cid).Scan(&atLevel))
	require.Equal(t, int64(3), atLevel)

	require.NoError(t, a.Commit(ctx))
	require.Equal(t, int64(4), total())
	var pendingStats int
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*) FROM geo_collection_stats_pending WHERE collection_id = $1`, cid).Scan(&pendingStats))
	require.Positive(t, pendingStats)

	// The next writer folds everything that is pending.
	_, err = db.Pool.Exec(ctx, insert, cid, 40, 40)
	require.NoError(t, err)
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*) FROM geo_cluster_pending WHERE collection_id = $1`, cid).Scan(&pending))
	require.Zero(t, pending)
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*) FROM geo_collection_stats_pending WHERE collection_id = $1`, cid).Scan(&pendingStats))
	require.Zero(t, pendingStats)
	require.Equal(t, int64(5), total())
	var minx, maxx float64
	var tmax time.Time
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT minx, maxx, t_max FROM geo_collection_stats WHERE collection_id = $1`, cid).Scan(&minx, &maxx, &tmax))
	require.Equal(t, []float64{0, 40}, []float64{minx, maxx})
	require.Equal(t, time.Date(2020, 2, 10, 0, 0, 0, 0, time.UTC), tmax.UTC())
	rows, err := db.Pool.Query(ctx, `SELECT z, sum(count) FROM geo_cluster_cells WHERE collection_id = $1 GROUP BY z ORDER BY z`, cid)
	require.NoError(t, err)
	sums, err := pgx.CollectRows(rows, pgx.RowToStructByPos[struct {
		Z int16
		N int64
	}])
	require.NoError(t, err)
	require.Len(t, sums, 9)
	for _, s := range sums {
		require.Equal(t, int64(5), s.N, "zoom %d", s.Z)
	}
}
