package ingest

import (
	"context"
	"encoding/hex"
	"io"
	"sync"
)

// Pipeline ingests the files of one request as they stream in, without
// waiting for each to commit before reading the next: file k is received
// (hashed and staged) on the caller's goroutine, then read for metadata,
// flushed to disk and handed to the committers on a goroutine of its own
// while file k+1 arrives. The files of one request then share batches with
// each other and with other requests, as an import's do, instead of each
// waiting for its own commit's fsyncs.
//
// What one request keeps in flight is bounded (Config.PipelineFiles and
// Config.PipelineBytes): Add waits, reading nothing more, until enough of
// the files before are done. Wait returns only when every file's commit is
// over, so an answer never acknowledges a photo that is not durable; a file
// whose request ends before it reached a committer is removed, and one
// already handed over commits (and is found by a later check) or not, but
// never half.
type Pipeline struct {
	s   *Service
	ctx context.Context
	wg  sync.WaitGroup

	mu    sync.Mutex
	freed *sync.Cond
	files int   // files received and not yet done
	bytes int64 // their staged bytes
	// bySHA is the last file of each content in this request: a later one
	// commits after it, so the first is created and the others find it,
	// as when a request's files were stored one after another.
	bySHA map[string]*Outcome
	out   []*Outcome
}

// Outcome is what became of one file of a Pipeline.
type Outcome struct {
	Name    string
	Photo   *Photo
	Created bool
	Err     error
	done    chan struct{}
}

// NewPipeline starts the pipeline of one request; ctx is the request's.
func (s *Service) NewPipeline(ctx context.Context) *Pipeline {
	p := &Pipeline{s: s, ctx: ctx, bySHA: map[string]*Outcome{}}
	p.freed = sync.NewCond(&p.mu)
	return p
}

// Len is the number of files added.
func (p *Pipeline) Len() int { return len(p.out) }

// Add receives one file from r (it is read to its end or to an error before
// Add returns) and starts storing it. It first waits while the request has
// as many files or bytes in flight as it may. A file that cannot be
// received gets its error as its outcome; Add reports it too, so the caller
// can tell a failed read of the body.
func (p *Pipeline) Add(name string, r io.Reader) error {
	o := &Outcome{Name: name, done: make(chan struct{})}
	p.out = append(p.out, o)
	p.mu.Lock()
	for p.files > 0 && (p.files >= p.s.cfg.PipelineFiles || p.bytes >= p.s.cfg.PipelineBytes) {
		p.freed.Wait()
	}
	p.mu.Unlock()
	up, err := p.s.originals.Receive(r, p.s.cfg.MaxFileBytes)
	if err != nil {
		o.Err = err
		close(o.done)
		return err
	}
	size := up.Size()
	p.mu.Lock()
	p.files++
	p.bytes += size
	sum := hex.EncodeToString(up.Sum())
	before := p.bySHA[sum]
	p.bySHA[sum] = o
	p.mu.Unlock()
	p.s.pipelined.Add(1)
	p.wg.Go(func() {
		defer p.release(size)
		defer close(o.done)
		it, err := p.s.prepare(name, up)
		if err != nil {
			up.Abort()
			o.Err = err
			return
		}
		if before != nil {
			<-before.done
		}
		r := p.s.commit(p.ctx, it)
		o.Photo, o.Created, o.Err = r.photo, r.created, r.err
	})
	return nil
}

// Fail records a file refused before its bytes were read.
func (p *Pipeline) Fail(name string, err error) {
	o := &Outcome{Name: name, Err: err, done: make(chan struct{})}
	close(o.done)
	p.out = append(p.out, o)
}

func (p *Pipeline) release(size int64) {
	p.s.pipelined.Add(-1)
	p.mu.Lock()
	p.files--
	p.bytes -= size
	p.mu.Unlock()
	p.freed.Broadcast()
}

// Wait waits until every file added is done and returns their outcomes in
// the order they were added.
func (p *Pipeline) Wait() []*Outcome {
	p.wg.Wait()
	return p.out
}
