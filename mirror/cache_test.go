package mirror_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/tagrelay/tagrelay/mirror"
)

// TestCacheIsPrivate: the cache holds a private repository's objects, so it is readable by its
// owner only, and a cache left world-readable by an older version is tightened when opened.
func TestCacheIsPrivate(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	p.src.MustCommit(t, srcRepo, "main", "seed", map[string]string{"a": "1\n"})
	root := filepath.Join(t.TempDir(), "new", "mirror")
	p.mustSync(t, mirror.Options{CacheDir: root})
	dir := mirror.CachePath(root, p.source().URL)
	want := map[string]os.FileMode{
		filepath.Dir(root): 0o700, root: 0o700, dir: 0o700,
		dir + ".lock": 0o600, filepath.Join(dir, "tagrelay-mirror.json"): 0o600,
	}
	assertModes(t, want)

	// An older version's cache: 0755 directories, 0644 lock.
	for path, mode := range map[string]os.FileMode{dir: 0o755, dir + ".lock": 0o644} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p.sync(t, mirror.Options{CacheDir: root}); !errors.Is(err, mirror.ErrUnchanged) {
		t.Fatalf("Sync() on the old cache = %v, want ErrUnchanged", err)
	}
	assertModes(t, map[string]os.FileMode{dir: 0o700, dir + ".lock": 0o600})
}

func assertModes(t *testing.T, want map[string]os.FileMode) {
	t.Helper()
	for path, mode := range want {
		fi, err := os.Stat(path)
		if err != nil {
			t.Errorf("stat: %v", err)
			continue
		}
		if got := fi.Mode().Perm(); got != mode {
			t.Errorf("mode of %s = %#o, want %#o", path, got, mode)
		}
	}
}
