package bench

import (
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// byteRelay is a TCP relay in front of the server that counts the bytes
// the server sends to the browser. The page's own Resource Timing misses
// what its workers fetch (MapLibre's vector tiles), the relay misses nothing.
type byteRelay struct {
	ln       net.Listener
	upstream string
	sent     atomic.Int64
	wg       sync.WaitGroup

	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

// newByteRelay listens on loopback and relays each connection to
// upstream (host:port); close stops it and its connections.
func newByteRelay(upstream string) (*byteRelay, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("map bench: relay: %w", err)
	}
	w := &byteRelay{ln: ln, upstream: upstream, conns: map[net.Conn]struct{}{}}
	w.wg.Add(1)
	go w.serve()
	return w, nil
}

func (w *byteRelay) url() string { return "http://" + w.ln.Addr().String() }

func (w *byteRelay) serve() {
	defer w.wg.Done()
	for {
		c, err := w.ln.Accept()
		if err != nil {
			return
		}
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			w.relay(c)
		}()
	}
}

// track adds c to the open connections, or closes it when the relay stopped.
func (w *byteRelay) track(c net.Conn, open bool) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !open {
		delete(w.conns, c)
		return true
	}
	if w.conns == nil {
		_ = c.Close()
		return false
	}
	w.conns[c] = struct{}{}
	return true
}

func (w *byteRelay) relay(c net.Conn) {
	d := net.Dialer{Timeout: 10 * time.Second}
	up, err := d.Dial("tcp", w.upstream)
	if err != nil {
		_ = c.Close()
		return
	}
	if !w.track(c, true) || !w.track(up, true) {
		_ = c.Close()
		_ = up.Close()
		return
	}
	defer func() {
		w.track(c, false)
		w.track(up, false)
		_ = c.Close()
		_ = up.Close()
	}()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(up, c)
		_ = up.Close()
	}()
	_, _ = io.Copy(relayCount{c, &w.sent}, up)
	_ = c.Close()
	<-done
}

type relayCount struct {
	w io.Writer
	n *atomic.Int64
}

// Write counts p before it is sent, so a reader who has the bytes also
// sees them counted; a short write takes back what was not sent.
func (c relayCount) Write(p []byte) (int, error) {
	c.n.Add(int64(len(p)))
	n, err := c.w.Write(p)
	c.n.Add(int64(n - len(p)))
	return n, err
}

// close stops the relay and its connections and waits for them to end.
func (w *byteRelay) close() {
	_ = w.ln.Close()
	w.mu.Lock()
	for c := range w.conns {
		_ = c.Close()
	}
	w.conns = nil
	w.mu.Unlock()
	w.wg.Wait()
}
