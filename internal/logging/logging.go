// Package logging builds geoseek's slog loggers, with an optional write
// buffer for the server's per-request lines.
//
// Why a buffer: the access log writes one line per request, and unbuffered
// that is one write(2) per request to stderr, usually a pipe to a log
// collector, a cost comparable to serving a small vector tile
// (docs/performance.md, "Access log buffer"). Buffered, the lines leave in
// 256 KiB writes, as nginx's
// "access_log … buffer= flush=" does.
//
// What a buffer must not do is hide trouble: a record at Warn or above
// flushes the buffer at once (with everything before it, in order), so errors
// reach the collector as they happen, and Close flushes the rest. A crash
// that kills the process loses at most one flush interval of lower lines.
package logging

import (
	"context"
	"io"
	"log/slog"
	"time"

	"go.uber.org/zap/zapcore"
)

// bufferSize is the most a buffered logger holds before writing.
const bufferSize = 256 << 10

// New returns a logger writing format ("json", else text) records at level
// and above to w. With flush > 0 the lines are buffered and written when the
// buffer fills, every flush interval, at each Warn or higher record, and at
// Close; with flush == 0 each line is written as it is logged. Close must be
// called before the process exits; it is safe to call more than once.
func New(w io.Writer, format string, level slog.Leveler, flush time.Duration) (logger *slog.Logger, closeFn func() error) {
	opts := &slog.HandlerOptions{Level: level}
	var bw *zapcore.BufferedWriteSyncer
	if flush > 0 {
		// noSync: a flush hands the bytes to w; fsync of a log file on
		// every warning is not this logger's business.
		bw = &zapcore.BufferedWriteSyncer{WS: noSync{w}, Size: bufferSize, FlushInterval: flush}
		w = bw
	}
	var h slog.Handler
	if format == "json" {
		h = slog.NewJSONHandler(w, opts)
	} else {
		h = slog.NewTextHandler(w, opts)
	}
	if bw == nil {
		return slog.New(h), func() error { return nil }
	}
	return slog.New(&flushingHandler{Handler: h, w: bw}), bw.Stop
}

type noSync struct{ io.Writer }

func (noSync) Sync() error { return nil }

// flushingHandler writes out the buffer after each record at Warn or above.
type flushingHandler struct {
	slog.Handler
	w *zapcore.BufferedWriteSyncer
}

func (h *flushingHandler) Handle(ctx context.Context, r slog.Record) error {
	err := h.Handler.Handle(ctx, r)
	if r.Level >= slog.LevelWarn {
		if ferr := h.w.Sync(); err == nil {
			err = ferr
		}
	}
	return err
}

func (h *flushingHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &flushingHandler{Handler: h.Handler.WithAttrs(as), w: h.w}
}

func (h *flushingHandler) WithGroup(name string) slog.Handler {
	return &flushingHandler{Handler: h.Handler.WithGroup(name), w: h.w}
}
