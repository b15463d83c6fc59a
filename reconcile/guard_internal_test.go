package reconcile

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/tagrelay/tagrelay/internal/errdefs"
	"github.com/tagrelay/tagrelay/reconcile/api"
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

func TestPollDeployed(t *testing.T) {
	t.Parallel()
	changed := []api.ImageChange{{Object: "Deployment/ns/web", Container: "web", Before: "example.com/web:v1", After: "example.com/web:v2"}}
	same := []api.ImageChange{{Object: "Deployment/ns/web", Container: "web", Before: "example.com/web:v2", After: "example.com/web:v2"}}
	poll := func(rev string, st api.Status, images []api.ImageChange) Result {
		return Result{Trigger: TriggerPoll, Revision: rev, Status: st, Images: images}
	}
	for _, tc := range []struct {
		name    string
		history []Result
		rev     string
		expect  string
		want    bool
	}{
		{"poll of this revision deployed the image", []Result{poll("abc", api.StatusSucceeded, changed)}, "abc", "example.com/web:v2", true},
		{"without an expected image, any change", []Result{poll("abc", api.StatusSucceeded, changed)}, "abc", "", true},
		{"canonical names compare", []Result{poll("abc", api.StatusSucceeded, []api.ImageChange{{Before: "nginx:1", After: "nginx:2"}})}, "abc", "docker.io/library/nginx:2", true},
		{"another image", []Result{poll("abc", api.StatusSucceeded, changed)}, "abc", "example.com/web:v3", false},
		{"another revision", []Result{poll("abc", api.StatusSucceeded, changed)}, "def", "example.com/web:v2", false},
		{"the poll changed nothing", []Result{poll("abc", api.StatusSucceeded, same)}, "abc", "", false},
		{"the poll failed", []Result{poll("abc", api.StatusFailed, changed)}, "abc", "example.com/web:v2", false},
		{"a trigger already claimed it", []Result{{Trigger: TriggerAPI, Revision: "abc", Status: api.StatusSucceeded}, poll("abc", api.StatusSucceeded, changed)}, "abc", "example.com/web:v2", false},
		{"no history", nil, "abc", "", false},
		{"a sync resumed after a failover deployed it", []Result{{Trigger: TriggerAPI, ResumedFrom: "host_a1b2", Revision: "abc", Status: api.StatusSucceeded, Images: changed}}, "abc", "example.com/web:v2", true},
		{"a resumed sync of another revision", []Result{{Trigger: TriggerAPI, ResumedFrom: "host_a1b2", Revision: "abc", Status: api.StatusSucceeded, Images: changed}}, "def", "example.com/web:v2", false},
	} {
		if got := pollDeployed(tc.history, tc.rev, tc.expect); got != tc.want {
			t.Errorf("%s: pollDeployed() = %v, want %v", tc.name, got, tc.want)
		}
	}
}
