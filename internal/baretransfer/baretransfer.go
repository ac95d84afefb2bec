// Package baretransfer is the least that moving a file's bytes to a server
// over HTTP/1.1 costs: a handler that reads a body in 256 KiB reads and
// discards it, and a client that POSTs an *os.File with its length (so
// net/http may use sendfile). Benchmarks of the upload path measure against
// it (docs/performance.md, "System calls per piece, and what the CPU
// allows").
package baretransfer

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"
)

// Sink is a loopback server that discards what is POSTed to it.
type Sink struct {
	url      string
	srv      *http.Server
	client   *http.Client
	received atomic.Int64
}

// Start serves a Sink on a free loopback port.
func Start() (*Sink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Sink{url: "http://" + ln.Addr().String() + "/", client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}}
	s.srv = &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 256<<10)
		for {
			n, err := r.Body.Read(buf)
			s.received.Add(int64(n))
			if err != nil {
				break
			}
		}
		w.WriteHeader(http.StatusCreated)
	})}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// Send POSTs the file at path to the sink.
func (s *Sink) Send(ctx context.Context, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, f)
	if err != nil {
		return err
	}
	req.ContentLength = st.Size()
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("bare transfer of %s: %s", path, resp.Status)
	}
	return nil
}

// Received is how many body bytes the sink has read.
func (s *Sink) Received() int64 { return s.received.Load() }

// Close stops the sink and its client's idle connections.
func (s *Sink) Close() error {
	s.client.CloseIdleConnections()
	return s.srv.Close()
}
