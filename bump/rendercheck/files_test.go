package rendercheck_test

import (
	"errors"
	"sort"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"

	"github.com/tagrelay/tagrelay/bump/rendercheck"
	"github.com/tagrelay/tagrelay/internal/errdefs"
)

// TestFiles: the render's files are its directory and what its kustomizations name elsewhere
// (transitively), not the rest of the repository; hidden directories are skipped, and a
// repository past the byte limit is refused as input, not read on.
func TestFiles(t *testing.T) {
	t.Parallel()
	fsys := fstest.MapFS{
		"overlays/prod/kustomization.yaml": {Data: []byte("resources: [../../base, ../../extra/cm.yaml]\npatches:\n  - path: ../../patches/p.yaml\n")},
		"overlays/prod/.git/config":        {Data: []byte("x")},
		"base/kustomization.yaml":          {Data: []byte("resources: [deploy.yaml, ../common]\n")},
		"base/deploy.yaml":                 {Data: []byte("d")},
		"common/kustomization.yaml":        {Data: []byte("resources: [https://example.com/remote.yaml]\n")},
		"extra/cm.yaml":                    {Data: []byte("c")},
		"extra/unrelated.yaml":             {Data: []byte("u")},
		"patches/p.yaml":                   {Data: []byte("p")},
		"other/huge.yaml":                  {Data: []byte(strings.Repeat("x", 1000))},
	}
	files, err := rendercheck.Files(fsys, "overlays/prod", 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	want := []string{"base/deploy.yaml", "base/kustomization.yaml", "common/kustomization.yaml", "extra/cm.yaml", "overlays/prod/kustomization.yaml", "patches/p.yaml"}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}

	_, err = rendercheck.Files(fsys, "", 500)
	if !errors.Is(err, errdefs.ErrInvalid) || !strings.Contains(err.Error(), "pass 500 bytes") {
		t.Errorf("a repository past the limit: %v, want an input error naming the limit", err)
	}
}
