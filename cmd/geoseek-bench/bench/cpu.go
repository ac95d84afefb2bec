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
