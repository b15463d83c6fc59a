package triggercmd

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/tagrelay/tagrelay/internal/argocdtest"
	"github.com/tagrelay/tagrelay/internal/cli/clitest"
	"github.com/tagrelay/tagrelay/internal/fluxtest"
	"github.com/tagrelay/tagrelay/internal/kubetest"
)

// One cluster, and one Flux and one Argo CD started on first use, for the package.
func TestMain(m *testing.M) {
	code := kubetest.Run(m)
	fluxtest.StopShared(code != 0)
	argocdtest.StopShared(code != 0)
	os.Exit(code)
}

// deployResult is the JSON output of trigger argocd and trigger flux.
type deployResult struct {
	Status, Target, Revision string
	ImagesBefore, Images     []string
}

// wantRun checks a run's exit code and the fragments of its stderr, and returns its JSON output
// when there is one.
func wantRun(t *testing.T, r clitest.Result, code int, fragments ...string) deployResult {
	t.Helper()
	if r.Code != code {
		t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.Code, code, r.Stdout, r.Stderr)
	}
	for _, f := range fragments {
		if !strings.Contains(r.Stderr, f) {
			t.Errorf("stderr %q does not contain %q", r.Stderr, f)
		}
	}
	var res deployResult
	if strings.HasPrefix(strings.TrimSpace(r.Stdout), "{") {
		if err := json.Unmarshal([]byte(r.Stdout), &res); err != nil {
			t.Fatalf("output %q: %v", r.Stdout, err)
		}
	}
	return res
}

func readDotenv(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestTriggerArgoCD runs `tagrelay trigger argocd` against a real Argo CD: the first deploy and a
// new image roll out (exit 0, JSON and dotenv outputs), the same image again is refused without a
// sync (exit 3) or accepted with --allow-noop, and a refused token exits 1 without showing it.
func TestTriggerArgoCD(t *testing.T) {
	t.Parallel()
	ac := argocdtest.Shared(t)
	app := argocdtest.NewApp(t, ac, "example.com/web:v1")
	token := writeFile(t, "token", app.Token+"\n")
	base := []string{"trigger", "argocd", "--server", ac.URL, "--ca-file", ac.CAFile, "--app", app.Name, "--token-file", token, "--wait", "--timeout", "2m"}
	run := func(args ...string) clitest.Result {
		r := runCLI(t, nil, append(slices.Clone(base), args...)...)
		clitest.AssertNoSecrets(t, r, app.Token)
		return r
	}
	wantRun(t, run("--expect-image", "example.com/web:v1"), 0)

	commit := app.Deploy(t, "example.com/web:v2")
	dotenv := filepath.Join(t.TempDir(), "deploy.env")
	res := wantRun(t, run("--expect-image", "example.com/web:v2", "-o", "json", "--dotenv", dotenv), 0)
	if res.Status != "rolledOut" || res.Revision != commit || !slices.Equal(res.ImagesBefore, []string{"example.com/web:v1"}) || !slices.Equal(res.Images, []string{"example.com/web:v2"}) {
		t.Errorf("result %+v, want rolledOut at %s, v1 → v2", res, commit)
	}
	if env := readDotenv(t, dotenv); !strings.Contains(env, "TAGRELAY_DEPLOY_REVISION="+commit) || !strings.Contains(env, "TAGRELAY_DEPLOY_STATUS=rolledOut") {
		t.Errorf("dotenv %q, want the revision and the status", env)
	}

	op := app.Operation(t)
	wantRun(t, run("--expect-image", "example.com/web:v2"), 3, "example.com/web:v2 already ran before the trigger", "--restart")
	if got := app.Operation(t); got != op {
		t.Errorf("last operation %q → %q: a refused no-op synced", op, got)
	}
	wantRun(t, run("--expect-image", "example.com/web:v2", "--allow-noop"), 0, "no-op accepted")

	bad := writeFile(t, "bad", "not-a-valid-argocd-token\n")
	r := runCLI(t, nil, "trigger", "argocd", "--server", ac.URL, "--ca-file", ac.CAFile, "--app", app.Name, "--token-file", bad, "--wait")
	wantRun(t, r, 1, "Argo CD refused the token", "401")
	clitest.AssertNoSecrets(t, r, "not-a-valid-argocd-token")
}

// TestTriggerFlux runs `tagrelay trigger flux` against real Flux controllers: a new image rolls
// out (exit 0), the same image is refused (exit 3), a broken image fails with the pods' reason
// (exit 1), without --wait it returns once applied, and refused credentials exit 1.
func TestTriggerFlux(t *testing.T) {
	t.Parallel()
	f := fluxtest.Shared(t)
	app := fluxtest.NewApp(t, f, "example.com/web:v1")
	base := []string{"trigger", "flux", "--kubeconfig", f.Cluster.Kubeconfig, "--kustomization", app.Namespace + "/web", "--timeout", "2m"}
	run := func(args ...string) clitest.Result { return runCLI(t, nil, append(slices.Clone(base), args...)...) }
	wantRun(t, run("--wait", "--expect-image", "example.com/web:v1"), 0)

	commit := app.Deploy(t, "example.com/web:v2")
	res := wantRun(t, run("--wait", "--expect-image", "example.com/web:v2", "-o", "json"), 0)
	if res.Status != "rolledOut" || res.Revision != "main@sha1:"+commit || !slices.Equal(res.Images, []string{"example.com/web:v2"}) {
		t.Errorf("result %+v, want rolledOut at main@sha1:%s running v2", res, commit)
	}
	wantRun(t, run("--wait", "--expect-image", "example.com/web:v2"), 3, "example.com/web:v2 already ran before the trigger")

	commit = app.Deploy(t, "example.com/web:v3")
	res = wantRun(t, run("--expect-image", "example.com/web:v3", "-o", "json"), 0)
	if res.Status != "applied" || res.Revision != "main@sha1:"+commit {
		t.Errorf("without --wait: result %+v, want applied at main@sha1:%s", res, commit)
	}

	app.Deploy(t, "example.com/web:broken")
	wantRun(t, run("--wait", "--expect-image", "example.com/web:broken"), 1, "rollout failed", "CrashLoopBackOff", "kubectl logs")

	kubeconfig := func(token string) string {
		return writeFile(t, "kubeconfig", `apiVersion: v1
kind: Config
current-context: ci
clusters:
- {name: c, cluster: {server: "`+f.Cluster.Host+`", insecure-skip-tls-verify: true}}
users:
- {name: ci, user: {token: `+token+`}}
contexts:
- {name: ci, context: {cluster: c, user: ci}}
`)
	}
	r := runCLI(t, nil, "trigger", "flux", "--kubeconfig", kubeconfig("kube-garbage-token-value"), "--kustomization", app.Namespace+"/web")
	wantRun(t, r, 1, "refused the credentials", "401")
	clitest.AssertNoSecrets(t, r, "kube-garbage-token-value")

	// A real service account without RBAC: denied (exit 1, saying which rights), nothing annotated.
	cs := kubernetes.NewForConfigOrDie(f.Cluster.RESTConfig())
	ctx := context.Background()
	if _, err := cs.CoreV1().ServiceAccounts(app.Namespace).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "ci"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tok, err := cs.CoreV1().ServiceAccounts(app.Namespace).CreateToken(ctx, "ci", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	before := requestedAt(t, f, app.Namespace)
	r = runCLI(t, nil, "trigger", "flux", "--kubeconfig", kubeconfig(tok.Status.Token), "--kustomization", app.Namespace+"/web", "--wait")
	wantRun(t, r, 1, "denied it to the job's account", "403", "RBAC")
	clitest.AssertNoSecrets(t, r, tok.Status.Token)
	if got := requestedAt(t, f, app.Namespace); got != before {
		t.Errorf("requestedAt %q → %q: a denied trigger annotated the Kustomization", before, got)
	}
}

// requestedAt returns the reconcile.fluxcd.io/requestedAt annotation of Kustomization web.
func requestedAt(t *testing.T, f *fluxtest.Flux, ns string) string {
	t.Helper()
	gvr := schema.GroupVersionResource{Group: "kustomize.toolkit.fluxcd.io", Version: "v1", Resource: "kustomizations"}
	u, err := dynamic.NewForConfigOrDie(f.Cluster.RESTConfig()).Resource(gvr).Namespace(ns).Get(context.Background(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return u.GetAnnotations()["reconcile.fluxcd.io/requestedAt"]
}
