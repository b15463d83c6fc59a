package reconcile

import (
	"errors"
	"fmt"
	"net/url"
	"path"
	"sort"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/tagrelay/tagrelay/internal/errdefs"
)

// ErrNamespace: an app's destination namespace is one no app may target (kube-*, the
// reconciler's own) or another app's.
var ErrNamespace = errors.New("destination namespace refused")

// The Pod Security Admission levels (https://kubernetes.io/docs/concepts/security/pod-security-standards/).
var podSecurityLevels = map[string]bool{"privileged": true, "baseline": true, "restricted": true}

// DefaultPodSecurity is the level the namespaces an app creates enforce.
const DefaultPodSecurity = "baseline"

// protectedKinds are never pruned unless the app lists them in AllowPrune: deleting one
// deletes data (volumes, every custom resource of a CRD, everything in a namespace).
var protectedKinds = map[string]bool{"Namespace": true, "CustomResourceDefinition": true,
	"PersistentVolumeClaim": true, "PersistentVolume": true}

// Validate checks every app, fills in defaults and checks that no two apps share a namespace
// unless both say so.
func (c *Config) Validate() error {
	if len(c.Apps) == 0 && len(c.Generators) == 0 {
		return errdefs.WithHint(errdefs.Invalid(errors.New("no apps")), "list apps under apps:, or generators:")
	}
	errs := c.Limits.validate("limits")
	errs = append(errs, validateGenerators(c.Generators)...)
	seen := map[string]bool{}
	for i := range c.Apps {
		a := &c.Apps[i]
		if err := a.validate(); err != nil {
			errs = append(errs, fmt.Errorf("app %d (%s): %w", i+1, a.Name, err))
		}
		if seen[a.Name] {
			errs = append(errs, fmt.Errorf("app %d: duplicate name %q", i+1, a.Name))
		}
		seen[a.Name] = true
		a.Limits = a.Limits.Or(c.Limits)
	}
	errs = append(errs, c.sharedNamespaces()...)
	return errdefs.Invalid(errors.Join(errs...))
}

// sharedNamespaces refuses two apps in one namespace unless every app there declares it shared:
// an app's namespace is its tenancy boundary, and a second app would write into it unseen.
func (c *Config) sharedNamespaces() []error {
	byNS := map[string][]string{}
	unshared := map[string]bool{}
	for _, a := range c.Apps {
		byNS[a.Namespace] = append(byNS[a.Namespace], a.Name)
		if !a.SharedNamespace {
			unshared[a.Namespace] = true
		}
	}
	var errs []error
	for ns, apps := range byNS {
		if len(apps) > 1 && unshared[ns] {
			errs = append(errs, fmt.Errorf("%w: apps %s all target namespace %s; set sharedNamespace: true on each of them to share it",
				ErrNamespace, strings.Join(apps, ", "), ns))
		}
	}
	sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
	return errs
}

// CheckNamespaces refuses apps that target the reconciler's own namespace: an app there could
// run a pod as the reconciler's ServiceAccount, or rewrite its inventories and histories.
func (c *Config) CheckNamespaces(reconcilerNamespace string) error {
	var errs []error
	for _, a := range c.Apps {
		if err := a.reservedNamespace(reconcilerNamespace); err != nil {
			errs = append(errs, fmt.Errorf("app %s: %w", a.Name, err))
		}
	}
	return errdefs.Invalid(errors.Join(errs...))
}

func (a *App) reservedNamespace(reconcilerNamespace string) error {
	switch {
	case strings.HasPrefix(a.Namespace, "kube-"):
		return fmt.Errorf("%w: %s is a Kubernetes system namespace (kube-*)", ErrNamespace, a.Namespace)
	case a.Namespace == reconcilerNamespace && reconcilerNamespace != "":
		return fmt.Errorf("%w: %s is the reconciler's own namespace", ErrNamespace, a.Namespace)
	}
	return nil
}

func (a *App) validate() error {
	var errs []error
	if msgs := validation.IsDNS1123Label(a.Name); len(msgs) > 0 {
		errs = append(errs, fmt.Errorf("name %q: %s", a.Name, strings.Join(msgs, "; ")))
	}
	if msgs := validation.IsDNS1123Label(a.Namespace); len(msgs) > 0 {
		errs = append(errs, fmt.Errorf("namespace %q: %s", a.Namespace, strings.Join(msgs, "; ")))
	} else if err := a.reservedNamespace(""); err != nil {
		errs = append(errs, err)
	}
	switch {
	case a.Repo == "":
		errs = append(errs, errors.New("repo is required"))
	case strings.Contains(a.Repo, "@") && (strings.HasPrefix(a.Repo, "http://") || strings.HasPrefix(a.Repo, "https://")):
		errs = append(errs, errors.New("repo must not carry credentials; use auth.tokenFile or auth.tokenEnv"))
	}
	if a.SourceRepo != "" {
		if u, err := url.Parse(a.SourceRepo); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
			// the value is not quoted: it may carry credentials
			errs = append(errs, errors.New("sourceRepo: want the http(s) web URL of the images' repository, without credentials"))
		}
	}
	switch a.Type {
	case TypeAuto, TypePlain, TypeKustomize, TypeHelm:
	default:
		errs = append(errs, fmt.Errorf("type %q: use plain, kustomize or helm", a.Type))
	}
	if len(a.ValuesFiles) > 0 && a.Type != TypeHelm && a.Type != TypeAuto {
		errs = append(errs, errors.New("valuesFiles need type helm"))
	}
	if a.PodSecurity == "" {
		a.PodSecurity = DefaultPodSecurity
	}
	if !podSecurityLevels[a.PodSecurity] {
		errs = append(errs, fmt.Errorf("podSecurity %q: use privileged, baseline or restricted", a.PodSecurity))
	}
	for _, k := range a.AllowPrune {
		if !protectedKinds[k] {
			errs = append(errs, fmt.Errorf("allowPrune %q: list Namespace, CustomResourceDefinition, PersistentVolumeClaim or PersistentVolume (other kinds are pruned anyway)", k))
		}
	}
	for _, h := range a.AllowedHosts {
		if u, err := url.Parse("https://" + h); h == "" || err != nil || u.Host != h || u.User != nil {
			errs = append(errs, fmt.Errorf("allowedHosts %q: write a host or host:port, without scheme or path", h))
		}
	}
	errs = append(errs, a.Limits.validate("limits")...)
	if err := a.Notify.Validate(); err != nil {
		errs = append(errs, err)
	}
	if a.Revision == "" {
		a.Revision = "main"
	}
	a.Path = path.Clean("/" + a.Path)[1:]
	if a.Timeout == 0 {
		a.Timeout = Duration(5 * time.Minute)
	}
	return errors.Join(errs...)
}

func (l Limits) validate(field string) []error {
	var errs []error
	if l.RenderTimeout < 0 || l.GitTimeout < 0 || l.MaxObjects < 0 || l.MaxAliasNodes < 0 {
		errs = append(errs, fmt.Errorf("%s: negative values are invalid", field))
	}
	if l.MaxPrune < 0 || l.MaxPrune > 100 {
		errs = append(errs, fmt.Errorf("%s.maxPrune %d: use a percentage, 1 to 100", field, l.MaxPrune))
	}
	return errs
}
