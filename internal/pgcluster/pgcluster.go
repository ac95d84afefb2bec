// Package pgcluster runs the private PostgreSQL cluster that `make run` and
// `make test` use when no DATABASE_URL is given: a cluster under the repo's data
// dir, on its own port and socket, created with the installed initdb and started
// with pg_ctl. When the process runs as root, PostgreSQL refuses to run as root,
// so both run as the `postgres` system user and the cluster dir is owned by it.
//
// The cluster is left running when geoseek exits so the next run reuses it in
// milliseconds; `geoseek db stop` (make db-stop) stops it.
package pgcluster

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

// DefaultPort is the first port tried for a new cluster; the chosen port is
// remembered in the cluster dir so it stays the same across runs.
const DefaultPort = 54329

// Superuser and Database name the role and database initdb creates.
const (
	Superuser = "geoseek"
	Database  = "geoseek"
)

// Cluster is a private PostgreSQL cluster rooted at Dir.
type Cluster struct {
	// Dir holds data/ (PGDATA), the socket dir, the log and the port file.
	Dir string
	// Port, if non-zero, is used for a new cluster instead of probing from
	// DefaultPort. An existing cluster keeps its recorded port.
	Port int
	// Existing makes Start start only a cluster that exists: where Dir
	// holds none it returns ErrNoCluster and creates nothing, not even Dir.
	// Commands that merely use a database set it, so a mistyped or
	// forgotten data dir is reported instead of answered by a new, empty
	// cluster in a place nobody named.
	Existing bool
	Logger   *slog.Logger
}

// ErrNoCluster is returned by Start when Existing is set and Dir holds no
// cluster.
var ErrNoCluster = errors.New("pgcluster: no cluster")

// exists reports whether Dir holds an initialised cluster.
func (c *Cluster) exists() bool {
	_, err := os.Stat(filepath.Join(c.pgdata(), "PG_VERSION"))
	return err == nil
}

func (c *Cluster) logger() *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func (c *Cluster) pgdata() string   { return filepath.Join(c.Dir, "data") }
func (c *Cluster) logFile() string  { return filepath.Join(c.Dir, "postgres.log") }
func (c *Cluster) portFile() string { return filepath.Join(c.Dir, "port") }

// socketDir is inside the cluster dir unless that path is too long for a Unix
// socket (107 bytes on Linux, including the ".s.PGSQL.NNNNN" name); then it is
// a per-cluster directory under /tmp.
func (c *Cluster) socketDir() string {
	d := filepath.Join(c.Dir, "run")
	if len(d)+len("/.s.PGSQL.65535") < 100 {
		return d
	}
	sum := sha256.Sum256([]byte(c.Dir))
	return filepath.Join(os.TempDir(), "geoseek-pg-"+hex.EncodeToString(sum[:6]))
}

// URL is the connection string for the cluster's geoseek database over TCP.
func (c *Cluster) URL(port int) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", Superuser, port, Database)
}

// Start creates the cluster if needed, starts it unless it is running, and
// returns its connection URL. It is safe to call from several processes at once
// (go test runs packages in parallel): a file lock serialises them.
func (c *Cluster) Start(ctx context.Context) (string, error) {
	abs, err := filepath.Abs(c.Dir)
	if err != nil {
		return "", fmt.Errorf("pgcluster: %w", err)
	}
	c.Dir = abs
	if c.Existing && !c.exists() {
		return "", fmt.Errorf("%w in %s", ErrNoCluster, c.Dir)
	}
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return "", fmt.Errorf("pgcluster: create %s: %w", c.Dir, err)
	}
	unlock, err := lockFile(filepath.Join(c.Dir, ".lock"))
	if err != nil {
		return "", err
	}
	defer unlock()

	bin, err := BinDir()
	if err != nil {
		return "", err
	}
	runAs, err := c.runAsUser()
	if err != nil {
		return "", err
	}
	port, err := c.port()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(c.socketDir(), 0o755); err != nil {
		return "", fmt.Errorf("pgcluster: socket dir: %w", err)
	}
	if runAs != nil {
		if err := chownR(c.socketDir(), runAs); err != nil {
			return "", err
		}
	}
	if _, err := os.Stat(filepath.Join(c.pgdata(), "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		if c.Existing {
			return "", fmt.Errorf("%w in %s", ErrNoCluster, c.Dir)
		}
		if err := c.initdb(ctx, bin, runAs, port); err != nil {
			return "", err
		}
	}
	if c.running(ctx, bin, runAs) {
		return c.URL(port), nil
	}
	if ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err != nil {
		return "", fmt.Errorf("pgcluster: port %d (recorded in %s) is taken by another program; stop it or remove that file to pick a new port: %w", port, c.portFile(), err)
	} else {
		ln.Close()
	}
	c.logger().Info("starting private PostgreSQL cluster", "dir", c.Dir, "port", port)
	// synchronous_commit on the command line too: clusters made before it
	// was the default have "off" in their postgresql.conf.
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c synchronous_commit=on", port, c.socketDir())
	if out, err := c.run(ctx, runAs, filepath.Join(bin, "pg_ctl"), "-D", c.pgdata(), "-l", c.logFile(), "-w", "-t", "120", "-o", opts, "start"); err != nil {
		return "", fmt.Errorf("pgcluster: pg_ctl start: %w\n%s\n%s", err, out, tail(c.logFile(), 20))
	}
	return c.URL(port), nil
}

// Stop stops the cluster if it runs ("fast" shutdown: open sessions are ended).
func (c *Cluster) Stop(ctx context.Context) error {
	// pg_ctl runs in c.Dir, so a relative Dir must be made absolute first,
	// as Start does: otherwise the status check looks for the cluster
	// under the wrong path and Stop returns as if nothing were running.
	abs, err := filepath.Abs(c.Dir)
	if err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	c.Dir = abs
	bin, err := BinDir()
	if err != nil {
		return err
	}
	runAs, err := c.runAsUser()
	if err != nil {
		return err
	}
	if !c.running(ctx, bin, runAs) {
		return nil
	}
	if out, err := c.run(ctx, runAs, filepath.Join(bin, "pg_ctl"), "-D", c.pgdata(), "-m", "fast", "-w", "stop"); err != nil {
		return fmt.Errorf("pgcluster: pg_ctl stop: %w\n%s", err, out)
	}
	return nil
}

func (c *Cluster) running(ctx context.Context, bin string, runAs *user.User) bool {
	if _, err := os.Stat(filepath.Join(c.pgdata(), "PG_VERSION")); err != nil {
		return false
	}
	_, err := c.run(ctx, runAs, filepath.Join(bin, "pg_ctl"), "-D", c.pgdata(), "status")
	return err == nil
}

func (c *Cluster) initdb(ctx context.Context, bin string, runAs *user.User, port int) error {
	c.logger().Info("creating private PostgreSQL cluster", "dir", c.pgdata())
	if err := os.MkdirAll(c.pgdata(), 0o700); err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	if runAs != nil {
		if err := chownR(c.Dir, runAs); err != nil {
			return err
		}
	}
	// trust on loopback only: this is a private development cluster, reachable
	// from this machine alone; production uses DATABASE_URL.
	out, err := c.run(ctx, runAs, filepath.Join(bin, "initdb"), "-D", c.pgdata(), "-U", Superuser,
		"--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-instructions")
	if err != nil {
		os.RemoveAll(c.pgdata())
		return fmt.Errorf("pgcluster: initdb: %w\n%s", err, out)
	}
	conf := fmt.Sprintf(`
# geoseek private cluster
port = %d
listen_addresses = '127.0.0.1'
unix_socket_directories = '%s'
max_connections = 300
shared_buffers = %dMB
work_mem = 32MB
maintenance_work_mem = 512MB
# what geoseek acknowledged survives a crash of PostgreSQL or the machine
synchronous_commit = on
logging_collector = off
`, port, c.socketDir(), SharedBuffersMB(memoryBytes()))
	if lib := postgisLibrary(ctx, bin); lib != "" {
		// Loaded once by the postmaster, which every backend is forked from,
		// instead of by each backend on its first PostGIS call, which
		// otherwise makes a new connection's first PostGIS query several
		// times dearer (docs/performance.md, "Disconnect grace"). Connections
		// are new after every cancelled query and for every parallel worker.
		conf += "shared_preload_libraries = '" + lib + "'\n"
	}
	f, err := os.OpenFile(filepath.Join(c.pgdata(), "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	_, err = f.WriteString(conf)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("pgcluster: write postgresql.conf: %w", err)
	}
	// The geoseek database itself; createdb would need the server, so start it
	// single-user style through pg_ctl and create it over the socket.
	if out, err := c.run(ctx, runAs, filepath.Join(bin, "pg_ctl"), "-D", c.pgdata(), "-l", c.logFile(), "-w", "-t", "120", "-o", "-c listen_addresses=''", "start"); err != nil {
		return fmt.Errorf("pgcluster: first start: %w\n%s\n%s", err, out, tail(c.logFile(), 20))
	}
	defer c.run(context.WithoutCancel(ctx), runAs, filepath.Join(bin, "pg_ctl"), "-D", c.pgdata(), "-m", "fast", "-w", "stop") //nolint:errcheck
	if out, err := c.run(ctx, runAs, filepath.Join(bin, "createdb"), "-h", c.socketDir(), "-p", strconv.Itoa(port), "-U", Superuser, Database); err != nil {
		return fmt.Errorf("pgcluster: createdb: %w\n%s", err, out)
	}
	return nil
}

// port returns the cluster's recorded port, choosing and recording a free one
// for a new cluster.
func (c *Cluster) port() (int, error) {
	if b, err := os.ReadFile(c.portFile()); err == nil {
		p, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || p <= 0 || p > 65535 {
			return 0, fmt.Errorf("pgcluster: bad port in %s", c.portFile())
		}
		return p, nil
	}
	start := c.Port
	if start == 0 {
		start = DefaultPort
	}
	for p := start; p < start+200 && p <= 65535; p++ {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue
		}
		ln.Close()
		if err := os.WriteFile(c.portFile(), []byte(strconv.Itoa(p)+"\n"), 0o644); err != nil {
			return 0, fmt.Errorf("pgcluster: %w", err)
		}
		return p, nil
	}
	return 0, fmt.Errorf("pgcluster: no free port from %d", start)
}

// runAsUser is the postgres system user when we are root, nil otherwise.
func (c *Cluster) runAsUser() (*user.User, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("pgcluster: running as root needs the postgres system user (apt-get install postgresql-15): %w", err)
	}
	return u, nil
}

func (c *Cluster) run(ctx context.Context, runAs *user.User, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	if runAs != nil {
		uid, _ := strconv.Atoi(runAs.Uid)
		gid, _ := strconv.Atoi(runAs.Gid)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
		cmd.Env = append(os.Environ(), "HOME="+runAs.HomeDir, "USER=postgres", "LOGNAME=postgres")
	}
	// pg_ctl start leaves the postmaster running with its output in the log
	// file; give it no pipes of ours so we do not wait on them.
	cmd.Dir = c.Dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// BinDir finds the PostgreSQL server binaries: Debian keeps them out of PATH
// under /usr/lib/postgresql/<major>/bin; the newest major (15 or later) wins.
func BinDir() (string, error) {
	if d := os.Getenv("GEOSEEK_PG_BIN"); d != "" {
		return d, nil
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	sort.Slice(matches, func(i, j int) bool { return majorOf(matches[i]) > majorOf(matches[j]) })
	for _, m := range matches {
		if majorOf(m) >= 15 {
			return filepath.Dir(m), nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if r, err := filepath.EvalSymlinks(p); err == nil {
			return filepath.Dir(r), nil
		}
	}
	return "", errors.New("pgcluster: PostgreSQL 15+ server binaries not found (apt-get install postgresql-15 postgresql-15-postgis-3, or set GEOSEEK_PG_BIN)")
}

// postgisLibrary is the name of the PostGIS 3 server library when the
// PostgreSQL of bin has it installed, else "".
func postgisLibrary(ctx context.Context, bin string) string {
	out, err := exec.CommandContext(ctx, filepath.Join(bin, "pg_config"), "--pkglibdir").Output()
	if err != nil {
		return ""
	}
	const lib = "postgis-3"
	if _, err := os.Stat(filepath.Join(strings.TrimSpace(string(out)), lib+".so")); err != nil {
		return ""
	}
	return lib
}

func majorOf(initdb string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(initdb))))
	return n
}

func chownR(dir string, u *user.User) error {
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
	if err != nil {
		return fmt.Errorf("pgcluster: chown %s: %w", dir, err)
	}
	// The postgres user must be able to reach the dir through its parents.
	for p := filepath.Dir(dir); p != "/" && p != "."; p = filepath.Dir(p) {
		st, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("pgcluster: %w", err)
		}
		if st.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("pgcluster: the postgres user cannot reach %s: %s is not searchable by others (chmod o+x it, or set GEOSEEK_DATA_DIR elsewhere)", dir, p)
		}
	}
	return nil
}

func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("pgcluster: lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("pgcluster: lock: %w", err)
	}
	return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil //nolint:errcheck
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// SharedBuffersMB is the private cluster's shared_buffers for a machine of
// mem bytes (0: unknown): a quarter of it, PostgreSQL's own advice, from
// 128 MB to 8 GB, so searches that rank or sample many rows find their
// pages in PostgreSQL instead of re-reading them (docs/performance.md).
func SharedBuffersMB(mem int64) int64 {
	const mb = 1 << 20
	if mem <= 0 {
		return 512
	}
	return min(max(mem/4/mb, 128), 8192)
}

// memoryBytes is the memory this process may use: the machine's, or its
// cgroup's limit when lower; 0 when neither can be read.
func memoryBytes() int64 {
	var total int64
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
				if kb, err := strconv.ParseInt(f[1], 10, 64); err == nil {
					total = kb << 10
				}
			}
		}
	}
	if b, err := os.ReadFile("/sys/fs/cgroup/memory.max"); err == nil {
		if lim, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && lim > 0 && (total == 0 || lim < total) {
			total = lim
		}
	}
	return total
}
