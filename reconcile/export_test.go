package reconcile

// WithoutTenancyGuard lets what the tenancy guard refuses reach the API server, so a test can
// show that RBAC alone refuses it.
func WithoutTenancyGuard(r *Reconciler) { r.tenancyOff = true }
