package reconciler_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/tagrelay/tagrelay/internal/cli/reconciler"
	"github.com/tagrelay/tagrelay/internal/clirun"
	"github.com/tagrelay/tagrelay/internal/kubetest"
	"github.com/tagrelay/tagrelay/internal/yamltest"
)

// runArgs runs tagrelay-reconciler with exactly args.
func (f *fixture) runArgs(args ...string) (code int, stdout, stderr string) {
	f.t.Helper()
	var out, errOut bytes.Buffer
	env := clirun.NewEnv(nil, &out, &errOut, nil)
	code = clirun.Run(context.Background(), env, reconciler.NewApp(env), append([]string{"tagrelay-reconciler"}, args...))
	if s := out.String() + errOut.String(); strings.Contains(s, gitToken) {
		f.t.Errorf("%v leaks the git token:\n%s", args, s)
	}
	return code, out.String(), errOut.String()
}

// TestRenderCommand: render prints what the app renders, with sources, no cluster needed; the
// limits and the namespace rules of a sync apply.
func TestRenderCommand(t *testing.T) {
	f := newFixture(t)
	f.deploy("v1")
	cache := filepath.Join(f.dir, "cache")
	code, out, stderr := f.runArgs("render", "--config", f.config, "--cache-dir", cache, "web")
	if code != 0 || !strings.Contains(out, "# Source: apps/web/web.yaml\n") || !strings.Contains(out, "image: example.com/web:v1") {
		t.Fatalf("render = exit %d\n%s%s", code, out, stderr)
	}
	code, out, _ = f.runArgs("render", "--config", f.config, "--cache-dir", cache, "--output", "json", "web")
	var doc struct {
		Revision string
		Objects  []struct{ Kind string }
	}
	if err := json.Unmarshal([]byte(out), &doc); code != 0 || err != nil || len(doc.Objects) != 1 || doc.Objects[0].Kind != "Deployment" || len(doc.Revision) != 40 {
		t.Errorf("render --output json = exit %d, %v:\n%s", code, err, out)
	}

	f.git.MustCommit(t, "infra", "main", "bomb", map[string]string{"apps/web/bomb.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\ndata:\n" + yamltest.Laughs("  ", 5)})
	code, out, stderr = f.runArgs("render", "--config", f.config, "--cache-dir", cache, "web")
	if code != 2 || out != "" || !strings.Contains(stderr, "YAML aliases refused: apps/web/bomb.yaml") {
		t.Errorf("render of an alias bomb = exit %d, stdout %q, stderr %q; want exit 2 naming the file", code, out, stderr)
	}

	for _, tc := range []struct{ name, config, namespace, want string }{
		{"kube-system", strings.Replace(f.readConfig(), "namespace: "+f.ns, "namespace: kube-system", 1), "tagrelay-system",
			"destination namespace refused: kube-system is a Kubernetes system namespace (kube-*)"},
		{"the reconciler's namespace", f.readConfig(), f.ns, "destination namespace refused: " + f.ns + " is the reconciler's own namespace"},
	} {
		config := f.write("refused.yaml", tc.config)
		for _, cmd := range []string{"render", "sync"} {
			args := []string{cmd, "--config", config, "--namespace", tc.namespace}
			if cmd == "sync" {
				args = append(args, "--kubeconfig", f.kubeconfig)
			}
			code, out, stderr := f.runArgs(append(args, "web")...)
			if code != 2 || out != "" || !strings.Contains(stderr, tc.want) {
				t.Errorf("%s with an app in %s = exit %d, stdout %q, stderr %q; want exit 2 with %q", cmd, tc.name, code, out, stderr, tc.want)
			}
		}
	}
	if _, err := kubernetes.NewForConfigOrDie(kubetest.Shared(t).RESTConfig()).AppsV1().Deployments(f.ns).Get(context.Background(), "web", metav1.GetOptions{}); err == nil {
		t.Errorf("a refused command deployed the app")
	}
}

// TestRBACCommand: rbac prints the Role of every destination namespace (no cluster needed) and
// --apply creates it.
func TestRBACCommand(t *testing.T) {
	f := newFixture(t)
	code, out, stderr := f.runArgs("rbac", "--config", f.config, "--namespace", f.sys)
	clusterRole := "tagrelay-reconciler:" + f.sys + ":apps"
	for _, want := range []string{"kind: Role\n", "namespace: " + f.ns + "\n", "name: " + clusterRole + "\n", "- " + f.ns + "\n"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("rbac = exit %d, output lacks %q:\n%s%s", code, want, out, stderr)
		}
	}
	if strings.Contains(out, "/exec") || strings.Contains(out, "'*'") || strings.Contains(out, "\"*\"") {
		t.Errorf("rbac grants exec or a wildcard:\n%s", out)
	}
	cs := kubernetes.NewForConfigOrDie(kubetest.Shared(t).RESTConfig())
	t.Cleanup(func() {
		_ = cs.RbacV1().ClusterRoles().Delete(context.Background(), clusterRole, metav1.DeleteOptions{})
		_ = cs.RbacV1().ClusterRoleBindings().Delete(context.Background(), clusterRole, metav1.DeleteOptions{})
	})
	f.mustRun(0, "rbac", "--apply")
	role, err := cs.RbacV1().Roles(f.ns).Get(context.Background(), "tagrelay-reconciler", metav1.GetOptions{})
	if err != nil || len(role.Rules) == 0 {
		t.Fatalf("rbac --apply: Role in %s = %v, %v", f.ns, role, err)
	}
	if _, err := cs.RbacV1().ClusterRoleBindings().Get(context.Background(), clusterRole, metav1.GetOptions{}); err != nil {
		t.Errorf("rbac --apply: ClusterRoleBinding %s: %v", clusterRole, err)
	}
}

func (f *fixture) readConfig() string {
	f.t.Helper()
	b, err := os.ReadFile(f.config)
	if err != nil {
		f.t.Fatal(err)
	}
	return string(b)
}
