package reconcile

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/tagrelay/tagrelay/internal/errdefs"
)

func obj(apiVersion, kind, ns, name string, namespaced bool) *resource {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(apiVersion)
	u.SetKind(kind)
	u.SetNamespace(ns)
	u.SetName(name)
	return &resource{obj: u, source: "x.yaml", namespaced: namespaced}
}

func TestGuardTenancy(t *testing.T) {
	t.Parallel()
	app := App{Name: "web", Namespace: "team", AllowClusterKinds: []string{"Namespace", "ClusterRole.rbac.authorization.k8s.io"}}
	rs := []*resource{
		obj("v1", "ConfigMap", "", "defaulted", true),
		obj("v1", "ConfigMap", "team", "explicit", true),
		obj("v1", "Namespace", "ignored", "team", false),
		obj("rbac.authorization.k8s.io/v1", "ClusterRole", "", "reader", false),
	}
	if err := guardTenancy(app, rs); err != nil {
		t.Fatalf("guardTenancy() = %v", err)
	}
	var got []string
	for _, r := range rs {
		got = append(got, r.String()+" "+r.obj.GetLabels()[OwnerLabel])
	}
	want := []string{"ConfigMap/team/defaulted web", "ConfigMap/team/explicit web", "Namespace/team web", "ClusterRole/reader web"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("after guardTenancy (-want +got):\n%s", diff)
	}

	for _, tc := range []struct {
		name  string
		rs    []*resource
		class error
		want  string
	}{
		{"other namespace", []*resource{obj("v1", "ConfigMap", "other", "x", true)}, errdefs.ErrPrecondition, "ConfigMap/other/x (namespace other)"},
		{"cluster kind not allowed", []*resource{obj("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "", "x", false)}, errdefs.ErrPrecondition, "ClusterRoleBinding/x (cluster-scoped ClusterRoleBinding.rbac.authorization.k8s.io)"},
		{"same kind, other group", []*resource{obj("example.com/v1", "ClusterRole", "", "x", false)}, errdefs.ErrPrecondition, "ClusterRole.example.com"},
		{"duplicate", []*resource{obj("v1", "ConfigMap", "", "x", true), obj("v1", "ConfigMap", "team", "x", true)}, errdefs.ErrInvalid, "rendered twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := guardTenancy(app, tc.rs)
			if !errors.Is(err, tc.class) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("guardTenancy() = %v, want %v containing %q", err, tc.class, tc.want)
			}
		})
	}
}
