package reconcile

import (
	"context"

	"github.com/tagrelay/tagrelay/reconcile/api"
)

// WithoutTenancyGuard lets what the tenancy guard refuses reach the API server, so a test can
// show that RBAC alone refuses it.
func WithoutTenancyGuard(r *Reconciler) { r.tenancyOff = true }

// SetTree records t as the app's tree, as the drift check and the end of a sync do: the
// console's benchmarks fill the server's view without a cluster.
func SetTree(s *Server, app string, t *api.Tree) { s.setTree(s.app(app), t, nil) }

// ConsoleState is the app as the server's console shows it.
func ConsoleState(s *Server, app string) api.AppState {
	st := s.app(app)
	return s.stateOf(st, st.status())
}

// ShardIndex is the shard of the apps of repo among n shards.
func ShardIndex(repo string, n int) int { return shardIndex(repo, n) }

// ReadVersions reads the versions of the app's objects as a drift check does before it
// decides whether to dry-run, and returns how many objects it read.
func ReadVersions(ctx context.Context, r *Reconciler, app string) (int, error) {
	v, err := r.readVersions(ctx, app, nil)
	if err != nil {
		return 0, err
	}
	return len(v.versions), nil
}
