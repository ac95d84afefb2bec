package document

import (
	"context"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// A bulk load's time is PostgreSQL's: one backend writes the table, so one
// core does the indexing, the stored tsvector and the triggers, and the Go
// side overlaps decoding with it (chunks). Where that time goes, and the
// settings measured and not adopted, are in docs/performance.md ("Bulk
// load: where a document's time goes").

// bulkSettings sets the statement timeout of tx (a large load runs for
// minutes). Nothing else is changed:
//   - work_mem: chunks keep each sort and the geo triggers' transition
//     tables to a few MB, within the default (a larger one measured no
//     faster).
//   - synchronous_commit stays as the server has it. All-or-nothing is
//     atomicity, which asynchronous commit keeps (after a crash a load is
//     all there or not at all), but a load acknowledged with 200 could then
//     be lost in the last few hundred milliseconds before a crash; one commit
//     flush per load costs milliseconds against seconds of indexing.
func bulkSettings(ctx context.Context, tx pgx.Tx, timeout time.Duration) error {
	_, err := tx.Exec(ctx, "SELECT set_config('statement_timeout', $1, true)", strconv.FormatInt(timeout.Milliseconds(), 10))
	return err
}
