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
	// cluster is what talks to a cluster: the reconciler ("$": that package exactly, not
	// reconcile/render or reconcile/api), client-go's clientset, informers and leader election.
	// Helm's template engine links client-go's rest and dynamic packages for its lookup
	// function, which reconcile/render never gives a client: bump --render links those, and
	// the fences of the CI-side binaries are drawn here instead of at k8s.io/client-go.
	cluster = []string{module + "/reconcile$", "k8s.io/client-go/kubernetes$", "k8s.io/client-go/kubernetes/typed",
		"k8s.io/client-go/tools/cache", "k8s.io/client-go/tools/leaderelection", "k8s.io/client-go/informers", "sigs.k8s.io/controller-runtime"}
	render = []string{module + "/reconcile/render"}
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
		// bump's render check links the reconciler's renderer (Kustomize, Helm's engine), never
		// its cluster side.
		{pkg: "bump/rendercheck", forbidden: concat(cluster, forges, cli), requires: render},
		{pkg: "registry", forbidden: concat(kube, forges, cli, gogit)},
		// The CI-side binary never links the cluster side: the reconciler's client speaks plain
		// HTTP with the wire types of reconcile/api. bump --render links the renderer (issue 16).
		{pkg: "cmd/tagrelay", forbidden: cluster, requires: []string{module + "/reconcile/api", module + "/reconcile/render"}},
		// The single-purpose binaries link their command only: they start as fast as crane, git
		// and kustomize (see bench/).
		{pkg: "cmd/tagrelay-push", forbidden: concat(kube, forges, yaml, mirror, others)},
		// tagrelay-bump has no render check (--render is the tagrelay binary's): no Kustomize
		// engine, no Helm, no client-go.
		{pkg: "cmd/tagrelay-bump", forbidden: concat(kube, render, mirror, others), requires: []string{module + "/bump"}},
		{pkg: "cmd/tagrelay-mirror", forbidden: concat(kube, forges, yaml, ggcr, others)},
	} {
		t.Run(tc.pkg, func(t *testing.T) {
			t.Parallel()
			pkg := module + "/" + tc.pkg
			deps := Deps(t, pkg)
			for _, dep := range deps {
				for _, f := range tc.forbidden {
					if exactly, ok := strings.CutSuffix(f, "$"); ok && dep == exactly || !ok && (dep == f || strings.HasPrefix(dep, f+"/")) {
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
