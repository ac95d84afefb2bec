package migrations_test

import (
	"context"
	"os/exec"
	"path"
	"strings"
	"testing"

	"github.com/pressly/goose/v3"

	"github.com/geoseek/geoseek/internal/pgtest"
	"github.com/geoseek/geoseek/migrations"
)

// lastOutOfOrder is the newest migration written when version ranges were
// reserved per domain and applied out of order; every later file must be
// numbered above all files that came before it.
const lastOutOfOrder = 41

// TestMigrationNumbersIncrease: each migration file newer than the per-domain
// ranges was added after every file numbered below it (by git history), so
// every database applies the files in one order. A file not committed yet
// counts as added last.
func TestMigrationNumbersIncrease(t *testing.T) {
	t.Parallel()
	root, err := pgtest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("git", "-C", root, "log", "--topo-order", "--reverse", "--no-renames",
		"--diff-filter=A", "--name-only", "--format=commit %H", "--", "migrations/sql").Output()
	if err != nil {
		t.Skipf("SKIP: migration order not checked: no git history here (%v); CI runs on a clone", err)
	}
	added := map[string]int{} // file name -> index of the last commit that added it
	commit := 0
	for _, line := range strings.Split(string(out), "\n") {
		switch {
		case strings.HasPrefix(line, "commit "):
			commit++
		case strings.HasSuffix(line, ".sql"):
			added[path.Base(line)] = commit
		}
	}
	files, err := migrations.FsGlob()
	if err != nil {
		t.Fatal(err)
	}
	type file struct {
		name    string
		version int64
		at      int
	}
	var fs []file
	for _, f := range files {
		v, err := goose.NumericComponent(f)
		if err != nil {
			t.Fatal(err)
		}
		at, ok := added[path.Base(f)]
		if !ok {
			at = commit + 1
		}
		fs = append(fs, file{path.Base(f), v, at})
	}
	for _, newer := range fs {
		if newer.version <= lastOutOfOrder {
			continue
		}
		for _, older := range fs {
			if older.version < newer.version && older.at > newer.at {
				t.Errorf("%s was added after %s but is numbered below it: databases that applied %s first would apply %s out of order; number it above the latest",
					older.name, newer.name, newer.name, older.name)
			}
		}
	}
}

// TestUpRefusesAHole: a database that lacks a file below its version (one
// that would apply it out of order) is refused, not migrated.
func TestUpRefusesAHole(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := emptyDB(t)
	if _, err := migrations.Up(ctx, pool, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `DELETE FROM goose_db_version WHERE version_id = 41`); err != nil {
		t.Fatal(err)
	}
	_, err := migrations.Up(ctx, pool, nil)
	if err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("Up over a hole at 41: %v, want an error naming the missing migration", err)
	}
}
