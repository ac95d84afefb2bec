package bench

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
	"time"
)

// cpuTimes is CPU time used so far by this process (load generator,
// in-process geoseek server and pgx baselines alike) and by the machine's
// PostgreSQL processes. Differences over a load run, divided by its calls,
// say where a call's cost goes: throughput alone cannot tell a slower
// server from a busier database, and CPU time is far less noisy than
// throughput on a shared two-core machine.
type cpuTimes struct {
	self, pg time.Duration
}

func (a cpuTimes) sub(b cpuTimes) cpuTimes { return cpuTimes{self: a.self - b.self, pg: a.pg - b.pg} }

// clockTick is the unit of /proc/<pid>/stat times (USER_HZ, 100 on Linux).
const clockTick = 10 * time.Millisecond

func readCPU() cpuTimes {
	var t cpuTimes
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		t.self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	t.pg = postgresCPU()
	return t
}

// postgresCPU sums user and system time of every process named postgres,
// and of their children that exited: when a backend or parallel worker
// ends, the postmaster reaps it and its time moves to the postmaster's
// cutime/cstime, so the sum does not drop.
func postgresCPU() time.Duration {
	d, err := os.Open("/proc")
	if err != nil {
		return 0
	}
	defer d.Close()
	names, _ := d.Readdirnames(-1)
	var ticks int64
	for _, n := range names {
		if n[0] < '0' || n[0] > '9' {
			continue
		}
		b, err := os.ReadFile("/proc/" + n + "/stat")
		if err != nil {
			continue
		}
		ticks += statTicks(b)
	}
	return time.Duration(ticks) * clockTick
}

// statTicks is utime+stime+cutime+cstime from a /proc/<pid>/stat line when
// its command is postgres, else 0. The command is in parentheses and may hold spaces, so
// fields are counted from the last ')'.
func statTicks(b []byte) int64 {
	open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || end < open || string(b[open+1:end]) != "postgres" {
		return 0
	}
	f := bytes.Fields(b[end+1:])
	// After the command: state is field 3 of proc(5), utime…cstime 14–17.
	if len(f) < 15 {
		return 0
	}
	var sum int64
	for _, v := range f[11:15] {
		n, _ := strconv.ParseInt(string(v), 10, 64)
		sum += n
	}
	return sum
}

// browserCPU is the CPU time used so far by the browser whose command line
// holds marker (its profile dir) and by its child processes (which do not
// repeat the flag), by process type (browser, renderer, gpu-process,
// utility, zygote): the work a page gives the browser. It depends less than
// the page's long tasks on what else the machine runs, but not nothing:
// software WebGL's threads spin while they wait.
func browserCPU(marker string) map[string]time.Duration {
	out := map[string]time.Duration{}
	d, err := os.Open("/proc")
	if err != nil {
		return out
	}
	defer d.Close()
	names, _ := d.Readdirnames(-1)
	type proc struct {
		ppid, ticks int64
		typ         string
		marked      bool
	}
	procs := map[int64]proc{}
	for _, n := range names {
		pid, err := strconv.ParseInt(n, 10, 64)
		if err != nil {
			continue
		}
		cmd, err1 := os.ReadFile("/proc/" + n + "/cmdline")
		b, err2 := os.ReadFile("/proc/" + n + "/stat")
		if err1 != nil || err2 != nil {
			continue
		}
		procs[pid] = proc{ppid: statPPID(b), ticks: ownTicks(b), typ: processType(cmd), marked: bytes.Contains(cmd, []byte(marker))}
	}
	for _, p := range procs {
		for q, hops := p, 0; hops < 8; hops++ {
			if q.marked {
				out[p.typ] += time.Duration(p.ticks) * clockTick
				break
			}
			var ok bool
			if q, ok = procs[q.ppid]; !ok {
				break
			}
		}
	}
	return out
}

// statPPID is the parent pid of a /proc/<pid>/stat line.
func statPPID(b []byte) int64 {
	end := bytes.LastIndexByte(b, ')')
	if end < 0 {
		return 0
	}
	f := bytes.Fields(b[end+1:])
	if len(f) < 2 {
		return 0
	}
	n, _ := strconv.ParseInt(string(f[1]), 10, 64)
	return n
}

// processType is the value of a Chromium command line's --type= flag,
// "browser" without one. Arguments are NUL-separated, or space-separated
// in a child that rewrote its command line.
func processType(cmdline []byte) string {
	for _, a := range bytes.FieldsFunc(cmdline, func(r rune) bool { return r == 0 || r == ' ' }) {
		if t, ok := bytes.CutPrefix(a, []byte("--type=")); ok {
			return string(t)
		}
	}
	return "browser"
}

// ownTicks is utime+stime of a /proc/<pid>/stat line, whatever its command.
func ownTicks(b []byte) int64 {
	end := bytes.LastIndexByte(b, ')')
	if end < 0 {
		return 0
	}
	f := bytes.Fields(b[end+1:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(string(f[11]), 10, 64)
	s, _ := strconv.ParseInt(string(f[12]), 10, 64)
	return u + s
}
