package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// child is a process geoseek-load started: the server, the bare control
// server or the prober. It never outlives geoseek-load: stop ends it, and
// the kernel kills it should geoseek-load die without stopping it.
type child struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has exited and been reaped
	err  error         // its exit, valid after done
}

// startChild starts name with args, in geoseek-load's environment plus env.
// Its stdout goes to stdout (nil: discarded), its stderr to stderr. The child gets a process group of its
// own, so a Ctrl-C at the terminal reaches geoseek-load alone and the
// children stop in order (clients first, then the server, each with a
// bound); Pdeathsig kills it if geoseek-load is killed outright. Pdeathsig
// fires when the thread that started the child exits, and Go only ends
// threads that a goroutine locked and left locked, which nothing here does.
func startChild(name string, args []string, stdout, stderr io.Writer, env ...string) (*child, error) {
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if len(env) > 0 {
		cmd.Env = append(os.Environ(), env...)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	// Output copying ends this long after the child, even if a process it
	// left behind holds the pipe.
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", filepath.Base(name), err)
	}
	c := &child{name: filepath.Base(name), cmd: cmd, done: make(chan struct{})}
	go func() { c.err = cmd.Wait(); close(c.done) }()
	return c, nil
}

// stop asks the child to end (SIGTERM), kills it and its process group if
// it has not ended within grace, and returns once it is gone and reaped.
// It may be called again.
func (c *child) stop(grace time.Duration) error {
	select {
	case <-c.done:
		return nil
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-c.done:
		return nil
	case <-t.C:
	}
	_ = syscall.Kill(-c.pid(), syscall.SIGKILL)
	<-c.done
	return fmt.Errorf("%s did not stop within %s of SIGTERM; killed", c.name, grace)
}

// pid is the child's process id.
func (c *child) pid() int { return c.cmd.Process.Pid }

// startAnnounced starts a child whose stdout announces its address on a
// line containing marker (the rest of stdout is drained and dropped), and
// returns that line; if the child exits or says nothing within bound, it
// stops it (with grace) and returns an error.
func startAnnounced(ctx context.Context, name string, args []string, stderr io.Writer, marker string, bound, grace time.Duration, env ...string) (*child, string, error) {
	pr, pw := io.Pipe()
	c, err := startChild(name, args, pw, stderr, env...)
	if err != nil {
		return nil, "", err
	}
	go func() { <-c.done; pw.Close() }()
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		found := false
		for sc.Scan() {
			if !found && strings.Contains(sc.Text(), marker) {
				found = true
				lines <- sc.Text()
			}
		}
		_, _ = io.Copy(io.Discard, pr)
		close(lines)
	}()
	t := time.NewTimer(bound)
	defer t.Stop()
	select {
	case l, ok := <-lines:
		if ok {
			return c, l, nil
		}
		<-c.done
		return nil, "", fmt.Errorf("%s exited before it was listening: %v", c.name, c.err)
	case <-t.C:
		err = fmt.Errorf("%s did not say it was listening within %s", c.name, bound)
	case <-ctx.Done():
		err = ctx.Err()
	}
	return nil, "", errors.Join(err, c.stop(grace))
}

// addrIn returns the http://host:port in an announcement line.
func addrIn(line string) (string, error) {
	i := strings.Index(line, "http://")
	if i < 0 {
		return "", fmt.Errorf("no http:// address in %q", line)
	}
	return strings.TrimRight(strings.Fields(line[i:])[0], "/"), nil
}

// waitReady polls url until it answers 200, for at most bound; a child that
// exits meanwhile ends the wait at once.
func waitReady(ctx context.Context, url string, c *child, bound time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	hc := &http.Client{Timeout: time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
		resp, err := hc.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("%s not ready within %s", url, bound)
			}
			return ctx.Err()
		case <-c.done:
			return fmt.Errorf("%s exited before it was ready: %v", c.name, c.err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// buildGeoseek builds cmd/geoseek into dir and returns the binary's path.
// It runs in the module that holds geoseek-load, as `make load` does.
func buildGeoseek(ctx context.Context, dir string, stderr io.Writer) (string, error) {
	bin := filepath.Join(dir, "geoseek")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/geoseek/geoseek/cmd/geoseek")
	cmd.Stdout, cmd.Stderr = stderr, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build geoseek (run geoseek-load inside the geoseek module, or give -geoseek-bin): %w", err)
	}
	return bin, nil
}

// selfExe is geoseek-load's own binary, re-executed as the prober and the
// bare control server.
func selfExe() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("find geoseek-load's binary: %w", err)
	}
	return exe, nil
}
