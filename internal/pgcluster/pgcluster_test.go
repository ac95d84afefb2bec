package pgcluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestStopRelativeDir: `geoseek db stop` passes the data dir as given
// ("data/pg"); Stop once checked for the cluster relative to that dir and
// returned without stopping it.
func TestStopRelativeDir(t *testing.T) {
	if _, err := BinDir(); err != nil {
		t.Skipf("SKIP: no PostgreSQL server binaries: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	// When run as root the cluster runs as postgres, which must reach it.
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(dir)
	c := &Cluster{Dir: "pg"}
	u, err := c.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pu, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	// A new cluster's shared buffers are sized to the machine.
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	var sb string
	err = conn.QueryRow(ctx, `SELECT setting::bigint * current_setting('block_size')::bigint / 1048576 || 'MB' FROM pg_settings WHERE name = 'shared_buffers'`).Scan(&sb)
	conn.Close(ctx)
	if want := fmt.Sprintf("%dMB", SharedBuffersMB(memoryBytes())); err != nil || sb != want {
		t.Errorf("shared_buffers = %s (%v), want %s", sb, err, want)
	}
	// A new cluster preloads PostGIS when it is installed.
	bin, _ := BinDir()
	if lib := postgisLibrary(ctx, bin); lib != "" {
		conn, err := pgx.Connect(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		var got string
		err = conn.QueryRow(ctx, `SHOW shared_preload_libraries`).Scan(&got)
		conn.Close(ctx)
		if err != nil || !strings.Contains(got, lib) {
			t.Fatalf("shared_preload_libraries = %q (%v), want %s in it", got, err, lib)
		}
	}
	if err := (&Cluster{Dir: "pg"}).Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if conn, err := net.DialTimeout("tcp", pu.Host, time.Second); err == nil {
		conn.Close()
		c.Stop(ctx)
		t.Fatalf("%s still accepts connections after Stop", pu.Host)
	}
}

// TestExistingCreatesNothing: a command that only uses a database once
// created a new cluster wherever its data dir pointed.
func TestExistingCreatesNothing(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := filepath.Join(t.TempDir(), "data", "pg")
	_, err := (&Cluster{Dir: dir, Existing: true}).Start(ctx)
	if !errors.Is(err, ErrNoCluster) || !strings.Contains(err.Error(), dir) {
		t.Fatalf("Start on an empty dir: %v, want ErrNoCluster naming %s", err, dir)
	}
	if _, err := os.Stat(filepath.Dir(dir)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Start created %s: %v", filepath.Dir(dir), err)
	}
}

func TestSharedBuffersMB(t *testing.T) {
	const gb = 1 << 30
	for _, tc := range []struct {
		mem  int64
		want int64
	}{
		{0, 512}, {256 << 20, 128}, {2 * gb, 512}, {24 * gb, 6144}, {64 * gb, 8192},
	} {
		if got := SharedBuffersMB(tc.mem); got != tc.want {
			t.Errorf("SharedBuffersMB(%d) = %d, want %d", tc.mem, got, tc.want)
		}
	}
	if m := memoryBytes(); m <= 0 {
		t.Errorf("memoryBytes() = %d: neither /proc/meminfo nor the cgroup limit read", m)
	}
}
