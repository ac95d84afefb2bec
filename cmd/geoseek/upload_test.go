package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/geoseek/geoseek/cmd/geoseek/upload"
	"github.com/geoseek/geoseek/internal/pgtest"
)

// testServer is a geoseek server run in-process on a loopback port.
type testServer struct {
	URL  string
	Key  string
	DB   *pgtest.DB
	vars map[string]string
}

// startServer serves a fresh migrated database and creates a key with the
// read and write scopes. The server stops when t ends.
func startServer(t *testing.T) *testServer { return startServerWith(t, nil) }

// startServerWith is startServer with more of the server's variables.
func startServerWith(t *testing.T, extra map[string]string) *testServer {
	t.Helper()
	db := pgtest.New(t)
	vars := map[string]string{"DATABASE_URL": db.URL, "GEOSEEK_DATA_DIR": t.TempDir(), "GEOSEEK_PLACES": "false", "GEOSEEK_LOG_LEVEL": "warn"}
	maps.Copy(vars, extra)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var stderr syncBuffer
	go func() {
		done <- (&App{Stdout: io.Discard, Stderr: &stderr, Getenv: env(vars), Listener: ln}).Run(ctx, []string{"serve"})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("server did not stop")
		}
	})
	s := &testServer{URL: "http://" + ln.Addr().String(), DB: db, vars: vars}
	waitReady(t, s.URL, done, &stderr)
	s.Key = createKey(t, vars, "read,write")
	return s
}

func waitReady(t *testing.T, base string, done <-chan error, stderr *syncBuffer) {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := client.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		select {
		case err := <-done:
			t.Fatalf("serve stopped before ready: %v\n%s", err, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("never ready: %v\n%s", err, stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func createKey(t *testing.T, vars map[string]string, scopes string) string {
	t.Helper()
	var out bytes.Buffer
	if err := (&App{Stdout: &out, Stderr: io.Discard, Getenv: env(vars)}).Run(context.Background(), []string{"keys", "create", "--name", "k" + scopes, "--scopes", scopes}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	return lines[len(lines)-1]
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// proxy forwards TCP connections to a server and counts the bytes clients
// send; cutAfter, when positive, closes the connection that carries the
// byte past it (once), as a dropped link would.
type proxy struct {
	URL      string
	up       atomic.Int64
	cutAfter atomic.Int64
	cuts     atomic.Int64
}

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	p := &proxy{URL: "http://" + ln.Addr().String()}
	addr := strings.TrimPrefix(target, "http://")
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c, addr)
		}
	}()
	return p
}

func (p *proxy) serve(c net.Conn, addr string) {
	defer c.Close()
	s, err := net.Dial("tcp", addr)
	if err != nil {
		return
	}
	defer s.Close()
	go func() {
		_, _ = io.Copy(c, s)
		c.Close()
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			total := p.up.Add(int64(n))
			if cut := p.cutAfter.Load(); cut > 0 && total > cut && p.cutAfter.CompareAndSwap(cut, 0) {
				p.cuts.Add(1)
				return
			}
			if _, werr := s.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// runUpload runs geoseek upload with --json and returns each file's result
// by path, the summary and the error.
func runUpload(t *testing.T, vars map[string]string, args ...string) (map[string]upload.Result, upload.Summary, error) {
	t.Helper()
	var out, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	err := (&App{Stdout: &out, Stderr: &stderr, Getenv: env(vars)}).Run(ctx, append([]string{"upload", "--json", "--quiet"}, args...))
	results, sum := parseReport(t, out.Bytes())
	if sum.Files == 0 && len(results) > 0 {
		t.Fatalf("no summary line:\n%s\n%s", out.String(), stderr.String())
	}
	return results, sum, err
}

func parseReport(t *testing.T, out []byte) (map[string]upload.Result, upload.Summary) {
	t.Helper()
	results := map[string]upload.Result{}
	var sum upload.Summary
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Bytes()
		var s struct {
			Summary *upload.Summary `json:"summary"`
		}
		if json.Unmarshal(line, &s) == nil && s.Summary != nil {
			sum = *s.Summary
			continue
		}
		var r upload.Result
		if err := json.Unmarshal(line, &r); err != nil || r.Path == "" {
			t.Fatalf("not a result line: %q", line)
		}
		if _, twice := results[r.Path]; twice {
			t.Fatalf("%s reported twice", r.Path)
		}
		results[r.Path] = r
	}
	return results, sum
}

func photoSrc(t *testing.T, name string) []byte {
	t.Helper()
	root, err := pgtest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "..", "shared", "testdata", "photos", name))
	if err != nil {
		t.Fatalf("test photos are read from ../shared: %v", err)
	}
	return b
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func hexSHA(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// storedPhotos returns the photos in the database: id by hash.
func storedPhotos(t *testing.T, db *pgtest.DB) map[string]int64 {
	t.Helper()
	rows, err := db.Pool.Query(context.Background(), `SELECT encode(sha256, 'hex'), document_id FROM photos`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var h string
		var id int64
		if err := rows.Scan(&h, &id); err != nil {
			t.Fatal(err)
		}
		out[h] = id
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestUploadReportMatchesTheDatabase uploads a folder with nested dirs, the
// same bytes under two names, a corrupt JPEG, a non-image, a zero-byte file,
// a FIFO and a dangling link (the unreadable files: tests run as root, which
// reads any mode, so chmod 000 would not do), a hidden file and a link back
// to a parent; then checks the JSON report against the database file by
// file, and that a re-run sends only hashes.
func TestUploadReportMatchesTheDatabase(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	dir := t.TempDir()
	a, b := photoSrc(t, "exif-samples__DSCN0010.jpg"), photoSrc(t, "exif-samples__Canon_40D.jpg")
	writeFile(t, filepath.Join(dir, "2024", "july", "a.jpg"), a)
	writeFile(t, filepath.Join(dir, "2024", "copy-of-a.jpg"), a)
	writeFile(t, filepath.Join(dir, "b.jpg"), b)
	writeFile(t, filepath.Join(dir, "corrupt.jpg"), append([]byte{0xFF, 0xD8, 0xFF, 0xE0}, bytes.Repeat([]byte{0x42}, 5000)...))
	writeFile(t, filepath.Join(dir, "notes.txt"), []byte("not a photo\n"))
	writeFile(t, filepath.Join(dir, "empty.jpg"), nil)
	writeFile(t, filepath.Join(dir, ".hidden.jpg"), photoSrc(t, "exiftool__Apple.jpg"))
	if err := syscall.Mkfifo(filepath.Join(dir, "pipe.jpg"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "gone.jpg"), filepath.Join(dir, "dangling.jpg")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(dir, filepath.Join(dir, "2024", "loop")); err != nil {
		t.Fatal(err)
	}
	px := newProxy(t, srv.URL)
	vars := map[string]string{"GEOSEEK_SERVER": px.URL, "GEOSEEK_API_KEY": srv.Key, "GEOSEEK_UPLOAD_STATE_DIR": t.TempDir()}
	results, sum, err := runUpload(t, vars, dir)
	if exitCode(err) != exitSomeFailed {
		t.Fatalf("exit code %d (%v), want %d: some files were not stored", exitCode(err), err, exitSomeFailed)
	}
	if msg := err.Error(); !strings.Contains(msg, "2 skipped (not photos the server stores), 3 failed; running the same command again retries them") {
		t.Errorf("closing line: %q", msg)
	}
	want := map[string]upload.Outcome{
		"2024/july/a.jpg": "", "2024/copy-of-a.jpg": "", "b.jpg": upload.Created,
		"notes.txt": upload.Skipped, "empty.jpg": upload.Skipped,
		"pipe.jpg": upload.Failed, "dangling.jpg": upload.Failed, "corrupt.jpg": upload.Failed,
	}
	if len(results) != len(want) || sum.Files != len(want) {
		t.Fatalf("%d results, summary of %d files, want %d (the loop walked once, the hidden file left out): %v", len(results), sum.Files, len(want), results)
	}
	stored := storedPhotos(t, srv.DB)
	for p, r := range results {
		t.Logf("%s: %s %d %s", strings.TrimPrefix(p, dir), r.Outcome, r.PhotoID, r.Reason)
	}
	created := 0
	for rel, oc := range want {
		r, ok := results[filepath.Join(dir, rel)]
		if !ok {
			t.Fatalf("no result for %s", rel)
		}
		if oc != "" && r.Outcome != oc {
			t.Errorf("%s: %s (%s), want %s", rel, r.Outcome, r.Reason, oc)
		}
		switch r.Outcome {
		case upload.Created, upload.Duplicate:
			if r.PhotoID == 0 || stored[r.SHA256] != r.PhotoID {
				t.Errorf("%s: reported photo %d with %s, the database has %d", rel, r.PhotoID, r.SHA256, stored[r.SHA256])
			}
			if r.Outcome == upload.Created {
				created++
			}
		default:
			if r.Reason == "" {
				t.Errorf("%s: %s without a reason", rel, r.Outcome)
			}
			if _, ok := stored[r.SHA256]; ok && r.SHA256 != "" {
				t.Errorf("%s: reported %s but stored", rel, r.Outcome)
			}
		}
	}
	// A JPEG start marker and junk sniffs as JPEG, so the client sends it;
	// the server refuses it as not a photo, naming why.
	if r := results[filepath.Join(dir, "corrupt.jpg")]; !strings.Contains(r.Reason, "frame header") {
		t.Errorf("corrupt.jpg: %q, want the server's refusal", r.Reason)
	}
	ra, rc := results[filepath.Join(dir, "2024/july/a.jpg")], results[filepath.Join(dir, "2024/copy-of-a.jpg")]
	if ra.PhotoID != rc.PhotoID || ra.Outcome == rc.Outcome {
		t.Errorf("same bytes twice: %+v and %+v, want one created and one duplicate of the same photo", ra, rc)
	}
	if created != len(stored) || sum.Created != created {
		t.Errorf("%d created in the report (summary %d), %d photos in the database", created, sum.Created, len(stored))
	}

	// A re-run sends hashes only, and the refused file again (a refusal is
	// not remembered).
	px.up.Store(0)
	results, sum, err = runUpload(t, vars, dir)
	corrupt := results[filepath.Join(dir, "corrupt.jpg")]
	if exitCode(err) != exitSomeFailed || sum.Created != 0 || sum.BytesSent < corrupt.Size || sum.BytesSent > 2*corrupt.Size || corrupt.Outcome != upload.Failed || sum.Duplicate != len(stored)+1 {
		t.Fatalf("re-run: %v, %+v; corrupt.jpg %+v", err, sum, corrupt)
	}
	if up := px.up.Load(); up > sum.Bytes/10 || up > 8<<10 {
		t.Errorf("re-run put %d bytes on the wire for %d bytes of files: it should send hashes only", up, sum.Bytes)
	}
	if len(storedPhotos(t, srv.DB)) != len(stored) {
		t.Error("re-run changed the photos")
	}
	_ = results
}

// TestUploadServerUnreachableOrKeyRefused: both end with their own exit
// code, and every file is reported.
func TestUploadServerUnreachableOrKeyRefused(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.jpg"), photoSrc(t, "exif-samples__DSCN0010.jpg"))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()
	for name, vars := range map[string]map[string]string{
		"unreachable":   {"GEOSEEK_SERVER": closed, "GEOSEEK_UPLOAD_RETRIES": "2"},
		"no key":        {"GEOSEEK_SERVER": srv.URL},
		"wrong key":     {"GEOSEEK_SERVER": srv.URL, "GEOSEEK_API_KEY": "gsk_nope"},
		"read-only key": {"GEOSEEK_SERVER": srv.URL, "GEOSEEK_API_KEY": createKey(t, srv.vars, "read")},
	} {
		vars["GEOSEEK_UPLOAD_STATE_DIR"] = t.TempDir()
		results, sum, err := runUpload(t, vars, dir)
		if exitCode(err) != exitUnreachable || !errors.Is(err, upload.ErrServer) {
			t.Errorf("%s: exit %d (%v), want %d", name, exitCode(err), err, exitUnreachable)
		}
		if r := results[filepath.Join(dir, "a.jpg")]; r.Outcome != upload.Failed || r.Reason == "" || sum.Failed != 1 {
			t.Errorf("%s: %+v, summary %+v: the file must be reported failed with the reason", name, r, sum)
		}
	}
	if n := len(storedPhotos(t, srv.DB)); n != 0 {
		t.Fatalf("%d photos stored", n)
	}
}

// bigPhoto writes a JPEG of about size bytes: a real photo with random
// bytes after its end, so each one has its own hash.
func bigPhoto(t *testing.T, path string, size int) []byte {
	t.Helper()
	b := photoSrc(t, "exif-samples__DSCN0010.jpg")
	tail := make([]byte, size-len(b))
	if _, err := rand.Read(tail); err != nil {
		t.Fatal(err)
	}
	b = append(b, tail...)
	writeFile(t, path, b)
	return b
}

// TestUploadResumesAfterTheLinkIsCut cuts the connection in the middle of a
// 100 MB resumable upload; the run, allowed no retry, reports the file
// failed; running it again sends only what the server lacks (from its
// offset), and one photo with the file's hash is stored.
func TestUploadResumesAfterTheLinkIsCut(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	dir := t.TempDir()
	const size, chunk = 100 << 20, 8 << 20
	b := bigPhoto(t, filepath.Join(dir, "big.jpg"), size)
	px := newProxy(t, srv.URL)
	vars := map[string]string{"GEOSEEK_SERVER": px.URL, "GEOSEEK_API_KEY": srv.Key, "GEOSEEK_UPLOAD_STATE_DIR": t.TempDir(),
		"GEOSEEK_UPLOAD_CHUNK_SIZE": "8MiB", "GEOSEEK_UPLOAD_RETRIES": "1"}
	px.cutAfter.Store(size / 2)
	results, sum, err := runUpload(t, vars, dir)
	r := results[filepath.Join(dir, "big.jpg")]
	if exitCode(err) != exitSomeFailed || r.Outcome != upload.Failed || px.cuts.Load() != 1 {
		t.Fatalf("first run: exit %d (%v), %+v, %d cuts: want the file failed by the cut", exitCode(err), err, r, px.cuts.Load())
	}
	first := sum.BytesSent
	if n := len(storedPhotos(t, srv.DB)); n != 0 {
		t.Fatalf("%d photos after the cut run", n)
	}

	px.up.Store(0)
	results, sum, err = runUpload(t, vars, dir)
	r = results[filepath.Join(dir, "big.jpg")]
	if err != nil || r.Outcome != upload.Created {
		t.Fatalf("second run: %v, %+v", err, r)
	}
	t.Logf("first run sent %d bytes, the second %d, of %d", first, sum.BytesSent, size)
	if sum.BytesSent > int64(size)-first+chunk {
		t.Errorf("second run sent %d bytes; the first sent %d of %d: want at most the remainder plus one chunk", sum.BytesSent, first, size)
	}
	stored := storedPhotos(t, srv.DB)
	if len(stored) != 1 || stored[hexSHA(b)] != r.PhotoID {
		t.Fatalf("stored %v, want one photo %d with the file's hash %s", stored, r.PhotoID, hexSHA(b))
	}
}

// TestUploadRetriesACutWithinTheRun: with retries, a cut is resumed in the
// same run from the server's offset.
func TestUploadRetriesACutWithinTheRun(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	dir := t.TempDir()
	const size, chunk = 24 << 20, 4 << 20
	b := bigPhoto(t, filepath.Join(dir, "big.jpg"), size)
	px := newProxy(t, srv.URL)
	px.cutAfter.Store(size / 2)
	vars := map[string]string{"GEOSEEK_SERVER": px.URL, "GEOSEEK_API_KEY": srv.Key, "GEOSEEK_UPLOAD_STATE_DIR": t.TempDir(),
		"GEOSEEK_UPLOAD_CHUNK_SIZE": "4MiB", "GEOSEEK_UPLOAD_RESUMABLE_ABOVE": "1MB"}
	results, sum, err := runUpload(t, vars, dir)
	r := results[filepath.Join(dir, "big.jpg")]
	if err != nil || r.Outcome != upload.Created || px.cuts.Load() != 1 {
		t.Fatalf("%v, %+v, %d cuts", err, r, px.cuts.Load())
	}
	t.Logf("sent %d bytes of %d", sum.BytesSent, size)
	if sum.BytesSent > size+chunk {
		t.Errorf("sent %d bytes for a %d-byte file cut once: more than one chunk sent again", sum.BytesSent, size)
	}
	if stored := storedPhotos(t, srv.DB); len(stored) != 1 || stored[hexSHA(b)] != r.PhotoID {
		t.Fatalf("stored %v", stored)
	}
}

// TestMain runs the program itself when a test starts it as a child process
// (a server to kill -9).
func TestMain(m *testing.M) {
	if os.Getenv("GEOSEEK_TEST_RUN_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// childServer runs geoseek serve as a child process on addr.
func childServer(t *testing.T, vars map[string]string, addr string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "serve")
	cmd.Env = append(os.Environ(), "GEOSEEK_TEST_RUN_MAIN=1", "GEOSEEK_ADDR="+addr)
	for k, v := range vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})
	waitReady(t, "http://"+addr, done, &stderr)
	return cmd
}

// TestUploadSurvivesAServerKilled kills the server (SIGKILL) in the middle
// of a 300-file upload, restarts it and runs the same upload again: exactly
// 300 photos, each reported file stored, none twice.
func TestUploadSurvivesAServerKilled(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	vars := map[string]string{"DATABASE_URL": db.URL, "GEOSEEK_DATA_DIR": t.TempDir(), "GEOSEEK_PLACES": "false", "GEOSEEK_LOG_LEVEL": "warn"}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	srv := childServer(t, vars, addr)
	key := createKey(t, vars, "read,write")
	dir := t.TempDir()
	const n = 300
	for i := range n {
		bigPhoto(t, filepath.Join(dir, fmt.Sprintf("%03d", i/100), fmt.Sprintf("p%03d.jpg", i)), 256<<10)
	}
	cvars := map[string]string{"GEOSEEK_SERVER": "http://" + addr, "GEOSEEK_API_KEY": key, "GEOSEEK_UPLOAD_STATE_DIR": t.TempDir(),
		"GEOSEEK_UPLOAD_RETRIES": "2", "GEOSEEK_UPLOAD_CONCURRENCY": "4"}
	type run struct {
		results map[string]upload.Result
		err     error
	}
	first := make(chan run, 1)
	go func() {
		r, _, err := runUpload(t, cvars, dir)
		first <- run{r, err}
	}()
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(20 * time.Millisecond) {
		var stored int
		if err := db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM photos`).Scan(&stored); err != nil {
			t.Fatal(err)
		}
		if stored >= n/5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d photos stored", stored)
		}
	}
	if err := srv.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	r1 := <-first
	if r1.err == nil {
		t.Fatal("the run with its server killed succeeded")
	}
	if len(r1.results) != n {
		t.Fatalf("first run reported %d of %d files", len(r1.results), n)
	}
	childServer(t, vars, addr)
	results, sum, err := runUpload(t, cvars, dir)
	if err != nil || sum.Created+sum.Duplicate != n {
		t.Fatalf("re-run: %v, %+v", err, sum)
	}
	stored := storedPhotos(t, db)
	var docs int
	if err := db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM documents d JOIN collections c ON c.id = d.collection_id WHERE c.name = 'photos'`).Scan(&docs); err != nil {
		t.Fatal(err)
	}
	if len(stored) != n || docs != n {
		t.Fatalf("%d photos, %d photo documents; want %d", len(stored), docs, n)
	}
	for p, r := range results {
		if stored[r.SHA256] != r.PhotoID {
			t.Errorf("%s: re-run reported photo %d, stored %d", p, r.PhotoID, stored[r.SHA256])
		}
		if r1 := r1.results[p]; r1.Outcome == upload.Created && stored[r1.SHA256] != r1.PhotoID {
			t.Errorf("%s: reported created as %d before the kill, lost", p, r1.PhotoID)
		}
	}
}

// TestUploadStopsCleanlyOnInterrupt cancels a run (Ctrl-C) in the middle of
// a resumable upload: it exits 130 with every file reported; the next run
// resumes from the server's offset and finishes.
func TestUploadStopsCleanlyOnInterrupt(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	dir := t.TempDir()
	const size = 48 << 20
	b := bigPhoto(t, filepath.Join(dir, "big.jpg"), size)
	px := newProxy(t, srv.URL)
	vars := map[string]string{"GEOSEEK_SERVER": px.URL, "GEOSEEK_API_KEY": srv.Key, "GEOSEEK_UPLOAD_STATE_DIR": t.TempDir(),
		"GEOSEEK_UPLOAD_CHUNK_SIZE": "4MiB", "GEOSEEK_UPLOAD_RESUMABLE_ABOVE": "1MB"}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out bytes.Buffer
	done := make(chan error, 1)
	go func() {
		done <- (&App{Stdout: &out, Stderr: io.Discard, Getenv: env(vars)}).Run(ctx, []string{"upload", "--json", "--quiet", dir})
	}()
	for px.up.Load() < size/3 {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	err := <-done
	results, sum := parseReport(t, out.Bytes())
	if exitCode(err) != exitInterrupted || results[filepath.Join(dir, "big.jpg")].Outcome != upload.Failed {
		t.Fatalf("interrupted run: exit %d (%v), %+v", exitCode(err), err, results)
	}
	// Of the chunk in flight at the interrupt, the bytes still in socket
	// buffers never reach the server: the re-run sends them again, and
	// nothing more (a chunk the server refuses at a moved offset costs no
	// body: the client waits for 100 Continue).
	first := sum.BytesSent
	results, sum, err = runUpload(t, vars, dir)
	t.Logf("sent %d bytes before the interrupt, %d after, %d twice", first, sum.BytesSent, first+sum.BytesSent-size)
	if err != nil || results[filepath.Join(dir, "big.jpg")].Outcome != upload.Created || first+sum.BytesSent > size+(4<<20) {
		t.Fatalf("re-run: %v, %+v; bytes sent %d then %d for %d", err, results, first, sum.BytesSent, size)
	}
	if stored := storedPhotos(t, srv.DB); len(stored) != 1 || stored[hexSHA(b)] == 0 {
		t.Fatalf("stored %v", stored)
	}
}

// TestUploadProgress: plain lines off a terminal (files, bytes, rate), a
// bar on one, nothing with --quiet.
func TestUploadProgress(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	dir := t.TempDir()
	for i := range 3 {
		bigPhoto(t, filepath.Join(dir, fmt.Sprintf("p%d.jpg", i)), 2<<20)
	}
	vars := map[string]string{"GEOSEEK_SERVER": srv.URL, "GEOSEEK_API_KEY": srv.Key, "GEOSEEK_UPLOAD_STATE_DIR": t.TempDir()}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out, stderr bytes.Buffer
	if err := (&App{Stdout: &out, Stderr: &stderr, Getenv: env(vars), ProgressEvery: time.Millisecond}).Run(ctx, []string{"upload", dir}); err != nil {
		t.Fatalf("upload: %v\n%s%s", err, out.String(), stderr.String())
	}
	if p := stderr.String(); strings.ContainsAny(p, "\r") || !strings.HasPrefix(p, "uploading 3 files\n") ||
		!regexp.MustCompile(`(?m)^uploading: 3 of 3 files \(0 failed\), [0-9.]+ files/s, [0-9.]+ of [0-9.]+ MB sent, [0-9.]+ MB/s, \d+ s$`).MatchString(p) {
		t.Fatalf("progress off a terminal:\n%q", p)
	}
	if !strings.Contains(out.String(), "3 files: 3 created, 0 already stored, 0 skipped, 0 failed;") {
		t.Fatalf("summary: %q", out.String())
	}

	ptm, pts := openPTY(t)
	drawn := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(ptm)
		drawn <- string(b)
	}()
	for i := range 2 {
		bigPhoto(t, filepath.Join(dir, fmt.Sprintf("q%d.jpg", i)), 2<<20)
	}
	err := (&App{Stdout: io.Discard, Stderr: pts, Getenv: env(vars)}).Run(ctx, []string{"upload", dir})
	pts.Close()
	if err != nil {
		t.Fatal(err)
	}
	if s := <-drawn; !strings.Contains(s, "5/5 files") || !strings.Contains(s, "100 %") || !strings.Contains(s, "MB/s") || strings.Contains(s, "uploading: ") {
		t.Fatalf("no bar on the terminal:\n%q", s)
	}

	stderr.Reset()
	if err := (&App{Stdout: io.Discard, Stderr: &stderr, Getenv: env(vars)}).Run(ctx, []string{"upload", "--quiet", dir}); err != nil || stderr.Len() != 0 {
		t.Fatalf("--quiet: %v, %q", err, stderr.String())
	}
}

// TestUploadDryRun hashes and asks but sends nothing, and says what it
// would send.
func TestUploadDryRun(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	dir := t.TempDir()
	a := photoSrc(t, "exif-samples__DSCN0010.jpg")
	writeFile(t, filepath.Join(dir, "a.jpg"), a)
	writeFile(t, filepath.Join(dir, "same-as-a.jpg"), a)
	writeFile(t, filepath.Join(dir, "b.jpg"), photoSrc(t, "exif-samples__Canon_40D.jpg"))
	vars := map[string]string{"GEOSEEK_SERVER": srv.URL, "GEOSEEK_API_KEY": srv.Key, "GEOSEEK_UPLOAD_STATE_DIR": t.TempDir()}
	if _, _, err := runUpload(t, vars, filepath.Join(dir, "b.jpg")); err != nil {
		t.Fatal(err)
	}
	results, sum, err := runUpload(t, vars, "--dry-run", dir)
	if err != nil || !sum.DryRun || sum.WouldSend != 1 || sum.WouldSendBytes != int64(len(a)) || sum.Duplicate != 2 || sum.BytesSent != 0 {
		t.Fatalf("dry run: %v, %+v", err, sum)
	}
	// One of the two names of a's bytes would be sent; the other is its duplicate.
	ra, rs := results[filepath.Join(dir, "a.jpg")], results[filepath.Join(dir, "same-as-a.jpg")]
	if ra.Outcome == upload.Duplicate {
		ra, rs = rs, ra
	}
	if ra.Outcome != upload.Skipped || !strings.Contains(ra.Reason, "would send") || rs.Outcome != upload.Duplicate {
		t.Fatalf("a's bytes: %+v and %+v", ra, rs)
	}
	if n := len(storedPhotos(t, srv.DB)); n != 1 {
		t.Fatalf("a dry run stored photos: %d", n)
	}
}

// TestUploadBatchCutMidRequest cuts the link in the middle of a request of
// several files. Allowed no retry, the run reports the files whose outcome
// it could not learn failed, and those the server stored before the cut
// created (it asks); running it again stores the rest, sending only the
// files not stored when it asks, and every file ends stored once, as
// reported.
func TestUploadBatchCutMidRequest(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	dir := t.TempDir()
	const n, size = 6, 1 << 20
	for i := range n {
		bigPhoto(t, filepath.Join(dir, fmt.Sprintf("p%d.jpg", i)), size)
	}
	px := newProxy(t, srv.URL)
	vars := map[string]string{"GEOSEEK_SERVER": px.URL, "GEOSEEK_API_KEY": srv.Key, "GEOSEEK_UPLOAD_STATE_DIR": t.TempDir(),
		"GEOSEEK_UPLOAD_RETRIES": "1", "GEOSEEK_UPLOAD_CONCURRENCY": "1", "GEOSEEK_UPLOAD_BATCH_FILES": "8"}
	px.cutAfter.Store(n * size * 2 / 3)
	results, sum, err := runUpload(t, vars, dir)
	if exitCode(err) != exitSomeFailed || px.cuts.Load() != 1 || sum.Failed == 0 {
		t.Fatalf("first run: exit %d (%v), %+v, %d cuts: want files failed by the cut", exitCode(err), err, sum, px.cuts.Load())
	}
	checkReport := func(results map[string]upload.Result) map[string]int64 {
		t.Helper()
		stored := storedPhotos(t, srv.DB)
		for p, r := range results {
			_, ok := stored[r.SHA256]
			switch {
			case r.Outcome == upload.Created || r.Outcome == upload.Duplicate:
				if stored[r.SHA256] != r.PhotoID {
					t.Errorf("%s: reported %s %d, the database has %d", p, r.Outcome, r.PhotoID, stored[r.SHA256])
				}
			case ok:
				t.Errorf("%s: reported %s (%s) but stored", p, r.Outcome, r.Reason)
			}
		}
		return stored
	}
	first := checkReport(results)
	t.Logf("first run: %+v; %d stored", sum, len(first))

	px.up.Store(0)
	results, sum, err = runUpload(t, vars, dir)
	// The server finishes storing what reached it before the cut after the
	// first run has asked: such a file is a duplicate now.
	if err != nil || sum.Created+sum.Duplicate != n || sum.Duplicate < len(first) {
		t.Fatalf("second run: %v, %+v; %d stored before", err, sum, len(first))
	}
	if stored := checkReport(results); len(stored) != n {
		t.Errorf("%d photos stored, want %d", len(stored), n)
	}
	// Files stored when it asked are not sent; none is sent twice.
	if want := int64(n-len(first))*size + 64<<10; px.up.Load() > want {
		t.Errorf("second run put %d bytes on the wire, want at most %d: only the files not stored, once", px.up.Load(), want)
	}
}

// TestUploadBatchLargerThanTheServerTakes: --batch-files above the
// server's --max-upload-files: the files the server did not take are sent
// again in smaller requests, none fails.
func TestUploadBatchLargerThanTheServerTakes(t *testing.T) {
	t.Parallel()
	srv := startServerWith(t, map[string]string{"GEOSEEK_MAX_UPLOAD_FILES": "2"})
	dir := t.TempDir()
	const n = 7
	for i := range n {
		bigPhoto(t, filepath.Join(dir, fmt.Sprintf("p%d.jpg", i)), 1<<20)
	}
	vars := map[string]string{"GEOSEEK_SERVER": srv.URL, "GEOSEEK_API_KEY": srv.Key, "GEOSEEK_UPLOAD_STATE_DIR": t.TempDir(),
		"GEOSEEK_UPLOAD_CONCURRENCY": "1", "GEOSEEK_UPLOAD_BATCH_FILES": "8"}
	results, sum, err := runUpload(t, vars, dir)
	if err != nil || sum.Created != n || sum.Failed != 0 {
		t.Fatalf("exit %d (%v), %+v: want every file created", exitCode(err), err, sum)
	}
	stored := storedPhotos(t, srv.DB)
	for p, r := range results {
		if r.Outcome != upload.Created || stored[r.SHA256] != r.PhotoID {
			t.Errorf("%s: %s %d (%s); the database has %d", p, r.Outcome, r.PhotoID, r.Reason, stored[r.SHA256])
		}
	}
	if len(stored) != n {
		t.Errorf("%d photos stored, want %d", len(stored), n)
	}
}
