package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/geoseek/geoseek/internal/pgtest"
)

// TestMain lets the test binary stand in for geoseek-load when it
// re-executes itself as the prober or the control, and act as a parent
// that is killed outright (TestNoOrphanWhenKilled).
func TestMain(m *testing.M) {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "probe", "bare":
			main()
			os.Exit(0)
		case "parent-of-bare":
			parentOfBare()
		}
	}
	os.Exit(m.Run())
}

// parentOfBare starts the control server as geoseek-load does, prints its
// pid and waits to be killed.
func parentOfBare() {
	exe, _ := selfExe()
	c, _, err := startAnnounced(context.Background(), exe, []string{"bare"}, os.Stderr, "serving on http://", time.Minute, time.Minute)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Println("child", c.pid())
	select {}
}

// alive reports whether pid runs (a zombie no one has reaped yet does not).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(f) > 0 && f[0] != "Z" && f[0] != "X"
}

// children lists the live processes whose parent is this one.
func children(t *testing.T) []int {
	t.Helper()
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var out []int
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) > 1 && f[0] != "Z" && f[1] == strconv.Itoa(os.Getpid()) {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
			out = append(out, pid)
		}
	}
	return out
}

// waitGone waits, with a bound, for pid to end.
func waitGone(t *testing.T, pid int, bound time.Duration) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("process %d still runs %s later", pid, bound)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// script writes an executable shell script into a temp dir.
func script(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "fake-geoseek")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestStopEndsChildOnSIGTERM(t *testing.T) {
	exe, err := selfExe()
	if err != nil {
		t.Fatal(err)
	}
	c, line, err := startAnnounced(t.Context(), exe, []string{"bare"}, os.Stderr, "serving on http://", time.Minute, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	base, err := addrIn(line)
	if err != nil {
		t.Fatal(err)
	}
	if err := waitReady(t.Context(), base+"/healthz", c, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := c.stop(time.Minute); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if alive(c.pid()) {
		t.Fatal("control server runs after stop")
	}
	if err := c.stop(time.Minute); err != nil {
		t.Fatalf("second stop: %v", err)
	}
}

func TestStopKillsChildThatIgnoresSIGTERM(t *testing.T) {
	bin := script(t, `trap '' TERM; echo "serving on http://127.0.0.1:1/"; while :; do sleep 1; done`)
	c, _, err := startAnnounced(t.Context(), bin, nil, os.Stderr, "serving on http://", time.Minute, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	err = c.stop(200 * time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("stop = %v, want a kill reported", err)
	}
	if alive(c.pid()) {
		t.Fatal("child runs after it was killed")
	}
}

// A server that never gets ready, or never says where it listens, is
// given up on within the bound and stopped.
func TestServerStartIsBounded(t *testing.T) {
	for name, body := range map[string]string{
		"never ready":  `trap '' TERM; echo "serving on http://127.0.0.1:1/"; while :; do sleep 1; done`,
		"never listed": `trap '' TERM; while :; do sleep 1; done`,
		"exits":        `echo "no database" >&2; exit 3`,
	} {
		t.Run(name, func(t *testing.T) {
			o := options{geoseekBin: script(t, body), dataDir: t.TempDir(), startTimeout: 300 * time.Millisecond, stopGrace: 200 * time.Millisecond}
			_, _, err := serveChild(t.Context(), o, "postgres://nowhere/db")
			if err == nil {
				t.Fatal("serveChild succeeded")
			}
			if pids := children(t); len(pids) > 0 {
				t.Fatalf("children left running: %v", pids)
			}
		})
	}
}

// TestServeLogKeepsTheRunBefore: a run's server log does not overwrite the
// one before, which is kept as serve.log.1.
func TestServeLogKeepsTheRunBefore(t *testing.T) {
	o := options{geoseekBin: script(t, `echo "run $LOAD_RUN" >&2; exit 3`), dataDir: t.TempDir(), startTimeout: time.Second, stopGrace: time.Second}
	for _, run := range []string{"1", "2"} {
		o.serveEnv = []string{"LOAD_RUN=" + run}
		if _, _, err := serveChild(t.Context(), o, "postgres://nowhere/db"); err == nil {
			t.Fatal("serveChild succeeded")
		}
	}
	for name, want := range map[string]string{"serve.log": "run 2", "serve.log.1": "run 1"} {
		b, err := os.ReadFile(filepath.Join(o.dataDir, "load", name))
		if err != nil || !strings.Contains(string(b), want) {
			t.Errorf("%s: %q, %v; want %q", name, b, err, want)
		}
	}
}

// -serve-env reaches the server alone.
func TestServeEnvReachesTheServer(t *testing.T) {
	bin := script(t, `echo "serving on http://127.0.0.1:1/ $LOAD_TEST_VAR"; exec sleep 60`)
	c, line, err := startAnnounced(t.Context(), bin, nil, os.Stderr, "serving on http://", time.Minute, time.Minute, "LOAD_TEST_VAR=seen")
	if err != nil {
		t.Fatal(err)
	}
	defer c.stop(time.Minute)
	if !strings.HasSuffix(line, " seen") {
		t.Fatalf("line %q", line)
	}
	if os.Getenv("LOAD_TEST_VAR") != "" {
		t.Fatal("set in geoseek-load too")
	}
}

// If geoseek-load is killed outright (no chance to stop its children), the
// kernel ends them.
func TestNoOrphanWhenKilled(t *testing.T) {
	exe, err := selfExe()
	if err != nil {
		t.Fatal(err)
	}
	parent := exec.Command(exe, "parent-of-bare")
	out, err := parent.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	parent.Stderr = os.Stderr
	if err := parent.Start(); err != nil {
		t.Fatal(err)
	}
	var line [64]byte
	n, _ := out.Read(line[:])
	f := strings.Fields(string(line[:n]))
	if len(f) != 2 || f[0] != "child" {
		_ = parent.Process.Kill()
		t.Fatalf("parent said %q", line[:n])
	}
	pid, _ := strconv.Atoi(f[1])
	if !alive(pid) {
		t.Fatal("child not running")
	}
	_ = parent.Process.Signal(syscall.SIGKILL)
	_ = parent.Wait()
	waitGone(t, pid, 30*time.Second)
}

func TestProbeOpensAConnectionPerProbe(t *testing.T) {
	var conns, reqs atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reqs.Add(1)
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close() // refuses connections now
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	var out bytes.Buffer
	if err := runProbe(ctx, []string{"-every", "20ms", "-timeout", "1s", "up=" + srv.URL + "/healthz", "down=" + down.URL + "/healthz"}, &out); err != nil {
		t.Fatal(err)
	}
	var s samples
	s.read(&out)
	if s.bad != 0 {
		t.Fatalf("%d lines did not parse:\n%s", s.bad, out.String())
	}
	all := [2]time.Time{time.Unix(0, 0), time.Now().Add(time.Hour)}
	up, dn := s.window("up", all[0], all[1]), s.window("down", all[0], all[1])
	if up.probes < 3 || up.failed != 0 || up.worst <= 0 {
		t.Fatalf("up: %+v", up)
	}
	if dn.probes != up.probes || dn.failed != dn.probes {
		t.Fatalf("down: %+v, want every one of %d probes failed", dn, up.probes)
	}
	if int(conns.Load()) != up.probes || int(reqs.Load()) != up.probes {
		t.Fatalf("%d probes came on %d connections (%d requests), want one connection each", up.probes, conns.Load(), reqs.Load())
	}
}

func TestProbeRefusesBadTargets(t *testing.T) {
	for _, args := range [][]string{nil, {"nohttp"}, {"x=ftp://a"}, {"-every", "0s", "x=http://a/"}} {
		if err := runProbe(t.Context(), args, &bytes.Buffer{}); err == nil {
			t.Errorf("runProbe(%q) succeeded", args)
		}
	}
}

func TestParseRefusesBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-clients", "0"}, {"-in-process", "-server-url", "http://x"}, {"-server-url", "ftp://x"},
		{"-database-name", "Robert'); DROP"}, {"-probe-every", "0s"}, {"extra"}, {"-serve-env", "GOMAXPROCS"},
	} {
		if _, err := parse(args); err == nil {
			t.Errorf("parse(%q) succeeded", args)
		}
	}
}

// loadArgs are a short run's flags on a database of the test's own.
func loadArgs(t *testing.T, more ...string) []string {
	root, err := pgtest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return append([]string{"-database-url", pgtest.ServerURL(t), "-database-name", "geoseek_load_test",
		"-data-dir", t.TempDir(), "-docs", "200", "-clients", "2,6", "-duration", "2s", "-idle", "1s",
		"-probe-timeout", "1s", "-photos", filepath.Join(root, "..", "shared", "testdata", "photos")}, more...)
}

// serverErrors is what the child server logged of its 5xx answers and
// errors (its log is <data-dir>/load/serve.log).
func serverErrors(t *testing.T, args []string) string {
	i := slices.Index(args, "-data-dir")
	if i < 0 || i+1 >= len(args) {
		return "(no -data-dir)"
	}
	b, err := os.ReadFile(filepath.Join(args[i+1], "load", "serve.log"))
	if err != nil {
		return err.Error()
	}
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, "status=5") || strings.Contains(l, "level=ERROR") || strings.Contains(l, "level=WARN") {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "\n")
}

var probeRow = regexp.MustCompile(`(?m)^\s+(geoseek|bare)\s+(\d+)\s+(\d+)\s`)

// The whole run: geoseek serve built and run as a child, the control and
// the prober beside it, figures for both in every phase, nothing left
// running afterwards.
func TestLoadRunsServerInItsOwnProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP: -short: builds geoseek and runs the load for seconds")
	}
	var out bytes.Buffer
	args := loadArgs(t)
	if err := run(t.Context(), args, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	s := out.String()
	if !strings.Contains(s, "geoseek serve in its own process") {
		t.Fatalf("not a child server:\n%s", s)
	}
	rows := probeRow.FindAllStringSubmatch(s, -1)
	if len(rows) != 6 { // no load, 2 clients, 6 clients; geoseek and bare each
		t.Fatalf("want 6 probe rows, got %d:\n%s", len(rows), s)
	}
	for _, r := range rows {
		if r[2] == "0" || r[3] != "0" {
			t.Errorf("%s: %s probes, %s failed\n%s", r[1], r[2], r[3], s)
		}
	}
	if regexp.MustCompile(`[1-9]\d* other 5xx`).MatchString(s) {
		t.Errorf("5xx during the run:\n%s\nthe server's log of them:\n%s", s, serverErrors(t, args))
	}
	if pids := children(t); len(pids) > 0 {
		t.Fatalf("children left running: %v", pids)
	}
}

// Ctrl-C in the middle of a phase stops the clients, the prober, the
// control and the server, and nothing is left.
func TestInterruptStopsEverything(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP: -short: builds geoseek")
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var out bytes.Buffer
	// Interrupted a second into the first phase.
	pr := &phaseWatch{out: &out, phase: "geoseek load:", hit: func() { time.AfterFunc(time.Second, cancel) }}
	err := run(ctx, loadArgs(t, "-clients", "2,2,2", "-duration", "30s", "-idle", "0s"), pr)
	if err == nil {
		t.Fatalf("run ended without the interrupt:\n%s", out.String())
	}
	if pids := children(t); len(pids) > 0 {
		t.Fatalf("children left running: %v", pids)
	}
}

// phaseWatch calls hit once, when the report first names phase.
type phaseWatch struct {
	out   *bytes.Buffer
	phase string
	hit   func()
	done  bool
}

func (p *phaseWatch) Write(b []byte) (int, error) {
	n, err := p.out.Write(b)
	if !p.done && strings.Contains(p.out.String(), p.phase) {
		p.done = true
		p.hit()
	}
	return n, err
}

// -server-url: the load goes to a server started elsewhere (here a geoseek
// serve the test starts on the load database), which geoseek-load leaves
// running.
func TestLoadAimsAtAServerStartedElsewhere(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP: -short: builds geoseek")
	}
	o, err := parse(loadArgs(t, "-database-name", "geoseek_load_test_ext"))
	if err != nil {
		t.Fatal(err)
	}
	dbURL, err := database(t.Context(), o, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	o.startTimeout, o.stopGrace = time.Minute, 10*time.Second
	base, srv, err := serveChild(t.Context(), o, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.stop(o.stopGrace)
	var out bytes.Buffer
	if err := run(t.Context(), loadArgs(t, "-database-name", "geoseek_load_test_ext", "-server-url", base, "-clients", "2", "-idle", "0s"), &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "started elsewhere") || len(probeRow.FindAllString(out.String(), -1)) != 2 {
		t.Fatalf("report:\n%s", out.String())
	}
	if !alive(srv.pid()) {
		t.Fatal("the server started elsewhere was stopped")
	}
}
