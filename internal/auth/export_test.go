package auth

import "time"

// SetCacheTTL lets tests shorten how long verified keys are trusted.
func SetCacheTTL(s *Store, d time.Duration) { s.cacheTTL = d }
