package reconcile

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
)

// The keys of the reconciler's ConfigMaps.
const (
	inventoryKey = "inventory.json"
	historyKey   = "history.json"
)

// inventoryName is the ConfigMap listing what app applied, in the reconciler's namespace.
func inventoryName(app string) string { return "tagrelay-inventory-" + app }

// readInventory returns what the app applied before (empty for a new app).
func (r *Reconciler) readInventory(ctx context.Context, app string) ([]ref, error) {
	var refs []ref
	found, err := r.readData(ctx, inventoryName(app), inventoryKey, &refs)
	if err != nil || !found {
		return nil, err
	}
	return refs, nil
}

// writeInventory replaces the app's inventory with refs.
func (r *Reconciler) writeInventory(ctx context.Context, app string, refs []ref) error {
	sort.Slice(refs, func(i, j int) bool { return refs[i].key() < refs[j].key() })
	return r.updateData(ctx, app, inventoryName(app), inventoryKey, func([]byte) (any, error) { return refs, nil })
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

// readData decodes the JSON under key of ConfigMap name; found is false when it is missing.
func (r *Reconciler) readData(ctx context.Context, name, key string, into any) (found bool, err error) {
	cm, err := r.cs.CoreV1().ConfigMaps(r.opts.Namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, apiError("reading ConfigMap "+r.opts.Namespace+"/"+name, err)
	}
	if err := json.Unmarshal([]byte(cm.Data[key]), into); err != nil && cm.Data[key] != "" {
		return false, fmt.Errorf("decoding ConfigMap %s/%s: %w", r.opts.Namespace, name, err)
	}
	return cm.Data[key] != "", nil
}

// updateData read-modify-writes the JSON under key of ConfigMap name (creating it), retrying
// on conflicts with a concurrent writer.
func (r *Reconciler) updateData(ctx context.Context, app, name, key string, update func(old []byte) (any, error)) error {
	if err := r.ensureNamespace(ctx); err != nil {
		return err
	}
	cms := r.cs.CoreV1().ConfigMaps(r.opts.Namespace)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cm, err := cms.Get(ctx, name, metav1.GetOptions{})
		create := apierrors.IsNotFound(err)
		if create {
			cm = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: r.opts.Namespace,
				Labels: map[string]string{"app.kubernetes.io/managed-by": "tagrelay", "tagrelay.dev/inventory-of": app}}}
		} else if err != nil {
			return err
		}
		v, err := update([]byte(cm.Data[key]))
		if err != nil {
			return err
		}
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		if cm.Data == nil {
			cm.Data = map[string]string{}
		}
		cm.Data[key] = string(b)
		if create {
			_, err = cms.Create(ctx, cm, metav1.CreateOptions{FieldManager: FieldManager})
		} else {
			_, err = cms.Update(ctx, cm, metav1.UpdateOptions{FieldManager: FieldManager})
		}
		return err
	})
	if err != nil {
		return apiError("writing ConfigMap "+r.opts.Namespace+"/"+name, err)
	}
	return nil
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
