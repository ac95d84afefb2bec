package pg

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
)

// CancelWait is how long a statement under WithCancelRequest whose context
// ended waits for the server to stop it; then its connection is closed, as
// for any other context.
const CancelWait = 2 * time.Second

type cancelRequestKey struct{}

// WithCancelRequest marks ctx so that a statement running when ctx ends is
// stopped by a cancel request, and its connection, back in step with the
// server, stays in the pool. Without the mark pgx closes the connection,
// and the backend that replaces it starts with cold caches, several times
// slower at its first statements (docs/performance.md, "Tail latency at 8
// connections"). The caller sees the server's error (Cancelled). For request contexts; not for waits that
// end by their context on purpose (LISTEN), which pgx leaves unharmed.
func WithCancelRequest(ctx context.Context) context.Context {
	return context.WithValue(ctx, cancelRequestKey{}, true)
}

// WithoutCancelRequest undoes WithCancelRequest for ctx: a statement
// running when ctx ends has its connection closed at once. For probes,
// whose answer must come within their own bound even when the server does
// not answer a cancel request either.
func WithoutCancelRequest(ctx context.Context) context.Context {
	return context.WithValue(ctx, cancelRequestKey{}, nil)
}

// Cancelled reports whether err is a statement the server stopped on a
// cancel request (a context under WithCancelRequest that ended), as
// opposed to a statement timeout.
func Cancelled(err error) bool {
	var e *pgconn.PgError
	return errors.As(err, &e) && e.Code == QueryCanceled && strings.Contains(e.Message, "user request")
}

// cancelHandler is pgx's cancel-request handling for contexts marked by
// WithCancelRequest and its default (a past deadline on the socket) for the
// others.
type cancelHandler struct {
	cancel   pgconn.CancelRequestContextWatcherHandler
	deadline pgconn.DeadlineContextWatcherHandler
	used     ctxwatch.Handler
}

func (h *cancelHandler) HandleCancel(ctx context.Context) {
	h.used = &h.deadline
	if ctx.Value(cancelRequestKey{}) != nil {
		h.used = &h.cancel
	}
	h.used.HandleCancel(ctx)
}

func (h *cancelHandler) HandleUnwatchAfterCancel() { h.used.HandleUnwatchAfterCancel() }
