package bench

import "testing"

func TestStatTicks(t *testing.T) {
	line := []byte("4242 (postgres) S 2274 2274 2274 0 -1 4194560 900 0 0 0 123 45 6 7 20 0 1 0 17331 3133440 414")
	if got := statTicks(line); got != 123+45+6+7 {
		t.Errorf("statTicks = %d, want %d", got, 123+45+6+7)
	}
	if got := statTicks([]byte("7 (cat) R 1 1 1 0 -1 0 0 0 0 0 5 5 0 0 20")); got != 0 {
		t.Errorf("statTicks of another command = %d, want 0", got)
	}
	if got := statTicks([]byte("7 (postgres) S 1 2")); got != 0 {
		t.Errorf("statTicks of a short line = %d, want 0", got)
	}
}

func TestBrowserProcessCPU(t *testing.T) {
	if got := processType([]byte("/usr/lib/chromium/chromium\x00--type=gpu-process\x00--user-data-dir=/tmp/x\x00")); got != "gpu-process" {
		t.Errorf("processType = %q, want gpu-process", got)
	}
	if got := processType([]byte("/usr/lib/chromium/chromium --type=renderer --crashpad-handler-pid=0")); got != "renderer" {
		t.Errorf("processType of a rewritten command line = %q, want renderer", got)
	}
	if got := processType([]byte("/usr/lib/chromium/chromium\x00--headless\x00")); got != "browser" {
		t.Errorf("processType of the browser = %q", got)
	}
	stat := []byte("7 (chromium (x)) S 3 1 1 0 -1 0 0 0 0 0 5 6 700 800 20")
	if got := ownTicks(stat); got != 11 {
		t.Errorf("ownTicks = %d, want 11 (children's time left out)", got)
	}
	if got := statPPID(stat); got != 3 {
		t.Errorf("statPPID = %d, want 3", got)
	}
	// This test's own process is found by a marker in its command line.
	if got := browserCPU("-test."); len(got) == 0 {
		t.Error("browserCPU found no process with -test. in its command line")
	}
}
