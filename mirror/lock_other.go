//go:build !unix

package mirror

import (
	"errors"
	"os"
)

// exclFile is a lock file created exclusively and removed to unlock. Unlike flock, a crashed
// run leaves the file behind: remove it by hand.
type exclFile string

func newLocker(path string) (locker, error) { return exclFile(path), nil }

func (l exclFile) try() (func(), bool, error) {
	f, err := os.OpenFile(string(l), os.O_CREATE|os.O_EXCL|os.O_WRONLY, cacheFileMode)
	switch {
	case err == nil:
		f.Close()
		return func() { os.Remove(string(l)) }, false, nil
	case errors.Is(err, os.ErrExist):
		return nil, true, nil
	}
	return nil, false, err
}

func (exclFile) abandon() {}
