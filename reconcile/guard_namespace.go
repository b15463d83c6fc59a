package reconcile

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tagrelay/tagrelay/internal/errdefs"
)

// PodSecurityLabel is the Pod Security Admission label a namespace's pods are checked against
// (https://kubernetes.io/docs/concepts/security/pod-security-admission/).
const PodSecurityLabel = "pod-security.kubernetes.io/enforce"

// podSecurityRank orders the levels, weakest first.
var podSecurityRank = map[string]int{"privileged": 0, "baseline": 1, "restricted": 2}

func knownLevel(l string) bool { _, ok := podSecurityRank[l]; return ok }

func (a App) podSecurity() string {
	if a.PodSecurity == "" {
		return DefaultPodSecurity
	}
	return a.PodSecurity
}

// guardNamespaces checks the Namespace objects an app renders (when it may render them at
// all): only its own namespace, never below its Pod Security level, which the guard sets when
// the Namespace says nothing.
func guardNamespaces(app App, rs []*resource) []string {
	var out []string
	level := app.podSecurity()
	for _, res := range rs {
		if res.gk() != namespaceKind {
			continue
		}
		if res.obj.GetName() != app.Namespace {
			out = append(out, fmt.Sprintf("%s (the app's namespace is %s)", res, app.Namespace))
			continue
		}
		labels := res.obj.GetLabels()
		got, set := labels[PodSecurityLabel]
		switch {
		case !set:
			labels[PodSecurityLabel] = level // labels exist: guardTenancy set the owner
			res.obj.SetLabels(labels)
		case !knownLevel(got) || podSecurityRank[got] < podSecurityRank[level]:
			out = append(out, fmt.Sprintf("%s (%s: %s is weaker than the app's podSecurity %s)", res, PodSecurityLabel, got, level))
		}
	}
	return out
}

// checkNamespace makes sure the app's namespace exists, creating it when the app says so.
func (r *Reconciler) checkNamespace(ctx context.Context, app App, dryRun bool) error {
	_, err := r.cs.CoreV1().Namespaces().Get(ctx, app.Namespace, metav1.GetOptions{})
	switch {
	case err == nil:
		return nil
	case !apierrors.IsNotFound(err):
		return apiError("reading namespace "+app.Namespace, err)
	case app.CreateNamespace && !dryRun:
		return r.createAppNamespace(ctx, app)
	case app.CreateNamespace:
		return errdefs.WithHint(errdefs.Precondition(fmt.Errorf("namespace %s does not exist yet", app.Namespace)),
			"the first sync creates it (createNamespace: true); nothing to diff against")
	}
	return errdefs.WithHint(errdefs.Precondition(fmt.Errorf("namespace %s of app %s does not exist", app.Namespace, app.Name)),
		"create it (tagrelay-reconciler rbac --apply does), or set createNamespace: true for the app")
}

// createAppNamespace creates the app's namespace with its Pod Security level and the app's
// owner label (so the app may render its Namespace later without adopting it).
func (r *Reconciler) createAppNamespace(ctx context.Context, app App) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: app.Namespace, Labels: namespaceLabels(app)}}
	_, err := r.cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{FieldManager: FieldManager})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return apiError("creating namespace "+app.Namespace, err)
	}
	return nil
}

// namespaceLabels are the labels of a namespace created for app.
func namespaceLabels(app App) map[string]string {
	return map[string]string{PodSecurityLabel: app.podSecurity(), OwnerLabel: app.Name}
}
