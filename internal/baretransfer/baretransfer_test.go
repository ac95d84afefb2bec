package baretransfer

import (
	"os"
	"path/filepath"
	"testing"
)

// Every byte of every file sent arrives, over kept-alive connections.
func TestSendDeliversEveryByte(t *testing.T) {
	s, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, make([]byte, 700_001), 0o600); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := s.Send(t.Context(), path); err != nil {
			t.Fatal(err)
		}
	}
	if got := s.Received(); got != 3*700_001 {
		t.Fatalf("received %d bytes, want %d", got, 3*700_001)
	}
	if err := s.Send(t.Context(), filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("sending a missing file: no error")
	}
}
