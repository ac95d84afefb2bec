package bench

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// Transport is the load generator's HTTP/1.1 keep-alive client: an
// http.RoundTripper that writes each request and reads its response on the
// calling goroutine, over a pool of plain connections.
//
// Why not http.Transport: the load generator shares the machine's two cores
// with the server and PostgreSQL, so its own CPU is taken from what it
// measures. http.Transport hands every request to a write goroutine and
// every response back from a read goroutine, which cost more CPU per
// request than the server's own HTTP handling (docs/performance.md). Dedicated load
// generators (wrk, h2load) keep one connection per worker on one thread for
// the same reason. Request writing and response parsing are still
// net/http's (Request.Write, http.ReadResponse), so the bytes on the wire
// and the status, header and body handling are the standard ones; only the
// connection handling is this file's.
//
// It speaks plain http:// to one or more hosts, without proxies, TLS or
// HTTP/2. A connection goes back to the pool only after its response body
// was read to the end and closed, and when neither side asked to close it.
type Transport struct {
	mu   sync.Mutex
	idle map[string][]*rawConn
	// MaxIdlePerHost bounds the pool per host (default 64).
	MaxIdlePerHost int
	dialer         net.Dialer
}

// roundTripTimeout bounds a request whose context has no deadline.
const roundTripTimeout = 5 * time.Minute

type rawConn struct {
	c  net.Conn
	br *bufio.Reader
	bw *bufio.Writer
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "http" {
		return nil, errors.New("bench transport: only http:// URLs")
	}
	host := req.URL.Host
	rc, reused, err := t.get(req, host)
	if err != nil {
		closeBody(req)
		return nil, err
	}
	resp, err := rc.roundTrip(req)
	if err != nil && reused {
		// The server may have closed an idle connection: retry once on a
		// new one when the request can be sent again.
		rc.c.Close()
		if req.Body == nil || req.GetBody != nil {
			if req.GetBody != nil {
				if req.Body, err = req.GetBody(); err != nil {
					return nil, err
				}
			}
			if rc, err = t.dial(req, host); err != nil {
				closeBody(req)
				return nil, err
			}
			resp, err = rc.roundTrip(req)
		}
	}
	if err != nil {
		rc.c.Close()
		return nil, err
	}
	keep := !resp.Close && !req.Close
	resp.Body = &rawBody{ReadCloser: resp.Body, rc: rc, t: t, host: host, keep: keep}
	return resp, nil
}

func (rc *rawConn) roundTrip(req *http.Request) (*http.Response, error) {
	// The connection deadline stands in for http.Client.Timeout, which
	// would cost a timer goroutine per request.
	dl, ok := req.Context().Deadline()
	if !ok {
		dl = time.Now().Add(roundTripTimeout)
	}
	_ = rc.c.SetDeadline(dl)
	if err := req.Write(rc.bw); err != nil {
		return nil, err
	}
	if err := rc.bw.Flush(); err != nil {
		return nil, err
	}
	return http.ReadResponse(rc.br, req)
}

func (t *Transport) get(req *http.Request, host string) (*rawConn, bool, error) {
	t.mu.Lock()
	if l := t.idle[host]; len(l) > 0 {
		rc := l[len(l)-1]
		t.idle[host] = l[:len(l)-1]
		t.mu.Unlock()
		return rc, true, nil
	}
	t.mu.Unlock()
	rc, err := t.dial(req, host)
	return rc, false, err
}

func (t *Transport) dial(req *http.Request, host string) (*rawConn, error) {
	c, err := t.dialer.DialContext(req.Context(), "tcp", host)
	if err != nil {
		return nil, err
	}
	return &rawConn{c: c, br: bufio.NewReaderSize(c, 32<<10), bw: bufio.NewWriterSize(c, 8<<10)}, nil
}

func (t *Transport) put(host string, rc *rawConn) {
	max := t.MaxIdlePerHost
	if max <= 0 {
		max = 64
	}
	t.mu.Lock()
	if t.idle == nil {
		t.idle = map[string][]*rawConn{}
	}
	if len(t.idle[host]) < max {
		t.idle[host] = append(t.idle[host], rc)
		rc = nil
	}
	t.mu.Unlock()
	if rc != nil {
		rc.c.Close()
	}
}

// CloseIdleConnections closes the pooled connections (http.Client calls it).
func (t *Transport) CloseIdleConnections() {
	t.mu.Lock()
	idle := t.idle
	t.idle = nil
	t.mu.Unlock()
	for _, l := range idle {
		for _, rc := range l {
			rc.c.Close()
		}
	}
}

// rawBody returns its connection to the pool when it is closed. Closing a
// body from http.ReadResponse reads what is left of it (as http.Transport
// does for a client), so the next response starts at the right byte; a
// body that fails to drain closes the connection instead.
type rawBody struct {
	io.ReadCloser
	rc   *rawConn
	t    *Transport
	host string
	keep bool
	done bool
}

func (b *rawBody) Close() error {
	if b.done {
		return nil
	}
	b.done = true
	err := b.ReadCloser.Close()
	if b.keep && err == nil {
		b.t.put(b.host, b.rc)
	} else {
		b.rc.c.Close()
	}
	return err
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}
