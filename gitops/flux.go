package gitops

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tagrelay/tagrelay/internal/errdefs"
)

// Flux drives Flux's Kustomizations and their sources through the Kubernetes API, as `flux
// reconcile kustomization --with-source` does, then follows the rollout by reading the
// Kustomization, its source, and the workloads and pods of its inventory every poll interval.
type Flux struct {
	k        *kube
	log      *slog.Logger
	interval time.Duration
}

// The API groups of Flux's objects.
const (
	kustomizeGroup = "kustomize.toolkit.fluxcd.io"
	sourceGroup    = "source.toolkit.fluxcd.io"
	// requestAnnotation asks a Flux controller to reconcile now; it records the value it handled
	// in status.lastHandledReconcileAt (fluxcd/pkg/apis/meta ReconcileRequestAnnotation).
	requestAnnotation = "reconcile.fluxcd.io/requestedAt"
)

// NewFlux returns a Flux client of the cluster cfg points at. WithLogger and WithPollInterval
// apply.
func NewFlux(cfg *KubeConfig, opts ...Option) (*Flux, error) {
	o, err := makeOptions(opts)
	if err != nil {
		return nil, err
	}
	k, err := newKube(cfg)
	if err != nil {
		return nil, err
	}
	return &Flux{k: k, log: o.logger, interval: o.poll}, nil
}

// ObjectRef names a Flux object.
type ObjectRef struct {
	Kind, Namespace, Name string
}

func (r ObjectRef) String() string { return r.Kind + " " + r.Namespace + "/" + r.Name }

// ParseKustomization parses "NAMESPACE/NAME".
func ParseKustomization(s string) (ObjectRef, error) {
	ns, name, ok := strings.Cut(s, "/")
	if !ok || ns == "" || name == "" || strings.Contains(name, "/") {
		return ObjectRef{}, errdefs.Invalid(fmt.Errorf("invalid Kustomization %q: want NAMESPACE/NAME", s))
	}
	return ObjectRef{Kind: "Kustomization", Namespace: ns, Name: name}, nil
}

// sourceKinds are the sources a Kustomization may use, by their lowercase names.
var sourceKinds = map[string]string{"gitrepository": "GitRepository", "ocirepository": "OCIRepository", "bucket": "Bucket"}

// ParseSource parses "KIND/NAMESPACE/NAME", KIND one of GitRepository, OCIRepository, Bucket (any
// case).
func ParseSource(s string) (ObjectRef, error) {
	parts := strings.Split(s, "/")
	if len(parts) != 3 || parts[1] == "" || parts[2] == "" {
		return ObjectRef{}, errdefs.Invalid(fmt.Errorf("invalid source %q: want KIND/NAMESPACE/NAME (KIND: GitRepository, OCIRepository, Bucket)", s))
	}
	kind, ok := sourceKinds[strings.ToLower(parts[0])]
	if !ok {
		return ObjectRef{}, errdefs.Invalid(fmt.Errorf("invalid source kind %q: want GitRepository, OCIRepository or Bucket", parts[0]))
	}
	return ObjectRef{Kind: kind, Namespace: parts[1], Name: parts[2]}, nil
}

// ReconcileOptions is what a trigger of a Kustomization asks for.
type ReconcileOptions struct {
	// Source is reconciled first. Default: the Kustomization's spec.sourceRef.
	Source *ObjectRef
	// Expect are the images that must run when done (see SyncOptions.Expect).
	Expect []Image
	// ApplyOnly returns once the Kustomization applied the source's revision, without waiting
	// for the rollout (nor judging it).
	ApplyOnly bool
}

// Reconcile asks the source and then the Kustomization to reconcile now (the requestedAt
// annotation), waits for the source's new artifact, for the Kustomization to be Ready with
// lastAppliedRevision at that revision, and for the expected images to run on ready pods of
// rolled-out workloads of its inventory. Errors are those of ArgoCD.Sync; a suspended
// Kustomization or source is ErrSuspended.
func (f *Flux) Reconcile(ctx context.Context, ks ObjectRef, o ReconcileOptions) (*Result, error) {
	start := time.Now()
	ks.Kind = "Kustomization"
	target := "flux kustomization " + ks.Namespace + "/" + ks.Name
	ksPath, err := f.k.resourcePath(ctx, kustomizeGroup, "Kustomization")
	if err != nil {
		return nil, f.explain(target, err)
	}
	obj, err := f.get(ctx, ksPath, ks)
	if err != nil {
		return nil, err
	}
	src, err := sourceOf(obj, o.Source)
	if err != nil {
		return nil, err
	}
	srcPath, err := f.k.resourcePath(ctx, sourceGroup, src.Kind)
	if err != nil {
		return nil, f.explain(target, err)
	}
	srcObj, err := f.get(ctx, srcPath, src)
	if err != nil {
		return nil, err
	}
	for _, u := range []fluxObject{obj, srcObj} {
		if u.suspended() {
			return nil, errdefs.WithHint(fmt.Errorf("%s: %w", u.ref(), ErrSuspended), "resume it (flux resume)")
		}
	}
	before, err := f.snapshot(ctx, obj)
	if err != nil {
		return nil, f.explain(target, err)
	}
	prev := obj.str("status", "lastAppliedRevision")
	token := time.Now().UTC().Format(time.RFC3339Nano)
	if err := f.request(ctx, srcPath, src, token); err != nil {
		return nil, err
	}
	var rev string
	if err := f.until(ctx, target, "the source's new artifact", func(ctx context.Context) (bool, string, error) {
		s, err := f.get(ctx, srcPath, src)
		if err != nil {
			return false, "", err
		}
		done, waiting, r, err := sourceReady(target, s, token)
		rev = r
		return done, waiting, err
	}); err != nil {
		return nil, err
	}
	if err := f.request(ctx, ksPath, ks, token); err != nil {
		return nil, err
	}
	judge := settled()
	var after snapshot
	if err := f.until(ctx, target, "the rollout of "+shortRev(rev), func(ctx context.Context) (bool, string, error) {
		k, err := f.get(ctx, ksPath, ks)
		if err != nil {
			return false, "", err
		}
		if after, err = f.snapshot(ctx, k); err != nil {
			return false, "", err
		}
		if o.ApplyOnly {
			return applied(target, rev, token, k)
		}
		return kustomizationDone(target, rev, token, k, before, after, o.Expect, judge)
	}); err != nil {
		return nil, err
	}
	if o.ApplyOnly {
		if ran, _ := before.runningSince(o.Expect); ran && rev == prev {
			return nil, nothingRolled(target+" (revision applied before)", rev, before, before, o.Expect)
		}
		return &Result{Target: target, Revision: rev, PreviousRevision: prev, ImagesBefore: before.images(),
			Images: after.images(), Applied: true, Duration: time.Since(start)}, nil
	}
	if err := nothingRolled(target, rev, before, after, o.Expect); err != nil {
		return nil, err
	}
	return &Result{Target: target, Revision: rev, PreviousRevision: prev, ImagesBefore: before.images(),
		Images: after.images(), Duration: time.Since(start)}, nil
}

// get reads a Flux object; path is a resourcePath.
func (f *Flux) get(ctx context.Context, path string, r ObjectRef) (fluxObject, error) {
	var obj map[string]any
	err := f.k.do(ctx, http.MethodGet, fmt.Sprintf(path, url.PathEscape(r.Namespace))+"/"+url.PathEscape(r.Name), nil, nil, "", &obj)
	switch {
	case errors.Is(err, ErrNotFound):
		return fluxObject{}, errdefs.WithHint(fmt.Errorf("%s: %w", r, ErrNotFound), "check the namespace and name (flux get all -A)")
	case err != nil:
		return fluxObject{}, f.explain("reading "+r.String(), err)
	}
	return fluxObject{obj}, nil
}

// request sets the requestedAt annotation, as `flux reconcile` does.
func (f *Flux) request(ctx context.Context, path string, r ObjectRef, token string) error {
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, requestAnnotation, token)
	q := url.Values{"fieldManager": {"tagrelay"}}
	err := f.k.do(ctx, http.MethodPatch, fmt.Sprintf(path, url.PathEscape(r.Namespace))+"/"+url.PathEscape(r.Name), q, []byte(patch), "application/merge-patch+json", nil)
	if err != nil {
		return f.explain("annotating "+r.String(), err)
	}
	f.log.Info("requested reconciliation", "object", r.String())
	return nil
}

// explain adds what was being done to an error, and the next step for a refused credential.
func (f *Flux) explain(doing string, err error) error {
	switch {
	case isKubeStatus(err, http.StatusForbidden):
		return errdefs.WithHint(fmt.Errorf("%s: the Kubernetes API denied it to the job's account: %w", doing, err),
			"give the account (RBAC) get and patch on the Kustomization and its source, get on Deployments, StatefulSets and DaemonSets, list on pods")
	case errors.Is(err, ErrUnauthorized):
		return errdefs.WithHint(fmt.Errorf("%s: the Kubernetes API refused the credentials: %w", doing, err),
			"the kubeconfig's token may be expired or revoked: give the job a valid one")
	case errors.Is(err, ErrNotFound), errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return err
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return errdefs.WithHint(fmt.Errorf("%s: %w", doing, err), "check the kubeconfig's server and that the cluster is reachable from the job")
	}
	return fmt.Errorf("%s: %w", doing, err)
}

// until polls cond every interval until it holds, fails or ctx ends. A read that fails for a
// while (an API server restarting) is retried; a refused credential or a deleted object ends it.
func (f *Flux) until(ctx context.Context, target, what string, cond func(context.Context) (bool, string, error)) error {
	last := ""
	for {
		done, waiting, err := cond(ctx)
		var re *RolloutError
		switch {
		case err == nil && done:
			return nil
		case errors.As(err, &re), errors.Is(err, ErrUnauthorized), errors.Is(err, ErrNotFound), errors.Is(err, errdefs.ErrNoop):
			return err
		case err != nil && ctx.Err() == nil:
			waiting = "reading the state failed, retrying: " + err.Error()
		}
		if waiting != last {
			f.log.Info("waiting", "target", target, "for", what, "state", waiting)
			last = waiting
		}
		select {
		case <-time.After(f.interval):
		case <-ctx.Done():
			return waitError(ctx, target, what, waiting)
		}
	}
}

// sourceOf returns the source to reconcile: the given one, or the Kustomization's sourceRef.
func sourceOf(ks fluxObject, given *ObjectRef) (ObjectRef, error) {
	if given != nil {
		return *given, nil
	}
	kind := ks.str("spec", "sourceRef", "kind")
	name := ks.str("spec", "sourceRef", "name")
	ns := ks.str("spec", "sourceRef", "namespace")
	if ns == "" {
		ns = ks.str("metadata", "namespace")
	}
	if kind == "" || name == "" {
		return ObjectRef{}, errors.New(ks.ref().String() + " has no spec.sourceRef")
	}
	return ObjectRef{Kind: kind, Namespace: ns, Name: name}, nil
}
