package document_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/geoseek/geoseek/document"
	"github.com/geoseek/geoseek/internal/pg"
)

// BenchmarkBulkLoad loads the NDJSON file GEOSEEK_BULK_NDJSON into a new
// collection of the database GEOSEEK_BULK_DB per iteration (rows are kept:
// use a scratch database) and reports docs/s and the server backend's CPU
// time per document, read from /proc when the server runs on this machine.
// Skipped unless both are set.
func BenchmarkBulkLoad(b *testing.B) {
	dbURL, file := os.Getenv("GEOSEEK_BULK_DB"), os.Getenv("GEOSEEK_BULK_NDJSON")
	if dbURL == "" || file == "" {
		b.Skip("set GEOSEEK_BULK_DB and GEOSEEK_BULK_NDJSON")
	}
	data, err := os.ReadFile(file)
	if err != nil {
		b.Fatal(err)
	}
	n := bytes.Count(data, []byte("\n"))
	ctx := context.Background()
	pool, err := pg.Open(ctx, pg.Config{URL: dbURL, MaxConns: 1, StatementTimeout: time.Hour}, slog.Default())
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	var pid int
	if err := pool.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
		b.Fatal(err)
	}
	cpu := func() time.Duration {
		s, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return 0
		}
		f := strings.Fields(string(s[bytes.LastIndexByte(s, ')')+2:]))
		u, _ := strconv.Atoi(f[11])
		k, _ := strconv.Atoi(f[12])
		return time.Duration(u+k) * 10 * time.Millisecond
	}
	var wall, server time.Duration
	for b.Loop() {
		name := fmt.Sprintf("bulk_%d", time.Now().UnixNano())
		if _, err := pool.Exec(ctx, `INSERT INTO collections (name, default_lang) VALUES ($1, 'english')`, name); err != nil {
			b.Fatal(err)
		}
		c0, t0 := cpu(), time.Now()
		if _, err := document.Bulk(ctx, pool, name, bytes.NewReader(data), time.Hour); err != nil {
			b.Fatal(err)
		}
		wall += time.Since(t0)
		server += cpu() - c0
	}
	b.ReportMetric(float64(n*b.N)/wall.Seconds(), "docs/s")
	b.ReportMetric(float64(server.Microseconds())/float64(n*b.N), "server-µs/doc")
}
