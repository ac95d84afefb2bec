package ingest

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/geoseek/geoseek/internal/problem"
)

// Two geoseek processes on one data dir must not write one upload at once:
// each process's locks are in memory, and under them an flock on the
// upload's lock file. Two uploadLocks on one dir stand for the two
// processes (an flock belongs to its open file, so two opens conflict as
// two processes do), and a real process holds it with flock(1).
func TestUploadLocksAcrossProcesses(t *testing.T) {
	dir := t.TempDir()
	const id = "0123456789abcdef0123456789abcdef"
	if err := os.WriteFile(filepath.Join(dir, id+".info"), []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	a, b := newUploadLocks(dir), newUploadLocks(dir)
	ctx := context.Background()
	ka, _ := a.NewLock(id)
	if err := ka.Lock(ctx, func() {}); err != nil {
		t.Fatal(err)
	}
	if _, ok := b.tryLock(id); ok {
		t.Fatal("the other process's sweep took a held upload's lock")
	}
	// A waiter gives up when its context ends, and no sooner.
	kb, _ := b.NewLock(id)
	start := time.Now() // before the deadline is set: Done never comes sooner
	short, cancel := context.WithTimeout(ctx, 150*time.Millisecond)
	err := kb.Lock(short, func() {})
	cancel()
	if !errors.Is(err, errLockedElsewhere) {
		t.Fatalf("lock held by another process: %v, want errLockedElsewhere", err)
	}
	if d := time.Since(start); d < 150*time.Millisecond || d > 2*time.Second {
		t.Fatalf("gave up after %v, want its context's 150ms", d)
	}
	// A timed-out waiter holds nothing: this process may lock at once
	// once the other lets go.
	got := make(chan error, 1)
	go func() {
		c, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		got <- kb.Lock(c, func() {})
	}()
	time.Sleep(100 * time.Millisecond)
	select {
	case err := <-got:
		t.Fatalf("took the lock while the other process held it: %v", err)
	default:
	}
	if err := ka.Unlock(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the lock was not taken within 2 s of its release")
	}
	if _, ok := a.tryLock(id); ok {
		t.Fatal("the first process's sweep took the lock the other holds")
	}
	if err := kb.Unlock(); err != nil {
		t.Fatal(err)
	}

	// flock(1) in a process of its own holds the lock until its input ends.
	flock, err := exec.LookPath("flock")
	if err != nil {
		t.Fatalf("flock(1) (util-linux) is needed: %v", err)
	}
	hold := exec.Command(flock, "-x", filepath.Join(dir, id+".lock"), "-c", "echo held; read x")
	in, err := hold.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := hold.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := hold.Start(); err != nil {
		t.Fatal(err)
	}
	line := make([]byte, 5)
	if _, err := io.ReadFull(out, line); err != nil {
		t.Fatal(err)
	}
	if _, ok := a.tryLock(id); ok {
		t.Fatal("took the lock a process of its own holds")
	}
	kw := &uploadLock{locks: a, id: id}
	waited := make(chan error, 1)
	go func() {
		c, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		waited <- kw.wait(c)
	}()
	time.Sleep(100 * time.Millisecond)
	select {
	case err := <-waited:
		t.Fatalf("took the lock while a process of its own held it: %v", err)
	default:
	}
	in.Close()
	if err := <-waited; err != nil {
		t.Fatal(err)
	}
	_ = hold.Wait()
	if err := kw.Unlock(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, id+".lock")); err != nil {
		t.Fatalf("an existing upload's lock file: %v", err)
	}

	// An id with no upload leaves no lock file behind.
	const none = "fedcba9876543210fedcba9876543210"
	kn, _ := a.NewLock(none)
	if err := kn.Lock(ctx, func() {}); err != nil {
		t.Fatal(err)
	}
	if err := kn.Unlock(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, none+".lock")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("lock file of an id without an upload: %v, want none", err)
	}
}

// A PATCH for an upload that a request of another process holds waits for
// it, and when its wait ends first answers 423 with Retry-After (not
// tusd's 500); once the other lets go the upload resumes and is stored.
func TestTusUploadHeldByAnotherProcess(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{uploadLockWait: 300 * time.Millisecond})
	tc := b.tusServer(t)
	f := corpusFile(t, "exif-samples__DSCN0010.jpg")
	loc := tc.create(f.name, len(f.data))
	half := len(f.data) / 2
	if resp, body := tc.patch(loc, 0, f.data[:half]); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("first half: %d %s", resp.StatusCode, body)
	}
	other := newUploadLocks(filepath.Join(b.dir, "uploads"))
	held, ok := other.tryLock(path.Base(loc))
	if !ok {
		t.Fatal("the other process could not take the upload's lock")
	}
	start := time.Now()
	resp, body := tc.patch(loc, half, f.data[half:])
	if resp.StatusCode != http.StatusLocked || resp.Header.Get("Retry-After") == "" ||
		resp.Header.Get("Content-Type") != problem.ContentType || !strings.Contains(string(body), "another request") {
		t.Fatalf("PATCH while another process holds the upload: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	if d := time.Since(start); d < 300*time.Millisecond || d > 5*time.Second {
		t.Fatalf("answered after %v, want the lock wait of 300ms", d)
	}
	// HEAD waits for the lock too, and is told the same (without a body).
	if resp, _ := tc.do(http.MethodHead, loc, nil); resp.StatusCode != http.StatusLocked || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("HEAD while another process holds the upload: %d %v", resp.StatusCode, resp.Header)
	}
	if err := held.Unlock(); err != nil {
		t.Fatal(err)
	}
	if off := tc.offset(loc); off != half {
		t.Fatalf("offset %d after the refused PATCH, want %d", off, half)
	}
	if resp, body := tc.patch(loc, half, f.data[half:]); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("second half: %d %s", resp.StatusCode, body)
	}
	if code, res, d := tc.result(loc); code != http.StatusCreated || res.Results[0].Photo == nil {
		t.Fatalf("result: %d %+v %+v", code, res, d)
	}
}
