package argocdtest

import (
	"context"
	"slices"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/tagrelay/tagrelay/internal/gittest"
	"github.com/tagrelay/tagrelay/internal/kubetest"
)

func TestMain(m *testing.M) { Main(m) }

// TestSync shows Argo CD is real and working against the test cluster: an Application created
// through the REST API on a smart-HTTP repository, synced through the REST API, reaches
// Synced/Healthy with the operation Succeeded at the commit, and its pods run the image.
func TestSync(t *testing.T) {
	a := Shared(t)
	ns := kubetest.Namespace(t, a.Cluster)
	git := gittest.New(t)
	url := git.MustCreateRepo(t, "infra.git")
	commit := git.MustCommit(t, "infra.git", "main", "web v1", map[string]string{
		"app/web.yaml": kubetest.DeploymentYAML("web", "example.com/web:v1", 1),
	})
	token := a.AdminToken(t)
	name := ns // Applications live in Argo CD's namespace: one per test namespace
	a.MustDo(t, token, "POST", "/api/v1/applications", Application(name, url, "app", "main", ns), nil)
	t.Cleanup(func() {
		_ = a.Do(context.Background(), token, "DELETE", "/api/v1/applications/"+name+"?cascade=false", nil, nil)
	})
	a.MustDo(t, token, "POST", "/api/v1/applications/"+name+"/sync", map[string]any{"name": name}, nil)

	var app struct {
		Status struct {
			Sync           struct{ Status, Revision string }
			Health         struct{ Status string }
			OperationState struct{ Phase string }
			Summary        struct{ Images []string }
		}
	}
	err := wait.PollUntilContextTimeout(context.Background(), 250*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		if err := a.Do(ctx, token, "GET", "/api/v1/applications/"+name, nil, &app); err != nil {
			return false, err
		}
		s := app.Status
		return s.Sync.Status == "Synced" && s.Health.Status == "Healthy" && s.OperationState.Phase == "Succeeded" &&
			slices.Contains(s.Summary.Images, "example.com/web:v1"), a.Exited()
	})
	if err != nil {
		t.Fatalf("application %s: %+v (%v); want Synced, Healthy, Succeeded, running example.com/web:v1", name, app.Status, err)
	}
	if app.Status.Sync.Revision != commit {
		t.Errorf("synced revision = %s, want %s", app.Status.Sync.Revision, commit)
	}
	for _, p := range a.Processes() {
		if rss, err := p.RSS(); err == nil {
			t.Logf("%s RSS %d MiB", p.Name, rss>>20)
		}
	}
}
