package mirror

import (
	"context"
	"time"
)

// lockPoll is how often a busy lock is retried.
const lockPoll = 100 * time.Millisecond

// locker is one platform's lock file: try takes it (unlock releases it) or says another run
// holds it (busy); abandon drops what try needs when the caller stops waiting.
type locker interface {
	try() (unlock func(), busy bool, err error)
	abandon()
}

// lockFile takes the lock at path, calling waiting once if it has to wait, until ctx ends.
func lockFile(ctx context.Context, path string, waiting func()) (func(), error) {
	l, err := newLocker(path)
	if err != nil {
		return nil, err
	}
	told := false
	for {
		unlock, busy, err := l.try()
		if err == nil && !busy {
			return unlock, nil
		}
		if err != nil {
			l.abandon()
			return nil, err
		}
		if !told {
			waiting()
			told = true
		}
		select {
		case <-ctx.Done():
			l.abandon()
			return nil, ctx.Err()
		case <-time.After(lockPoll):
		}
	}
}
