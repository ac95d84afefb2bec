package bench

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The relay counts every byte the server sends, response headers included,
// over kept-alive connections, and stops with its connections open.
func TestByteRelayCounts(t *testing.T) {
	body := strings.Repeat("x", 10000)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, body) }))
	defer srv.Close()
	r, err := newByteRelay(srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{}
	for range 3 {
		resp, err := client.Get(r.url() + "/")
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || string(b) != body {
			t.Fatalf("through the relay: %d bytes, %v", len(b), err)
		}
	}
	if n := r.sent.Load(); n < 3*10000 || n > 3*10000+3*1000 {
		t.Errorf("relay counted %d bytes for three 10,000-byte answers and their headers", n)
	}
	r.close() // a kept-alive connection is still open
	if _, err := client.Get(r.url() + "/"); err == nil {
		t.Error("the relay still answers after close")
	}
}
