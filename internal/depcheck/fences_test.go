package depcheck

import "testing"

var (
	kube   = []string{"k8s.io/client-go", "k8s.io/apimachinery", "helm.sh/helm/v3", "sigs.k8s.io/kustomize/api"}
	forges = []string{"gitlab.com/gitlab-org/api/client-go", "github.com/google/go-github/v57"}
	cli    = []string{"github.com/urfave/cli/v2"}
	yaml   = []string{"sigs.k8s.io/kustomize/kyaml", "github.com/tagrelay/tagrelay/bump"}
	ggcr   = []string{"github.com/google/go-containerregistry", "github.com/tagrelay/tagrelay/registry"}
	mirror = []string{"github.com/tagrelay/tagrelay/mirror"}
)

func TestFences(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		pkg       string
		forbidden []string
	}{
		{"github.com/tagrelay/tagrelay/bump", concat(kube, forges, cli)},
		{"github.com/tagrelay/tagrelay/cmd/tagrelay-bump", kube},
		// The single-purpose binaries link their command only: they start as fast as crane
		// and git (see bench/).
		{"github.com/tagrelay/tagrelay/cmd/tagrelay-push", concat(kube, forges, yaml, mirror)},
		{"github.com/tagrelay/tagrelay/cmd/tagrelay-mirror", concat(kube, forges, yaml, ggcr)},
	} {
		t.Run(tc.pkg, func(t *testing.T) {
			t.Parallel()
			AssertNoDependency(t, tc.pkg, tc.forbidden...)
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
