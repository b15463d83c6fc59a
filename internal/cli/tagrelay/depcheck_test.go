package tagrelay

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestDepcheck fences the CI-side binary: tagrelay must stay small and quick to build, so it
// never links client-go or Helm (the reconciler's client speaks plain HTTP with the wire types
// of reconcile/api). The shape follows go-containerregistry's internal/depcheck.
func TestDepcheck(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list; skipped under -short")
	}
	t.Parallel()
	out, err := exec.Command("go", "list", "-deps", "github.com/tagrelay/tagrelay/cmd/tagrelay").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if !slices.Contains(deps, "github.com/tagrelay/tagrelay/reconcile/api") {
		t.Fatalf("go list -deps cmd/tagrelay does not list reconcile/api; the check would prove nothing:\n%s", out)
	}
	for _, pkg := range deps {
		for _, banned := range []string{"k8s.io/client-go", "k8s.io/apimachinery", "helm.sh/helm", "sigs.k8s.io/kustomize/api"} {
			if pkg == banned || strings.HasPrefix(pkg, banned+"/") {
				t.Errorf("cmd/tagrelay depends on %s (banned: %s)", pkg, banned)
			}
		}
	}
}
