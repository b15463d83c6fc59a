package registry_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies fences the package: CLI-free (no urfave/cli), and none of the other
// capabilities' heavy dependencies (forges, Kubernetes, git).
func TestDependencies(t *testing.T) {
	if testing.Short() {
		t.Skip("go list is slow; skipped under -short")
	}
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, banned := range []string{
		"github.com/urfave/cli",
		"gitlab.com/gitlab-org/api/client-go",
		"github.com/google/go-github",
		"k8s.io/client-go",
		"github.com/go-git/go-git",
		"github.com/tagrelay/tagrelay/internal/clirun",
	} {
		for _, dep := range strings.Fields(string(out)) {
			if strings.HasPrefix(dep, banned) {
				t.Errorf("registry depends on %s", dep)
			}
		}
	}
}
