// Package reconcile is tagrelay's bundled GitOps reconciler: it deploys an app from a git
// repository to a cluster and refuses a deploy that changes no image.
//
// One sync is a short sequence of phases, each in its own file:
//
//	fetch    (source.go)    go-git, incremental bare cache; ls-remote first, fetch only new commits;
//	                        every git operation has the app's gitTimeout
//	render   (render.go)    package render: plain, Kustomize, Helm, within the app's limits (alias
//	                        bombs, remote bases, time, bytes, objects); Helm hooks apart
//	hooks    (hooks*.go)    Helm and Argo CD hooks by phase and wave, delete policies, bounded
//	waves    (waves.go)     objects applied by argocd.argoproj.io/sync-wave, each wave healthy first
//	config   (configref.go) ConfigMaps/Secrets each workload reads; changed ones restart their readers
//	guard    (guard*.go)    tenancy: every object in the app's namespace, cluster kinds only if
//	                        allowed, bindings and ServiceAccounts only the app's, Pod Security
//	plan     (plan.go)      live objects, server-side apply dry run, per-object diff (diff.go)
//	no-op    (noop.go)      a triggered sync that changes no image, pod template, ConfigMap or
//	                        Secret is refused (ErrNoop)
//	apply    (apply.go)     server-side apply, field manager "tagrelay", namespaces and CRDs first
//	prune    (prune.go)     objects this app applied before (label + inventory.go) and no longer
//	                        renders, planned before applying; protected kinds kept; maxPrune
//	wait     (wait.go)      health per kind (kstatus), failure diagnosis with pod events (health*.go)
//	record   (history.go)   revision, images before → after, result, duration, caller, in a ConfigMap
//
// Reconciler.Sync runs them; Reconciler.Rollback syncs an earlier revision and pins it
// (rollback.go). The app's state — history, last handled commit, rollback pin, the sync in
// flight — lives in its history ConfigMap (state.go); writes of a server's sync carry the
// resourceVersion they read, so a replica that lost the lead cannot overwrite (ErrFenced).
//
// Server (server*.go) is the service around it, one concern per file:
//
//	server.go          options, per-app cache of the state, statuses
//	server_run.go      Run: load the state, lead (poll loops) or follow, drain on stop
//	server_leader.go   client-go leader election; the leader's URL in its Lease; release after drain
//	server_sync.go     jobs under an app's lock on the leadership's context; polls; resuming
//	server_route.go    a follower forwards to the leader (any replica answers)
//	server_api.go      the HTTP API of package api; server_page.go the status pages
//	server_auth.go     admin and project tokens; server_oidc.go GitLab CI id_tokens
//	server_webhook.go  GitLab and GitHub push webhooks, authenticated before reading, coalesced
//	server_http.go     listener limits, TLS reloaded from disk
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
