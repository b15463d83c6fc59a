// Package gitops drives an external GitOps reconciler — Argo CD or Flux — from CI and proves that
// the image rolled out: it is tagrelay's no-op guard for platforms that keep Argo CD or Flux
// instead of tagrelay-reconciler.
//
// `argocd app sync --wait` and `flux reconcile kustomization --with-source` answer "the
// reconciler is done", not "the new image runs": a bump that did not reach the branch, an
// operation that was already running, a pod in CrashLoopBackOff behind a Deployment still
// Progressing, all look alike or hang until the progress deadline. A trigger here ends in one of
// four ways, each with its errdefs class (so the CLI maps it to an exit code):
//
//	success (0)  the reconciler deployed the revision, it is Synced/Ready and Healthy, and the
//	             expected images run on ready pods of rolled-out workloads  → *Result
//	no-op (3)    the expected images already ran before the trigger and nothing rolled
//	             (ErrNothingRolled), or the revision deploys another tag (ErrImageNotDeployed)
//	failure (1)  the sync or apply failed, or pods of the new image fail for good
//	             (CrashLoopBackOff, ImagePullBackOff, …) → *RolloutError listing them with their
//	             messages; the token was refused (ErrUnauthorized)
//	refused (4)  the application, Kustomization or source is missing (ErrNotFound) or suspended
//	             (ErrSuspended); another sync operation still ran when time was up
//	             (ErrOperationRunning)
//
// Argo CD is driven through its REST API (the grpc-gateway half of argocd-server, as described by
// its assets/swagger.json; no gRPC-web): GET ?refresh=normal, POST …/sync with the revision and an
// operation info that marks the operation as ours, then the watch streams of the application and
// of its resource tree until the verdict. The token is any Argo CD bearer token (a project role's
// is enough: get, sync and, for Restart, action on the application).
//
//	argo, err := gitops.NewArgoCD("https://argocd.example", token, gitops.WithCAFile("ca.pem"))
//	img, _ := gitops.ParseImage("harbor.example/team/web:1a2b3c4d")
//	res, err := argo.Sync(ctx, "web", gitops.SyncOptions{Expect: []gitops.Image{img}})
//
// Flux is driven through the Kubernetes API, as `flux reconcile --with-source` does: the
// reconcile.fluxcd.io/requestedAt annotation on the source, then on the Kustomization, then both,
// and the workloads and pods of the Kustomization's inventory, read every poll interval. The
// client is a small net/http one over a kubeconfig or a pod's service account (LoadKubeconfig,
// InClusterConfig), not client-go, so that the CI binary links neither client-go nor apimachinery.
//
//	cfg, err := gitops.LoadKubeconfig([]string{"/builds/kubeconfig"}, "")
//	flux, err := gitops.NewFlux(cfg)
//	ks, _ := gitops.ParseKustomization("apps/web")
//	res, err := flux.Reconcile(ctx, ks, gitops.ReconcileOptions{Expect: []gitops.Image{img}})
//
// Both judge the rollout the same way (rollout.go): pods are compared by UID before and after,
// so "nothing rolled" is a fact, not a guess from a sync status; a workload is rolled out when
// Argo CD calls it Healthy or, for Flux, by the rules of kstatus (the library Flux's health
// checks use; flux_workload.go). Every answer of either server is bounded (32 MiB).
//
// The package reads no environment variable and never exits: the CLI (`tagrelay trigger argocd`,
// `tagrelay trigger flux`) reads tokens, files and flags and maps errors to exit codes.
package gitops
