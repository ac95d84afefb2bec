package geo

import (
	"context"
	"encoding/json"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/maptile"
	"github.com/stretchr/testify/require"

	"github.com/geoseek/geoseek/document"
)

// TestDeletedCollectionIsGone: once a collection is deleted, its tiles,
// items and clusters answer 404 at once (its cached row and tiles are
// dropped when the delete's notification arrives, long before the
// collection cache's lifetime), the other caches hear of it
// (OnCollectionChange), and /collections lists neither it nor a
// collection still being purged.
func TestDeletedCollectionIsGone(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.importSeq(t, "places", []string{
		point(13.4050, 52.5200, `"title":"Berlin"`),
		point(2.3522, 48.8566, `"title":"Paris"`),
	})
	var told atomic.Int64
	b.h.Service().opts.OnCollectionChange = func(id int64) { told.Store(id) }
	b.watch(t)
	z4 := placesTile(maptile.At(orb.Point{13.405, 52.52}, 4))
	for _, p := range []string{z4, z4, "/collections/places/items", "/collections/places/clusters?zoom=2"} {
		resp, body := b.get(t, p)
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s: %s", p, body)
	}
	var id int64
	require.NoError(t, b.db.Pool.QueryRow(ctx, `SELECT id FROM collections WHERE name = 'places'`).Scan(&id))

	_, err := document.NewLifecycle(b.db.Pool, nil, document.LifecycleConfig{}).DeleteCollection(ctx, "places")
	require.NoError(t, err)
	bound := time.Now().Add(collectionTTL / 4)
	for told.Load() != id {
		require.True(t, time.Now().Before(bound), "no change notification within %s", collectionTTL/4)
		time.Sleep(2 * time.Millisecond)
	}
	for _, p := range []string{z4, "/collections/places/items", "/collections/places/clusters?zoom=2", "/collections/places"} {
		resp, body := b.get(t, p)
		require.Equal(t, http.StatusNotFound, resp.StatusCode, "%s: %s", p, body)
	}

	// a collection marked deleted whose rows are still being purged
	_, err = b.db.Pool.Exec(ctx, `INSERT INTO collections (name) VALUES ('purging'), ('kept')`)
	require.NoError(t, err)
	_, err = b.db.Pool.Exec(ctx, `UPDATE collections SET name = NULL, deleted_at = now() WHERE name = 'purging'`)
	require.NoError(t, err)
	resp, body := b.get(t, "/collections")
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	var list struct {
		Collections []struct {
			ID string `json:"id"`
		} `json:"collections"`
	}
	require.NoError(t, json.Unmarshal(body, &list))
	var names []string
	for _, c := range list.Collections {
		names = append(names, c.ID)
	}
	require.ElementsMatch(t, []string{"kept", "photos"}, names)
}
