package fluxtest

import (
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// The Flux API versions the pinned controllers serve.
const (
	SourceAPIVersion    = "source.toolkit.fluxcd.io/v1"
	KustomizeAPIVersion = "kustomize.toolkit.fluxcd.io/v1"
)

// GitRepository returns a GitRepository of url at branch, checked every interval.
func GitRepository(ns, name, url, branch string, interval time.Duration) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": SourceAPIVersion,
		"kind":       "GitRepository",
		"metadata":   map[string]any{"name": name, "namespace": ns},
		"spec": map[string]any{
			"url":      url,
			"ref":      map[string]any{"branch": branch},
			"interval": interval.String(),
			"timeout":  "30s",
		},
	}}
}

// Kustomization returns a Kustomization that applies path of the GitRepository source into its
// own namespace every interval, with pruning, and without health checks (wait: false): callers
// check rollouts themselves.
func Kustomization(ns, name, source, path string, interval time.Duration) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": KustomizeAPIVersion,
		"kind":       "Kustomization",
		"metadata":   map[string]any{"name": name, "namespace": ns},
		"spec": map[string]any{
			"sourceRef":       map[string]any{"kind": "GitRepository", "name": source},
			"path":            path,
			"interval":        interval.String(),
			"prune":           true,
			"targetNamespace": ns,
			"timeout":         "1m",
		},
	}}
}
