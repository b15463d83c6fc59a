package depcheck

import (
	"slices"
	"strings"
	"testing"
)

const module = "github.com/tagrelay/tagrelay"

var (
	kube   = []string{"k8s.io/client-go", "k8s.io/apimachinery", "helm.sh/helm/v3", "sigs.k8s.io/kustomize/api"}
	forges = []string{"gitlab.com/gitlab-org/api/client-go", "github.com/google/go-github/v57"}
	cli    = []string{"github.com/urfave/cli/v2", module + "/internal/clirun"}
	gogit  = []string{"github.com/go-git/go-git/v5"}
	yaml   = []string{"sigs.k8s.io/kustomize/kyaml", module + "/bump"}
	ggcr   = []string{"github.com/google/go-containerregistry", module + "/registry"}
	mirror = []string{module + "/mirror"}
	others = []string{module + "/reconcile", module + "/internal/cli/triggercmd", module + "/internal/cli/releasecmd"}
)

// TestFences is the one fence of the layout: what each package may never link. A fence that
// names what the package must link too (requires) proves it looks at the right dependency graph.
func TestFences(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		pkg       string
		forbidden []string
		requires  []string
	}{
		// Capability packages: CLI-free, and free of the other capabilities' heavy dependencies.
		{pkg: "bump", forbidden: concat(kube, forges, cli)},
		{pkg: "registry", forbidden: concat(kube, forges, cli, gogit)},
		// The CI-side binary never links client-go or Helm: the reconciler's client speaks plain
		// HTTP with the wire types of reconcile/api.
		{pkg: "cmd/tagrelay", forbidden: kube, requires: []string{module + "/reconcile/api"}},
		// The single-purpose binaries link their command only: they start as fast as crane, git
		// and kustomize (see bench/).
		{pkg: "cmd/tagrelay-push", forbidden: concat(kube, forges, yaml, mirror, others)},
		{pkg: "cmd/tagrelay-bump", forbidden: concat(kube, mirror, others), requires: []string{module + "/bump"}},
		{pkg: "cmd/tagrelay-mirror", forbidden: concat(kube, forges, yaml, ggcr, others)},
	} {
		t.Run(tc.pkg, func(t *testing.T) {
			t.Parallel()
			pkg := module + "/" + tc.pkg
			deps := Deps(t, pkg)
			for _, dep := range deps {
				for _, f := range tc.forbidden {
					if dep == f || strings.HasPrefix(dep, f+"/") {
						t.Errorf("%s depends on %s (forbidden: %s)", pkg, dep, f)
					}
				}
			}
			for _, r := range tc.requires {
				if !slices.Contains(deps, r) {
					t.Errorf("%s does not depend on %s; the fence would prove nothing", pkg, r)
				}
			}
		})
	}
}

func concat(lists ...[]string) []string {
	var all []string
	for _, l := range lists {
		all = append(all, l...)
	}
	return all
}
