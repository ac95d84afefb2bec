package document

import (
	"context"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// Settings of the bulk transaction, all SET LOCAL (they end with it).
//
//   - work_mem: the sort of each chunk by line, the transition tables of
//     the statement-level geo triggers and GIN pending-list merges stay in
//     memory instead of spilling to temporary files.
//   - synchronous_commit is left as the server has it. All-or-nothing is
//     atomicity, which asynchronous commit keeps (after a crash the load is
//     either all there or not at all), but a load acknowledged with 200
//     could then be lost in the last few hundred milliseconds before a
//     crash; one commit flush per load costs milliseconds against seconds
//     of indexing, so durability is not traded away.
var bulkSettingsSQL = []string{
	"SET LOCAL work_mem = '256MB'",
}

// bulkSettings sets the statement timeout and bulkSettingsSQL for tx.
func bulkSettings(ctx context.Context, tx pgx.Tx, timeout time.Duration) error {
	if _, err := tx.Exec(ctx, "SELECT set_config('statement_timeout', $1, true)", strconv.FormatInt(timeout.Milliseconds(), 10)); err != nil {
		return err
	}
	for _, q := range bulkSettingsSQL {
		if _, err := tx.Exec(ctx, q); err != nil {
			return err
		}
	}
	return nil
}

// bulkFinish runs before the bulk transaction commits.
func bulkFinish(ctx context.Context, tx pgx.Tx) error {
	return nil
}
