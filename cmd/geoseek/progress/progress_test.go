package progress

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// TestLinesStartWhenTheTotalIsKnown: the first line named 0 files when the
// ticker ran before the walk had counted them.
func TestLinesStartWhenTheTotalIsKnown(t *testing.T) {
	t.Parallel()
	var w syncBuf
	r := New(&w, Options{Label: "uploading", Every: time.Millisecond, Bytes: true})
	time.Sleep(20 * time.Millisecond) // ticks before the total: no line
	r.Total(3, 3e6)
	r.Bytes(1e6)
	r.File(false)
	r.File(true)
	r.File(false)
	r.Close()
	lines := strings.Split(strings.TrimSpace(w.b.String()), "\n")
	if lines[0] != "uploading 3 files" {
		t.Fatalf("first line %q", lines[0])
	}
	last := lines[len(lines)-1]
	if !strings.HasPrefix(last, "uploading: 3 of 3 files (1 failed), ") || !strings.Contains(last, "1.0 of 3.0 MB sent") {
		t.Fatalf("last line %q", last)
	}
}
