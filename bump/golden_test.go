package bump

import (
	"encoding/json"
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the expected/ directories of testdata from the current output")

type goldenCase struct {
	Kind    Kind
	Targets []Target
	Paths   []string
}

// TestGolden runs each testdata/<case>/input through Plan and WriteFiles and compares the whole
// directory with testdata/<case>/expected. Regenerate with: go test ./bump -run TestGolden -update
func TestGolden(t *testing.T) {
	cases, err := filepath.Glob("testdata/*/case.json")
	if err != nil || len(cases) == 0 {
		t.Fatalf("no golden cases: %v", err)
	}
	for _, c := range cases {
		dir := filepath.Dir(c)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			var gc goldenCase
			b, err := os.ReadFile(c)
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(b, &gc); err != nil {
				t.Fatal(err)
			}
			work := t.TempDir()
			if err := os.CopyFS(work, os.DirFS(filepath.Join(dir, "input"))); err != nil {
				t.Fatal(err)
			}
			res, err := Plan(os.DirFS(work), gc.Paths, gc.Targets, gc.Kind)
			if err != nil {
				t.Fatalf("Plan() = %v", err)
			}
			if err := WriteFiles(work, res); err != nil {
				t.Fatalf("WriteFiles() = %v", err)
			}
			expected := filepath.Join(dir, "expected")
			if *update {
				os.RemoveAll(expected)
				if err := os.CopyFS(expected, os.DirFS(work)); err != nil {
					t.Fatal(err)
				}
			}
			if diff := cmp.Diff(readTree(t, expected), readTree(t, work)); diff != "" {
				t.Errorf("output differs from %s (-want +got):\n%s", expected, diff)
			}
			// A second run is a refused no-op.
			if _, err := Plan(os.DirFS(work), gc.Paths, gc.Targets, gc.Kind); err == nil || !isUnchanged(err) {
				t.Errorf("second Plan() = %v, want ErrUnchanged", err)
			}
		})
	}
}

func isUnchanged(err error) bool { return err != nil && errors.Is(err, ErrUnchanged) }

func readTree(t *testing.T, root string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(root, p)
		files[filepath.ToSlash(rel)] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}
