package reconcile

import (
	"context"
	"sync"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"
)

// Health waits read the workloads from client-go informers, not from a LIST every PollInterval:
// one informer per kind serves every wait of that kind, and a wait re-checks an object when an
// event about it arrives (or, as a safety net, every PollInterval, from the cache: no request).
// A wait reads its objects once with a LIST when it starts: that read is its barrier, as an
// informer may lag the apply by a few milliseconds — an object in the cache older than the
// generation that LIST saw is not trusted.
//
// Scope: a server shares one informer per kind across the cluster when its RBAC allows it (list
// and watch at cluster scope, asked once with a SelfSubjectAccessReview); otherwise — the
// generated least-privilege RBAC, or the CLI — one informer per kind and namespace runs while
// waits use it and watchLinger after. Every informer selects the objects carrying the owner
// label only, and keeps neither managed fields nor pod templates.

// watchLinger is how long a namespace's informer outlives its last wait, so the next sync of the
// namespace finds it running.
const watchLinger = 30 * time.Second

// watchSyncTimeout bounds how long a wait waits for a new informer's first list; past it, the
// wait reads with a LIST per PollInterval as before (an informer that cannot list or watch).
const watchSyncTimeout = 10 * time.Second

// watches are the informers of a Reconciler. The zero value is ready: namespaced informers.
type watches struct {
	mu        sync.Mutex
	shared    context.Context // set while a server shares cluster-wide informers (shareWatches)
	clusterOK map[schema.GroupVersionResource]bool
	entries   map[watchKey]*watchEntry
}

type watchKey struct {
	gvr schema.GroupVersionResource
	ns  string // "" for a cluster-wide informer
}

// watchEntry is one running informer and the waits subscribed to its objects.
type watchEntry struct {
	inf  cache.SharedIndexInformer
	stop context.CancelFunc

	mu      sync.Mutex
	refs    int         // waits using it (namespaced informers)
	idle    *time.Timer // stops it after watchLinger without waits
	waiters map[string]map[chan struct{}]bool
}

// shareWatches lets waits share cluster-wide informers until ctx ends (the server's run).
func (r *Reconciler) shareWatches(ctx context.Context) {
	r.watches.mu.Lock()
	r.watches.shared = ctx
	r.watches.mu.Unlock()
	context.AfterFunc(ctx, func() {
		r.watches.mu.Lock()
		defer r.watches.mu.Unlock()
		r.watches.shared = nil
		for k, e := range r.watches.entries {
			if k.ns == "" {
				e.stop()
				delete(r.watches.entries, k)
			}
		}
	})
}

// subscription is a wait's view of its objects through informers.
type subscription struct {
	changed chan struct{} // receives when one of the objects changed
	byRes   map[*resource]*watchEntry
	release func()
}

// subscribe starts (or joins) the informers of targets and waits for their first list; nil
// when one does not sync within watchSyncTimeout (the wait then polls with LISTs).
func (r *Reconciler) subscribe(ctx context.Context, targets []*resource) *subscription {
	sub := &subscription{changed: make(chan struct{}, 1), byRes: map[*resource]*watchEntry{}}
	var done []func()
	sub.release = func() {
		for _, f := range done {
			f()
		}
	}
	entries := map[watchKey]*watchEntry{}
	for _, res := range targets {
		key := watchKey{gvr: res.gvr, ns: res.obj.GetNamespace()}
		if r.clusterWide(ctx, res.gvr) {
			key.ns = ""
		}
		e := entries[key]
		if e == nil {
			e = r.watches.acquire(r, key)
			entries[key] = e
			done = append(done, func() { r.watches.releaseEntry(key, e) })
		}
		k := res.obj.GetNamespace() + "/" + res.obj.GetName()
		if res.obj.GetNamespace() == "" {
			k = res.obj.GetName()
		}
		e.subscribe(k, sub.changed)
		done = append(done, func() { e.unsubscribe(k, sub.changed) })
		sub.byRes[res] = e
	}
	sctx, cancel := context.WithTimeout(ctx, watchSyncTimeout)
	defer cancel()
	for _, e := range entries {
		for !e.inf.HasSynced() {
			select {
			case <-sctx.Done():
				sub.release()
				return nil
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	return sub
}

// live returns the objects as the informers have them, each only when it is at least as new
// as the generation the wait's first read saw (barrier); others keep their entry in prev.
func (sub *subscription) live(prev map[*resource]*unstructured.Unstructured, barrier map[*resource]int64) {
	for res, e := range sub.byRes {
		k := res.obj.GetNamespace() + "/" + res.obj.GetName()
		if res.obj.GetNamespace() == "" {
			k = res.obj.GetName()
		}
		obj, exists, err := e.inf.GetIndexer().GetByKey(k)
		u, _ := obj.(*unstructured.Unstructured)
		switch {
		case err != nil:
		case !exists:
			if barrier[res] == 0 { // not created yet, as the first read saw
				delete(prev, res)
			}
		case u.GetGeneration() >= barrier[res]:
			prev[res] = u
		}
	}
}

// clusterWide reports whether waits on gvr share a cluster-wide informer: a server shares them
// when its RBAC lets it list and watch gvr in every namespace.
func (r *Reconciler) clusterWide(ctx context.Context, gvr schema.GroupVersionResource) bool {
	w := &r.watches
	w.mu.Lock()
	shared := w.shared
	ok, known := w.clusterOK[gvr]
	w.mu.Unlock()
	if shared == nil || shared.Err() != nil {
		return false
	}
	if known {
		return ok
	}
	ok = true
	for _, verb := range []string{"list", "watch"} {
		review, err := r.cs.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
			Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{
				Verb: verb, Group: gvr.Group, Version: gvr.Version, Resource: gvr.Resource}}}, metav1.CreateOptions{})
		if err != nil {
			return false // asked again next time
		}
		ok = ok && review.Status.Allowed
	}
	w.mu.Lock()
	if w.clusterOK == nil {
		w.clusterOK = map[schema.GroupVersionResource]bool{}
	}
	w.clusterOK[gvr] = ok
	w.mu.Unlock()
	return ok
}

// acquire returns the running informer of key, starting it if needed.
func (w *watches) acquire(r *Reconciler, key watchKey) *watchEntry {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.entries == nil {
		w.entries = map[watchKey]*watchEntry{}
	}
	e := w.entries[key]
	if e == nil {
		parent := context.Background()
		if key.ns == "" && w.shared != nil {
			parent = w.shared
		}
		ctx, cancel := context.WithCancel(parent)
		inf := dynamicinformer.NewFilteredDynamicInformer(r.dyn, key.gvr, key.ns, 0, cache.Indexers{},
			func(o *metav1.ListOptions) { o.LabelSelector = OwnerLabel }).Informer()
		_ = inf.SetTransform(slimForHealth)
		e = &watchEntry{inf: inf, stop: cancel, waiters: map[string]map[chan struct{}]bool{}}
		_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    e.notify,
			UpdateFunc: func(_, obj any) { e.notify(obj) },
			DeleteFunc: e.notify,
		})
		go inf.RunWithContext(ctx)
		w.entries[key] = e
	}
	e.mu.Lock()
	e.refs++
	if e.idle != nil {
		e.idle.Stop()
		e.idle = nil
	}
	e.mu.Unlock()
	return e
}

// releaseEntry drops a wait's use of key's informer; a namespaced one stops after watchLinger
// without waits.
func (w *watches) releaseEntry(key watchKey, e *watchEntry) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.refs--
	if e.refs > 0 || key.ns == "" {
		return
	}
	e.idle = time.AfterFunc(watchLinger, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		e.mu.Lock()
		defer e.mu.Unlock()
		if e.refs == 0 && w.entries[key] == e {
			e.stop()
			delete(w.entries, key)
		}
	})
}

func (e *watchEntry) subscribe(key string, ch chan struct{}) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.waiters[key] == nil {
		e.waiters[key] = map[chan struct{}]bool{}
	}
	e.waiters[key][ch] = true
}

func (e *watchEntry) unsubscribe(key string, ch chan struct{}) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.waiters[key], ch)
	if len(e.waiters[key]) == 0 {
		delete(e.waiters, key)
	}
}

// notify wakes the waits subscribed to obj.
func (e *watchEntry) notify(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	key, err := cache.MetaNamespaceKeyFunc(obj)
	if err != nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for ch := range e.waiters[key] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// slimForHealth keeps of an object what health and the failure diagnosis read: no managed
// fields, no last-applied annotation, no pod template (a Deployment shrinks to ~1 KiB).
func slimForHealth(obj any) (any, error) {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return obj, nil
	}
	u.SetManagedFields(nil)
	if ann := u.GetAnnotations(); ann != nil {
		delete(ann, "kubectl.kubernetes.io/last-applied-configuration")
		u.SetAnnotations(ann)
	}
	if spec, ok := u.Object["spec"].(map[string]any); ok {
		delete(spec, "template")
		if jt, ok := spec["jobTemplate"].(map[string]any); ok {
			delete(jt, "spec")
		}
	}
	return u, nil
}
