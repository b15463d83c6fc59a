// Package depcheck asserts which modules a package may pull in, so the fences of the layout hold:
// bump and registry stay free of Kubernetes and forge clients, and the CI-side binaries stay
// small. After ggcr's internal/depcheck.
package depcheck

import (
	"os/exec"
	"strings"
	"testing"
)

// AssertNoDependency fails t when pkg (a pattern for go list) depends on any package whose path
// starts with one of the forbidden prefixes.
func AssertNoDependency(t *testing.T, pkg string, forbidden ...string) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs go list")
	}
	out, err := exec.Command("go", "list", "-deps", pkg).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	for _, dep := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		for _, f := range forbidden {
			if dep == f || strings.HasPrefix(dep, f+"/") {
				t.Errorf("%s depends on %s (forbidden: %s)", pkg, dep, f)
			}
		}
	}
}
