package document

import (
	"context"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// Where a bulk load's time goes (measured 2026-11-23 on 2 shared cores,
// 50,000 Debian package descriptions of ~580 bytes, CPU time of the server
// backend, which is the bottleneck: PostgreSQL writes a table from one
// backend, so one core does all of the work below):
//
//	                                  empty table   1M-row table
//	every index (14) + triggers         590 µs/doc    900 µs/doc
//	  of which the RUM index            450 µs        720 µs  (+27 kB WAL/doc)
//	  of which the trigram GIN (title)   10 µs         58 µs
//	  of which the GIN on search         10-30 µs      54 µs
//	  props, tags GIN, GiST, B-trees,
//	  statement-level geo triggers      each ≤ 15 µs (within the noise)
//	no index, no trigger                 60 µs
//	  of which the tsvector (generated)  48 µs  (to_tsvector alone: 34 µs)
//	no index, no trigger, no tsvector    12 µs  (heap + COPY parsing)
//	Go: decode + validate one line       16-26 µs (BenchmarkBulkDecode)
//
// So 50,000 docs/s on two cores (40 µs of CPU per document in all) is out
// of reach with a stored tsvector: the tsvector, the JSON decoding and the
// heap insert alone need ~75 µs per document, and the backend inserting
// runs on one core (≤ 16,500 docs/s measured with no index at all). What
// the code does: decoding overlaps indexing (chunks), plain INSERT instead
// of INSERT … ON CONFLICT while no id exists (~10%). Measured and not
// adopted: a larger gin_pending_list_limit with gin_clean_pending_list
// before commit (no gain), GIN fastupdate off (2x slower), wal_compression
// (19% less WAL for 15% more CPU), COPY straight into documents instead of
// INSERT … SELECT (same cost).

// bulkSettings sets the statement timeout of tx (a large load runs for
// minutes). Nothing else is changed:
//   - work_mem: chunks keep each sort and the geo triggers' transition
//     tables to a few MB, within the default (256MB measured no faster).
//   - synchronous_commit stays as the server has it. All-or-nothing is
//     atomicity, which asynchronous commit keeps (after a crash a load is
//     all there or not at all), but a load acknowledged with 200 could then
//     be lost in the last few hundred milliseconds before a crash; one commit
//     flush per load costs milliseconds against seconds of indexing.
func bulkSettings(ctx context.Context, tx pgx.Tx, timeout time.Duration) error {
	_, err := tx.Exec(ctx, "SELECT set_config('statement_timeout', $1, true)", strconv.FormatInt(timeout.Milliseconds(), 10))
	return err
}
