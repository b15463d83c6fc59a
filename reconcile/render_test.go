package reconcile_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tagrelay/tagrelay/internal/gittest"
	"github.com/tagrelay/tagrelay/reconcile"
)

// TestRenderRemoteGitBase: without a cluster, Render fetches the app and, from an allowed host,
// a remote Kustomize base with the reconciler's own git fetcher (its cache and deadlines); the
// same base on a host that is not allowed is refused.
func TestRenderRemoteGitBase(t *testing.T) {
	t.Parallel()
	public := gittest.New(t)
	public.MustCreateRepo(t, "base")
	public.MustCommit(t, "base", "main", "base", map[string]string{
		"base/kustomization.yaml": "resources: [cm.yaml]\n", "base/cm.yaml": configMapYAML("shared")})
	infra := gittest.New(t, gittest.WithBasicAuth(gitUser, gitToken))
	infra.MustCreateRepo(t, "infra")
	infra.MustCommit(t, "infra", "main", "app", map[string]string{
		"app/kustomization.yaml": "resources: ['" + public.RepoURL("base") + "//base?ref=main']\nnamePrefix: app-\n"})
	cfg := &reconcile.Config{Apps: []reconcile.App{{Name: "app", Repo: infra.RepoURL("infra"), Path: "app", Namespace: "team",
		Auth: reconcile.Auth{Username: gitUser, TokenEnv: "T"}}}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := cfg.ResolveCredentials(func(string) string { return gitToken }); err != nil {
		t.Fatal(err)
	}
	app := cfg.Apps[0]
	opts := reconcile.Options{CacheDir: t.TempDir(), Limits: reconcile.Limits{GitTimeout: reconcile.Duration(30 * time.Second)}}

	_, err := reconcile.Render(context.Background(), app, opts)
	if err == nil || !strings.Contains(err.Error(), "is not in the app's allowedHosts") {
		t.Fatalf("Render() of a base on a host not allowed = %v", err)
	}
	app.AllowedHosts = []string{"127.0.0.1"}
	res, err := reconcile.Render(context.Background(), app, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Objects) != 1 || res.Objects[0].Object.GetName() != "app-shared" || len(res.Revision) != 40 {
		t.Errorf("Render() = %d objects (%v), revision %q; want app-shared", len(res.Objects), res.Objects, res.Revision)
	}
}
