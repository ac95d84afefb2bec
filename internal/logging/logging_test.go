package logging

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for the flush loop and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestBufferedHoldsInfoAndFlushesOnWarnAndClose(t *testing.T) {
	var out syncBuffer
	// An interval no test run reaches: only Warn and Close may write.
	l, closeFn := New(&out, "text", slog.LevelInfo, time.Hour)
	l.Info("request", "path", "/a")
	l.Info("request", "path", "/b")
	if got := out.String(); got != "" {
		t.Fatalf("info lines were written before a flush: %q", got)
	}
	l.With("component", "geo").Warn("slow tile")
	got := out.String()
	a, b, w := strings.Index(got, "path=/a"), strings.Index(got, "path=/b"), strings.Index(got, "slow tile")
	if a < 0 || b < a || w < b || !strings.Contains(got, "component=geo") {
		t.Fatalf("a warning must write everything before it, in order:\n%s", got)
	}
	l.Info("request", "path", "/c")
	if strings.Contains(out.String(), "path=/c") {
		t.Fatal("an info line after the warning was written at once")
	}
	if err := closeFn(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "path=/c") {
		t.Fatalf("close did not write the held line:\n%s", out.String())
	}
	if err := closeFn(); err != nil {
		t.Fatalf("second close: %v", err)
	}
}

func TestBufferedFlushesOnInterval(t *testing.T) {
	var out syncBuffer
	l, closeFn := New(&out, "json", slog.LevelInfo, 20*time.Millisecond)
	defer closeFn()
	l.Info("request", "path", "/tick")
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(out.String(), `"path":"/tick"`); {
		if time.Now().After(deadline) {
			t.Fatal("the line was not written within the flush interval")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestUnbufferedWritesEachLine(t *testing.T) {
	var out syncBuffer
	l, closeFn := New(&out, "text", slog.LevelInfo, 0)
	defer closeFn()
	l.Debug("hidden")
	l.Info("request", "path", "/now")
	if got := out.String(); !strings.Contains(got, "path=/now") || strings.Contains(got, "hidden") {
		t.Fatalf("got %q", got)
	}
}
