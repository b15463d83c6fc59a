package reconcile_test

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/tagrelay/tagrelay/reconcile"
	"github.com/tagrelay/tagrelay/reconcile/api"
)

// TestDriftCheckSkipsUnchanged: once a drift check found an app in sync, the next five checks of
// it skip the dry run while its commit, spec and objects are as they were (result "unchanged"),
// the sixth is a full one, and a write to one of its objects in the cluster is still found at
// the next check.
func TestDriftCheckSkipsUnchanged(t *testing.T) {
	f := newFixture(t)
	app := f.app("web", "")
	f.commit(map[string]string{"d.yaml": deploymentYAML("web", "example.com/web:v1"), "c.yaml": configMapYAML("web-config")})
	s, _ := f.serve(reconcile.ServerOptions{Interval: 200 * time.Millisecond,
		Console: reconcile.ConsoleOptions{SessionKey: []byte("console-test-session-key-32bytes!"), DriftInterval: 300 * time.Millisecond}}, app)
	checks := func(result string) float64 { return counter(t, s, "tagrelay_reconciler_drift_checks_total", result) }

	waitFor(t, "a drift check that skips its dry run", func() bool { return checks("unchanged") >= 1 })
	full := checks("in_sync") + checks("out_of_sync")
	waitFor(t, "four more", func() bool { return checks("unchanged") >= 5 })
	if now := checks("in_sync") + checks("out_of_sync"); now != full {
		t.Errorf("dry runs while nothing changed: %v, then %v", full, now)
	}
	// every sixth check is a full one all the same (what changes without a write: a remote base)
	waitFor(t, "the sixth check, a full one", func() bool { return checks("in_sync") > full })
	if st := reconcile.ConsoleState(s, "web"); st.Sync != api.SyncSynced || st.Health != api.HealthHealthy {
		t.Errorf("app web: %s %s, want Synced and Healthy", st.Sync, st.Health)
	}

	// kubectl edit of the ConfigMap: its resourceVersion changes, the next check dry-runs
	patch := []byte(`{"data":{"k":"edited"}}`)
	if _, err := f.cs.CoreV1().ConfigMaps(f.ns).Patch(context.Background(), "web-config", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the edit to be found", func() bool { return reconcile.ConsoleState(s, "web").Sync == api.SyncOutOfSync })
	if checks("out_of_sync") == 0 {
		t.Error("drift found without a dry run saying so")
	}
}

// counter returns a counter of the server with one label, whose value is v.
func counter(t *testing.T, s *reconcile.Server, name, v string) float64 {
	t.Helper()
	families, err := s.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range families {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if l := m.GetLabel(); len(l) == 1 && l[0].GetValue() == v {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}
