package jobs

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// TestRiverInfoIsDebug: River's Info lines reach an Info log only when it
// logs Debug too; its warnings keep their level.
func TestRiverInfoIsDebug(t *testing.T) {
	for _, level := range []slog.Level{slog.LevelInfo, slog.LevelDebug} {
		var buf bytes.Buffer
		l := quieter(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: level}))).With("client", "c1")
		l.Info("producer: Producer job counts", "queue", "embeddings")
		l.Warn("producer: Error fetching jobs")
		out := buf.String()
		if !strings.Contains(out, "level=WARN msg=\"producer: Error fetching jobs\" client=c1") {
			t.Errorf("%v log: the warning is missing or changed:\n%s", level, out)
		}
		if got, want := strings.Contains(out, "level=DEBUG msg=\"producer: Producer job counts\" client=c1 queue=embeddings"), level == slog.LevelDebug; got != want ||
			strings.Contains(out, "level=INFO") {
			t.Errorf("%v log: River's Info line as Debug %v, want %v:\n%s", level, got, want, out)
		}
	}
	if quieter(nil) != nil {
		t.Error("no logger must stay no logger (River's own default)")
	}
}
