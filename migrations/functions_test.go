package migrations_test

import (
	"bufio"
	"bytes"
	"context"
	"io/fs"
	"os/exec"
	"path"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/geoseek/geoseek/internal/pgtest"
	"github.com/geoseek/geoseek/migrations"
)

var createFunction = regexp.MustCompile(`(?i)^\s*CREATE\s+(?:OR\s+REPLACE\s+)?FUNCTION\s+([a-z0-9_]+)\s*\(`)

// functionDefs lists the CREATE FUNCTION statements of a tree by function
// name, each as "file:line".
func functionDefs(t *testing.T, fsys fs.FS, pattern string) map[string][]string {
	t.Helper()
	names, err := fs.Glob(fsys, pattern)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, name := range names {
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for n := 1; sc.Scan(); n++ {
			if m := createFunction.FindStringSubmatch(sc.Text()); m != nil {
				fn := strings.ToLower(m[1])
				out[fn] = append(out[fn], name+":"+strconv.Itoa(n))
			}
		}
	}
	return out
}

// TestEachFunctionHasOneDefinition: a function is written in one migration
// (the one that made it, whose own statements may need it) and, once it has
// changed, its current text lives in migrations/functions/; no migration
// repeats it, in its Up or its Down part.
func TestEachFunctionHasOneDefinition(t *testing.T) {
	t.Parallel()
	inSQL := functionDefs(t, migrations.Files(), "sql/*.sql")
	inFunctions := functionDefs(t, migrations.FunctionFiles(), "functions/*.sql")
	for fn, at := range inSQL {
		if len(at) > 1 {
			t.Errorf("%s is defined in %d places of migrations/sql (%s): its current definition belongs in migrations/functions/ only", fn, len(at), strings.Join(at, ", "))
		}
	}
	for fn, at := range inFunctions {
		if len(at) > 1 {
			t.Errorf("%s is defined %d times in migrations/functions (%s)", fn, len(at), strings.Join(at, ", "))
		}
	}
}

// definitions is every function and trigger of the database's own schema
// (extensions' functions left out), as PostgreSQL prints them.
func definitions(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `
		SELECT pg_get_functiondef(p.oid) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
		 WHERE n.nspname = 'public' AND p.prokind IN ('f', 'p')
		   AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
		UNION ALL
		SELECT pg_get_triggerdef(t.oid) FROM pg_trigger t WHERE NOT t.tgisinternal
		ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func sameDefinitions(t *testing.T, what string, want, got []string) {
	t.Helper()
	w := map[string]bool{}
	for _, s := range want {
		w[s] = true
	}
	g := map[string]bool{}
	for _, s := range got {
		g[s] = true
		if !w[s] {
			t.Errorf("%s has a definition a fresh database lacks:\n%s", what, s)
		}
	}
	for _, s := range want {
		if !g[s] {
			t.Errorf("%s lacks a definition a fresh database has:\n%s", what, s)
		}
	}
}

// writeSomeDocuments exercises the triggers of whatever schema version the
// database is at: documents with geometries, one updated and one deleted.
func writeSomeDocuments(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	for _, q := range []string{
		`INSERT INTO documents (collection_id, title, geom, props)
		 SELECT c.id, 'doc ' || i, ST_SetSRID(ST_MakePoint(i * 7 - 170, i * 3 - 80), 4326), jsonb_build_object('k', i)
		   FROM collections c, generate_series(1, 50) i WHERE c.name = 'photos'`,
		`UPDATE documents SET geom = ST_SetSRID(ST_MakePoint(1, 1), 4326) WHERE title = 'doc 1'`,
		`DELETE FROM documents WHERE title = 'doc 2'`,
	} {
		if _, err := pool.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSteppedDatabasesEndLikeAFreshOne: a database migrated from an older
// version, by the files of this release or by the files as they were before
// functions moved to migrations/functions/, ends with the same functions and
// triggers as a database migrated from nothing.
func TestSteppedDatabasesEndLikeAFreshOne(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	fresh := emptyDB(t)
	if _, err := migrations.Up(ctx, fresh, nil); err != nil {
		t.Fatal(err)
	}
	want := definitions(t, fresh)
	if len(want) < 15 {
		t.Fatalf("a fresh database has %d functions and triggers; the listing is wrong", len(want))
	}
	current, err := fs.Sub(migrations.Files(), "sql")
	if err != nil {
		t.Fatal(err)
	}
	histories := []struct {
		name string
		fsys fs.FS
		at   []int64
	}{{"this release's files", current, []int64{13, 21, 25, 47}}}
	if old := filesBeforeFunctions(t); old != nil {
		histories = append(histories, struct {
			name string
			fsys fs.FS
			at   []int64
		}{"the files before migrations/functions", old, []int64{22, 47, 49}})
	}
	for _, h := range histories {
		for _, v := range h.at {
			t.Run(h.name+"/"+strconv.FormatInt(v, 10), func(t *testing.T) {
				t.Parallel()
				pool := emptyDB(t)
				if err := migrations.UpToFrom(ctx, pool, h.fsys, v); err != nil {
					t.Fatal(err)
				}
				writeSomeDocuments(t, pool)
				rep, err := migrations.Up(ctx, pool, nil)
				if err != nil {
					t.Fatal(err)
				}
				if len(rep.Functions) == 0 {
					t.Fatal("no function file applied after an older database was migrated")
				}
				sameDefinitions(t, "a database migrated from version "+strconv.FormatInt(v, 10)+" by "+h.name, want, definitions(t, pool))
			})
		}
	}
}

// filesBeforeFunctions is migrations/sql as it was in git just before
// migrations/functions/ was added (the files every database made before
// then has applied); nil, with a log line, where there is no git history.
func filesBeforeFunctions(t *testing.T) fs.FS {
	t.Helper()
	root, err := pgtest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	git := func(args ...string) (string, error) {
		out, err := exec.Command("git", append([]string{"-C", root}, args...)...).Output()
		return strings.TrimSpace(string(out)), err
	}
	base := "HEAD"
	if added, err := git("log", "--diff-filter=A", "--format=%H", "--", "migrations/functions"); err == nil && added != "" {
		lines := strings.Split(added, "\n")
		base = lines[len(lines)-1] + "^"
	}
	list, err := git("ls-tree", "--name-only", base, "migrations/sql/")
	if err != nil {
		t.Logf("older migration files not checked: no git history here (%v)", err)
		return nil
	}
	m := fstest.MapFS{}
	for _, p := range strings.Split(list, "\n") {
		if !strings.HasSuffix(p, ".sql") {
			continue
		}
		body, err := git("show", base+":"+p)
		if err != nil {
			t.Fatal(err)
		}
		m[path.Base(p)] = &fstest.MapFile{Data: []byte(body + "\n")}
	}
	return m
}

// TestFunctionFilesAppliedWhenChanged: a start that changes nothing applies no
// function file (re-creating a trigger locks its table); a file whose
// recorded hash differs (a new release's text) is applied again.
func TestFunctionFilesAppliedWhenChanged(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := emptyDB(t)
	rep, err := migrations.Up(ctx, pool, nil)
	if err != nil {
		t.Fatal(err)
	}
	files, err := fs.Glob(migrations.FunctionFiles(), "functions/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Functions) != len(files) {
		t.Fatalf("first run applied %v, want all %d files", rep.Functions, len(files))
	}
	want := definitions(t, pool)
	if rep, err = migrations.Up(ctx, pool, nil); err != nil || len(rep.Functions) != 0 {
		t.Fatalf("second run applied %v (%v), want none", rep.Functions, err)
	}
	// An older release's body, and the hash that release recorded.
	if _, err := pool.Exec(ctx, `CREATE OR REPLACE FUNCTION geo_cluster_fold(cid bigint) RETURNS void LANGUAGE sql AS 'SELECT'`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `UPDATE schema_functions SET sha256 = sha256('older') WHERE file = '21_geo_cluster_cells.sql'`); err != nil {
		t.Fatal(err)
	}
	if rep, err = migrations.Up(ctx, pool, nil); err != nil || len(rep.Functions) != 1 || rep.Functions[0] != "21_geo_cluster_cells.sql" {
		t.Fatalf("run after a change applied %v (%v), want 21_geo_cluster_cells.sql", rep.Functions, err)
	}
	sameDefinitions(t, "the database after the changed file was applied", want, definitions(t, pool))
}
