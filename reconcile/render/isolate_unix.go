//go:build unix

package render

import (
	"fmt"
	"syscall"
)

// limitMemory bounds the process's data segment: since Linux 4.7 it counts every private
// writable mapping, the Go heap included, so an allocation past it fails and the runtime dies
// with "out of memory" instead of growing the reconciler's container.
func limitMemory(n int64) error {
	lim := &syscall.Rlimit{Cur: uint64(n), Max: uint64(n)}
	if err := syscall.Setrlimit(syscall.RLIMIT_DATA, lim); err != nil {
		return fmt.Errorf("limiting the worker's memory: %w", err)
	}
	return nil
}
