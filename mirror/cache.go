package mirror

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	gogit "github.com/go-git/go-git/v5"

	"github.com/tagrelay/tagrelay/internal/gitauth"
)

// cacheConfig is set in every new cache (appended to the config file, or given to git clone).
// Auto-gc runs in the foreground so it never outlives the lock; files above bigFileThreshold are
// stored deflated without delta search, which keeps pack-objects' memory flat on large binaries.
var cacheConfig = [][2]string{
	{"core.bigFileThreshold", "64m"},
	{"core.logAllRefUpdates", "false"},
	{"gc.autoDetach", "false"},
	{"protocol.version", "2"},
}

// CachePath returns the bare repository that caches sourceURL under root: root/<hash>, where the
// hash is of the URL without credentials, scheme case, trailing slash and .git suffix.
func CachePath(root, sourceURL string) string {
	return filepath.Join(root, cacheKey(sourceURL))
}

func cacheKey(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		u.User = nil
		u.Scheme = strings.ToLower(u.Scheme)
		u.Host = strings.ToLower(u.Host)
		u.Path = strings.TrimSuffix(strings.TrimRight(u.Path, "/"), ".git")
		raw = u.String()
	}
	sum := sha256.Sum256([]byte(raw))
	return hex.EncodeToString(sum[:])[:24]
}

// cache is a locked bare repository holding the source's objects between runs.
type cache struct {
	dir    string
	unlock func()
	repo   *gogit.Repository // opened after the last fetch, see open
	// fresh is a cache created by this run and not fetched into yet: the first fetch clones.
	fresh bool
}

// Modes of the caches: a cache holds a private repository's objects and its state names the
// destinations, so only the owner may read them. Directories created here are private, and a
// cache made by an older version (0755) is tightened when opened: its top directory closes
// everything inside.
const (
	cacheDirMode  os.FileMode = 0o700
	cacheFileMode os.FileMode = 0o600
)

// openCache locks the cache of source (waiting while another run holds it) and creates it when
// missing.
func openCache(ctx context.Context, g *git, root, source string, log *slog.Logger) (*cache, error) {
	if err := os.MkdirAll(root, cacheDirMode); err != nil {
		return nil, fmt.Errorf("creating cache directory: %w", err)
	}
	dir := CachePath(root, source)
	unlock, err := lockFile(ctx, dir+".lock", func() {
		log.Info("waiting for the cache lock held by another run", "path", dir)
	})
	if err != nil {
		return nil, fmt.Errorf("locking cache %s: %w", dir, err)
	}
	c := &cache{dir: dir, unlock: unlock}
	if _, err := os.Stat(filepath.Join(dir, "HEAD")); err == nil {
		if err := private(dir, cacheDirMode); err != nil {
			unlock()
			return nil, fmt.Errorf("restricting cache %s to its owner: %w", dir, err)
		}
		return c, nil
	}
	if err := c.create(ctx, g); err != nil {
		unlock()
		return nil, err
	}
	log.Debug("created cache", "path", dir)
	c.fresh = true
	return c, nil
}

// create initialises the bare repository in a temporary directory and renames it into place, so
// an interrupted creation never leaves a half-configured cache.
func (c *cache) create(ctx context.Context, g *git) error {
	tmp, err := os.MkdirTemp(filepath.Dir(c.dir), ".new-")
	if err != nil {
		return fmt.Errorf("creating cache: %w", err)
	}
	defer os.RemoveAll(tmp)
	if _, err := g.run(ctx, tmp, gitauth.Credentials{}, nil, "init", "--bare", "--quiet", "."); err != nil {
		return fmt.Errorf("creating cache: %w", err)
	}
	var text strings.Builder
	for _, kv := range cacheConfig {
		section, key, _ := strings.Cut(kv[0], ".")
		fmt.Fprintf(&text, "[%s]\n\t%s = %s\n", section, key, kv[1])
	}
	f, err := os.OpenFile(filepath.Join(tmp, "config"), os.O_APPEND|os.O_WRONLY, 0)
	if err == nil {
		_, err = f.WriteString(text.String())
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return fmt.Errorf("configuring cache: %w", err)
	}
	os.RemoveAll(c.dir) // a leftover without HEAD
	if err := os.Rename(tmp, c.dir); err != nil {
		return fmt.Errorf("creating cache: %w", err)
	}
	return nil
}

func (c *cache) close() { c.unlock() }

// private removes the group and other permissions of path when it has any.
func private(path string, mode os.FileMode) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if fi.Mode().Perm()&0o077 == 0 {
		return nil
	}
	return os.Chmod(path, fi.Mode().Perm()&mode)
}
