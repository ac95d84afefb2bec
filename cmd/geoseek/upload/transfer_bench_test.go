package upload

import (
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/geoseek/geoseek/internal/baretransfer"
)

// BenchmarkBareTransfer is the least that moving a photo's bytes to a
// server costs: a bare HTTP/1.1 client and server in this process, POSTing a
// 3.3 MB file from the page cache (an *os.File body with its length) to a
// handler that reads it in 256 KiB reads and discards it, 4 at a time. It
// reports the CPU time of both per file (cpu-ms/op), the budget an upload
// path is measured against (docs/performance.md, "System calls per piece,
// and what the CPU allows").
func BenchmarkBareTransfer(b *testing.B) {
	path := filepath.Join(b.TempDir(), "photo.bin")
	data := make([]byte, 3_300_000)
	_, _ = rand.Read(data)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		b.Fatal(err)
	}
	sink, err := baretransfer.Start()
	if err != nil {
		b.Fatal(err)
	}
	defer sink.Close()
	send := func() {
		if err := sink.Send(context.Background(), path); err != nil {
			b.Error(err)
		}
	}
	for range 20 {
		send()
	}
	cpu := func() time.Duration {
		var ru syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	c0 := cpu()
	jobs := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range jobs {
				send()
			}
		}()
	}
	for range b.N {
		jobs <- struct{}{}
	}
	close(jobs)
	wg.Wait()
	b.ReportMetric(float64(cpu()-c0)/1e6/float64(b.N), "cpu-ms/op")
}
