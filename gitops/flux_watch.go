package gitops

import (
	"context"
	"fmt"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
)

// fluxWatch follows a Kustomization, its source, and the workloads and pods of the namespaces
// its inventory names, with informers (list once, then watch), and signals every change.
type fluxWatch struct {
	f       *Flux
	ctx     context.Context
	cancel  context.CancelFunc
	changed chan struct{}
	ks, src cache.SharedIndexInformer
	ksKey   string
	srcKey  string

	mu  sync.Mutex
	nss map[string]*nsInformers
}

// nsInformers are the informers of one namespace.
type nsInformers struct {
	factory                 informers.SharedInformerFactory
	pods, deploys, sts, dss cache.SharedIndexInformer
}

func (f *Flux) watch(ctx context.Context, ksRes schema.GroupVersionResource, ks ObjectRef, srcRes schema.GroupVersionResource, src ObjectRef) (*fluxWatch, error) {
	w := &fluxWatch{f: f, changed: make(chan struct{}, 1), nss: map[string]*nsInformers{},
		ksKey: ks.Namespace + "/" + ks.Name, srcKey: src.Namespace + "/" + src.Name}
	w.ctx, w.cancel = context.WithCancel(ctx)
	w.ks = w.single(ksRes, ks)
	w.src = w.single(srcRes, src)
	if !cache.WaitForCacheSync(w.ctx.Done(), w.ks.HasSynced, w.src.HasSynced) {
		w.stop()
		return nil, fmt.Errorf("watching %s and %s: %w", ks, src, context.Cause(ctx))
	}
	if err := w.ensure(w.kustomization().inventoryNamespaces()); err != nil {
		w.stop()
		return nil, err
	}
	return w, nil
}

func (w *fluxWatch) stop() { w.cancel() }

func (w *fluxWatch) notify() {
	select {
	case w.changed <- struct{}{}:
	default:
	}
}

func (w *fluxWatch) handler() cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { w.notify() },
		UpdateFunc: func(any, any) { w.notify() },
		DeleteFunc: func(any) { w.notify() },
	}
}

// single is an informer of one object.
func (w *fluxWatch) single(res schema.GroupVersionResource, r ObjectRef) cache.SharedIndexInformer {
	inf := dynamicinformer.NewFilteredDynamicInformer(w.f.dyn, res, r.Namespace, 0, cache.Indexers{},
		func(lo *metav1.ListOptions) { lo.FieldSelector = "metadata.name=" + r.Name }).Informer()
	_, _ = inf.AddEventHandler(w.handler())
	go inf.Run(w.ctx.Done())
	return inf
}

// ensure starts the informers of namespaces not followed yet and waits for their caches.
func (w *fluxWatch) ensure(nss []string) error {
	var syncs []cache.InformerSynced
	for _, ns := range nss {
		w.mu.Lock()
		_, ok := w.nss[ns]
		w.mu.Unlock()
		if ok {
			continue
		}
		fac := informers.NewSharedInformerFactoryWithOptions(w.f.cs, 0, informers.WithNamespace(ns))
		n := &nsInformers{factory: fac, pods: fac.Core().V1().Pods().Informer(),
			deploys: fac.Apps().V1().Deployments().Informer(), sts: fac.Apps().V1().StatefulSets().Informer(),
			dss: fac.Apps().V1().DaemonSets().Informer()}
		for _, inf := range []cache.SharedIndexInformer{n.pods, n.deploys, n.sts, n.dss} {
			_, _ = inf.AddEventHandler(w.handler())
			syncs = append(syncs, inf.HasSynced)
		}
		fac.Start(w.ctx.Done())
		w.mu.Lock()
		w.nss[ns] = n
		w.mu.Unlock()
	}
	if len(syncs) > 0 && !cache.WaitForCacheSync(w.ctx.Done(), syncs...) {
		return fmt.Errorf("watching workloads in %v: %w", nss, context.Cause(w.ctx))
	}
	return nil
}

func (w *fluxWatch) namespace(ns string) *nsInformers {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.nss[ns]
}

func (w *fluxWatch) kustomization() fluxObject { return w.object(w.ks, w.ksKey) }
func (w *fluxWatch) source() fluxObject        { return w.object(w.src, w.srcKey) }

func (w *fluxWatch) object(inf cache.SharedIndexInformer, key string) fluxObject {
	o, ok, _ := inf.GetStore().GetByKey(key)
	if !ok {
		return fluxObject{&unstructured.Unstructured{Object: map[string]any{}}}
	}
	return fluxObject{o.(*unstructured.Unstructured)}
}

// until waits for cond, re-checking it on every change (and every second, for verdicts that
// wait for the state to settle).
func (w *fluxWatch) until(ctx context.Context, target, what string, cond func() (bool, string, error)) error {
	last := ""
	for {
		done, waiting, err := cond()
		if err != nil || done {
			return err
		}
		if waiting != last {
			w.f.log.Info("waiting", "target", target, "for", what, "state", waiting)
			last = waiting
		}
		select {
		case <-w.changed:
		case <-time.After(time.Second):
		case <-ctx.Done():
			return waitError(ctx, target, what, waiting)
		}
	}
}
