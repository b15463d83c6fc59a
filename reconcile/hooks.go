package reconcile

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/tagrelay/tagrelay/internal/errdefs"
	"github.com/tagrelay/tagrelay/reconcile/api"
	"github.com/tagrelay/tagrelay/reconcile/render"
)

// Hooks run around the apply, the way Argo CD runs them (its resource hooks and sync waves), with
// Helm's hooks mapped onto the same phases as Argo CD maps them:
//
//	PreSync   helm pre-install, pre-upgrade     before anything is applied
//	Sync      argocd Sync                       with the objects of their wave
//	PostSync  helm post-install, post-upgrade   once everything is healthy
//	SyncFail  argocd SyncFail                   when the sync failed
//
// Like Argo CD, and unlike helm, a sync does not tell an install from an upgrade: pre-install
// and pre-upgrade hooks both run before every sync that applies. Helm's test hooks and its
// delete and rollback hooks are not run, and the result says so.
//
// Within a phase, hooks run by wave (argocd.argoproj.io/sync-wave, or helm.sh/hook-weight), each
// created (server-side apply) and waited for with the health rules of a sync (a Job complete, a
// Pod succeeded). Each tool's hooks run the way that tool runs them: the Argo CD hooks of one
// wave together (gitops-engine creates the tasks of a phase and wave kind by kind, then waits
// for all of them), a Helm hook alone, in Helm's order (weight, then name, then kind:
// pkg/action execHook sorts by weight and name, stable over the kind order, and waits for each
// before the next). A wave that has both runs its Argo CD hooks first. A hook that fails fails
// its wave once the other hooks of the wave ended (they are not cancelled, as in Argo CD),
// with its reason, pods, events and log tail, and nothing after the wave is applied. The objects of the app are applied wave by wave too, each wave healthy before the
// next. Hooks are not in the inventory, so never pruned; their delete policies say when they go:
// BeforeHookCreation (Helm's default), HookSucceeded, HookFailed.

// The phases of a sync that hooks run in.
type hookPhase string

// The phases.
const (
	phasePreSync  hookPhase = "PreSync"
	phaseSync     hookPhase = "Sync"
	phasePostSync hookPhase = "PostSync"
	phaseSyncFail hookPhase = "SyncFail"
)

var phaseOrder = map[hookPhase]int{phasePreSync: 0, phaseSync: 1, phasePostSync: 2, phaseSyncFail: 3}

// The annotations of Argo CD's hooks and waves
// (https://argo-cd.readthedocs.io/en/stable/user-guide/resource_hooks/, .../sync-waves/).
const (
	argoHookAnnotation         = "argocd.argoproj.io/hook"
	argoDeletePolicyAnnotation = "argocd.argoproj.io/hook-delete-policy"
	argoWaveAnnotation         = "argocd.argoproj.io/sync-wave"
)

// The delete policies, in Argo CD's spelling; Helm's map onto them.
const (
	policyBeforeCreation = "BeforeHookCreation"
	policySucceeded      = "HookSucceeded"
	policyFailed         = "HookFailed"
)

var helmPolicies = map[string]string{
	"before-hook-creation": policyBeforeCreation, "hook-succeeded": policySucceeded, "hook-failed": policyFailed,
}

// maxHooks bounds the hooks of one sync: Helm's run one at a time and Argo CD's a wave at a
// time (at most Jobs at once), so a repository with thousands would hold its app's sync for as
// long; it is refused before anything is applied.
const maxHooks = 100

// hook is one hook object in one phase.
type hook struct {
	res      *resource
	phase    hookPhase
	wave     int
	policies map[string]bool
	// origin is what made it a hook: "helm pre-upgrade", "argocd PreSync".
	origin string
	// spec is the hook as rendered, for the no-op guard: "PreSync Job/migrate 3fa2…" (phase,
	// kind, name or generateName+"*", hash of the rendered object before it is named).
	spec string
	// ran is set once the hook succeeded in this sync.
	ran bool
}

// helm reports whether h is Helm's (run alone, in Helm's order) rather than Argo CD's.
func (h *hook) helm() bool { return strings.HasPrefix(h.origin, "helm ") }

func (h *hook) String() string { return h.res.String() }

// describe is the hook for messages: "PreSync (helm pre-upgrade), wave -1".
func (h *hook) describe() string {
	return fmt.Sprintf("%s (%s), wave %d", h.phase, h.origin, h.wave)
}

// hookCandidate is a rendered object that is a hook: a Helm hook of the render, or an object
// annotated argocd.argoproj.io/hook.
type hookCandidate struct {
	obj        render.Object
	helmEvents []string
	helmWeight int
	helmPolicy []string
	weightErr  error
}

// hookPlan is what a sync does with its hooks.
type hookPlan struct {
	hooks []*hook
	// notRun are the hooks the sync does not run and why, for the result: "Pod/web-test (helm
	// test): test hooks are not run".
	notRun []string
	// skip is the app's hooks: skip.
	skip bool
}

// The annotations of Helm's hooks, read on plain and Kustomize objects (a chart's hooks come
// from the render).
const (
	helmHookAnnotation         = "helm.sh/hook"
	helmWeightAnnotation       = "helm.sh/hook-weight"
	helmDeletePolicyAnnotation = "helm.sh/hook-delete-policy"
)

// splitHooks takes the hooks (Argo CD's, and Helm's annotations on plain manifests, as Argo CD
// reads them) out of the app's objects, and returns them with the render's Helm hooks. Objects
// annotated argocd.argoproj.io/hook: Skip are not applied at all.
func splitHooks(out *render.Result, rs []*resource) (kept []*resource, candidates []hookCandidate, skipped []string) {
	for _, res := range rs {
		ann := res.obj.GetAnnotations()
		v, argo := ann[argoHookAnnotation]
		events, helm := ann[helmHookAnnotation]
		c := hookCandidate{obj: render.Object{Object: res.obj, Source: res.source}}
		switch {
		case argo && strings.TrimSpace(v) == "Skip":
			skipped = append(skipped, fmt.Sprintf("%s (argocd Skip): not applied", res))
		case argo:
			candidates = append(candidates, c)
		case helm:
			c.helmEvents = splitCSV(events)
			c.helmPolicy = splitCSV(ann[helmDeletePolicyAnnotation])
			c.helmWeight, c.weightErr = strconv.Atoi(strings.TrimSpace(ann[helmWeightAnnotation]))
			if ann[helmWeightAnnotation] == "" {
				c.helmWeight, c.weightErr = 0, nil
			}
			candidates = append(candidates, c)
		default:
			kept = append(kept, res)
		}
	}
	for _, h := range out.Hooks {
		candidates = append(candidates, hookCandidate{obj: h.Object, helmEvents: h.Events, helmWeight: h.Weight, helmPolicy: h.DeletePolicies})
	}
	return kept, candidates, skipped
}

// planHooks turns the candidates into hooks: phases, waves, policies and names (an object with
// generateName gets NAME-PREFIX + revision + phase + time, as Argo CD names them), then runs
// the guards of the app's objects on them (tenancy, identities, ownership of existing ones).
func (r *Reconciler) planHooks(ctx context.Context, app App, candidates []hookCandidate, revision string, adopt bool) (*hookPlan, error) {
	p := &hookPlan{skip: app.Hooks == HooksSkip}
	now := time.Now()
	var hooks []*hook
	for _, c := range candidates {
		hs, notRun, err := hooksOf(c)
		if err != nil {
			return nil, errdefs.WithHint(errdefs.Invalid(fmt.Errorf("%s (%s): %w", refOf(c.obj.Object), c.obj.Source, err)),
				"fix the hook's annotations; nothing was applied")
		}
		p.notRun = append(p.notRun, notRun...)
		hooks = append(hooks, hs...)
	}
	if len(hooks) > maxHooks {
		return nil, errdefs.WithHint(errdefs.Invalid(fmt.Errorf("%w: %d hooks, at most %d run in one sync", render.ErrRender, len(hooks), maxHooks)),
			"run fewer hooks (one Job can do many steps), or set hooks: skip; nothing was applied")
	}
	for _, h := range hooks {
		if h.res.obj.GetName() == "" {
			h.res.obj.SetName(generatedName(h.res.obj.GetGenerateName(), revision, h.phase, now))
		}
	}
	if p.skip {
		p.hooks = hooks
		return p, nil
	}
	rs, firstOf := uniqueResources(hooks)
	if err := r.resolve(rs); err != nil {
		return nil, err
	}
	if err := guardTenancy(app, rs); err != nil && !(r.tenancyOff && errors.Is(err, ErrTenancy)) {
		return nil, err
	}
	if err := r.readLive(ctx, rs); err != nil {
		return nil, err
	}
	if err := guardOwnership(app, rs, adopt); err != nil {
		return nil, err
	}
	shareGuarded(firstOf)
	sort.SliceStable(hooks, func(i, j int) bool { return hookLess(hooks[i], hooks[j]) })
	p.hooks = hooks
	return p, nil
}

// hooksOf maps a candidate onto its phases: an Argo CD annotation wins over Helm's, as in Argo CD.
func hooksOf(c hookCandidate) ([]*hook, []string, error) {
	u := c.obj.Object
	if c.weightErr != nil {
		return nil, nil, fmt.Errorf("%s is not an integer", helmWeightAnnotation)
	}
	ann := u.GetAnnotations()
	wave, err := waveOf(u, c.helmWeight)
	if err != nil {
		return nil, nil, err
	}
	res := &resource{obj: u, source: c.obj.Source}
	var phases []hookPhase
	var origins []string
	var notRun []string
	policies := map[string]bool{}
	if v, ok := ann[argoHookAnnotation]; ok {
		for _, s := range splitCSV(v) {
			switch p := hookPhase(s); p {
			case phasePreSync, phaseSync, phasePostSync, phaseSyncFail:
				phases, origins = append(phases, p), append(origins, "argocd "+s)
			case "PostDelete", "Skip":
				notRun = append(notRun, fmt.Sprintf("%s (argocd %s): not run, the reconciler does not delete apps", refOf(u), s))
			default:
				return nil, nil, fmt.Errorf("unknown %s %q (PreSync, Sync, PostSync, SyncFail, Skip)", argoHookAnnotation, s)
			}
		}
		for _, s := range splitCSV(ann[argoDeletePolicyAnnotation]) {
			switch s {
			case policyBeforeCreation, policySucceeded, policyFailed:
				policies[s] = true
			default:
				return nil, nil, fmt.Errorf("unknown %s %q (BeforeHookCreation, HookSucceeded, HookFailed)", argoDeletePolicyAnnotation, s)
			}
		}
	} else {
		for _, e := range c.helmEvents {
			switch {
			case e == "pre-install" || e == "pre-upgrade":
				if !containsPhase(phases, phasePreSync) {
					phases, origins = append(phases, phasePreSync), append(origins, "helm "+e)
				}
			case e == "post-install" || e == "post-upgrade":
				if !containsPhase(phases, phasePostSync) {
					phases, origins = append(phases, phasePostSync), append(origins, "helm "+e)
				}
			}
		}
		if len(phases) == 0 {
			notRun = append(notRun, fmt.Sprintf("%s (helm %s): %s", refOf(u), strings.Join(c.helmEvents, ","), helmNotRun(c.helmEvents)))
		}
		for _, s := range c.helmPolicy {
			if p, ok := helmPolicies[s]; ok {
				policies[p] = true
			}
		}
		if len(c.helmPolicy) == 0 {
			policies[policyBeforeCreation] = true // Helm's default
		}
	}
	var out []*hook
	sum := configHash(u) // before the object is named, namespaced and labelled
	for i, p := range phases {
		r := res
		if i > 0 {
			r = &resource{obj: u.DeepCopy(), source: c.obj.Source}
		}
		out = append(out, &hook{res: r, phase: p, wave: wave, policies: policies, origin: origins[i], spec: hookSpec(p, u, sum)})
	}
	return out, notRun, nil
}

// helmNotRun says why a Helm hook does not run.
func helmNotRun(events []string) string {
	for _, e := range events {
		if strings.HasPrefix(e, "test") {
			return "test hooks are not run"
		}
	}
	return "not run, the reconciler does not delete or roll back Helm releases"
}

func containsPhase(phases []hookPhase, p hookPhase) bool {
	for _, x := range phases {
		if x == p {
			return true
		}
	}
	return false
}

// waveOf reads argocd.argoproj.io/sync-wave, defaulting to the Helm weight (0 for others).
func waveOf(u *unstructured.Unstructured, def int) (int, error) {
	v, ok := u.GetAnnotations()[argoWaveAnnotation]
	if !ok {
		return def, nil
	}
	w, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return 0, fmt.Errorf("%s %q is not an integer", argoWaveAnnotation, v)
	}
	return w, nil
}

func splitCSV(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// generatedName names a hook object that has only a generateName, as Argo CD does: unique per
// sync and phase, within the 63 characters a Job name may have.
func generatedName(prefix, revision string, phase hookPhase, now time.Time) string {
	suffix := fmt.Sprintf("%s-%s-%d", api.ShortRevision(revision), strings.ToLower(string(phase)), now.Unix())
	if max := 63 - len(suffix); len(prefix) > max {
		prefix = prefix[:max]
	}
	return prefix + suffix
}

// uniqueResources returns the resources of hooks, each once (a hook in two phases is one
// object), and for every hook the resource that stands for it.
func uniqueResources(hooks []*hook) ([]*resource, map[*hook]*resource) {
	seen := map[string]*resource{}
	firstOf := map[*hook]*resource{}
	var out []*resource
	for _, h := range hooks {
		k := h.res.ref().key()
		if seen[k] == nil {
			seen[k] = h.res
			out = append(out, h.res)
		}
		firstOf[h] = seen[k]
	}
	return out, firstOf
}

// shareGuarded gives the copies of a hook made for its further phases what the guards found and
// set on the first: scope, namespace, labels, live object.
func shareGuarded(firstOf map[*hook]*resource) {
	for h, f := range firstOf {
		if f != h.res {
			h.res.gvr, h.res.namespaced, h.res.live = f.gvr, f.namespaced, f.live
			h.res.obj.SetNamespace(f.obj.GetNamespace())
			h.res.obj.SetLabels(f.obj.GetLabels())
		}
	}
}

// hookKindOrder is Helm's install order (releaseutil.InstallOrder), the order of hooks of one
// wave; other kinds go after.
var hookKindOrder = func() map[string]int {
	kinds := []string{"PriorityClass", "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange", "PodSecurityPolicy",
		"PodDisruptionBudget", "ServiceAccount", "Secret", "SecretList", "ConfigMap", "StorageClass", "PersistentVolume",
		"PersistentVolumeClaim", "CustomResourceDefinition", "ClusterRole", "ClusterRoleList", "ClusterRoleBinding",
		"ClusterRoleBindingList", "Role", "RoleList", "RoleBinding", "RoleBindingList", "Service", "DaemonSet", "Pod",
		"ReplicationController", "ReplicaSet", "Deployment", "HorizontalPodAutoscaler", "StatefulSet", "Job", "CronJob",
		"IngressClass", "Ingress", "APIService", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"}
	m := make(map[string]int, len(kinds))
	for i, k := range kinds {
		m[k] = i
	}
	return m
}()

func hookKind(kind string) int {
	if i, ok := hookKindOrder[kind]; ok {
		return i
	}
	return len(hookKindOrder)
}

// hookLess orders hooks by phase and wave; within a wave, the Argo CD hooks (which run together)
// by kind and name as gitops-engine sorts its tasks, then the Helm hooks (each alone) by name and
// kind as Helm runs them.
func hookLess(a, b *hook) bool {
	if a.phase != b.phase {
		return phaseOrder[a.phase] < phaseOrder[b.phase]
	}
	if a.wave != b.wave {
		return a.wave < b.wave
	}
	if ah, bh := a.helm(), b.helm(); ah != bh {
		return bh
	}
	ka, kb := hookKind(a.res.obj.GetKind()), hookKind(b.res.obj.GetKind())
	na, nb := a.res.obj.GetName(), b.res.obj.GetName()
	if a.helm() && na != nb {
		return na < nb
	}
	if ka != kb {
		return ka < kb
	}
	return na < nb
}

// hookBatches splits hooks, in order, into what runs together: the Argo CD hooks of one phase
// and wave; a Helm hook alone.
func hookBatches(hooks []*hook) [][]*hook {
	var out [][]*hook
	for i, h := range hooks {
		if prev := len(out) - 1; i > 0 && !h.helm() && !hooks[i-1].helm() && h.phase == hooks[i-1].phase && h.wave == hooks[i-1].wave {
			out[prev] = append(out[prev], h)
			continue
		}
		out = append(out, []*hook{h})
	}
	return out
}

// inPhase returns the hooks of phase (of wave, when wave is not nil), in order.
func (p *hookPlan) inPhase(phase hookPhase, wave *int) []*hook {
	if p == nil || p.skip {
		return nil
	}
	var out []*hook
	for _, h := range p.hooks {
		if h.phase == phase && (wave == nil || h.wave == *wave) {
			out = append(out, h)
		}
	}
	return out
}

// withServiceAccounts returns app with more ServiceAccounts its workloads may use: the ones the
// app renders among its hooks (for its objects) or among its objects (for its hooks).
func withServiceAccounts(app App, names []string) App {
	app.ServiceAccounts = append(append([]string{}, app.ServiceAccounts...), names...)
	return app
}

func candidateServiceAccounts(cs []hookCandidate) []string {
	var out []string
	for _, c := range cs {
		if gvk := c.obj.Object.GroupVersionKind(); gvk.Group == "" && gvk.Kind == "ServiceAccount" {
			out = append(out, c.obj.Object.GetName())
		}
	}
	return out
}

func resourceServiceAccounts(rs []*resource) []string {
	var out []string
	for _, res := range rs {
		if gk := res.gk(); gk.Group == "" && gk.Kind == "ServiceAccount" {
			out = append(out, res.obj.GetName())
		}
	}
	return out
}
