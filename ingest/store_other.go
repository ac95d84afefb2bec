//go:build !unix

package ingest

import "os"

// sameDevice is false where device numbers are not known: moves then copy.
func sameDevice(os.FileInfo, string) (bool, error) { return false, nil }

// lockFile is a no-op where flock is missing: the sweeper then relies on
// the temp file's age alone.
func lockFile(*os.File) error { return nil }

// removeUnheld removes the file at path.
func removeUnheld(path string) (bool, error) { return os.Remove(path) == nil, nil }
