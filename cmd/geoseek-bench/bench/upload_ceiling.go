package bench

import (
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/geoseek/geoseek/ingest"
	"github.com/geoseek/geoseek/internal/baretransfer"
)

// ceilingRun is the upload/ceiling pass: ingest of the folder together
// with the least any upload of it adds.
type ceilingRun struct {
	elapsed time.Duration
	cpu     cpuTimes
}

// ceilingPass runs ingest of the folder and, at the same time, what any
// upload must do beyond ingest's work: one SHA-256 pass over each file (the
// client's, before it may ask the server) and the file's bytes over
// loopback HTTP/1.1 to a handler that reads and discards them, 4 files at a
// time (the body an *os.File with its length, as bare as net/http sends
// one). No upload of this design can finish sooner on the same machine, so
// its rate against ingest's is the ratio the machine allows. The server's
// own receiving is the handler's reads; the storing is ingest's, which also
// reads each file from the page cache where an upload's server would not:
// the ceiling is lower than it could be by that read.
func ceilingPass(ctx context.Context, svc *ingest.Service, staging string, paths []string, limit time.Duration) (ceilingRun, error) {
	var run ceilingRun
	sink, err := baretransfer.Start()
	if err != nil {
		return run, err
	}
	defer sink.Close()
	send := func(ctx context.Context, path string) error {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		_, err = io.CopyBuffer(sha256.New(), struct{ io.Reader }{f}, make([]byte, 128<<10))
		f.Close()
		if err != nil {
			return err
		}
		return sink.Send(ctx, path)
	}
	cpu0 := readCPU()
	start := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		_, err := importBench(gctx, svc, staging, ingest.ImportOptions{}, len(paths), limit)
		return err
	})
	g.Go(func() error {
		var t errgroup.Group
		t.SetLimit(4)
		for _, p := range paths {
			if gctx.Err() != nil {
				break
			}
			t.Go(func() error { return send(gctx, p) })
		}
		return t.Wait()
	})
	err = g.Wait()
	run.elapsed, run.cpu = time.Since(start), readCPU().sub(cpu0)
	if err != nil {
		return run, errors.Join(errors.New("upload ceiling"), err)
	}
	return run, nil
}
