package reconcile

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/tagrelay/tagrelay/reconcile/api"
)

func mustObject(t *testing.T, y string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(y), &u.Object); err != nil {
		t.Fatal(err)
	}
	return u
}

// TestConfigRefs: every way a pod template reads a ConfigMap or a Secret is found, once.
func TestConfigRefs(t *testing.T) {
	t.Parallel()
	u := mustObject(t, `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: ns}
spec:
  template:
    spec:
      initContainers:
      - name: init
        envFrom: [{secretRef: {name: init-secret}}]
      containers:
      - name: web
        env:
        - {name: A, valueFrom: {configMapKeyRef: {name: env-cm, key: a}}}
        - {name: B, valueFrom: {secretKeyRef: {name: env-secret, key: b}}}
        - {name: C, value: plain}
        - {name: D, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
        envFrom: [{configMapRef: {name: envfrom-cm}}, {configMapRef: {name: env-cm}}]
      volumes:
      - {name: v1, configMap: {name: vol-cm}}
      - {name: v2, secret: {secretName: vol-secret}}
      - {name: v3, emptyDir: {}}
      - name: v4
        projected:
          sources:
          - configMap: {name: proj-cm}
          - secret: {name: proj-secret}
          - serviceAccountToken: {path: token}
`)
	var got []string
	for _, c := range configRefs(u) {
		got = append(got, c.String())
	}
	want := []string{"ConfigMap/env-cm", "ConfigMap/envfrom-cm", "ConfigMap/proj-cm", "ConfigMap/vol-cm",
		"Secret/env-secret", "Secret/init-secret", "Secret/proj-secret", "Secret/vol-secret"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("configRefs() (-want +got):\n%s", diff)
	}
	cron := mustObject(t, `{apiVersion: batch/v1, kind: CronJob, metadata: {name: c},
  spec: {jobTemplate: {spec: {template: {spec: {containers: [{name: c, envFrom: [{secretRef: {name: s}}]}]}}}}}}`)
	if got := configRefs(cron); len(got) != 1 || got[0].String() != "Secret/s" {
		t.Errorf("configRefs(CronJob) = %v, want Secret/s", got)
	}
	if got := configRefs(mustObject(t, `{apiVersion: v1, kind: Service, metadata: {name: s}}`)); got != nil {
		t.Errorf("configRefs(Service) = %v, want nil", got)
	}
}

// TestPlanConfig: which workloads a plan restarts, which roll by themselves, and which changed
// configs nobody reads.
func TestPlanConfig(t *testing.T) {
	t.Parallel()
	deploy := func(name, cm, image string) string {
		return `{apiVersion: apps/v1, kind: Deployment, metadata: {name: ` + name + `, namespace: ns},
  spec: {template: {spec: {containers: [{name: c, image: ` + image + `, envFrom: [{configMapRef: {name: ` + cm + `}}]}]}}}}`
	}
	cm := func(name, v string) string {
		return `{apiVersion: v1, kind: ConfigMap, metadata: {name: ` + name + `, namespace: ns}, data: {k: ` + v + `}}`
	}
	// res builds a planned resource: live → merged, with the action the dry run would find.
	res := func(live, merged string) *resource {
		r := &resource{obj: mustObject(t, merged), merged: mustObject(t, merged)}
		switch {
		case live == "":
			r.action = api.ActionCreated
		case live == merged:
			r.live, r.action = mustObject(t, live), api.ActionUnchanged
		default:
			r.live, r.action = mustObject(t, live), api.ActionConfigured
		}
		return r
	}
	for _, tc := range []struct {
		name              string
		rs                []*resource
		optOut            bool
		restarts, rolling []string
		unread            []string
		real              bool
		summary           string
	}{
		{name: "config read by a workload changed",
			rs:       []*resource{res(deploy("web", "app-config", "i:1"), deploy("web", "app-config", "i:1")), res(cm("app-config", "a"), cm("app-config", "b"))},
			restarts: []string{"Deployment/ns/web: ConfigMap/app-config"}, real: true,
			summary: "Deployment/ns/web restarted: config changed: ConfigMap/app-config"},
		{name: "opted out",
			rs:       []*resource{res(deploy("web", "app-config", "i:1"), deploy("web", "app-config", "i:1")), res(cm("app-config", "a"), cm("app-config", "b"))},
			optOut:   true,
			restarts: []string{"Deployment/ns/web: ConfigMap/app-config"}, real: true,
			summary: "Deployment/ns/web not restarted (restartOnConfigChange: false): config changed: ConfigMap/app-config"},
		{name: "unrelated config changed",
			rs:     []*resource{res(deploy("web", "app-config", "i:1"), deploy("web", "app-config", "i:1")), res(cm("app-config", "a"), cm("app-config", "a")), res(cm("other", "a"), cm("other", "b"))},
			unread: []string{"ConfigMap/ns/other"}, real: true,
			summary: "nothing restarted for ConfigMap/other: no workload of the app reads it"},
		{name: "kustomize hash suffix: the workload rolls by itself",
			rs:      []*resource{res(deploy("web", "app-config-aaa", "i:1"), deploy("web", "app-config-bbb", "i:1")), res("", cm("app-config-bbb", "b"))},
			rolling: []string{"Deployment/ns/web"}, real: true},
		{name: "image and config changed: rolls once",
			rs:      []*resource{res(deploy("web", "app-config", "i:1"), deploy("web", "app-config", "i:2")), res(cm("app-config", "a"), cm("app-config", "b"))},
			rolling: []string{"Deployment/ns/web"}, real: true},
		{name: "new workload and its config: nothing to restart",
			rs:   []*resource{res("", deploy("web", "app-config", "i:1")), res("", cm("app-config", "b"))},
			real: false},
		{name: "nothing changed",
			rs: []*resource{res(deploy("web", "app-config", "i:1"), deploy("web", "app-config", "i:1")), res(cm("app-config", "a"), cm("app-config", "a"))}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := planConfig(tc.rs, tc.optOut)
			var restarts, rolling, unread []string
			for _, r := range p.restarts {
				restarts = append(restarts, r.res.String()+": "+joinRefs(r.why))
			}
			for _, r := range p.rolling {
				rolling = append(rolling, r.String())
			}
			for _, r := range p.unread {
				unread = append(unread, r.String())
			}
			if diff := cmp.Diff([][]string{tc.restarts, tc.rolling, tc.unread}, [][]string{restarts, rolling, unread}); diff != "" {
				t.Errorf("planConfig() restarts, rolling, unread (-want +got):\n%s", diff)
			}
			if got := p.real(); got != tc.real {
				t.Errorf("real() = %v, want %v", got, tc.real)
			}
			if got := p.summary(false); got != tc.summary {
				t.Errorf("summary() = %q, want %q", got, tc.summary)
			}
			if tc.summary != "" && !tc.optOut && !strings.Contains(p.summary(true), "would") && len(tc.restarts) > 0 {
				t.Errorf("summary(dry run) = %q does not say would", p.summary(true))
			}
		})
	}
}
