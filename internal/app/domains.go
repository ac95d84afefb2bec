package app

import (
	"context"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/geoseek/geoseek/internal/server"
)

// wireDomains builds each domain's service and registers its routes and
// workers, and returns how many worker kinds it added. Keep this the only place that knows every domain.
func (a *App) wireDomains(ctx context.Context, opts Options, pool *pgxpool.Pool, srv *server.Server, workers *river.Workers) (workerKinds int, err error) {
	_ = ctx
	_ = opts
	_ = pool
	_ = srv
	_ = workers
	return 0, nil
}
