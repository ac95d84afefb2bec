package bench

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// TestTransport sends mixed requests through one Transport from several
// goroutines and checks every status and body byte: a connection reused
// after a body that was not drained to its end would shift the next
// response and fail here.
func TestTransport(t *testing.T) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		body := bytes.Repeat([]byte("x"), n)
		switch r.URL.Path {
		case "/length":
			w.Header().Set("Content-Length", strconv.Itoa(n))
			w.Write(body)
		case "/chunked":
			// Flushing before the end forces chunked encoding.
			w.Write(body[:n/2])
			w.(http.Flusher).Flush()
			w.Write(body[n/2:])
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
		case "/close":
			w.Header().Set("Connection", "close")
			w.Write(body)
		case "/gzip":
			w.Header().Set("Content-Encoding", "gzip")
			zw := gzip.NewWriter(w)
			zw.Write(body)
			zw.Close()
		case "/echo":
			b, _ := io.ReadAll(r.Body)
			w.Write(b)
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()

	tr := &Transport{}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	type call struct {
		method, path string
		n            int
		status       int
	}
	calls := []call{
		{"GET", "/length", 10, 200}, {"GET", "/length", 300 << 10, 200},
		{"GET", "/chunked", 100, 200}, {"GET", "/chunked", 200 << 10, 200},
		{"GET", "/empty", 0, 204}, {"HEAD", "/length", 5000, 200},
		{"GET", "/close", 50, 200}, {"GET", "/gzip", 70 << 10, 200},
		{"POST", "/echo", 90 << 10, 200},
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := range 8 {
		wg.Go(func() {
			for i := range 60 {
				k := calls[(i+w)%len(calls)]
				var body io.Reader
				if k.method == "POST" {
					body = strings.NewReader(strings.Repeat("y", k.n))
				}
				req, _ := http.NewRequest(k.method, fmt.Sprintf("%s%s?n=%d", srv.URL, k.path, k.n), body)
				req.Header.Set("Accept-Encoding", "gzip")
				resp, err := c.Do(req)
				if err != nil {
					errs <- fmt.Errorf("%s %s: %v", k.method, k.path, err)
					return
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				want := k.n
				switch {
				case k.method == "HEAD" || k.status == 204:
					want = 0
				case k.path == "/gzip":
					zr, zerr := gzip.NewReader(bytes.NewReader(b))
					if zerr == nil {
						b, err = io.ReadAll(zr)
					} else {
						err = zerr
					}
				}
				if err != nil || resp.StatusCode != k.status || len(b) != want {
					errs <- fmt.Errorf("%s %s n=%d: status %d, %d bytes, %v", k.method, k.path, k.n, resp.StatusCode, len(b), err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// Keep-alive works: far fewer connections than the 480 requests
	// (each /close request costs one).
	if n := conns.Load(); n > int64(8+8*60/len(calls)+8) {
		t.Errorf("%d connections for 480 requests: connections are not reused", n)
	}
}

// TestTransportEarlyClose: a body closed before its end is drained, so the
// connection still serves the next request correctly.
func TestTransportEarlyClose(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, r.URL.Path+strings.Repeat(".", 100<<10))
	}))
	defer srv.Close()
	c := &http.Client{Transport: &Transport{}}
	for i := range 5 {
		resp, err := c.Get(fmt.Sprintf("%s/r%d", srv.URL, i))
		if err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 3)
		io.ReadFull(resp.Body, b)
		resp.Body.Close()
		if string(b) != fmt.Sprintf("/r%d", i) {
			t.Fatalf("request %d read %q: a previous response's bytes", i, b)
		}
	}
}
