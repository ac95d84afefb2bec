package upload

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// idleReader reads r and calls cancel when no Read has returned for
// timeout: a request body the server stopped taking, or an answer it
// stopped sending, fails instead of hanging. Unlike a deadline on the whole
// request it does not cap how long a large, moving transfer may take.
type idleReader struct {
	r       io.Reader
	timeout time.Duration
	timer   *time.Timer
	mu      sync.Mutex
	fired   bool
}

// newIdleReader wraps r; cancel (may be nil) is called on a timeout, then
// Read returns an error.
func newIdleReader(r io.Reader, timeout time.Duration, cancel context.CancelFunc) *idleReader {
	ir := &idleReader{r: r, timeout: timeout}
	if timeout > 0 {
		ir.timer = time.AfterFunc(timeout, func() {
			ir.mu.Lock()
			ir.fired = true
			ir.mu.Unlock()
			if cancel != nil {
				cancel()
			}
			if c, ok := r.(io.Closer); ok {
				_ = c.Close()
			}
		})
	}
	return ir
}

func (ir *idleReader) Read(p []byte) (int, error) {
	n, err := ir.r.Read(p)
	ir.mu.Lock()
	fired := ir.fired
	ir.mu.Unlock()
	if fired {
		return n, fmt.Errorf("no progress for %s: %w", ir.timeout, errStalled)
	}
	if ir.timer != nil {
		if err != nil {
			// Read to its end: what follows (the server's answer) has
			// bounds of its own.
			ir.timer.Stop()
		} else {
			ir.timer.Reset(ir.timeout)
		}
	}
	return n, err
}

// sendPiece is the size of the pieces a request body is read and written
// in: each piece of a chunked body is a chunk and costs the client and the
// server a few system calls, so 32 KiB pieces (io.Copy's) cost eight times
// the calls of these.
const sendPiece = 256 << 10

// WriteTo copies the body to w in pieces of up to sendPiece (net/http
// prefers it to Read). It neither calls w's ReadFrom nor hands r a buffer
// of another size.
func (ir *idleReader) WriteTo(w io.Writer) (int64, error) {
	buf := make([]byte, sendPiece)
	var total int64
	for {
		n, err := ir.Read(buf)
		if n > 0 {
			m, werr := w.Write(buf[:n])
			total += int64(m)
			if werr != nil {
				return total, werr
			}
		}
		if errors.Is(err, io.EOF) {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// stop ends the watch.
func (ir *idleReader) stop() {
	if ir.timer != nil {
		ir.timer.Stop()
	}
}

// errStalled is wrapped by the error of a transfer that made no progress
// for the configured timeout.
var errStalled = fmt.Errorf("stalled")
