package document_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/geoseek/geoseek/document"
	"github.com/geoseek/geoseek/internal/pgtest"
	"github.com/geoseek/geoseek/internal/problem"
)

// bulkLines is n NDJSON lines with external ids prefix0..prefix(n-1); line
// numbers (1-based) are mapped through edit when it is not nil.
func bulkLines(n int, prefix string, edit func(line int) string) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		if edit != nil {
			if s := edit(i + 1); s != "" {
				b.WriteString(s + "\n")
				continue
			}
		}
		fmt.Fprintf(&b, `{"external_id":"%s%d","title":"Title %d","body":"body text %d","tags":["t%d"]}`+"\n", prefix, i, i, i, i%5)
	}
	return b.String()
}

func bulkCount(t *testing.T, db *pgtest.DB, coll string) int {
	t.Helper()
	var n int
	require.NoError(t, db.Pool.QueryRow(context.Background(),
		`SELECT count(*) FROM documents d JOIN collections c ON c.id = d.collection_id WHERE c.name = $1`, coll).Scan(&n))
	return n
}

// Loads larger than one chunk: every chunk is written, ids follow line
// order, and an error in a late chunk leaves nothing behind.
func TestBulkChunks(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	_, err := db.Pool.Exec(ctx, `INSERT INTO collections (name, default_lang) VALUES ('big', 'english')`)
	require.NoError(t, err)
	const n = 301 // three chunks of 100 and one line

	res, err := document.BulkChunked(ctx, db.Pool, "big", strings.NewReader(bulkLines(n, "e", nil)), time.Minute, 100)
	require.NoError(t, err)
	require.Equal(t, document.BulkResult{Inserted: n}, res)
	require.Equal(t, n, bulkCount(t, db, "big"))
	var ordered bool
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT bool_and(ok) FROM (SELECT external_id = 'e' || (row_number() OVER (ORDER BY d.id) - 1) AS ok
		FROM documents d JOIN collections c ON c.id = d.collection_id WHERE c.name = 'big') x`).Scan(&ordered))
	require.True(t, ordered, "ids follow line order")
	var words int
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*) FROM documents WHERE search @@ to_tsquery('english', 'titl & bodi')`).Scan(&words))
	require.Equal(t, n, words, "the search column is filled")

	// Existing ids in some chunks and new ones in others.
	res, err = document.BulkChunked(ctx, db.Pool, "big", strings.NewReader(bulkLines(n+150, "e", nil)), time.Minute, 100)
	require.NoError(t, err)
	require.Equal(t, document.BulkResult{Inserted: 150, Updated: n}, res)
	require.Equal(t, n+150, bulkCount(t, db, "big"))

	for _, tc := range []struct {
		name  string
		edit  func(int) string
		field string
	}{
		{"bad line in the last chunk", func(l int) string {
			if l == 250 {
				return `{"external_id":"new","title":5}`
			}
			return ""
		}, "line 250: title"},
		{"same external_id in two chunks", func(l int) string {
			if l == 3 || l == 270 {
				return `{"external_id":"twice"}`
			}
			return ""
		}, "external_id"},
		{"same external_id within a chunk", func(l int) string {
			if l == 201 || l == 202 {
				return `{"external_id":"twice"}`
			}
			return ""
		}, "external_id"},
	} {
		_, err := document.BulkChunked(ctx, db.Pool, "big", strings.NewReader(bulkLines(n, "x", tc.edit)), time.Minute, 100)
		var ve *problem.ValidationError
		require.ErrorAs(t, err, &ve, tc.name)
		require.Equal(t, tc.field, ve.Field, tc.name)
		require.Equal(t, n+150, bulkCount(t, db, "big"), "%s: nothing written", tc.name)
	}
	_, err = document.BulkChunked(ctx, db.Pool, "big", strings.NewReader(bulkLines(n, "x", func(l int) string {
		if l == 3 || l == 270 {
			return `{"external_id":"twice"}`
		}
		return ""
	})), time.Minute, 100)
	require.ErrorContains(t, err, "lines 3 and 270")
}

// A document with one of the load's external ids committed by another
// transaction after the load checked for existing ids: the plain INSERT
// meets a unique violation and the chunk is upserted instead.
func TestBulkConcurrentInsert(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	_, err := db.Pool.Exec(ctx, `INSERT INTO collections (name, default_lang) VALUES ('race', 'english')`)
	require.NoError(t, err)

	other, err := db.Pool.Begin(ctx)
	require.NoError(t, err)
	defer other.Rollback(context.WithoutCancel(ctx))
	_, err = other.Exec(ctx, `INSERT INTO documents (collection_id, external_id, title)
		SELECT id, 'r1', 'from the other writer' FROM collections WHERE name = 'race'`)
	require.NoError(t, err)

	type result struct {
		res document.BulkResult
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := document.Bulk(ctx, db.Pool, "race", strings.NewReader(bulkLines(3, "r", nil)), time.Minute)
		done <- result{res, err}
	}()
	// Wait until the load's INSERT waits for the other transaction's row.
	for {
		var waiting bool
		require.NoError(t, db.Pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO documents%')`).Scan(&waiting))
		if waiting {
			break
		}
		select {
		case r := <-done:
			t.Fatalf("load finished before the other transaction committed: %+v", r)
		case <-time.After(10 * time.Millisecond):
		}
	}
	require.NoError(t, other.Commit(ctx))
	r := <-done
	require.NoError(t, r.err)
	require.Equal(t, document.BulkResult{Inserted: 2, Updated: 1}, r.res)
	var title string
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT title FROM documents WHERE external_id = 'r1'`).Scan(&title))
	require.Equal(t, "Title 1", title)
}

// More chunks than savepoints allowed: the later chunks are upserted, and
// every line is still written once.
func TestBulkManyChunks(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	_, err := db.Pool.Exec(ctx, `INSERT INTO collections (name, default_lang) VALUES ('many', 'english')`)
	require.NoError(t, err)
	res, err := document.BulkChunked(ctx, db.Pool, "many", strings.NewReader(bulkLines(50, "m", nil)), time.Minute, 1)
	require.NoError(t, err)
	require.Equal(t, document.BulkResult{Inserted: 50}, res)
	require.Equal(t, 50, bulkCount(t, db, "many"))
}
