// Package reconcile is tagrelay's bundled GitOps reconciler: it deploys an app from a git
// repository to a cluster and refuses a deploy that changes no image.
//
// One sync is a short sequence of phases, each in its own file:
//
//	fetch    (source.go)    go-git, incremental bare cache; ls-remote first, fetch only new commits;
//	                        every git operation has the app's gitTimeout
//	render   (render.go)    package render: plain, Kustomize, Helm, within the app's limits (alias
//	                        bombs, remote bases, time, bytes, objects); Helm hooks apart, not run
//	guard    (guard*.go)    tenancy: every object in the app's namespace, cluster kinds only if
//	                        allowed, bindings and ServiceAccounts only the app's, Pod Security
//	plan     (plan.go)      live objects, server-side apply dry run, per-object diff (diff.go)
//	no-op    (noop.go)      a triggered sync that changes no container image is refused (ErrNoop)
//	apply    (apply.go)     server-side apply, field manager "tagrelay", namespaces and CRDs first
//	prune    (prune.go)     objects this app applied before (label + inventory.go) and no longer
//	                        renders, planned before applying; protected kinds kept; maxPrune
//	wait     (wait.go)      health per kind (kstatus), failure diagnosis with pod events (health*.go)
//	record   (history.go)   revision, images before → after, result, duration, in a ConfigMap
//
// Reconciler.Sync runs them; Server (serve*.go) adds polling and the HTTP API of package api.
//
// Ownership: every applied object carries the label tagrelay.dev/app=NAME, and the app's
// inventory (a ConfigMap in the reconciler's namespace) lists what it applied. Prune deletes only
// objects that are in the inventory, no longer rendered, and still carry the app's label; an
// existing object without the label, or with another app's, is never changed unless the sync
// adopts it (SyncOptions.Adopt).
//
// rbac.go generates the RBAC that lets the reconciler's ServiceAccount write into its apps'
// namespaces and nothing more (tagrelay-reconciler rbac).
//
// Errors carry an errdefs class: invalid input (config, YAML, unknown kind, Helm render errors),
// no-op refused, precondition (tenancy, ownership, revision not found) or unavailable (git,
// cluster). The package never prints and never exits; it returns a Result.
package reconcile
