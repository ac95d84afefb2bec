package document

import (
	"fmt"
	"os"
	"strconv"
	"sync"

	"github.com/gin-gonic/gin"

	"github.com/geoseek/geoseek/internal/auth"
	"github.com/geoseek/geoseek/internal/httpx"
	"github.com/geoseek/geoseek/internal/problem"
)

// Streaming writes (NDJSON bulk loads, GeoJSON imports) stage the request
// body in a temporary file and take a database connection only once the
// whole body is there and has been checked line by line: a client that
// sends slowly then holds a file and a place under its key's stream cap,
// never one of the pool's connections, so slow or stalled uploads cannot
// starve searches. The load itself stays one transaction, all or nothing.

// StageFile creates the temporary file a streaming write stages its body
// in, in dir (the system's temporary directory when empty). The file is
// unlinked at once: it has no name, so it cannot outlive the process (not
// even a kill -9) and needs no sweeping; closing it frees its space.
func StageFile(dir string) (*os.File, error) {
	f, err := os.CreateTemp(dir, "geoseek-stage-*")
	if err != nil {
		return nil, fmt.Errorf("document: stage body: %w", err)
	}
	if err := os.Remove(f.Name()); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("document: stage body: %w", err)
	}
	return f, nil
}

// StreamLimit caps how many streaming writes one API key (or, without a
// key, one client address) runs at once. A request over the cap is answered
// 429 with Retry-After at once, before its body is read.
type StreamLimit struct {
	max  int
	mu   sync.Mutex
	runs map[string]int
}

// NewStreamLimit returns a limit of max streams per key; max <= 0 means no
// limit.
func NewStreamLimit(max int) *StreamLimit {
	return &StreamLimit{max: max, runs: map[string]int{}}
}

// Middleware holds a place for the request while the handlers after it
// run.
func (l *StreamLimit) Middleware() gin.HandlerFunc {
	return func(c *gin.Context) {
		release, err := l.Enter(c)
		if err != nil {
			httpx.Respond(c, err)
			return
		}
		defer release()
		c.Next()
	}
}

// Enter takes a place for the request's key and returns the function that
// gives it back, or, over the cap, a problem.ErrRateLimited error (and sets
// Retry-After). A nil StreamLimit has no cap.
func (l *StreamLimit) Enter(c *gin.Context) (release func(), err error) {
	if l == nil || l.max <= 0 {
		return func() {}, nil
	}
	who := "addr:" + c.ClientIP()
	if k, ok := auth.KeyFrom(c); ok {
		who = "key:" + strconv.FormatInt(k.ID, 10)
	}
	if !l.acquire(who) {
		c.Header("Retry-After", "5")
		return nil, problem.Wrap(problem.ErrRateLimited, fmt.Sprintf(
			"this API key already runs %d streaming writes (bulk loads, imports), the most it may run at once; retry when one has finished", l.max))
	}
	return func() { l.release(who) }, nil
}

func (l *StreamLimit) acquire(who string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.runs[who] >= l.max {
		return false
	}
	l.runs[who]++
	return true
}

func (l *StreamLimit) release(who string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.runs[who]--; l.runs[who] <= 0 {
		delete(l.runs, who)
	}
}
