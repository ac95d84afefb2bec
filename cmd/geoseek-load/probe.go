package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The prober is geoseek-load re-executed as `geoseek-load probe`: a process
// of its own, as a load balancer is, so its figures do not include the
// clients' goroutines. Every interval it sends GET to each target on a new
// connection (keep-alives off), as load balancers' HTTP health checks do
// (each check opens a connection, sends one request and closes it), and
// writes one line per probe to stdout:
//
//	<target> <start, Unix ns> <duration, ns> <status; 0 when it failed>
//
// Each probe runs on its own goroutine, so a slow answer does not delay
// the next probe (it would hide the slow period it belongs to).

// runProbe is the prober's main.
func runProbe(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("geoseek-load probe", flag.ContinueOnError)
	every := fs.Duration("every", 50*time.Millisecond, "time between probes")
	timeout := fs.Duration("timeout", 2*time.Second, "longest a probe may take (connect included); past it the probe failed")
	if err := fs.Parse(args); err != nil {
		return err
	}
	type target struct{ name, url string }
	var targets []target
	for _, a := range fs.Args() {
		name, url, ok := strings.Cut(a, "=")
		if !ok || name == "" || !strings.HasPrefix(url, "http://") {
			return fmt.Errorf("probe target %q: want name=http://host:port/path", a)
		}
		targets = append(targets, target{name, url})
	}
	if len(targets) == 0 || *every <= 0 || *timeout <= 0 {
		return errors.New("probe: want targets, and positive -every and -timeout")
	}
	hc := &http.Client{Timeout: *timeout, Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil}}
	var mu sync.Mutex
	w := bufio.NewWriter(out)
	var wg sync.WaitGroup
	defer wg.Wait()
	tick := time.NewTicker(*every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		for _, t := range targets {
			wg.Add(1)
			go func() {
				defer wg.Done()
				start, d, status := probeOnce(hc, t.url)
				mu.Lock()
				defer mu.Unlock()
				fmt.Fprintf(w, "%s %d %d %d\n", t.name, start.UnixNano(), d.Nanoseconds(), status)
				_ = w.Flush()
			}()
		}
	}
}

// probeOnce sends one probe and returns when it started, how long it took
// and its status (0 when it failed).
func probeOnce(hc *http.Client, url string) (time.Time, time.Duration, int) {
	start := time.Now()
	resp, err := hc.Get(url)
	if err != nil {
		return start, time.Since(start), 0
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	d := time.Since(start)
	if err != nil {
		return start, d, 0
	}
	return start, d, resp.StatusCode
}

// runBare is `geoseek-load bare`: the control, a bare net/http server whose
// /healthz writes the same small JSON as geoseek's and nothing else. Probed
// beside geoseek, it shows how long any process on this machine waits for
// a core while the load runs.
func runBare(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("geoseek-load bare", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("bare: listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = io.WriteString(w, `{"status":"ok"}`)
	})
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second, IdleTimeout: time.Minute}
	fmt.Fprintf(out, "bare server serving on http://%s/\n", ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("bare: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("bare: shutdown: %w", err)
	}
	return nil
}

// sample is one probe as the prober wrote it.
type sample struct {
	start  time.Time
	d      time.Duration
	status int
}

// samples collects the prober's lines, by target.
type samples struct {
	mu  sync.Mutex
	all map[string][]sample
	bad int // lines that did not parse
}

// read takes the prober's output until it ends.
func (s *samples) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		var ns, d int64
		var status int
		var err error
		if len(f) == 4 {
			ns, err = strconv.ParseInt(f[1], 10, 64)
			if err == nil {
				d, err = strconv.ParseInt(f[2], 10, 64)
			}
			if err == nil {
				status, err = strconv.Atoi(f[3])
			}
		}
		s.mu.Lock()
		if len(f) != 4 || err != nil {
			s.bad++
		} else {
			if s.all == nil {
				s.all = map[string][]sample{}
			}
			s.all[f[0]] = append(s.all[f[0]], sample{time.Unix(0, ns), time.Duration(d), status})
		}
		s.mu.Unlock()
	}
}

// probeStats sum up one target's probes in a window.
type probeStats struct {
	target               string
	probes, failed       int
	p50, p95, p99, worst time.Duration
}

// window sums up the probes of target that started in [from, to).
func (s *samples) window(target string, from, to time.Time) probeStats {
	s.mu.Lock()
	var ok []time.Duration
	st := probeStats{target: target}
	for _, p := range s.all[target] {
		if p.start.Before(from) || !p.start.Before(to) {
			continue
		}
		st.probes++
		if p.status != http.StatusOK {
			st.failed++
			continue
		}
		ok = append(ok, p.d)
	}
	s.mu.Unlock()
	slices.Sort(ok)
	if len(ok) > 0 {
		st.worst = ok[len(ok)-1]
	}
	st.p50, st.p95, st.p99 = pct(ok, .5), pct(ok, .95), pct(ok, .99)
	return st
}
