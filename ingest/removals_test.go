package ingest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/geoseek/geoseek/document"
)

// TestDeletePhotosCollectionFiles: deleting the photos collection removes
// its originals and thumbnails after the rows are gone. When the process
// stops between the two (a purge without the file remover), the start-up
// sweep removes the files instead of adopting them back as new photos. The
// photos collection is recreated empty, so a later upload of the same
// bytes is stored anew.
func TestDeletePhotosCollectionFiles(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	ctx := context.Background()
	var sums [][]byte
	for _, name := range []string{"exiftool__Apple.jpg", "exiftool__Google.jpg"} {
		p, created, err := b.svc.Ingest(ctx, name, bytes.NewReader(corpusFile(t, name).data))
		require.NoError(t, err)
		require.True(t, created)
		require.NoError(t, b.svc.MakeThumbnails(ctx, p.ID))
		sum, err := ParseSHA256(p.SHA256)
		require.NoError(t, err)
		sums = append(sums, sum)
	}
	thumbs := func() (n int) {
		for _, sum := range sums {
			for _, size := range ThumbSizes {
				if _, err := os.Stat(b.svc.thumbPath(fmt.Sprintf("%x", sum), size)); err == nil {
					n++
				}
			}
		}
		return n
	}
	count := func(sql string) (n int) {
		require.NoError(t, b.db.Pool.QueryRow(ctx, sql).Scan(&n))
		return n
	}
	orig, _ := countOriginals(t, b.dir)
	require.Equal(t, 2, orig)
	require.Positive(t, thumbs())

	// rows committed gone, files not yet removed: a crash in between
	res, err := document.NewLifecycle(b.db.Pool, nil, document.LifecycleConfig{}).DeleteCollection(ctx, Collection)
	require.NoError(t, err)
	require.True(t, res.Done)
	require.Zero(t, count(`SELECT count(*) FROM photos`))
	require.Equal(t, 2, count(`SELECT count(*) FROM photo_file_removals`))
	orig, _ = countOriginals(t, b.dir)
	require.Equal(t, 2, orig)

	rep, err := b.svc.Sweep(ctx, time.Hour)
	require.NoError(t, err)
	require.Zero(t, rep.Adopted)
	require.Equal(t, 2, rep.Deleted)
	require.Zero(t, count(`SELECT count(*) FROM photos`))
	require.Zero(t, count(`SELECT count(*) FROM photo_file_removals`))
	orig, _ = countOriginals(t, b.dir)
	require.Zero(t, orig)
	require.Zero(t, thumbs())

	// the same bytes again: a new photo in the recreated collection
	p, created, err := b.svc.Ingest(ctx, "again.jpg", bytes.NewReader(corpusFile(t, "exiftool__Apple.jpg").data))
	require.NoError(t, err)
	require.True(t, created)
	require.NoError(t, b.svc.MakeThumbnails(ctx, p.ID))
	// a stale removal record of bytes that have a row again keeps the file
	_, err = b.db.Pool.Exec(ctx, `INSERT INTO photo_file_removals (sha256, storage_key) VALUES ($1, $2)`, sums[0], Key(sums[0]))
	require.NoError(t, err)
	n, err := b.svc.RemoveQueuedFiles(ctx)
	require.NoError(t, err)
	require.Zero(t, n)
	orig, _ = countOriginals(t, b.dir)
	require.Equal(t, 1, orig)
	require.Zero(t, count(`SELECT count(*) FROM photo_file_removals`))

	// with the file remover, the delete takes the files at once
	res, err = document.NewLifecycle(b.db.Pool, nil, document.LifecycleConfig{Files: b.svc}).DeleteCollection(ctx, Collection)
	require.NoError(t, err)
	require.True(t, res.Done)
	orig, _ = countOriginals(t, b.dir)
	require.Zero(t, orig)
	require.Zero(t, thumbs())
	require.Zero(t, count(`SELECT count(*) FROM photo_file_removals`))
	require.Equal(t, 1, count(`SELECT count(*) FROM collections WHERE name = 'photos'`))
}
