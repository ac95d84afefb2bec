//go:build unix

package ingest

import (
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
