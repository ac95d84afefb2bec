package pg

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/puddle/v2"
)

// Unavailable reports whether err says the database cannot be reached or
// cannot serve right now (as opposed to a bug or a bad request): a failed
// connect, a closed pool, a server shutting down or starting up, a
// connection lost mid-query, or the acquire bound (WithAcquireTimeout)
// running out.
func Unavailable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		// Timeouts are the caller's to judge (a statement timeout is the
		// request's fault; an acquire timeout shows in AcquireTimedOut).
		return false
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) || errors.Is(err, puddle.ErrClosedPool) || errors.Is(err, errAcquireTimeout) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case pgErr.Code == "57P01", pgErr.Code == "57P02", pgErr.Code == "57P03", // admin/crash shutdown, cannot connect now
			pgErr.Code == "53300",               // too many connections
			strings.HasPrefix(pgErr.Code, "08"): // connection exception
			return true
		}
		return false
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed)
}

// errAcquireTimeout is the cause of an acquire context that ran past its bound.
var errAcquireTimeout = errors.New("pg: no database connection free within the acquire timeout")

type acquireKey struct{}

type acquireBound struct {
	d        time.Duration
	timedOut atomic.Bool
}

// WithAcquireTimeout marks ctx so that waiting for a pool connection under
// it gives up after d, however long ctx itself has left: a request waits a
// short while for a connection, then is told the service is busy, instead
// of queueing for its whole deadline. Contexts without the mark (jobs,
// migrations) wait as long as their own deadline allows.
func WithAcquireTimeout(ctx context.Context, d time.Duration) context.Context {
	if d <= 0 {
		return ctx
	}
	return context.WithValue(ctx, acquireKey{}, &acquireBound{d: d})
}

// AcquireTimedOut reports whether a pool wait under ctx (marked with
// WithAcquireTimeout) ran out of its bound.
func AcquireTimedOut(ctx context.Context) bool {
	b, ok := ctx.Value(acquireKey{}).(*acquireBound)
	return ok && b.timedOut.Load()
}

type cancelKey struct{}

// acquireTracer applies WithAcquireTimeout's bound: pgxpool runs Acquire
// under the context TraceAcquireStart returns, and queries under the
// caller's own.
type acquireTracer struct{}

func (acquireTracer) TraceAcquireStart(ctx context.Context, _ *pgxpool.Pool, _ pgxpool.TraceAcquireStartData) context.Context {
	b, ok := ctx.Value(acquireKey{}).(*acquireBound)
	if !ok {
		return ctx
	}
	ctx, cancel := context.WithTimeoutCause(ctx, b.d, errAcquireTimeout)
	return context.WithValue(ctx, cancelKey{}, cancel)
}

func (acquireTracer) TraceAcquireEnd(ctx context.Context, _ *pgxpool.Pool, data pgxpool.TraceAcquireEndData) {
	if data.Err != nil && errors.Is(context.Cause(ctx), errAcquireTimeout) {
		if b, ok := ctx.Value(acquireKey{}).(*acquireBound); ok {
			b.timedOut.Store(true)
		}
	}
	if cancel, ok := ctx.Value(cancelKey{}).(context.CancelFunc); ok {
		cancel()
	}
}

func (acquireTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	return ctx
}

func (acquireTracer) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
