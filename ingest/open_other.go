//go:build !linux

package ingest

import "os"

// openLocal opens a local file to be ingested (see open_linux.go).
func openLocal(path string) (*os.File, error) { return os.Open(path) }
