//go:build !unix

package mirror

import (
	"context"
	"errors"
	"os"
	"time"
)

// lockFile creates path exclusively, waiting while it exists. Unlike flock, a crashed run leaves
// the file behind: remove it by hand.
func lockFile(ctx context.Context, path string, waiting func()) (func(), error) {
	told := false
	for {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, cacheFileMode)
		if err == nil {
			f.Close()
			return func() { os.Remove(path) }, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return nil, err
		}
		if !told {
			waiting()
			told = true
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(lockPoll):
		}
	}
}
