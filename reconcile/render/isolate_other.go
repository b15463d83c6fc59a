//go:build !unix

package render

// limitMemory is a no-op where there is no RLIMIT_DATA: the worker is still killed at the
// render's deadline and its output bounded.
func limitMemory(int64) error { return nil }
