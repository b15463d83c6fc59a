package mirror

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

// TestLockFile: a held lock makes the next taker wait (told once), until its context ends or
// the holder unlocks; then it gets the lock. Runs the platform's locker through the one loop.
func TestLockFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "cache.lock")
	unlock, err := lockFile(context.Background(), path, func() { t.Error("waiting for a free lock") })
	if err != nil {
		t.Fatal(err)
	}

	told := 0
	ctx, cancel := context.WithTimeout(context.Background(), 3*lockPoll)
	defer cancel()
	if _, err := lockFile(ctx, path, func() { told++ }); !errors.Is(err, context.DeadlineExceeded) || told != 1 {
		t.Errorf("lockFile(held, deadline) = %v, told %d times; want the context's error, told once", err, told)
	}

	got := make(chan error, 1)
	go func() {
		unlock2, err := lockFile(context.Background(), path, func() {})
		if err == nil {
			unlock2()
		}
		got <- err
	}()
	time.Sleep(2 * lockPoll)
	unlock()
	select {
	case err := <-got:
		if err != nil {
			t.Errorf("lockFile after unlock = %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the lock was not taken after it was released")
	}

	if _, err := lockFile(context.Background(), filepath.Join(t.TempDir(), "no", "dir", "x.lock"), func() {}); err == nil {
		t.Error("lockFile in a missing directory succeeded")
	}
}
