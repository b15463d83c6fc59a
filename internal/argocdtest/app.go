package argocdtest

import (
	"context"
	"testing"

	"github.com/tagrelay/tagrelay/internal/gittest"
	"github.com/tagrelay/tagrelay/internal/kubetest"
)

// App is an Argo CD Application in a namespace of its own (its name is the namespace's), deploying
// the directory "app" of a repository on a smart-HTTP git server: Deployment web, 2 replicas.
// Nothing is synced yet. It is deleted (without its resources) when the test ends.
type App struct {
	// Name is the Application's name and its destination namespace.
	Name string
	// Token is an admin session token.
	Token string
	// Git serves the repository infra.git; RepoURL is its URL.
	Git     *gittest.Server
	RepoURL string

	argocd *ArgoCD
}

// NewApp creates an App whose first commit runs image.
func NewApp(t testing.TB, a *ArgoCD, image string) *App {
	t.Helper()
	app := &App{Name: kubetest.Namespace(t, a.Cluster), Git: gittest.New(t), argocd: a}
	app.RepoURL = app.Git.MustCreateRepo(t, "infra.git")
	app.Deploy(t, image)
	app.Token = a.AdminToken(t)
	a.MustDo(t, app.Token, "POST", "/api/v1/applications", Application(app.Name, app.RepoURL, "app", "main", app.Name), nil)
	t.Cleanup(func() {
		_ = a.Do(context.Background(), app.Token, "DELETE", "/api/v1/applications/"+app.Name+"?cascade=false", nil, nil)
	})
	return app
}

// Commit commits files to main (a "-path" key deletes path) and returns the commit.
func (app *App) Commit(t testing.TB, files map[string]string) string {
	t.Helper()
	return app.Git.MustCommit(t, "infra.git", "main", "update", files)
}

// Deploy commits Deployment web running image and returns the commit.
func (app *App) Deploy(t testing.TB, image string) string {
	t.Helper()
	return app.Commit(t, map[string]string{"app/web.yaml": kubetest.DeploymentYAML("web", image, 2)})
}

// Operation returns when the application's last operation started, and its phase ("" when none).
func (app *App) Operation(t testing.TB) string {
	t.Helper()
	var st struct {
		Status struct {
			OperationState struct{ StartedAt, Phase string }
		}
	}
	app.argocd.MustDo(t, app.Token, "GET", "/api/v1/applications/"+app.Name, nil, &st)
	return st.Status.OperationState.StartedAt + " " + st.Status.OperationState.Phase
}
