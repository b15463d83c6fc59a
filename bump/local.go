package bump

import (
	"fmt"
	"os"
	"path/filepath"
)

// WriteFiles writes the changed files of res below root, each through a temporary file in its own
// directory renamed over the original (keeping its mode), so a crash never leaves a half-written
// file. All temporary files are written before the first rename.
func WriteFiles(root string, res *Result) error {
	type pending struct{ tmp, dst string }
	var done []pending
	cleanup := func() {
		for _, p := range done {
			os.Remove(p.tmp)
		}
	}
	for _, f := range res.Files {
		dst := filepath.Join(root, filepath.FromSlash(f.Path))
		st, err := os.Stat(dst)
		if err != nil {
			cleanup()
			return fmt.Errorf("writing %s: %w", f.Path, err)
		}
		tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".tagrelay-*")
		if err != nil {
			cleanup()
			return fmt.Errorf("writing %s: %w", f.Path, err)
		}
		done = append(done, pending{tmp.Name(), dst})
		_, werr := tmp.Write(f.New)
		cerr := tmp.Close()
		if err := firstErr(werr, cerr, os.Chmod(tmp.Name(), st.Mode().Perm())); err != nil {
			cleanup()
			return fmt.Errorf("writing %s: %w", f.Path, err)
		}
	}
	for i, p := range done {
		if err := os.Rename(p.tmp, p.dst); err != nil {
			cleanup()
			return fmt.Errorf("writing %s: %w (%d of %d files written)", p.dst, err, i, len(done))
		}
	}
	return nil
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
