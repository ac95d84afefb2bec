package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/geoseek/geoseek/ingest"
)

// The upload's users run it from another machine (a laptop, a NAS), where
// its client's work does not take the server's CPU. upload/split stands
// for that on one machine: the server (this process) and PostgreSQL keep
// the first core, the `geoseek upload` command gets the second, and ingest
// of the same folder, the baseline, runs on the first core alone.

// cpuPin pins this process's threads and the bench database's PostgreSQL
// processes (its postmaster, so the backends it starts later too) to one
// set of CPUs, and puts them back on every CPU.
type cpuPin struct {
	postmaster int
}

// newCPUPin finds the bench database's postmaster: the parent of one of its
// backends.
func newCPUPin(ctx context.Context, env *Env) (*cpuPin, error) {
	var backend int
	if err := env.Pool.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&backend); err != nil {
		return nil, err
	}
	ppid, err := parentPID(backend)
	if err != nil {
		return nil, fmt.Errorf("the bench database's postmaster: %w", err)
	}
	return &cpuPin{postmaster: ppid}, nil
}

// parentPID reads a process's parent from /proc.
func parentPID(pid int) (int, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// pid (comm) state ppid …; comm may hold spaces and parentheses.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 2 {
		return 0, fmt.Errorf("/proc/%d/stat: %q", pid, s)
	}
	return strconv.Atoi(f[1])
}

// to pins every thread of this process and of the postmaster and its
// children to cpus.
func (p *cpuPin) to(cpus ...int) error {
	var set unix.CPUSet
	for _, c := range cpus {
		set.Set(c)
	}
	pids := []int{os.Getpid(), p.postmaster}
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, dir := range procs {
		pid, err := strconv.Atoi(filepath.Base(dir))
		if err != nil {
			continue
		}
		if pp, err := parentPID(pid); err == nil && pp == p.postmaster {
			pids = append(pids, pid)
		}
	}
	for _, pid := range pids {
		tasks, _ := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/[0-9]*")
		for _, t := range tasks {
			tid, err := strconv.Atoi(filepath.Base(t))
			if err != nil {
				continue
			}
			// A thread or process gone meanwhile is no error.
			if err := unix.SchedSetaffinity(tid, &set); err != nil && err != unix.ESRCH {
				return fmt.Errorf("pin %d to CPUs %v: %w", tid, cpus, err)
			}
		}
	}
	return nil
}

// all puts them back on every CPU.
func (p *cpuPin) all() error {
	cpus := make([]int, runtime.NumCPU())
	for i := range cpus {
		cpus[i] = i
	}
	return p.to(cpus...)
}

// splitRun is upload/split: ingest and the command's upload with the
// server on one core and the command on the other.
type splitRun struct {
	ing      importRun // the faster of two passes
	ingRates [2]float64
	cli      cliRun
}

// splitPass measures upload/split (see above): ingest of the folder with
// this process and PostgreSQL on the first core, then the command's upload
// of it on the second, then ingest again; ok is false on a machine of one
// CPU.
func splitPass(ctx context.Context, env *Env, q *queues, svc *ingest.Service, staging string, paths []string, limit time.Duration) (s splitRun, ok bool, err error) {
	if runtime.NumCPU() < 2 {
		return s, false, nil
	}
	pin, err := newCPUPin(ctx, env)
	if err != nil {
		return s, false, err
	}
	if err := pin.to(0); err != nil {
		return s, false, err
	}
	defer func() {
		if e := pin.all(); e != nil && err == nil {
			err = e
		}
	}()
	if err := q.reset(ctx, env); err != nil {
		return s, false, err
	}
	if s.ing, err = importBench(ctx, svc, staging, ingest.ImportOptions{}, len(paths), limit); err != nil {
		return s, false, err
	}
	if err := q.reset(ctx, env); err != nil {
		return s, false, err
	}
	if s.cli, err = uploadCLI(ctx, env, staging, len(paths), "1"); err != nil {
		return s, false, err
	}
	// Ingest again after, the faster pass the baseline (as upload/photos).
	if err := q.reset(ctx, env); err != nil {
		return s, false, err
	}
	again, err := importBench(ctx, svc, staging, ingest.ImportOptions{}, len(paths), limit)
	if err != nil {
		return s, false, err
	}
	s.ingRates = [2]float64{rate(s.ing), rate(again)}
	if rate(again) > rate(s.ing) {
		s.ing = again
	}
	return s, true, q.reset(ctx, env)
}
