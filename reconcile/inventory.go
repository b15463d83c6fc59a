package reconcile

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The keys of the reconciler's ConfigMaps.
const (
	inventoryKey = "inventory.json"
	historyKey   = "history.json"
)

// inventoryName is the ConfigMap listing what app applied, in the reconciler's namespace.
func inventoryName(app string) string { return "tagrelay-inventory-" + app }

// inventory is what an app applied before, with the version of its ConfigMap ("" when it
// does not exist): each write of a sync carries the version it read, so a write by a replica
// that lost the lead meanwhile fails instead of overwriting the new leader's (ErrFenced).
type inventory struct {
	refs    []ref
	version string
}

// readInventory returns what the app applied before (empty for a new app).
func (r *Reconciler) readInventory(ctx context.Context, app string) (*inventory, error) {
	cm, err := r.cs.CoreV1().ConfigMaps(r.opts.Namespace).Get(ctx, inventoryName(app), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return &inventory{}, nil
	}
	if err != nil {
		return nil, apiError("reading ConfigMap "+r.opts.Namespace+"/"+inventoryName(app), err)
	}
	inv := &inventory{version: cm.ResourceVersion}
	if b := cm.Data[inventoryKey]; b != "" {
		if err := json.Unmarshal([]byte(b), &inv.refs); err != nil {
			return nil, fmt.Errorf("decoding ConfigMap %s/%s: %w", r.opts.Namespace, inventoryName(app), err)
		}
	}
	return inv, nil
}

// writeInventory replaces the app's inventory with refs, on the condition that it is still
// the version inv read (ErrFenced otherwise), and moves inv to the new version.
func (r *Reconciler) writeInventory(ctx context.Context, app string, inv *inventory, refs []ref) error {
	if err := r.ensureNamespace(ctx); err != nil {
		return err
	}
	sort.Slice(refs, func(i, j int) bool { return refs[i].key() < refs[j].key() })
	b, err := json.Marshal(refs)
	if err != nil {
		return err
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: inventoryName(app), Namespace: r.opts.Namespace,
		ResourceVersion: inv.version,
		Labels:          map[string]string{"app.kubernetes.io/managed-by": "tagrelay", "tagrelay.dev/inventory-of": app}},
		Data: map[string]string{inventoryKey: string(b)}}
	cms := r.cs.CoreV1().ConfigMaps(r.opts.Namespace)
	if inv.version == "" {
		cm, err = cms.Create(ctx, cm, metav1.CreateOptions{FieldManager: FieldManager})
	} else {
		cm, err = cms.Update(ctx, cm, metav1.UpdateOptions{FieldManager: FieldManager})
	}
	switch {
	case apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err):
		return fencedError("the inventory of app "+app, err)
	case lostLeadDuring(ctx, "the inventory of app "+app, err) != nil:
		return lostLeadDuring(ctx, "the inventory of app "+app, err)
	case err != nil:
		return apiError("writing ConfigMap "+r.opts.Namespace+"/"+inventoryName(app), err)
	}
	inv.version = cm.ResourceVersion
	return nil
}

// unionRefs returns a ∪ b by key, b's version winning.
func unionRefs(a, b []ref) []ref {
	m := map[string]ref{}
	for _, x := range a {
		m[x.key()] = x
	}
	for _, x := range b {
		m[x.key()] = x
	}
	out := make([]ref, 0, len(m))
	for _, x := range m {
		out = append(out, x)
	}
	return out
}

// ensureNamespace creates the reconciler's namespace when missing. Only success is
// remembered: after a failure (an API server not reachable yet), the next call tries again.
func (r *Reconciler) ensureNamespace(ctx context.Context) error {
	if r.nsReady.Load() {
		return nil
	}
	if err := r.createNamespace(ctx, r.opts.Namespace); err != nil {
		return err
	}
	r.nsReady.Store(true)
	return nil
}

func (r *Reconciler) createNamespace(ctx context.Context, name string) error {
	_, err := r.cs.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
		_, err = r.cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{FieldManager: FieldManager})
		if apierrors.IsAlreadyExists(err) {
			err = nil
		}
	}
	if err != nil {
		return apiError("creating namespace "+name, err)
	}
	return nil
}
