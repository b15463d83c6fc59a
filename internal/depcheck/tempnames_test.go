package depcheck

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// fixedTemp matches a path in the shared temporary directory with a name known in advance: on a
// shared runner another user can create it first, as a link to a file of theirs. Temporary files
// are made with os.CreateTemp and os.MkdirTemp, whose names nobody can predict.
var fixedTemp = regexp.MustCompile(`filepath\.Join\(os\.TempDir\(\),\s*"|os\.TempDir\(\)\s*\+\s*"|"/tmp/`)

// TestNoFixedTempNames reads the production code of the module (tests, benchmarks and the demo
// are tools run by hand) for temporary paths with fixed names.
func TestNoFixedTempNames(t *testing.T) {
	t.Parallel()
	root := filepath.Join("..", "..")
	skip := map[string]bool{"bench": true, "test": true, "hack": true, ".git": true}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() && skip[rel] {
			return fs.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for i, line := range strings.Split(string(b), "\n") {
			if fixedTemp.MatchString(line) && !strings.HasPrefix(strings.TrimSpace(line), "//") {
				t.Errorf("%s:%d: a temporary path with a fixed name: %s", rel, i+1, strings.TrimSpace(line))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
