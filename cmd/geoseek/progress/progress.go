// Package progress is the progress display shared by geoseek's bulk
// commands (upload, ingest): bars redrawn in place on a terminal (files and,
// where bytes move, bytes: done of total, rate, time left), plain lines at
// an interval elsewhere (pipes, logs, CI), where a bar redrawn with carriage
// returns is garbage.
package progress

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"
)

// Options choose the display.
type Options struct {
	// Label names the work: "uploading", "importing".
	Label string
	// Terminal draws bars; otherwise a line is written at the start and
	// one every Every (default 5s), and one at the end.
	Terminal bool
	Every    time.Duration
	// Bytes adds the bytes moved, with their rate, to the display.
	Bytes bool
}

// Reporter shows one run's progress. Its methods may be called from many
// goroutines; Close ends the display.
type Reporter struct {
	opt   Options
	w     io.Writer
	start time.Time

	mu                 sync.Mutex
	files, done, fails int
	total, moved       int64
	started            bool // the first line is written

	p             *mpb.Progress
	fbar, bbar    *mpb.Bar
	quit, stopped chan struct{}
}

// New starts a display on w.
func New(w io.Writer, opt Options) *Reporter {
	if opt.Every <= 0 {
		opt.Every = 5 * time.Second
	}
	r := &Reporter{opt: opt, w: w, start: time.Now(), quit: make(chan struct{}), stopped: make(chan struct{})}
	if f, ok := w.(*os.File); ok && opt.Terminal {
		// A terminal that reports no size (some containers and CI
		// runners) would show no bar at all: lines there.
		if cols, rows, err := term.GetSize(int(f.Fd())); err != nil || cols == 0 || rows == 0 {
			opt.Terminal = false
			r.opt.Terminal = false
		}
	}
	if opt.Terminal {
		r.bars()
		close(r.stopped)
		return r
	}
	go r.lines()
	return r
}

func (r *Reporter) bars() {
	r.p = mpb.New(mpb.WithOutput(r.w), mpb.WithWidth(40), mpb.WithRefreshRate(150*time.Millisecond), mpb.WithAutoRefresh())
	r.fbar = r.p.AddBar(0,
		mpb.PrependDecorators(decor.Name(r.opt.Label+" ", decor.WCSyncSpaceR), decor.CountersNoUnit("%d/%d files", decor.WCSyncSpace)),
		mpb.AppendDecorators(decor.Percentage(decor.WCSyncSpace), decor.Any(r.failedDecor, decor.WCSyncSpace)),
	)
	if r.opt.Bytes {
		r.bbar = r.p.AddBar(0,
			mpb.PrependDecorators(decor.Name("sent ", decor.WCSyncSpaceR), decor.CountersKiloByte("% .1f / % .1f", decor.WCSyncSpace)),
			mpb.AppendDecorators(decor.Any(r.rateDecor, decor.WCSyncSpace)),
		)
	}
}

func (r *Reporter) failedDecor(decor.Statistics) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fails == 0 {
		return ""
	}
	return fmt.Sprintf("%d failed", r.fails)
}

// rateDecor is the bytes' rate and the time left at that rate.
func (r *Reporter) rateDecor(decor.Statistics) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	el := time.Since(r.start).Seconds()
	s := fmt.Sprintf("%.1f MB/s", float64(r.moved)/1e6/el)
	if r.moved > 0 && r.total > r.moved {
		left := time.Duration(el / float64(r.moved) * float64(r.total-r.moved) * float64(time.Second))
		s += fmt.Sprintf(", %s left", left.Round(time.Second))
	}
	return s
}

// Total sets the number of files and the bytes to move (both may grow).
func (r *Reporter) Total(files int, bytes int64) {
	r.mu.Lock()
	r.files, r.total = files, bytes
	if !r.opt.Terminal && !r.started {
		// The first line says what the run found, once it is known.
		r.started = true
		fmt.Fprintf(r.w, "%s %d files\n", r.opt.Label, files)
	}
	r.mu.Unlock()
	if r.fbar != nil {
		r.fbar.SetTotal(int64(files), false)
	}
	if r.bbar != nil {
		r.bbar.SetTotal(bytes, false)
	}
}

// Bytes adds n bytes moved.
func (r *Reporter) Bytes(n int64) {
	r.mu.Lock()
	r.moved += n
	r.mu.Unlock()
	if r.bbar != nil {
		r.bbar.IncrInt64(n)
	}
}

// File marks one file done.
func (r *Reporter) File(failed bool) {
	r.mu.Lock()
	r.done++
	if failed {
		r.fails++
	}
	r.mu.Unlock()
	if r.fbar != nil {
		r.fbar.Increment()
	}
}

// Close ends the display: the bars drawn complete (or left where they
// stopped), or a last line written.
func (r *Reporter) Close() {
	if r.p != nil {
		r.mu.Lock()
		complete := r.done >= r.files
		r.mu.Unlock()
		for _, b := range []*mpb.Bar{r.fbar, r.bbar} {
			switch {
			case b == nil:
			case complete:
				b.SetTotal(-1, true)
			default:
				b.Abort(false)
			}
		}
		r.p.Wait()
		return
	}
	close(r.quit)
	<-r.stopped
	r.line()
}

// lines writes a line now and one every interval until Close.
func (r *Reporter) lines() {
	defer close(r.stopped)
	t := time.NewTicker(r.opt.Every)
	defer t.Stop()
	for {
		select {
		case <-r.quit:
			return
		case <-t.C:
			r.mu.Lock()
			started := r.started
			r.mu.Unlock()
			if started {
				r.line()
			}
		}
	}
}

// line writes where the run stands: files done of total, failures, rate,
// bytes (if shown), time left and time so far.
func (r *Reporter) line() {
	r.mu.Lock()
	defer r.mu.Unlock()
	el := time.Since(r.start).Seconds()
	s := fmt.Sprintf("%s: %d of %d files (%d failed), %.1f files/s", r.opt.Label, r.done, r.files, r.fails, float64(r.done)/el)
	var left float64 = -1
	if r.done > 0 && r.files > r.done {
		left = el / float64(r.done) * float64(r.files-r.done)
	}
	if r.opt.Bytes {
		rate := float64(r.moved) / 1e6 / el
		s += fmt.Sprintf(", %.1f of %.1f MB sent, %.1f MB/s", float64(r.moved)/1e6, float64(r.total)/1e6, rate)
		if r.moved > 0 && r.total > r.moved {
			left = el / float64(r.moved) * float64(r.total-r.moved)
		}
	}
	s += fmt.Sprintf(", %.0f s", el)
	if left >= 0 && r.done < r.files {
		s += fmt.Sprintf(", %s left", time.Duration(left*float64(time.Second)).Round(time.Second))
	}
	fmt.Fprintln(r.w, s)
}
