package reconcile_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tagrelay/tagrelay/internal/errdefs"
	"github.com/tagrelay/tagrelay/internal/kubetest"
	"github.com/tagrelay/tagrelay/reconcile"
	"github.com/tagrelay/tagrelay/reconcile/api"
)

// TestTreeEventsLogs reads a synced app the way the console does: the tree from the inventory
// down to the pods with their health, the images that run, the events of a crash-looping
// rollout, and pod logs (tail, follow) through the API server from kwok's kubelet endpoint.
func TestTreeEventsLogs(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	app := f.app("web", "apps/web")
	f.commit(map[string]string{"apps/web/deploy.yaml": deploymentYAML("web", "example.com/web:v1"),
		"apps/web/config.yaml": configMapYAML("web-config"),
		"apps/web/svc.yaml":    "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  selector: {app: web}\n  ports: [{port: 80}]\n"})
	f.mustSync(app, reconcile.SyncOptions{})

	tree, err := f.r.Tree(ctx, app)
	if err != nil {
		t.Fatal(err)
	}
	dep := "Deployment/" + f.ns + "/web"
	var kinds []string
	byID := map[string]api.TreeNode{}
	for _, n := range tree.Nodes {
		kinds = append(kinds, n.Kind)
		byID[n.ID] = n
	}
	// depth first: the Deployment, its ReplicaSet, its two pods, then the Service and ConfigMap
	if want := []string{"Deployment", "ReplicaSet", "Pod", "Pod", "Service", "ConfigMap"}; !cmp.Equal(kinds, want) {
		t.Fatalf("Tree kinds = %v, want %v", kinds, want)
	}
	rs, pod := tree.Nodes[1], tree.Nodes[2]
	if rs.Parent != dep || pod.Parent != rs.ID || byID[dep].Health != api.HealthHealthy || pod.Health != api.HealthHealthy {
		t.Errorf("Tree: ReplicaSet %+v, pod %+v; want RS under %s and a healthy pod under it", rs, pod, dep)
	}
	if byID[dep].Info != "2/2 ready" || !cmp.Equal(pod.Images, []string{"example.com/web:v1"}) {
		t.Errorf("Tree: Deployment info %q, pod images %v", byID[dep].Info, pod.Images)
	}
	if h, _ := tree.Health(); h != api.HealthHealthy {
		t.Errorf("Tree.Health() = %s, want Healthy", h)
	}
	wantRunning := []api.RunningImage{{Object: dep, Container: "web", Image: "example.com/web:v1", Pods: 2, Ready: 2}}
	if diff := cmp.Diff(wantRunning, tree.Running()); diff != "" {
		t.Errorf("Tree.Running() (-want +got):\n%s", diff)
	}

	t.Run("logs", func(t *testing.T) {
		var lines []string
		err := f.r.Logs(ctx, tree, api.LogQuery{Pod: pod.Name}, func(l api.LogLine) error {
			if l.Time.IsZero() {
				t.Errorf("log line %q without its timestamp", l.Line)
			}
			lines = append(lines, l.Line)
			return nil
		})
		if err != nil || len(lines) == 0 || !strings.Contains(strings.Join(lines, "\n"), "listening on :8080") {
			t.Fatalf("Logs(%s) = %q, %v; want kwok's container log", pod.Name, lines, err)
		}
		err = f.r.Logs(ctx, tree, api.LogQuery{Pod: "kube-apiserver"}, func(api.LogLine) error { return nil })
		if !errors.Is(err, reconcile.ErrNotInApp) || !errors.Is(err, errdefs.ErrNotFound) {
			t.Errorf("Logs(a pod outside the app) = %v, want ErrNotInApp", err)
		}
		err = f.r.Logs(ctx, tree, api.LogQuery{Pod: pod.Name, Container: "sidecar"}, func(api.LogLine) error { return nil })
		if !errors.Is(err, reconcile.ErrNotInApp) {
			t.Errorf("Logs(an unknown container) = %v, want ErrNotInApp", err)
		}
	})

	t.Run("follow", func(t *testing.T) {
		c := kubetest.Shared(t)
		fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		marker := "followed line " + f.ns
		done := make(chan error, 1)
		go func() {
			done <- f.r.Logs(fctx, tree, api.LogQuery{Pod: pod.Name, TailLines: 1, Follow: true}, func(l api.LogLine) error {
				if l.Line == marker {
					cancel()
				}
				return nil
			})
		}()
		// the stream is open once the tail arrived; appending earlier is fine too (follow
		// reads from the file's end minus the tail, and the marker is the last line)
		time.Sleep(500 * time.Millisecond)
		if err := c.AppendLog(marker); err != nil {
			t.Fatal(err)
		}
		<-done
		if !errors.Is(fctx.Err(), context.Canceled) {
			t.Errorf("follow did not deliver the appended line %q before the deadline", marker)
		}
	})

	t.Run("broken rollout", func(t *testing.T) {
		f.commit(map[string]string{"apps/web/deploy.yaml": deploymentYAML("web", "example.com/web:broken")})
		res, err := f.sync(app, reconcile.SyncOptions{Timeout: 20 * time.Second})
		if !errors.Is(err, reconcile.ErrRollout) {
			t.Fatalf("sync of :broken = %v (%s), want a failed rollout", err, res.Status)
		}
		tree, err := f.r.Tree(ctx, app)
		if err != nil {
			t.Fatal(err)
		}
		var broken *api.TreeNode
		for i, n := range tree.Nodes {
			if n.Kind == "Pod" && strings.HasSuffix(strings.Join(n.Images, ","), ":broken") {
				broken = &tree.Nodes[i]
			}
		}
		if broken == nil || broken.Health != api.HealthDegraded || !strings.Contains(broken.Message, "CrashLoop") {
			t.Fatalf("Tree after :broken: pod %+v, want a Degraded crash-looping pod", broken)
		}
		if h, _ := tree.Health(); h != api.HealthDegraded {
			t.Errorf("Tree.Health() = %s, want Degraded", h)
		}
		running := tree.Running()
		if len(running) != 2 || running[0].Image != "example.com/web:broken" || running[0].Ready != 0 || running[1].Ready != 2 {
			t.Errorf("Tree.Running() = %+v, want the broken image not ready and v1 still serving", running)
		}
		evs, err := f.r.Events(ctx, tree)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, e := range evs {
			if e.Object == broken.ID && e.Type == "Warning" && e.Reason == "BackOff" {
				found = true
			}
		}
		if !found {
			t.Errorf("Events: no BackOff warning for %s in %+v", broken.ID, evs)
		}
	})
}

// TestTreeBySelectors: a tree reads what the controllers made with the workloads' label
// selectors, not the whole namespace: a Job's pod under the Job (the Job's own selector), and
// a neighbouring app whose pods carry the same labels (its selector is a superset of this one's)
// kept out of this app's tree and drawn under its own Deployment in its tree.
func TestTreeBySelectors(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	job := "apiVersion: batch/v1\nkind: Job\nmetadata: {name: migrate}\nspec:\n  template:\n    spec:\n" +
		"      restartPolicy: Never\n      containers: [{name: migrate, image: example.com/migrate:v1}]\n"
	canary := strings.NewReplacer("name: web", "name: web-canary", "{app: web}", "{app: web, tier: canary}").Replace(deploymentYAML("web", "example.com/web:v2"))
	f.commit(map[string]string{"apps/web/deploy.yaml": deploymentYAML("web", "example.com/web:v1"), "apps/web/job.yaml": job,
		"apps/canary/deploy.yaml": canary})
	web, other := f.app("web", "apps/web"), f.app("canary", "apps/canary")
	f.mustSync(web, reconcile.SyncOptions{})
	f.mustSync(other, reconcile.SyncOptions{})

	kinds := func(app reconcile.App) (string, *api.Tree) {
		tree, err := f.r.Tree(ctx, app)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		byID := map[string]api.TreeNode{}
		for _, n := range tree.Nodes {
			byID[n.ID] = n
			parent := byID[n.Parent]
			out = append(out, n.Kind+" "+strings.Join(n.Images, ",")+" <- "+parent.Kind)
		}
		return strings.Join(out, "\n"), tree
	}
	got, _ := kinds(web)
	want := strings.Join([]string{"Deployment example.com/web:v1 <- ", "ReplicaSet example.com/web:v1 <- Deployment",
		"Pod example.com/web:v1 <- ReplicaSet", "Pod example.com/web:v1 <- ReplicaSet",
		"Job example.com/migrate:v1 <- ", "Pod example.com/migrate:v1 <- Job"}, "\n")
	if got != want {
		t.Errorf("tree of web (kind images <- parent kind):\n%s\nwant:\n%s", got, want)
	}
	got, _ = kinds(other)
	want = strings.Join([]string{"Deployment example.com/web:v2 <- ", "ReplicaSet example.com/web:v2 <- Deployment",
		"Pod example.com/web:v2 <- ReplicaSet", "Pod example.com/web:v2 <- ReplicaSet"}, "\n")
	if got != want {
		t.Errorf("tree of canary (kind images <- parent kind):\n%s\nwant:\n%s", got, want)
	}
}

// TestPreview dry-runs syncs: a tag bump shows only the image line in the diff and passes the
// no-op guard; a change without an image change is what the guard would refuse. Nothing is
// written or recorded.
func TestPreview(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	app := f.app("web", "apps/web")
	f.commit(map[string]string{"apps/web/deploy.yaml": deploymentYAML("web", "example.com/web:v1"),
		"apps/web/config.yaml": configMapYAML("web-config")})
	f.mustSync(app, reconcile.SyncOptions{})
	hist, _ := f.r.History(ctx, app.Name)
	gen := f.deployment("web").Generation

	f.commit(map[string]string{"apps/web/deploy.yaml": deploymentYAML("web", "example.com/web:v2")})
	p, err := f.r.Preview(ctx, app)
	if err != nil {
		t.Fatal(err)
	}
	if p.Refusal != "" || !p.OutOfSync() || p.Result.Status != api.StatusDryRun {
		t.Errorf("Preview(bump) = refusal %q, out of sync %v, status %s", p.Refusal, p.OutOfSync(), p.Result.Status)
	}
	var diff string
	for _, o := range p.Result.Objects {
		if o.Action == api.ActionConfigured {
			diff += o.Diff
		}
	}
	var changed []string
	for _, l := range strings.Split(diff, "\n") {
		if (strings.HasPrefix(l, "+") || strings.HasPrefix(l, "-")) && !strings.HasPrefix(l, "+++") && !strings.HasPrefix(l, "---") {
			changed = append(changed, strings.Join(strings.Fields(l), " "))
		}
	}
	if want := []string{"- - image: example.com/web:v1", "+ - image: example.com/web:v2"}; !cmp.Equal(changed, want) {
		t.Errorf("Preview(bump) diff lines = %q, want only the image line:\n%s", changed, diff)
	}

	f.commit(map[string]string{"apps/web/deploy.yaml": deploymentYAML("web", "example.com/web:v1"),
		"apps/web/config.yaml": configMapYAML("web-config") + "  other: change\n"})
	p, err = f.r.Preview(ctx, app)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(p.Refusal, "no container image") || !p.OutOfSync() {
		t.Errorf("Preview(config only) refusal = %q, out of sync %v; want the no-op guard's refusal", p.Refusal, p.OutOfSync())
	}
	after, _ := f.r.History(ctx, app.Name)
	if len(after) != len(hist) || f.deployment("web").Generation != gen {
		t.Errorf("Preview wrote: history %d -> %d entries, generation %d -> %d", len(hist), len(after), gen, f.deployment("web").Generation)
	}
}
