package reconcile

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/tagrelay/tagrelay/reconcile/api"
)

// The config-aware guard. A pod reads a ConfigMap or a Secret through its env (valueFrom,
// envFrom) or its volumes (configMap, secret, projected sources) when it starts; a change of
// that object alone reaches no running pod (argo-cd #13642, #5695). So a sync that changes a
// ConfigMap or Secret that a Deployment, StatefulSet or DaemonSet reads is a real change: it is
// applied, and those workloads are restarted like `kubectl rollout restart` (restartedAt under
// RestartFieldManager), unless the app opts out (restartOnConfigChange: false). A workload whose
// pod template changes anyway — a new image, an env value, a Kustomize generator's new hash
// suffix — rolls by itself and is not restarted on top.

// restartKinds are the workloads a restart rolls; a Job, CronJob or bare Pod reads its config
// at its next run.
var restartKinds = map[string]bool{"Deployment": true, "StatefulSet": true, "DaemonSet": true}

// configRef names a ConfigMap or Secret of a namespace.
type configRef struct{ kind, namespace, name string }

// String is Kind/name: the namespace is the workload's.
func (c configRef) String() string { return c.kind + "/" + c.name }

// configRefs returns the ConfigMaps and Secrets the pod template of a workload reads, sorted;
// nil for other kinds.
func configRefs(u *unstructured.Unstructured) []configRef {
	if u == nil {
		return nil
	}
	p, ok := podSpecPath[u.GetKind()]
	if !ok {
		return nil
	}
	spec, _, _ := unstructured.NestedMap(u.Object, p...)
	seen := map[configRef]bool{}
	add := func(kind string, name any) {
		if n, _ := name.(string); n != "" {
			seen[configRef{kind, u.GetNamespace(), n}] = true
		}
	}
	for _, field := range []string{"initContainers", "containers", "ephemeralContainers"} {
		for _, c := range mapsAt(spec, field) {
			for _, e := range mapsAt(c, "env") {
				from, _ := e["valueFrom"].(map[string]any)
				add("ConfigMap", nested(from, "configMapKeyRef", "name"))
				add("Secret", nested(from, "secretKeyRef", "name"))
			}
			for _, e := range mapsAt(c, "envFrom") {
				add("ConfigMap", nested(e, "configMapRef", "name"))
				add("Secret", nested(e, "secretRef", "name"))
			}
		}
	}
	for _, v := range mapsAt(spec, "volumes") {
		add("ConfigMap", nested(v, "configMap", "name"))
		add("Secret", nested(v, "secret", "secretName"))
		projected, _ := v["projected"].(map[string]any)
		for _, s := range mapsAt(projected, "sources") {
			add("ConfigMap", nested(s, "configMap", "name"))
			add("Secret", nested(s, "secret", "name"))
		}
	}
	out := make([]configRef, 0, len(seen))
	for c := range seen {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// mapsAt returns the maps of the list m[key].
func mapsAt(m map[string]any, key string) []map[string]any {
	list, _ := m[key].([]any)
	out := make([]map[string]any, 0, len(list))
	for _, x := range list {
		if xm, ok := x.(map[string]any); ok {
			out = append(out, xm)
		}
	}
	return out
}

func nested(m map[string]any, keys ...string) any {
	var v any = m
	for _, k := range keys {
		vm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = vm[k]
	}
	return v
}

// configPlan is what the config-aware guard found in a plan.
type configPlan struct {
	// restarts are the workloads to restart and the changed configs each reads.
	restarts []configRestart
	// rolling are the workloads whose pod template changes: they roll by themselves.
	rolling []*resource
	// unread are the changed ConfigMaps and Secrets no workload of the app reads.
	unread []*resource
	// optedOut: the app said restartOnConfigChange: false; restarts are only reported.
	optedOut bool
}

// configRestart is a workload that reads changed configs.
type configRestart struct {
	res *resource
	why []configRef
}

// planConfig finds, after the dry run, the ConfigMaps and Secrets the sync creates or changes,
// and the workloads that read them and would not roll otherwise. It is a pure function of the
// plan.
func planConfig(rs []*resource, optedOut bool) *configPlan {
	p := &configPlan{optedOut: optedOut}
	changed := map[configRef]*resource{}
	for _, res := range rs {
		if k := res.gk(); k.Group == "" && (k.Kind == "ConfigMap" || k.Kind == "Secret") && changes(res) {
			changed[configRef{k.Kind, res.obj.GetNamespace(), res.obj.GetName()}] = res
		}
	}
	read := map[configRef]bool{}
	for _, res := range rs {
		if !restartKinds[res.obj.GetKind()] {
			continue
		}
		refs := configRefs(res.obj)
		var why []configRef
		for _, c := range refs {
			read[c] = true
			if changed[c] != nil {
				why = append(why, c)
			}
		}
		switch {
		case res.live == nil:
		case templateChanges(res):
			p.rolling = append(p.rolling, res)
		case len(why) > 0:
			p.restarts = append(p.restarts, configRestart{res: res, why: why})
		}
	}
	for c, res := range changed {
		if !read[c] {
			p.unread = append(p.unread, res)
		}
	}
	sort.Slice(p.unread, func(i, j int) bool { return p.unread[i].String() < p.unread[j].String() })
	return p
}

// changes reports whether the plan creates or changes res.
func changes(res *resource) bool {
	return res.action == api.ActionCreated || res.action == api.ActionConfigured
}

// templateChanges reports whether the pod template of a live workload changes in the plan.
func templateChanges(res *resource) bool {
	if res.action != api.ActionConfigured || res.merged == nil {
		return false
	}
	before, _, _ := unstructured.NestedMap(res.live.Object, "spec", "template")
	after, _, _ := unstructured.NestedMap(res.merged.Object, "spec", "template")
	return !reflect.DeepEqual(before, after)
}

// real reports whether the plan changes something pods run with: a pod template, or a ConfigMap
// or Secret (read by a workload or not: it is applied, and the result says who reads it).
func (p *configPlan) real() bool {
	return len(p.restarts) > 0 || len(p.rolling) > 0 || len(p.unread) > 0
}

// summary says what the config changes do, for the result's message: "Deployment/ns/web
// restarted: config changed: ConfigMap/app-config"; "" when no config changed.
func (p *configPlan) summary(dryRun bool) string {
	var out []string
	for _, r := range p.restarts {
		switch {
		case p.optedOut:
			out = append(out, fmt.Sprintf("%s not restarted (restartOnConfigChange: false): config changed: %s", r.res, joinRefs(r.why)))
		case dryRun:
			out = append(out, fmt.Sprintf("%s would be restarted: config changed: %s", r.res, joinRefs(r.why)))
		default:
			out = append(out, fmt.Sprintf("%s restarted: config changed: %s", r.res, joinRefs(r.why)))
		}
	}
	if len(p.unread) > 0 {
		names := make([]string, len(p.unread))
		for i, res := range p.unread {
			names[i] = res.obj.GetKind() + "/" + res.obj.GetName()
		}
		out = append(out, "nothing restarted for "+strings.Join(names, ", ")+": no workload of the app reads it")
	}
	return strings.Join(out, "; ")
}

// marked is what the in-flight mark records of the plan's restarts (InFlight.Restarts).
func (p *configPlan) marked() map[string][]string {
	if p.optedOut || len(p.restarts) == 0 {
		return nil
	}
	out := make(map[string][]string, len(p.restarts))
	for _, c := range p.restarts {
		for _, ref := range c.why {
			out[c.res.String()] = append(out[c.res.String()], ref.String())
		}
	}
	return out
}

// resume adds the restarts a sync left in flight recorded (marked) to the plan: the configs
// that sync applied show no change now, but the workloads reading them may not have restarted
// yet. A workload gone from the render, or rolling by itself now, is left out.
func (p *configPlan) resume(rs []*resource, marked map[string][]string) {
	if len(marked) == 0 {
		return
	}
	planned := map[*resource]bool{}
	for _, c := range p.restarts {
		planned[c.res] = true
	}
	for _, res := range p.rolling {
		planned[res] = true
	}
	for _, res := range rs {
		refs, ok := marked[res.String()]
		if !ok || planned[res] || res.live == nil || !restartKinds[res.obj.GetKind()] {
			continue
		}
		c := configRestart{res: res}
		for _, ref := range refs {
			kind, name, _ := strings.Cut(ref, "/")
			c.why = append(c.why, configRef{kind, res.obj.GetNamespace(), name})
		}
		p.restarts = append(p.restarts, c)
	}
}

// restartForConfig restarts the workloads that read changed configs (planConfig), under
// RestartFieldManager, and returns them with the reason.
func (r *Reconciler) restartForConfig(ctx context.Context, p *configPlan, now time.Time) ([]api.ObjectChange, error) {
	if p.optedOut || len(p.restarts) == 0 {
		return nil, nil
	}
	rs := make([]*resource, len(p.restarts))
	why := map[string]string{}
	for i, c := range p.restarts {
		rs[i] = c.res
		why[c.res.String()] = "config changed: " + joinRefs(c.why)
	}
	out, err := r.restart(ctx, rs, now)
	for i := range out {
		out[i].Reason = why[out[i].Object]
	}
	return out, err
}
