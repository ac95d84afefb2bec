package auth

import "time"

// SetCacheTTL lets tests shorten how long verified keys are trusted.
func SetCacheTTL(s *Store, d time.Duration) { s.cacheTTL = d }

// Fetches says how many database lookups s made and how many Lookups
// waited for one.
func Fetches(s *Store) (fetches, waits int64) { return s.fetches.Load(), s.waits.Load() }
