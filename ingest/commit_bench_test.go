package ingest

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"testing"

	"github.com/geoseek/geoseek/internal/pgtest"
)

// BenchmarkCommitBatch measures the database and disk side of storing new
// photos: a batch of one as an upload stores it (the row read back), and a
// full batch as an import stores it (counted only). Hashing and metadata are
// outside the timer.
func BenchmarkCommitBatch(b *testing.B) {
	db := pgtest.New(b)
	s, err := New(Config{DataDir: b.TempDir()}, db.Pool, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	// The time zone finder is built once per process, in the background.
	if err := LoadTimeZones(); err != nil {
		b.Fatal(err)
	}
	src := corpusFile(b, "exif-samples__DSCN0010.jpg").data // geotagged
	var serial uint64
	for _, bc := range []struct {
		n         int
		countOnly bool
	}{{1, false}, {maxBatch, true}} {
		b.Run(fmt.Sprintf("photos=%d", bc.n), func(b *testing.B) {
			b.ReportAllocs()
			batch := make([]*commitItem, bc.n)
			for b.Loop() {
				b.StopTimer()
				for i := range batch {
					// Distinct bytes each time: a trailer after the image.
					serial++
					data := binary.BigEndian.AppendUint64(bytes.Clone(src), serial)
					up, err := s.originals.Receive(bytes.NewReader(data), s.cfg.MaxFileBytes)
					if err != nil {
						b.Fatal(err)
					}
					meta, err := ReadMeta(up.File(), up.Size())
					if err != nil {
						b.Fatal(err)
					}
					batch[i] = &commitItem{ctx: context.Background(), name: "bench.jpg", up: up, meta: meta,
						countOnly: bc.countOnly, done: make(chan commitResult, 1)}
				}
				b.StartTimer()
				s.commitBatch(batch)
				for _, it := range batch {
					if r := <-it.done; r.err != nil || !r.created {
						b.Fatalf("created %v: %v", r.created, r.err)
					}
					it.up.Abort()
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*bc.n), "µs/photo")
		})
	}
}
