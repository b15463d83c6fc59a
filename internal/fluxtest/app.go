package fluxtest

import (
	"context"
	"testing"
	"time"

	"github.com/tagrelay/tagrelay/internal/gittest"
	"github.com/tagrelay/tagrelay/internal/kubetest"
)

// App is a GitRepository "infra" and a Kustomization "web" in a namespace of their own, applying
// the directory "app" of a repository on a smart-HTTP git server: Deployment web, 2 replicas.
// Their intervals are an hour: only a trigger makes Flux act within a test.
type App struct {
	// Namespace holds the Flux objects and the Deployment.
	Namespace string
	// Git serves the repository infra.git.
	Git *gittest.Server
}

// NewApp creates an App whose first commit runs image. Flux applies it on its first
// reconciliation, which starts at once; callers that want to see that rollout trigger it.
func NewApp(t testing.TB, f *Flux, image string) *App {
	t.Helper()
	app := &App{Namespace: kubetest.Namespace(t, f.Cluster), Git: gittest.New(t)}
	url := app.Git.MustCreateRepo(t, "infra.git")
	app.Deploy(t, image)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := f.Apply(ctx, GitRepository(app.Namespace, "infra", url, "main", time.Hour),
		Kustomization(app.Namespace, "web", "infra", "./app", time.Hour)); err != nil {
		t.Fatalf("fluxtest: %v", err)
	}
	return app
}

// Deploy commits Deployment web running image and returns the commit.
func (app *App) Deploy(t testing.TB, image string) string {
	t.Helper()
	return app.Git.MustCommit(t, "infra.git", "main", "web "+image, map[string]string{
		"app/web.yaml": kubetest.DeploymentYAML("web", image, 2),
	})
}
