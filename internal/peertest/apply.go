package peertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"golang.org/x/sync/errgroup"
)

// fieldManager owns what the helpers apply.
const fieldManager = "peertest"

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// ApplyFiles server-side applies every document of the YAML files, in order. Namespaced objects
// without a namespace go into namespace. CustomResourceDefinitions are waited for until
// Established, so objects of their kinds can follow.
func ApplyFiles(ctx context.Context, cfg *rest.Config, namespace string, files ...string) error {
	var objs []*unstructured.Unstructured
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		docs, err := Decode(b)
		if err != nil {
			return fmt.Errorf("decoding %s: %w", f, err)
		}
		objs = append(objs, docs...)
	}
	return Apply(ctx, cfg, namespace, objs...)
}

// Decode splits multi-document YAML into objects, skipping empty documents.
func Decode(b []byte) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
	var objs []*unstructured.Unstructured
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return objs, nil
			}
			return nil, err
		}
		if len(m) > 0 {
			objs = append(objs, &unstructured.Unstructured{Object: m})
		}
	}
}

// applyWorkers is how many objects Apply applies at once between two barriers.
const applyWorkers = 8

// Apply server-side applies the objects (see ApplyFiles). CustomResourceDefinitions and
// Namespaces are barriers: each is applied (and a CRD waited for) after everything before it
// and before everything after it; the objects between two barriers go applyWorkers at a time,
// so that a bench's thousands of objects do not wait on one round trip each.
func Apply(ctx context.Context, cfg *rest.Config, namespace string, objs ...*unstructured.Unstructured) error {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return err
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	apply := func(ctx context.Context, obj *unstructured.Unstructured) error {
		gvk := obj.GroupVersionKind()
		m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			mapper.Reset() // a CRD applied just before
			if m, err = mapper.RESTMapping(gvk.GroupKind(), gvk.Version); err != nil {
				return fmt.Errorf("mapping %s: %w", gvk, err)
			}
		}
		var ri dynamic.ResourceInterface = dyn.Resource(m.Resource)
		if m.Scope.Name() == "namespace" {
			ns := obj.GetNamespace()
			if ns == "" {
				ns = namespace
				obj.SetNamespace(ns)
			}
			ri = dyn.Resource(m.Resource).Namespace(ns)
		}
		body, err := obj.MarshalJSON()
		if err != nil {
			return err
		}
		force := true
		if _, err := ri.Patch(ctx, obj.GetName(), types.ApplyPatchType, body,
			metav1.PatchOptions{FieldManager: fieldManager, Force: &force}); err != nil {
			return fmt.Errorf("applying %s %s: %w", gvk.Kind, obj.GetName(), err)
		}
		if m.Resource == crdGVR {
			return waitEstablished(ctx, dyn, obj.GetName())
		}
		return nil
	}
	for len(objs) > 0 {
		n := 1 // a barrier alone, or the objects up to the next barrier
		if !barrier(objs[0]) {
			for n < len(objs) && !barrier(objs[n]) {
				n++
			}
		}
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(applyWorkers)
		for _, obj := range objs[:n] {
			g.Go(func() error { return apply(gctx, obj) })
		}
		if err := g.Wait(); err != nil {
			return err
		}
		objs = objs[n:]
	}
	return nil
}

// barrier reports whether later objects may need obj to exist: a CRD (their kind) or a
// Namespace (their namespace).
func barrier(obj *unstructured.Unstructured) bool {
	gk := obj.GroupVersionKind().GroupKind()
	return gk == schema.GroupKind{Group: crdGVR.Group, Kind: "CustomResourceDefinition"} || gk == schema.GroupKind{Kind: "Namespace"}
}

func waitEstablished(ctx context.Context, dyn dynamic.Interface, name string) error {
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		u, err := dyn.Resource(crdGVR).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		} else if err != nil {
			return false, err
		}
		conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
		for _, c := range conds {
			c, _ := c.(map[string]any)
			if c["type"] == "Established" && c["status"] == "True" {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for CRD %s to be established: %w", name, err)
	}
	return nil
}
