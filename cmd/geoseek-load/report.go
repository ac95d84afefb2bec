package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sort"
	"sync"
	"text/tabwriter"
	"time"
)

// recorder holds one client's outcomes (no locking on the hot path).
type recorder struct {
	lat                                     map[string][]time.Duration // served requests by family
	err5xx, shed, limited, timeouts, others int
}

func newRecorder() *recorder { return &recorder{lat: map[string][]time.Duration{}} }

func (r *recorder) add(family string, status int, retryAfter bool, d time.Duration) {
	switch {
	case status == 503 && retryAfter:
		r.shed++
	case status >= 500:
		r.err5xx++
	case status == 429:
		r.limited++
	default:
		r.lat[family] = append(r.lat[family], d)
	}
}

func (r *recorder) fail(_ string, err error) {
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
		r.timeouts++
		return
	}
	r.others++
}

// report is one phase's totals.
type report struct {
	clients int
	d       time.Duration
	mu      sync.Mutex
	all     *recorder
}

func newReport(n int, d time.Duration) *report {
	return &report{clients: n, d: d, all: newRecorder()}
}

func (p *report) merge(r *recorder) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for f, l := range r.lat {
		p.all.lat[f] = append(p.all.lat[f], l...)
	}
	p.all.err5xx += r.err5xx
	p.all.shed += r.shed
	p.all.limited += r.limited
	p.all.timeouts += r.timeouts
	p.all.others += r.others
}

func pct(l []time.Duration, q float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	return l[min(len(l)-1, int(float64(len(l))*q))]
}

func (p *report) print(out io.Writer) {
	a := p.all
	served := 0
	var families []string
	for f, l := range a.lat {
		served += len(l)
		slices.Sort(l)
		families = append(families, f)
	}
	sort.Strings(families)
	total := served + a.err5xx + a.shed + a.limited + a.timeouts + a.others
	fmt.Fprintf(out, "\n%d clients, %s: %.0f requests/s (%d served, %d shed 503, %d other 5xx, %d 429, %d timeouts, %d connection errors)\n",
		p.clients, p.d, float64(total)/p.d.Seconds(), served, a.shed, a.err5xx, a.limited, a.timeouts, a.others)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "family\tserved\treq/s\tp50\tp95\tp99\t")
	for _, f := range families {
		l := a.lat[f]
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%s\t%s\t%s\t\n", f, len(l), float64(len(l))/p.d.Seconds(),
			ms(pct(l, .5)), ms(pct(l, .95)), ms(pct(l, .99)))
	}
	tw.Flush()
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000) }

// printProbes writes the /healthz figures of geoseek and of the control
// for the probes that started in [from, to).
func printProbes(out io.Writer, phase string, d time.Duration, s *samples, from, to time.Time) {
	fmt.Fprintf(out, "\n/healthz from the prober, %s (%s):\n", phase, d.Round(time.Second))
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "server\tprobes\tfailed\tp50\tp95\tp99\tmax\t")
	for _, t := range []string{"geoseek", "bare"} {
		st := s.window(t, from, to)
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t%s\t\n", t, st.probes, st.failed, ms(st.p50), ms(st.p95), ms(st.p99), ms(st.worst))
	}
	tw.Flush()
}
