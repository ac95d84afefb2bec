package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/geoseek/geoseek/internal/auth"
	"github.com/geoseek/geoseek/internal/pgtest"
)

// run runs the program with vars as its environment and returns its stdout,
// its stderr and its error.
func run(t *testing.T, vars map[string]string, args ...string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	err := (&App{Stdout: &out, Stderr: &errOut, Getenv: env(vars)}).Run(ctx, args)
	return out.String(), errOut.String(), err
}

// TestFlagsAfterArguments: the flag package stops at the first argument, so
// `keys revoke temp --database-url X` once ignored --database-url and used
// another database.
func TestFlagsAfterArguments(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	other, db := pgtest.New(t), pgtest.New(t)
	store := auth.NewStore(db.Pool)
	for _, name := range []string{"temp", "-dash"} {
		if _, _, err := store.Create(ctx, name, []auth.Scope{auth.Read}); err != nil {
			t.Fatal(err)
		}
	}
	vars := map[string]string{"DATABASE_URL": other.URL, "GEOSEEK_DATA_DIR": t.TempDir()}
	if out, stderr, err := run(t, vars, "keys", "revoke", "temp", "--database-url", db.URL, "--log-level", "warn"); err != nil || !strings.Contains(out, `"temp"`) {
		t.Fatalf("keys revoke NAME --database-url URL: %v\n%s%s", err, out, stderr)
	}
	// Flags before the subcommand, and "--" before an argument that looks
	// like a flag.
	if out, stderr, err := run(t, vars, "keys", "--database-url="+db.URL, "revoke", "--", "-dash"); err != nil || !strings.Contains(out, `"-dash"`) {
		t.Fatalf("keys --database-url=URL revoke -- -dash: %v\n%s%s", err, out, stderr)
	}
	keys, err := store.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if k.RevokedAt == nil {
			t.Fatalf("key %q is still active", k.Name)
		}
	}
	// Another command's setting is accepted, with a note, and not checked.
	if out, stderr, err := run(t, vars, "keys", "list", "--database-url", db.URL, "--addr", "no-port"); err != nil || !strings.Contains(out, "temp") ||
		!strings.Contains(stderr, "--addr does not apply to this command; ignored") {
		t.Fatalf("keys list --addr: %v\n%s%s", err, out, stderr)
	}
	if _, _, err := run(t, vars, "keys", "list", "--no-such-flag"); exitCode(err) != 2 || !strings.Contains(err.Error(), "no-such-flag") {
		t.Fatalf("unknown flag after the subcommand: %v", err)
	}
	if _, _, err := run(t, vars, "migrate", "extra"); exitCode(err) != 2 || !strings.Contains(err.Error(), `"extra"`) {
		t.Fatalf("an argument migrate does not take: %v", err)
	}
}

// TestNoClusterWhereNoneWasAskedFor: a command that only uses a database,
// pointed at a data dir without a cluster, once created one there (or, with
// --data-dir after its argument, in the data dir of the environment).
func TestNoClusterWhereNoneWasAskedFor(t *testing.T) {
	t.Parallel()
	envDir, flagDir := t.TempDir(), filepath.Join(t.TempDir(), "named")
	photos := t.TempDir()
	vars := map[string]string{"GEOSEEK_DATA_DIR": envDir}
	for _, args := range [][]string{
		{"keys", "revoke", "temp", "--data-dir", flagDir},
		{"keys", "list", "--data-dir", flagDir},
		{"migrate", "--data-dir", flagDir},
		{"ingest", photos, "--data-dir", flagDir},
		{"reembed", "--data-dir", flagDir},
		{"db", "url", "--data-dir", flagDir},
	} {
		_, _, err := run(t, vars, args...)
		if exitCode(err) != 2 || !strings.Contains(err.Error(), "no private PostgreSQL cluster in "+filepath.Join(flagDir, "pg")) ||
			!strings.Contains(err.Error(), "geoseek db start --data-dir "+flagDir) {
			t.Errorf("%s: %v, want a usage error naming %s/pg and how to create a cluster", strings.Join(args, " "), err, flagDir)
		}
		if args[0] != "db" && (err == nil || !strings.Contains(err.Error(), "DATABASE_URL")) {
			t.Errorf("%s: %v, want DATABASE_URL named as the way to use another database", strings.Join(args, " "), err)
		}
	}
	for _, dir := range []string{flagDir, filepath.Join(envDir, "pg")} {
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s was created: %v", dir, err)
		}
	}
}

// TestHelpListsOnlyTheFlagsACommandUses: keys create -h once listed every
// server setting.
func TestHelpListsOnlyTheFlagsACommandUses(t *testing.T) {
	t.Parallel()
	flagLine := regexp.MustCompile(`(?m)^  -([a-z-]+)`)
	help := func(args ...string) (string, []string) {
		_, stderr, err := run(t, nil, append(args, "-h")...)
		if !errors.Is(err, flag.ErrHelp) {
			t.Fatalf("%v -h: %v", args, err)
		}
		var names []string
		for _, m := range flagLine.FindAllStringSubmatch(stderr, -1) {
			names = append(names, m[1])
		}
		return stderr, names
	}
	cases := []struct {
		args []string
		want []string
	}{
		{[]string{"keys", "create"}, []string{"data-dir", "database-url", "expires", "log-format", "log-level", "name", "scopes"}},
		{[]string{"keys", "list"}, []string{"data-dir", "database-url", "log-format", "log-level"}},
		{[]string{"keys", "revoke"}, []string{"data-dir", "database-url", "log-format", "log-level"}},
		{[]string{"migrate"}, []string{"data-dir", "database-url", "log-format", "log-level"}},
		{[]string{"db", "start"}, []string{"data-dir", "log-format", "log-level", "pg-port"}},
		{[]string{"db", "stop"}, []string{"data-dir", "log-format", "log-level"}},
		{[]string{"reembed"}, []string{"collection", "data-dir", "database-url", "db-pool-size", "log-format", "log-level", "missing", "statement-timeout"}},
		{[]string{"ingest"}, []string{"concurrency", "data-dir", "database-url", "db-pool-size", "json", "log-format", "log-level", "max-upload-bytes", "max-upload-files", "move", "quiet", "statement-timeout"}},
	}
	own := map[string]bool{"name": true, "scopes": true, "expires": true, "collection": true, "missing": true, "concurrency": true, "json": true, "move": true, "quiet": true}
	for _, c := range cases {
		text, names := help(c.args...)
		if strings.Join(names, " ") != strings.Join(c.want, " ") {
			t.Errorf("%v -h lists %v, want %v", c.args, names, c.want)
		}
		// Every shared setting names its environment variable.
		for _, block := range regexp.MustCompile(`(?m)^  -`).Split(text, -1)[1:] {
			name := strings.Fields(block)[0]
			if !own[name] && !strings.Contains(block, "($") {
				t.Errorf("%v -h: -%s does not name its environment variable:\n%s", c.args, name, block)
			}
		}
	}
	// serve uses every server setting, its own and the database's, and
	// none of the upload client's (it once listed --server, --dry-run...).
	_, names := help("serve")
	for _, want := range []string{"addr", "database-url", "data-dir", "pg-port", "tile-cache-mb", "embedder", "max-upload-bytes", "db-pool-size", "log-flush", "max-in-flight", "db-acquire-timeout", "body-read-timeout", "rate-limit-ip", "rate-limit-key", "auth-failures-per-minute", "cors-origins"} {
		if !strings.Contains(" "+strings.Join(names, " ")+" ", " "+want+" ") {
			t.Errorf("serve -h lacks -%s: %v", want, names)
		}
	}
	_, clientNames := help("upload")
	for _, n := range clientNames {
		if slices.Contains(names, n) {
			t.Errorf("serve -h lists the upload client's -%s", n)
		}
	}
	// The groups list their subcommands.
	if _, stderr, err := run(t, nil, "keys", "-h"); !errors.Is(err, flag.ErrHelp) || !strings.Contains(stderr, "keys revoke NAME|ID|PREFIX") {
		t.Errorf("keys -h: %v\n%s", err, stderr)
	}
}

// TestKeysRevokeByName: keys revoke takes a key's name, and refuses a name
// several active keys share, listing them.
func TestKeysRevokeByName(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	vars := map[string]string{"DATABASE_URL": db.URL}
	var prefixes []string
	for _, name := range []string{"temp", "temp", "solo"} {
		out, stderr, err := run(t, vars, "keys", "create", "--name", name)
		if err != nil {
			t.Fatalf("keys create: %v\n%s", err, stderr)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		prefixes = append(prefixes, lines[len(lines)-1][:12])
	}
	out, stderr, err := run(t, vars, "keys", "revoke", "temp")
	if err == nil || exitCode(err) != 1 || !strings.Contains(err.Error(), `"temp" matches 2 active keys`) {
		t.Fatalf("ambiguous name: %v\n%s", err, out)
	}
	for _, p := range prefixes[:2] {
		if !strings.Contains(stderr, p+"…") {
			t.Fatalf("the refusal does not list key %s:\n%s", p, stderr)
		}
	}
	if out, _, err := run(t, vars, "keys", "list"); err != nil || strings.Contains(out, "revoked") {
		t.Fatalf("a refused revoke revoked a key: %v\n%s", err, out)
	}
	if out, _, err := run(t, vars, "keys", "revoke", "solo"); err != nil || !strings.Contains(out, `revoked key 3 "solo" (`+prefixes[2]+"…)") {
		t.Fatalf("keys revoke solo: %v %q", err, out)
	}
	// A prefix as keys list prints it, with its ellipsis, names one key.
	if out, _, err := run(t, vars, "keys", "revoke", prefixes[0]+"…"); err != nil || !strings.Contains(out, "revoked key 1") {
		t.Fatalf("keys revoke PREFIX…: %v %q", err, out)
	}
	if _, _, err := run(t, vars, "keys", "revoke", "nobody"); err == nil || !strings.Contains(err.Error(), `no active key "nobody"`) {
		t.Fatalf("unknown name: %v", err)
	}
}

// ingestFixture copies two photos and a text file into a new directory and
// returns it with the environment of a migrated database, and the database.
func ingestFixture(t *testing.T) (string, map[string]string, *pgtest.DB) {
	t.Helper()
	root, err := pgtest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(root, "..", "shared", "testdata", "photos")
	dir := t.TempDir()
	for _, name := range []string{"exif-samples__DSCN0010.jpg", "exif-samples__Canon_40D.jpg", "SOURCES.md"} {
		b, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			t.Fatalf("test photos are read from ../shared: %v", err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	db := pgtest.New(t)
	return dir, map[string]string{"DATABASE_URL": db.URL, "GEOSEEK_DATA_DIR": t.TempDir()}, db
}

// TestIngestJSONAndProgress: ingest --json gave its elapsed time in
// nanoseconds, and drew its progress bar into pipes and files.
func TestIngestJSONAndProgress(t *testing.T) {
	t.Parallel()
	dir, vars, _ := ingestFixture(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out, stderr bytes.Buffer
	app := &App{Stdout: &out, Stderr: &stderr, Getenv: env(vars), ProgressEvery: time.Millisecond}
	if err := app.Run(ctx, []string{"ingest", dir, "--json"}); err != nil {
		t.Fatalf("ingest: %v\n%s%s", err, out.String(), stderr.String())
	}
	// One object per file, then the summary, as upload prints them.
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("ingest --json: want 3 file lines and a summary:\n%s", out.String())
	}
	outcomes := map[string]int{}
	for _, l := range lines[:3] {
		var f map[string]any
		if err := json.Unmarshal([]byte(l), &f); err != nil || f["path"] == nil {
			t.Fatalf("file line %q: %v", l, err)
		}
		outcomes[f["outcome"].(string)]++
		if f["outcome"] == "created" && len(f["sha256"].(string)) != 64 {
			t.Fatalf("created without its hash: %s", l)
		}
	}
	if outcomes["created"] != 2 || outcomes["skipped"] != 1 {
		t.Fatalf("outcomes %v", outcomes)
	}
	var wrap struct {
		Summary map[string]any `json:"summary"`
	}
	if err := json.Unmarshal([]byte(lines[3]), &wrap); err != nil || wrap.Summary == nil {
		t.Fatalf("ingest --json summary: %v\n%s", err, lines[3])
	}
	sum := wrap.Summary
	secs, ok := sum["elapsed_seconds"].(float64)
	if !ok || secs <= 0 || secs > 120 {
		t.Fatalf("elapsed_seconds = %v, want the import's seconds:\n%s", sum["elapsed_seconds"], out.String())
	}
	if _, ok := sum["elapsed"]; ok || sum["created"] != 2.0 || sum["skipped"] != 1.0 {
		t.Fatalf("summary: %s", out.String())
	}
	// Stderr is no terminal: plain lines, no bar redrawn with carriage returns.
	progress := stderr.String()
	if strings.ContainsAny(progress, "\r█") || !strings.Contains(progress, "importing 3 files\n") ||
		!regexp.MustCompile(`(?m)^importing: \d of 3 files \(0 failed\), [0-9.]+ files/s, \d+ s(, \S+ left)?$`).MatchString(progress) {
		t.Fatalf("progress off a terminal:\n%q", progress)
	}

	stderr.Reset()
	out.Reset()
	if err := app.Run(ctx, []string{"ingest", "--quiet", dir}); err != nil || stderr.Len() != 0 || !strings.Contains(out.String(), "2 already stored") {
		t.Fatalf("ingest --quiet: %v, stderr %q, stdout %q", err, stderr.String(), out.String())
	}
}

// TestIngestProgressBarOnATerminal: on a terminal the progress bar is drawn.
func TestIngestProgressBarOnATerminal(t *testing.T) {
	t.Parallel()
	dir, vars, _ := ingestFixture(t)
	ptm, pts := openPTY(t)
	drawn := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(ptm) // until the terminal's other end closes
		drawn <- string(b)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	// The log goes to the terminal too: keep it to warnings.
	vars["GEOSEEK_LOG_LEVEL"] = "warn"
	err := (&App{Stdout: &out, Stderr: pts, Getenv: env(vars), ProgressEvery: time.Millisecond}).Run(ctx, []string{"ingest", dir})
	pts.Close()
	if err != nil {
		t.Fatalf("ingest: %v\n%s", err, out.String())
	}
	select {
	case s := <-drawn:
		if !strings.Contains(s, "3/3 files") || !strings.Contains(s, "100 %") || strings.Contains(s, "importing: ") {
			t.Fatalf("no progress bar on the terminal:\n%q", s)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the terminal was not closed")
	}
}
