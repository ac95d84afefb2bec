package upload

import (
	"sync"
	"time"
)

// tally counts a run's outcomes from many goroutines.
type tally struct {
	mu       sync.Mutex
	sum      Summary
	toSendB  int64
	progress Progress
	onResult func(Result)
}

// record counts r and hands it on, one call at a time.
func (t *tally) record(r Result) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch r.Outcome {
	case Created:
		t.sum.Created++
	case Duplicate:
		t.sum.Duplicate++
	case Skipped:
		t.sum.Skipped++
	default:
		t.sum.Failed++
	}
	if t.onResult != nil {
		t.onResult(r)
	}
	t.progress.File(r.Outcome == Failed)
}

func (t *tally) sent(n int64) {
	t.mu.Lock()
	t.sum.BytesSent += n
	t.mu.Unlock()
	t.progress.Bytes(n)
}

// toSend adds a file the server lacks to the bytes to send.
func (t *tally) toSend(size int64) {
	t.mu.Lock()
	t.toSendB += size
	files, b := t.sum.Files, t.toSendB
	t.mu.Unlock()
	t.progress.Total(files, b)
}

// wouldSend counts, in a dry run, a file the server lacks.
func (t *tally) wouldSend(size int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sum.WouldSend++
	t.sum.WouldSendBytes += size
}

func (t *tally) summary(elapsed time.Duration) Summary {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.sum
	s.ElapsedSeconds = elapsed.Seconds()
	if s.ElapsedSeconds > 0 {
		s.FilesPerSecond = float64(s.Created+s.Duplicate) / s.ElapsedSeconds
		s.MBPerSecond = float64(s.BytesSent) / 1e6 / s.ElapsedSeconds
	}
	return s
}
