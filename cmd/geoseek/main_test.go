package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/geoseek/geoseek/internal/pgtest"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// TestServeEndToEnd runs the real program on a loopback port against a fresh
// database: migrate at start, serve, keys, shutdown on cancel.
func TestServeEndToEnd(t *testing.T) {
	t.Parallel()
	db := pgtest.NewEmpty(t, "")
	vars := map[string]string{"DATABASE_URL": db.URL, "GEOSEEK_DATA_DIR": t.TempDir(), "GEOSEEK_LOG_FORMAT": "json", "GEOSEEK_PLACES": "false"}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	app := &App{Stdout: &stdout, Stderr: &stderr, Getenv: env(vars), Listener: ln}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx, []string{"serve"}) }()
	base := "http://" + ln.Addr().String()
	var ready map[string]any
	client := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := client.Get(base + "/readyz")
		if err == nil {
			json.NewDecoder(resp.Body).Decode(&ready)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		select {
		case err := <-done:
			t.Fatalf("serve stopped before ready: %v\n%s", err, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("never ready: %v %v\n%s", err, ready, stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	exts, _ := ready["extensions"].(map[string]any)
	if exts["postgis"] == nil {
		t.Fatalf("readyz lists no postgis: %v", ready)
	}
	if pgtest.VectorAvailable(t) && exts["vector"] == nil {
		t.Fatalf("pgvector is installed but readyz does not list it: %v", ready)
	}

	// keys create prints the key alone on the last line of stdout.
	var kout bytes.Buffer
	kapp := &App{Stdout: &kout, Stderr: io.Discard, Getenv: env(vars)}
	if err := kapp.Run(context.Background(), []string{"keys", "create", "--name", "ci", "--scopes", "read,write"}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(kout.String()), "\n")
	key := lines[len(lines)-1]
	if !strings.HasPrefix(key, "gsk_") || strings.Contains(key, " ") {
		t.Fatalf("last line %q is not a bare key", key)
	}
	kout.Reset()
	if err := kapp.Run(context.Background(), []string{"keys", "list"}); err != nil || !strings.Contains(kout.String(), key[:12]) {
		t.Fatalf("keys list: %v\n%s", err, kout.String())
	}

	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `geoseek_http_requests_total{code="200",method="GET",route="/readyz"}`) {
		t.Fatalf("metrics: %s", b)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve returned %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop after cancel")
	}
	// The access log is buffered while serving; shutdown writes it out.
	if !strings.Contains(stderr.String(), `"msg":"request"`) || !strings.Contains(stderr.String(), `"path":"/metrics"`) {
		t.Fatalf("the access line of /metrics is not in the log after shutdown:\n%s", stderr.String())
	}
	if !strings.Contains(stdout.String(), "serving on http://"+ln.Addr().String()) {
		t.Fatalf("serve did not print its URL: %q", stdout.String())
	}
}

func TestConfigValidation(t *testing.T) {
	t.Parallel()
	cases := map[string]map[string]string{
		"GEOSEEK_ADDR":               {"GEOSEEK_ADDR": "no-port"},
		"GEOSEEK_LOG_LEVEL":          {"GEOSEEK_LOG_LEVEL": "loud"},
		"GEOSEEK_DB_POOL_SIZE":       {"GEOSEEK_DB_POOL_SIZE": "many"},
		"GEOSEEK_STATEMENT_TIMEOUT":  {"GEOSEEK_STATEMENT_TIMEOUT": "soon"},
		"GEOSEEK_LOG_FORMAT":         {"GEOSEEK_LOG_FORMAT": "xml"},
		"GEOSEEK_TRUSTED_PROXIES":    {"GEOSEEK_TRUSTED_PROXIES": "10.0.0.0/8, proxy.local"},
		"GEOSEEK_TILE_CACHE_MB":      {"GEOSEEK_TILE_CACHE_MB": "-5"},
		"GEOSEEK_LOG_FLUSH":          {"GEOSEEK_LOG_FLUSH": "often"},
		"GEOSEEK_MAX_IN_FLIGHT":      {"GEOSEEK_MAX_IN_FLIGHT": "lots"},
		"GEOSEEK_DB_ACQUIRE_TIMEOUT": {"GEOSEEK_DB_ACQUIRE_TIMEOUT": "0s"},
		"GEOSEEK_RATE_LIMIT_IP":      {"GEOSEEK_RATE_LIMIT_IP": "-3"},
		"GEOSEEK_CORS_ORIGINS":       {"GEOSEEK_CORS_ORIGINS": "https://a.example, maps.example.org"},
	}
	cases["GEOSEEK_EMBED_SWEEP_INTERVAL"] = map[string]string{"GEOSEEK_EMBED_SWEEP_INTERVAL": "0s"}
	for name, vars := range cases {
		var stderr bytes.Buffer
		app := &App{Stdout: io.Discard, Stderr: &stderr, Getenv: env(vars)}
		err := app.Run(context.Background(), []string{"serve"})
		var u usageError
		if !errors.As(err, &u) || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: got %v, want a usage error naming the variable", name, err)
		}
	}
	// A command checks only the settings it uses: keys has no HTTP address.
	err := (&App{Stdout: io.Discard, Stderr: io.Discard, Getenv: env(map[string]string{"GEOSEEK_ADDR": "no-port", "GEOSEEK_LOG_LEVEL": "loud"})}).Run(context.Background(), []string{"keys", "list"})
	if err == nil || strings.Contains(err.Error(), "GEOSEEK_ADDR") || !strings.Contains(err.Error(), "GEOSEEK_LOG_LEVEL") {
		t.Errorf("keys list with a bad GEOSEEK_ADDR and log level: %v, want the log level alone reported", err)
	}
	// A flag wins over the environment.
	var c Config
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	bindConfig(fs, env(map[string]string{"GEOSEEK_ADDR": "127.0.0.1:1"}), &c, ^group(0))
	if err := fs.Parse([]string{"--addr", "127.0.0.1:2"}); err != nil || c.Addr != "127.0.0.1:2" {
		t.Fatalf("flag over env: %v %q", err, c.Addr)
	}
	if err := (&App{Stdout: io.Discard, Stderr: io.Discard}).Run(context.Background(), []string{"frobnicate"}); exitCode(err) != 2 {
		t.Fatalf("unknown command: %v", err)
	}
}

func TestIngestCommand(t *testing.T) {
	t.Parallel()
	dir, vars, db := ingestFixture(t)
	run := func() string {
		var out bytes.Buffer
		app := &App{Stdout: &out, Stderr: io.Discard, Getenv: env(vars)}
		if err := app.Run(context.Background(), []string{"ingest", dir}); err != nil {
			t.Fatalf("ingest: %v\n%s", err, out.String())
		}
		return out.String()
	}
	if out := run(); !strings.Contains(out, "3 files: 2 new, 0 already stored, 1 skipped") {
		t.Fatalf("first import: %s", out)
	}
	if out := run(); !strings.Contains(out, "2 already stored") {
		t.Fatalf("second import must find both photos stored: %s", out)
	}
	var photos, jobs int
	db.Pool.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM photos), (SELECT count(*) FROM river_job)`).Scan(&photos, &jobs)
	if photos != 2 || jobs < 2 {
		t.Fatalf("%d photos, %d jobs queued (thumbnails and embeddings)", photos, jobs)
	}
}

func TestReembedCommand(t *testing.T) {
	t.Parallel()
	pgtest.RequireVector(t)
	db := pgtest.New(t)
	ctx := context.Background()
	if _, err := db.Pool.Exec(ctx, `INSERT INTO documents (collection_id, title) SELECT id, 'a' FROM collections WHERE name = 'photos'`); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	app := &App{Stdout: &out, Stderr: io.Discard, Getenv: env(map[string]string{"DATABASE_URL": db.URL})}
	if err := app.Run(ctx, []string{"reembed", "--collection", "photos"}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "queued 1 documents in 1 embedding jobs") {
		t.Fatalf("output %q", out.String())
	}
	if err := app.Run(ctx, []string{"reembed", "--collection", "nope"}); err == nil {
		t.Fatal("unknown collection accepted")
	}
}

func TestSecretsComeFromTheEnvironmentButAreNotDefaults(t *testing.T) {
	t.Parallel()
	var c Config
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	bindConfig(fs, env(map[string]string{"GEOSEEK_CURSOR_SECRET": "s3cret", "GEOSEEK_EMBEDDER_API_KEY": "k"}), &c, ^group(0))
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if f := fs.Lookup("cursor-secret"); f.DefValue != "" {
		t.Fatalf("-h would print the secret: %q", f.DefValue)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.CursorSecret != "s3cret" || c.EmbedderAPIKey != "k" {
		t.Fatalf("secrets not read from the environment: %q %q", c.CursorSecret, c.EmbedderAPIKey)
	}
}
