package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/geoseek/geoseek/internal/pgcluster"
	"github.com/geoseek/geoseek/internal/pgtest"
)

// The rig's serve sweeps the originals store every sweepPeriod and takes a
// temp file no upload holds, unwritten for orphanAge, for a crash leftover;
// the checks wait a few periods for what a crash left.
const (
	sweepPeriod = time.Second
	orphanAge   = 2 * time.Second
)

// crashRig is the real binary serving on a private PostgreSQL cluster of
// its own, which the test may kill.
type crashRig struct {
	t       *testing.T
	bin     string
	cluster *pgcluster.Cluster
	dbURL   string
	dataDir string
	addr    string
	key     string
	srv     *exec.Cmd
	log     *bytes.Buffer
	logMu   *sync.Mutex
	photos  []string // the corpus, each upload takes the next
}

func newCrashRig(t *testing.T) *crashRig {
	t.Helper()
	root := t.TempDir()
	// PostgreSQL runs as its own user when the test runs as root: it must
	// reach the cluster under the test's temporary directory.
	for d := root; d != filepath.Dir(d) && strings.HasPrefix(d, os.TempDir()+"/"); d = filepath.Dir(d) {
		_ = os.Chmod(d, 0o711)
	}
	bin := filepath.Join(root, "geoseek")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	ctx := context.Background()
	cl := &pgcluster.Cluster{Dir: filepath.Join(root, "pg"), Port: freePort(t)}
	url, err := cl.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Stop(context.Background()) })
	// The private cluster commits synchronously (pgcluster starts it so),
	// which is what lets this test hold geoseek to what it acknowledged.
	repo, err := pgtest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	photos, _ := filepath.Glob(filepath.Join(repo, "..", "shared", "testdata", "photos", "*.jpg"))
	if len(photos) < 10 {
		t.Fatalf("photo corpus: %d photos", len(photos))
	}
	r := &crashRig{t: t, bin: bin, cluster: cl, dbURL: url, dataDir: filepath.Join(root, "data"),
		addr: fmt.Sprintf("127.0.0.1:%d", freePort(t)), log: &bytes.Buffer{}, logMu: &sync.Mutex{}, photos: photos}
	out, err := r.cmd("keys", "create", "--name", "crash", "--scopes", "read,write").Output()
	if err != nil {
		t.Fatalf("keys create: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	r.key = lines[len(lines)-1]
	return r
}

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func (r *crashRig) cmd(args ...string) *exec.Cmd {
	c := exec.Command(r.bin, args...)
	c.Env = append(os.Environ(), "DATABASE_URL="+r.dbURL, "GEOSEEK_DATA_DIR="+r.dataDir, "GEOSEEK_ADDR="+r.addr,
		"GEOSEEK_PLACES=false", "GEOSEEK_LOG_FORMAT=json", "GEOSEEK_MAX_STREAMS_PER_KEY=0",
		"GEOSEEK_ORPHAN_SWEEP_INTERVAL="+sweepPeriod.String(), "GEOSEEK_ORPHAN_AGE="+orphanAge.String())
	return c
}

// start runs serve and waits until it is ready.
func (r *crashRig) start() {
	r.t.Helper()
	r.logMu.Lock()
	r.log.Reset()
	r.logMu.Unlock()
	r.srv = r.cmd("serve")
	r.srv.Stderr = lockedWriter{r.log, r.logMu}
	if err := r.srv.Start(); err != nil {
		r.t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + r.addr + "/readyz")
		if err == nil {
			resp.Body.Close()
		}
		if err == nil && resp.StatusCode == 200 {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("serve not ready: %v\n%s", err, r.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type lockedWriter struct {
	b  *bytes.Buffer
	mu *sync.Mutex
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// stop asks serve to shut down (SIGTERM) and waits for it.
func (r *crashRig) stop() {
	_ = r.srv.Process.Signal(syscall.SIGTERM)
	_ = r.srv.Wait()
}

// killServer sends SIGKILL and waits for the process to be gone.
func (r *crashRig) killServer() {
	_ = r.srv.Process.Kill()
	_ = r.srv.Wait()
}

// killPostgres stops the cluster the way a power cut would (immediate:
// no checkpoint, crash recovery at the next start) and starts it again.
func (r *crashRig) killPostgres() {
	r.t.Helper()
	bin, err := pgcluster.BinDir()
	if err != nil {
		r.t.Fatal(err)
	}
	pgdata := filepath.Join(r.cluster.Dir, "data")
	c := exec.Command(filepath.Join(bin, "pg_ctl"), "-D", pgdata, "-m", "immediate", "-w", "stop")
	if u, _ := user.Current(); u != nil && u.Uid == "0" {
		c = exec.Command("su", "postgres", "-c", filepath.Join(bin, "pg_ctl")+" -D "+pgdata+" -m immediate -w stop")
	}
	if out, err := c.CombinedOutput(); err != nil {
		r.t.Fatalf("pg_ctl stop -m immediate: %v\n%s", err, out)
	}
	if _, err := r.cluster.Start(context.Background()); err != nil {
		r.t.Fatal(err)
	}
}

func (r *crashRig) request(ctx context.Context, method, path, ct string, body io.Reader) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, "http://"+r.addr+path, body)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+r.key)
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// load is one write the workload sent: its id prefix and size, and
// whether the server acknowledged it with a 2xx.
type load struct {
	prefix string
	n      int
	acked  bool
}

// workload sends bulk loads, imports and photo uploads, each kind in a
// loop of its own, until ctx ends; it records what was acknowledged.
type workload struct {
	mu     sync.Mutex
	loads  []load
	photos map[string]bool // sha256 hex → acknowledged
}

func (r *crashRig) run(ctx context.Context, round int, w *workload) {
	var wg sync.WaitGroup
	wg.Add(3)
	go func() {
		defer wg.Done()
		for i := 0; ctx.Err() == nil; i++ {
			prefix := fmt.Sprintf("b%d-%d-", round, i)
			var b strings.Builder
			const n = 300
			for j := range n {
				fmt.Fprintf(&b, `{"external_id":"%s%d","title":"bulk %d","body":"crash test line","geometry":{"type":"Point","coordinates":[%d,%d]}}`+"\n", prefix, j, j, j%180, j%90)
			}
			code, _, _ := r.request(ctx, "POST", "/collections/crash/documents/bulk", "application/x-ndjson", strings.NewReader(b.String()))
			w.add(load{prefix: prefix, n: n, acked: code == 200})
		}
	}()
	go func() {
		defer wg.Done()
		for i := 0; ctx.Err() == nil; i++ {
			prefix := fmt.Sprintf("i%d-%d-", round, i)
			var b strings.Builder
			const n = 200
			b.WriteString(`{"type":"FeatureCollection","features":[`)
			for j := range n {
				if j > 0 {
					b.WriteString(",")
				}
				fmt.Fprintf(&b, `{"type":"Feature","id":"%s%d","geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,1],[0,0]]]},"properties":{"title":"import %d"}}`, prefix, j, j)
			}
			b.WriteString("]}")
			code, _, _ := r.request(ctx, "POST", "/collections/crash/items", "application/geo+json", strings.NewReader(b.String()))
			w.add(load{prefix: prefix, n: n, acked: code == 201})
		}
	}()
	go func() {
		defer wg.Done()
		for ctx.Err() == nil && len(r.photos) > 0 {
			file := r.photos[0]
			r.photos = r.photos[1:]
			raw, err := os.ReadFile(file)
			if err != nil {
				return
			}
			var body bytes.Buffer
			mw := multipart.NewWriter(&body)
			p, _ := mw.CreateFormFile("file", filepath.Base(file))
			_, _ = p.Write(raw)
			_ = mw.Close()
			code, _, _ := r.request(ctx, "POST", "/photos", mw.FormDataContentType(), &body)
			sum := sha256.Sum256(raw)
			w.mu.Lock()
			w.photos[hex.EncodeToString(sum[:])] = w.photos[hex.EncodeToString(sum[:])] || code == 201 || code == 200
			w.mu.Unlock()
		}
	}()
	wg.Wait()
}

func (w *workload) add(l load) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.loads = append(w.loads, l)
}

// check asserts what must hold after a crash and restart.
func (r *crashRig) check(w *workload) {
	t := r.t
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, r.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	acked := 0
	for _, l := range w.loads {
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM documents WHERE external_id LIKE $1 || '%'`, l.prefix).Scan(&n); err != nil {
			t.Fatal(err)
		}
		switch {
		case l.acked && n != l.n:
			t.Errorf("load %s was acknowledged but %d of its %d documents are there", l.prefix, n, l.n)
		case n != 0 && n != l.n:
			t.Errorf("load %s is half there: %d of %d documents", l.prefix, n, l.n)
		}
		if l.acked {
			acked++
		}
	}
	// Photos: every acknowledged one has its row and its file; every row
	// has its file and every file its row.
	rows := map[string]string{}
	res, err := conn.Query(ctx, `SELECT encode(sha256, 'hex'), storage_key FROM photos`)
	if err != nil {
		t.Fatal(err)
	}
	for res.Next() {
		var sum, key string
		if err := res.Scan(&sum, &key); err != nil {
			t.Fatal(err)
		}
		rows[sum] = key
	}
	if err := res.Err(); err != nil {
		t.Fatal(err)
	}
	originals := filepath.Join(r.dataDir, "originals")
	for sum, ok := range w.photos {
		if _, there := rows[sum]; ok && !there {
			t.Errorf("photo %s was acknowledged but has no row", sum[:12])
		}
	}
	for sum, key := range rows {
		b, err := os.ReadFile(filepath.Join(originals, key))
		if err != nil {
			t.Errorf("photo %s has a row but no file: %v", sum[:12], err)
			continue
		}
		if got := sha256.Sum256(b); hex.EncodeToString(got[:]) != sum {
			t.Errorf("photo %s: the file's bytes are not the photo's", sum[:12])
		}
	}
	// Bulk loads and imports stage in unlinked files: none has a name.
	if staged, _ := os.ReadDir(filepath.Join(r.dataDir, "stage")); len(staged) > 0 {
		t.Errorf("%d staged files left in %s", len(staged), filepath.Join(r.dataDir, "stage"))
	}
	files := r.waitForSweep(ctx, conn, originals)
	t.Logf("%d loads (%d acknowledged), %d photos stored, %d files", len(w.loads), acked, len(rows), len(files))
}

// waitForSweep waits up to five sweep periods for the periodic sweep to
// adopt or remove every original without a photo row (an upload that failed
// when PostgreSQL went away) and every temp file a killed upload left, and
// fails the test with what is left if it does not. It returns the originals.
func (r *crashRig) waitForSweep(ctx context.Context, conn *pgx.Conn, originals string) []string {
	t := r.t
	t.Helper()
	deadline := time.Now().Add(orphanAge + 5*sweepPeriod)
	for {
		rows := map[string]bool{}
		res, err := conn.Query(ctx, `SELECT encode(sha256, 'hex') FROM photos`)
		if err != nil {
			t.Fatal(err)
		}
		for res.Next() {
			var sum string
			if err := res.Scan(&sum); err != nil {
				t.Fatal(err)
			}
			rows[sum] = true
		}
		if err := res.Err(); err != nil {
			t.Fatal(err)
		}
		files, _ := filepath.Glob(filepath.Join(originals, "[0-9a-f][0-9a-f]", "*"))
		var orphans []string
		for _, f := range files {
			if !rows[filepath.Base(f)] {
				orphans = append(orphans, filepath.Base(f)[:12])
			}
		}
		temps, _ := os.ReadDir(filepath.Join(originals, "tmp"))
		if len(orphans) == 0 && len(temps) == 0 {
			return files
		}
		if time.Now().After(deadline) {
			t.Errorf("after %s (sweep every %s): files without a photo row %v, temp files %d", orphanAge+5*sweepPeriod, sweepPeriod, orphans, len(temps))
			return files
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestCrashKeepsWhatWasAcknowledged kills the server (SIGKILL) and,
// separately, PostgreSQL (an immediate stop, as a power cut) at random
// moments while bulk loads, GeoJSON imports and photo uploads run, then
// restarts what was killed and checks that every acknowledged write is
// there whole and nothing else is half there.
func TestCrashKeepsWhatWasAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP: -short: the crash test builds the binary and kills its own PostgreSQL")
	}
	t.Parallel()
	r := newCrashRig(t)
	r.start()
	defer func() {
		if r.srv != nil && r.srv.ProcessState == nil {
			r.killServer()
		}
	}()
	if code, b, err := r.request(context.Background(), "POST", "/collections", "application/json", strings.NewReader(`{"name":"crash"}`)); err != nil || code != 201 {
		t.Fatalf("create collection: %d %s %v", code, b, err)
	}
	w := &workload{photos: map[string]bool{}}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	for round, kill := range []string{"server", "postgres"} {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { r.run(ctx, round, w); close(done) }()
		at := time.Duration(800+rng.IntN(1500)) * time.Millisecond
		time.Sleep(at)
		if kill == "server" {
			r.killServer()
		} else {
			r.killPostgres()
		}
		cancel()
		<-done
		if kill == "server" {
			r.start()
		} else {
			waitReadyAfterRecovery(t, r.addr)
		}
		t.Logf("round %d: killed %s after %s", round, kill, at)
		r.check(w)
		if kill == "postgres" {
			// And after a restart of serve on the recovered database.
			r.stop()
			r.start()
			r.check(w)
		}
	}
}

func waitReadyAfterRecovery(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready after the PostgreSQL restart: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
