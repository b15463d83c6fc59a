package reconcile

import "github.com/tagrelay/tagrelay/reconcile/api"

// WithoutTenancyGuard lets what the tenancy guard refuses reach the API server, so a test can
// show that RBAC alone refuses it.
func WithoutTenancyGuard(r *Reconciler) { r.tenancyOff = true }

// SetTree records t as the app's tree, as the drift check and the end of a sync do: the
// console's benchmarks fill the server's view without a cluster.
func SetTree(s *Server, app string, t *api.Tree) { s.setTree(s.app(app), t, nil) }
