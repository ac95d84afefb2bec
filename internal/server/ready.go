package server

import (
	"context"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/geoseek/geoseek/internal/pg"
	"github.com/geoseek/geoseek/migrations"
)

// Readiness answers /readyz: is the database reachable, is its schema the one
// this binary expects, which extensions are enabled, and how deep the job
// queue is. It queries live on each call (a few cheap statements), so it turns
// unready when the database goes away and ready again when it returns.
type Readiness struct {
	Pool *pgxpool.Pool
	// Timeout bounds the whole check; load balancers probe often.
	Timeout time.Duration
	// Embeddings, when set, reports the embedding backlog (documents
	// waiting for or failing to get their vector). It informs; it does not
	// make the server unready. A nil result is left out.
	Embeddings func(ctx context.Context) (any, error)
}

// Report is the /readyz body.
type Report struct {
	Status     string             `json:"status"`
	Database   string             `json:"database"`
	Error      string             `json:"error,omitempty"`
	Schema     *migrations.Status `json:"schema,omitempty"`
	Extensions map[string]string  `json:"extensions,omitempty"`
	Features   map[string]string  `json:"features,omitempty"`
	Queue      map[string]int64   `json:"queue,omitempty"`
	Embeddings any                `json:"embeddings,omitempty"`
}

// Check runs the readiness checks.
func (r *Readiness) Check(ctx context.Context) (Report, bool) {
	to := r.Timeout
	if to == 0 {
		to = 2 * time.Second
	}
	// Within to, a hung database included: no cancel request (and its
	// CancelWait) on the way out.
	ctx, cancel := context.WithTimeout(pg.WithoutCancelRequest(ctx), to)
	defer cancel()
	rep := Report{Status: "unready", Database: "unreachable"}
	if r.Pool == nil {
		rep.Error = "no database configured"
		return rep, false
	}
	if err := r.Pool.Ping(ctx); err != nil {
		rep.Error = "database: " + err.Error()
		return rep, false
	}
	rep.Database = "ok"
	st, err := migrations.CurrentStatus(ctx, r.Pool)
	if err != nil {
		rep.Error = "schema: " + err.Error()
		return rep, false
	}
	rep.Schema = &st
	rep.Extensions = map[string]string{}
	rows, err := r.Pool.Query(ctx, `SELECT extname, extversion FROM pg_extension WHERE extname <> 'plpgsql'`)
	if err == nil {
		for rows.Next() {
			var n, v string
			if rows.Scan(&n, &v) == nil {
				rep.Extensions[n] = v
			}
		}
		rows.Close()
	}
	rep.Features = map[string]string{}
	rows, err = r.Pool.Query(ctx, `SELECT name, version FROM schema_features`)
	if err == nil {
		for rows.Next() {
			var n, v string
			if rows.Scan(&n, &v) == nil {
				rep.Features[n] = v
			}
		}
		rows.Close()
	}
	rep.Queue = map[string]int64{}
	rows, err = r.Pool.Query(ctx, `SELECT state::text, count(*) FROM river_job
	                                WHERE state IN ('available', 'running', 'retryable', 'scheduled') GROUP BY state`)
	if err == nil {
		for rows.Next() {
			var s string
			var n int64
			if rows.Scan(&s, &n) == nil {
				rep.Queue[s] = n
			}
		}
		rows.Close()
	}
	if r.Embeddings != nil {
		v, err := r.Embeddings(ctx)
		switch {
		case err != nil:
			rep.Embeddings = map[string]string{"error": err.Error()}
		case v != nil:
			rep.Embeddings = v
		}
	}
	if !st.Current {
		rep.Error = "schema is behind this binary: run `geoseek migrate`"
		return rep, false
	}
	rep.Status = "ready"
	return rep, true
}

func (s *Server) readyz(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	rep, ok := s.ready.Check(c.Request.Context())
	code := http.StatusOK
	if !ok {
		code = http.StatusServiceUnavailable
	}
	c.JSON(code, rep)
}
