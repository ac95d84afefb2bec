package server_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/geoseek/geoseek/internal/server"
)

// BenchmarkMiddleware is the per-request cost of the shared middleware chain
// (request id, access log, recovery, metrics, security headers, timeout) on a
// route that writes 4 KiB, against a bare http.Handler writing the same.
func BenchmarkMiddleware(b *testing.B) {
	body := make([]byte, 4096)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	s := server.New(server.Config{Addr: "127.0.0.1:0"}, nil, nil, logger)
	s.API.GET("/tiles/:collection/:z/:x/:yfile", func(c *gin.Context) { c.Data(http.StatusOK, "application/vnd.mapbox-vector-tile", body) })
	bare := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/vnd.mapbox-vector-tile")
		w.Write(body)
	})
	for _, bc := range []struct {
		name string
		h    http.Handler
	}{{"geoseek", s.Engine()}, {"bare", bare}} {
		b.Run(bc.name, func(b *testing.B) {
			req := httptest.NewRequest("GET", "/tiles/c/4/8/5.mvt", nil)
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				bc.h.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatal(w.Code)
				}
			}
		})
	}
}
