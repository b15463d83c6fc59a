package reconciler_test

import (
	"bytes"
	"context"
	"encoding/json"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/tagrelay/tagrelay/internal/cli/reconciler"
	"github.com/tagrelay/tagrelay/internal/clirun"
	"github.com/tagrelay/tagrelay/internal/kubetest"
)

// TestDeployManifests builds deploy/ with Kustomize, checks that the container's arguments are
// flags the serve command knows, and has the API server validate every object (server-side
// apply dry run: RBAC, Deployment and probes included).
func TestDeployManifests(t *testing.T) {
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), "../../../deploy")
	if err != nil {
		t.Fatalf("kustomize build deploy/: %v", err)
	}
	var kinds []string
	var args []string
	for _, r := range m.Resources() {
		kinds = append(kinds, r.GetKind()+"/"+r.GetName())
		if r.GetKind() == "Deployment" {
			c, err := r.GetFieldValue("spec.template.spec.containers.0.args")
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range c.([]any) {
				args = append(args, a.(string))
			}
		}
	}
	sort.Strings(kinds)
	want := []string{"ClusterRole/tagrelay-reconciler-discovery", "ClusterRoleBinding/tagrelay-reconciler-discovery",
		"ConfigMap/tagrelay-reconciler-apps", "Deployment/tagrelay-reconciler",
		"Namespace/tagrelay-system", "PodDisruptionBudget/tagrelay-reconciler", "Role/tagrelay-reconciler", "RoleBinding/tagrelay-reconciler",
		"Service/tagrelay-reconciler", "ServiceAccount/tagrelay-reconciler"}
	for i, k := range kinds { // the generated ConfigMap's name ends in a content hash
		if strings.HasPrefix(k, "ConfigMap/tagrelay-reconciler-apps-") {
			kinds[i] = "ConfigMap/tagrelay-reconciler-apps"
		}
	}
	if diff := cmp.Diff(want, kinds); diff != "" {
		t.Errorf("deploy/ objects (-want +got):\n%s", diff)
	}
	var stderr bytes.Buffer
	env := clirun.NewEnv(nil, &bytes.Buffer{}, &stderr, nil)
	if code := clirun.Run(context.Background(), env, reconciler.NewApp(env), append([]string{"tagrelay-reconciler"}, append(args, "--help")...)); code != 0 {
		t.Errorf("the Deployment's args %v are not valid flags: %s", args, stderr.String())
	}

	c := kubetest.Shared(t)
	ns := kubetest.Namespace(t, c)
	cfg := c.RESTConfig()
	dyn := dynamic.NewForConfigOrDie(cfg)
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(kubernetes.NewForConfigOrDie(cfg).Discovery()))
	for _, r := range m.Resources() {
		if r.GetKind() == "Namespace" {
			continue // creating tagrelay-system is not validated: a dry run of the rest goes to ns
		}
		obj, err := r.Map()
		if err != nil {
			t.Fatal(err)
		}
		u := &unstructured.Unstructured{Object: obj}
		gvk := u.GroupVersionKind()
		mapping, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			t.Fatalf("%s: %v", gvk, err)
		}
		client := dyn.Resource(mapping.Resource).Namespace("")
		if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
			u.SetNamespace(ns)
			client = dyn.Resource(mapping.Resource).Namespace(ns)
		}
		data, _ := json.Marshal(u.Object)
		force := true
		_, err = client.Patch(context.Background(), u.GetName(), types.ApplyPatchType, data, metav1.PatchOptions{
			FieldManager: "test", Force: &force, DryRun: []string{metav1.DryRunAll}, FieldValidation: "Strict"})
		if err != nil {
			t.Errorf("%s/%s does not validate: %v", u.GetKind(), u.GetName(), err)
		}
	}
}
