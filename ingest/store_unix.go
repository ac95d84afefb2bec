//go:build unix

package ingest

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// sameDevice says whether the file of info lives on the file system of dir.
func sameDevice(info os.FileInfo, dir string) (bool, error) {
	d, err := os.Stat(dir)
	if err != nil {
		return false, fmt.Errorf("ingest: store: %w", err)
	}
	a, ok1 := info.Sys().(*syscall.Stat_t)
	b, ok2 := d.Sys().(*syscall.Stat_t)
	if !ok1 || !ok2 {
		return false, nil
	}
	return a.Dev == b.Dev, nil
}

// lockFile takes an exclusive lock on an upload's temp file for as long
// as it is open, so that the sweeper (removeUnheld), in this process or
// another, never removes a file an upload is still writing.
func lockFile(f *os.File) error {
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return fmt.Errorf("ingest: lock temp file: %w", err)
	}
	return nil
}

// removeUnheld removes the file at path unless an upload holds it
// (lockFile); removed is false then.
func removeUnheld(path string) (removed bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return false, nil
		}
		return false, err
	}
	if err := os.Remove(path); err != nil {
		return false, err
	}
	return true, nil
}
