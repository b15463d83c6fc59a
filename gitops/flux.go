package gitops

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"github.com/tagrelay/tagrelay/internal/errdefs"
)

// Flux drives Flux's Kustomizations and their sources through the Kubernetes API, as `flux
// reconcile kustomization --with-source` does, then follows the rollout with watches.
type Flux struct {
	dyn    dynamic.Interface
	cs     kubernetes.Interface
	mapper meta.RESTMapper
	log    *slog.Logger
}

// The API groups of Flux's objects.
const (
	kustomizeGroup = "kustomize.toolkit.fluxcd.io"
	sourceGroup    = "source.toolkit.fluxcd.io"
	// requestAnnotation asks a Flux controller to reconcile now; it records the value it handled
	// in status.lastHandledReconcileAt (fluxcd/pkg/apis/meta ReconcileRequestAnnotation).
	requestAnnotation = "reconcile.fluxcd.io/requestedAt"
)

// NewFlux returns a Flux client of the cluster cfg points at. Only WithLogger applies.
func NewFlux(cfg *rest.Config, opts ...Option) (*Flux, error) {
	o, err := makeOptions(opts)
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &Flux{dyn: dyn, cs: cs, mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc)), log: o.logger}, nil
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
	ksRes, err := f.resource(kustomizeGroup, "Kustomization")
	if err != nil {
		return nil, err
	}
	obj, err := f.get(ctx, ksRes, ks)
	if err != nil {
		return nil, err
	}
	src, err := sourceOf(obj, o.Source)
	if err != nil {
		return nil, err
	}
	srcRes, err := f.resource(sourceGroup, src.Kind)
	if err != nil {
		return nil, err
	}
	srcObj, err := f.get(ctx, srcRes, src)
	if err != nil {
		return nil, err
	}
	for _, u := range []fluxObject{obj, srcObj} {
		if u.suspended() {
			return nil, errdefs.WithHint(fmt.Errorf("%s: %w", u.ref(), ErrSuspended), "resume it (flux resume)")
		}
	}
	w, err := f.watch(ctx, ksRes, ks, srcRes, src)
	if err != nil {
		return nil, err
	}
	defer w.stop()
	before := w.snapshot(w.kustomization())
	prev := w.kustomization().str("status", "lastAppliedRevision")
	token := time.Now().UTC().Format(time.RFC3339Nano)
	if err := f.request(ctx, srcRes, src, token); err != nil {
		return nil, err
	}
	var rev string
	if err := w.until(ctx, target, "the source's new artifact", func() (done bool, waiting string, err error) {
		done, waiting, rev, err = sourceReady(target, w.source(), token)
		return done, waiting, err
	}); err != nil {
		return nil, err
	}
	if err := f.request(ctx, ksRes, ks, token); err != nil {
		return nil, err
	}
	judge := settled()
	var after snapshot
	if err := w.until(ctx, target, "the rollout of "+shortRev(rev), func() (bool, string, error) {
		k := w.kustomization()
		after = w.snapshot(k)
		return kustomizationDone(target, rev, token, k, before, after, o.Expect, judge)
	}); err != nil {
		return nil, err
	}
	if err := nothingRolled(target, rev, before, after, o.Expect); err != nil {
		return nil, err
	}
	return &Result{Target: target, Revision: rev, PreviousRevision: prev, ImagesBefore: before.images(),
		Images: after.images(), Duration: time.Since(start)}, nil
}

// resource maps a Flux kind to the resource and version the cluster serves.
func (f *Flux) resource(group, kind string) (schema.GroupVersionResource, error) {
	m, err := f.mapper.RESTMapping(schema.GroupKind{Group: group, Kind: kind})
	if err != nil {
		return schema.GroupVersionResource{}, errdefs.WithHint(fmt.Errorf("%w: the cluster serves no %s.%s: %v", ErrNotFound, kind, group, err),
			"is Flux installed in this cluster (and is KUBECONFIG the right one)?")
	}
	return m.Resource, nil
}

func (f *Flux) get(ctx context.Context, res schema.GroupVersionResource, r ObjectRef) (fluxObject, error) {
	u, err := f.dyn.Resource(res).Namespace(r.Namespace).Get(ctx, r.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return fluxObject{}, errdefs.WithHint(fmt.Errorf("%s: %w", r, ErrNotFound), "check the namespace and name (flux get all -A)")
	case apierrors.IsUnauthorized(err) || apierrors.IsForbidden(err):
		return fluxObject{}, fmt.Errorf("%w: reading %s: %v", ErrUnauthorized, r, err)
	case err != nil:
		return fluxObject{}, fmt.Errorf("reading %s: %w", r, err)
	}
	return fluxObject{u}, nil
}

// request sets the requestedAt annotation, as `flux reconcile` does.
func (f *Flux) request(ctx context.Context, res schema.GroupVersionResource, r ObjectRef, token string) error {
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, requestAnnotation, token)
	_, err := f.dyn.Resource(res).Namespace(r.Namespace).Patch(ctx, r.Name, types.MergePatchType, []byte(patch), metav1.PatchOptions{FieldManager: "tagrelay"})
	switch {
	case apierrors.IsUnauthorized(err) || apierrors.IsForbidden(err):
		return fmt.Errorf("%w: annotating %s: %v", ErrUnauthorized, r, err)
	case err != nil:
		return fmt.Errorf("annotating %s: %w", r, err)
	}
	f.log.Info("requested reconciliation", "object", r.String())
	return nil
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
		ns = ks.GetNamespace()
	}
	if kind == "" || name == "" {
		return ObjectRef{}, errors.New(ks.ref().String() + " has no spec.sourceRef")
	}
	return ObjectRef{Kind: kind, Namespace: ns, Name: name}, nil
}
