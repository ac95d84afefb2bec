package jobs

import (
	"context"
	"log/slog"
)

// quieter gives River a logger whose Info lines are Debug lines: River
// reports each queue's job counts every few seconds while jobs run, and its
// client's start and stop, which would fill an Info log; its warnings and
// errors (a failed fetch, a stuck job) keep their level.
func quieter(l *slog.Logger) *slog.Logger {
	if l == nil {
		return nil
	}
	return slog.New(demoteInfo{l.Handler()})
}

type demoteInfo struct{ h slog.Handler }

func demote(level slog.Level) slog.Level {
	if level == slog.LevelInfo {
		return slog.LevelDebug
	}
	return level
}

func (d demoteInfo) Enabled(ctx context.Context, level slog.Level) bool {
	return d.h.Enabled(ctx, demote(level))
}

func (d demoteInfo) Handle(ctx context.Context, r slog.Record) error {
	r.Level = demote(r.Level)
	return d.h.Handle(ctx, r)
}

func (d demoteInfo) WithAttrs(attrs []slog.Attr) slog.Handler {
	return demoteInfo{d.h.WithAttrs(attrs)}
}

func (d demoteInfo) WithGroup(name string) slog.Handler { return demoteInfo{d.h.WithGroup(name)} }
