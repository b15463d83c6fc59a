package gitops

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
)

// fluxObject is a Kustomization or a source as the API server gives it, read without Flux's Go
// types (they would bring controller-runtime into tagrelay).
type fluxObject struct {
	Object map[string]any
}

// nested returns the value at path, nil when absent.
func (o fluxObject) nested(path ...string) any {
	var v any = o.Object
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

func (o fluxObject) str(path ...string) string {
	s, _ := o.nested(path...).(string)
	return s
}

func (o fluxObject) ref() ObjectRef {
	return ObjectRef{Kind: o.str("kind"), Namespace: o.str("metadata", "namespace"), Name: o.str("metadata", "name")}
}

func (o fluxObject) suspended() bool {
	b, _ := o.nested("spec", "suspend").(bool)
	return b
}

// condition returns the status, reason and message of a status condition.
func (o fluxObject) condition(typ string) (st, reason, msg string) {
	conds, _ := o.nested("status", "conditions").([]any)
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == typ {
			st, _ = m["status"].(string)
			reason, _ = m["reason"].(string)
			msg, _ = m["message"].(string)
			return st, reason, msg
		}
	}
	return "", "", ""
}

// observed reports whether the controller has seen the object's latest spec.
func (o fluxObject) observed() bool {
	g, _ := o.nested("status", "observedGeneration").(float64)
	gen, _ := o.nested("metadata", "generation").(float64)
	return g == gen
}

// inventoryEntry is an object a Kustomization applied.
type inventoryEntry struct {
	Namespace, Name, Group, Kind string
}

// inventory parses status.inventory.entries[].id, "<namespace>_<name>_<group>_<kind>"
// (cli-utils ObjMetadata).
func (o fluxObject) inventory() []inventoryEntry {
	entries, _ := o.nested("status", "inventory", "entries").([]any)
	var out []inventoryEntry
	for _, e := range entries {
		m, _ := e.(map[string]any)
		id, _ := m["id"].(string)
		if p := strings.Split(id, "_"); len(p) == 4 {
			out = append(out, inventoryEntry{Namespace: p[0], Name: p[1], Group: p[2], Kind: p[3]})
		}
	}
	return out
}

// sourceReady is the end of a source's reconciliation: the request handled, Ready, and the
// artifact's revision.
func sourceReady(target string, src fluxObject, token string) (done bool, waiting, rev string, err error) {
	if src.str("status", "lastHandledReconcileAt") != token || !src.observed() {
		return false, src.ref().String() + " has not handled the request yet", "", nil
	}
	st, reason, msg := src.condition("Ready")
	switch st {
	case "True":
		rev = src.str("status", "artifact", "revision")
		return rev != "", "no artifact yet", rev, nil
	case "False":
		return false, "", "", &RolloutError{Target: target, Reason: fmt.Sprintf("%s not ready (%s): %s", src.ref(), reason, msg)}
	}
	return false, fmt.Sprintf("%s: %s", src.ref(), orUnknown(msg)), "", nil
}

// applied is the end of an ApplyOnly trigger: the Kustomization handled the request and applied
// rev (Ready False at rev fails it).
func applied(target, rev, token string, ks fluxObject) (bool, string, error) {
	handled := ks.str("status", "lastHandledReconcileAt") == token && ks.observed()
	st, reason, msg := ks.condition("Ready")
	if handled && st == "False" && ks.str("status", "lastAttemptedRevision") == rev && reason != "DependencyNotReady" && reason != "ProgressingWithRetry" {
		return false, "", &RolloutError{Target: target, Revision: rev, Reason: fmt.Sprintf("Ready False (%s): %s", reason, msg)}
	}
	if a := ks.str("status", "lastAppliedRevision"); !handled || a != rev {
		return false, fmt.Sprintf("lastAppliedRevision %s, Ready %s: %s", orUnknown(shortRev(a)), orUnknown(st), orUnknown(msg)), nil
	}
	return true, "", nil
}

// kustomizationDone is the end of a trigger: the Kustomization handled the request, applied rev
// and is Ready, and the expected images run on rolled-out workloads of its inventory. Failing
// pods end it early, whatever the Kustomization says yet.
func kustomizationDone(target, rev, token string, ks fluxObject, before, after snapshot, expect []Image, judge func(error) (string, error)) (bool, string, error) {
	if p := failures(before, after, expect); len(p) > 0 {
		return false, "", &RolloutError{Target: target, Revision: rev, Problems: p}
	}
	handled := ks.str("status", "lastHandledReconcileAt") == token && ks.observed()
	st, reason, msg := ks.condition("Ready")
	attempted := ks.str("status", "lastAttemptedRevision")
	if handled && st == "False" && attempted == rev && reason != "DependencyNotReady" {
		return false, "", &RolloutError{Target: target, Revision: rev, Reason: fmt.Sprintf("Ready False (%s): %s", reason, msg)}
	}
	if applied := ks.str("status", "lastAppliedRevision"); !handled || applied != rev {
		if st == "" {
			return false, "not reconciled yet", nil
		}
		return false, fmt.Sprintf("lastAppliedRevision %s, Ready %s: %s", orUnknown(shortRev(applied)), st, orUnknown(msg)), nil
	}
	if waiting, err := judge(notDeployed(target, rev, after, expect)); err != nil || waiting != "" {
		return false, waiting, err
	}
	if p := pending(after, expect); p != "" {
		return false, p, nil
	}
	if st != "True" {
		return false, fmt.Sprintf("Ready %s: %s", orUnknown(st), orUnknown(msg)), nil
	}
	return true, "", nil
}

// snapshot reads the inventory's workloads and their pods.
func (f *Flux) snapshot(ctx context.Context, ks fluxObject) (snapshot, error) {
	var out snapshot
	pods := map[string][]kubePod{}
	seen := map[string]bool{}
	for _, e := range ks.inventory() {
		if e.Group != "apps" || !workloadKinds[e.Kind] {
			continue
		}
		var kw kubeWorkload
		path := fmt.Sprintf("/apis/apps/v1/namespaces/%s/%ss/%s", url.PathEscape(e.Namespace), strings.ToLower(e.Kind), url.PathEscape(e.Name))
		err := f.k.do(ctx, http.MethodGet, path, nil, nil, "", &kw)
		wl := workload{Kind: e.Kind, Namespace: e.Namespace, Name: e.Name}
		switch {
		case err == nil:
			wl.Ready, wl.Failed, wl.Message = kw.status(e.Kind)
		case isNotFound(err):
			wl.Message = "not found"
			out.Workloads = append(out.Workloads, wl)
			continue
		default:
			return out, err
		}
		out.Workloads = append(out.Workloads, wl)
		if kw.Spec.Selector == nil || kw.Spec.Selector.empty() {
			continue
		}
		list, ok := pods[e.Namespace]
		if !ok {
			var pl struct{ Items []kubePod }
			if err := f.k.do(ctx, http.MethodGet, "/api/v1/namespaces/"+url.PathEscape(e.Namespace)+"/pods", nil, nil, "", &pl); err != nil {
				return out, err
			}
			list = pl.Items
			pods[e.Namespace] = list
		}
		for _, p := range list {
			if p.Metadata.DeletionTimestamp != nil || seen[p.Metadata.UID] || !kw.Spec.Selector.matches(p.Metadata.Labels) {
				continue
			}
			seen[p.Metadata.UID] = true
			out.Pods = append(out.Pods, p.pod(wl.key()))
		}
	}
	sort.Slice(out.Pods, func(i, j int) bool { return out.Pods[i].Name < out.Pods[j].Name })
	return out, nil
}

func isNotFound(err error) bool { return isKubeStatus(err, http.StatusNotFound) }

func isKubeStatus(err error, code int) bool {
	var ke *KubeError
	return errors.As(err, &ke) && ke.StatusCode == code
}
