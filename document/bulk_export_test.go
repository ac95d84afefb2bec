package document

import (
	"context"
	"io"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// BulkChunked is Bulk with chunks of at most chunkRows lines, so tests cross
// chunk boundaries with few rows.
func BulkChunked(ctx context.Context, pool *pgxpool.Pool, collection string, r io.Reader, timeout time.Duration, chunkRows int) (BulkResult, error) {
	return bulk(ctx, pool, collection, r, timeout, chunkRows, "")
}
