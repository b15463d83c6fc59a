//go:build unix

package mirror

import (
	"errors"
	"os"
	"syscall"
)

// flockFile is an exclusive flock on a lock file. The kernel releases it if the process dies,
// so a crashed run never wedges the cache.
type flockFile struct{ f *os.File }

func newLocker(path string) (locker, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, cacheFileMode)
	if err != nil {
		return nil, err
	}
	if err := private(path, cacheFileMode); err != nil { // a lock file of an older version
		f.Close()
		return nil, err
	}
	return flockFile{f}, nil
}

func (l flockFile) try() (func(), bool, error) {
	err := syscall.Flock(int(l.f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	switch {
	case err == nil:
		return func() { syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN); l.f.Close() }, false, nil
	case errors.Is(err, syscall.EWOULDBLOCK), errors.Is(err, syscall.EINTR):
		return nil, true, nil
	}
	return nil, false, err
}

func (l flockFile) abandon() { l.f.Close() }
