package document

// SetAfterBatch makes a purge call f after each committed batch; an error
// from f stops the purge there, as a crash would.
func SetAfterBatch(c *LifecycleConfig, f func(removed int) error) { c.afterBatch = f }
