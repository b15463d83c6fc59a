package render

import (
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Image is one container or init container of a rendered workload.
type Image struct {
	// Object is "Kind/name" of the workload.
	Object string `json:"object"`
	// Container is the container's name; Init says it is an init container.
	Container string `json:"container"`
	Init      bool   `json:"init,omitempty"`
	// Image is the reference the container runs, as rendered.
	Image string `json:"image"`
	// Source is the file the workload was rendered from.
	Source string `json:"source"`
}

// podSpecPaths are where each workload kind keeps its pod spec.
var podSpecPaths = map[string][]string{
	"Pod":         {"spec"},
	"Deployment":  {"spec", "template", "spec"},
	"StatefulSet": {"spec", "template", "spec"},
	"DaemonSet":   {"spec", "template", "spec"},
	"ReplicaSet":  {"spec", "template", "spec"},
	"Job":         {"spec", "template", "spec"},
	"CronJob":     {"spec", "jobTemplate", "spec", "template", "spec"},
}

// Images returns the containers and init containers of the render's workloads (hooks are not
// objects of the app and are left out), in render order.
func (r *Result) Images() []Image {
	var out []Image
	for _, o := range r.Objects {
		out = append(out, objectImages(o.Object, o.Source)...)
	}
	return out
}

func objectImages(u *unstructured.Unstructured, source string) []Image {
	p, ok := podSpecPaths[u.GetKind()]
	if !ok {
		return nil
	}
	var out []Image
	for _, field := range []string{"initContainers", "containers"} {
		list, _, _ := unstructured.NestedSlice(u.Object, append(append([]string{}, p...), field)...)
		for _, c := range list {
			m, _ := c.(map[string]any)
			n, _ := m["name"].(string)
			img, _ := m["image"].(string)
			out = append(out, Image{Object: u.GetKind() + "/" + u.GetName(), Container: n, Init: field == "initContainers", Image: img, Source: source})
		}
	}
	return out
}

// SplitImage splits an image reference into its repository, tag and digest ("" when absent).
func SplitImage(ref string) (repo, tag, digest string) {
	repo = ref
	if i := strings.Index(repo, "@"); i >= 0 {
		repo, digest = repo[:i], repo[i+1:]
	}
	if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
		repo, tag = repo[:i], repo[i+1:]
	}
	return repo, tag, digest
}

// NormalizeRepo spells a repository the way registries resolve it: "nginx" is
// "docker.io/library/nginx", "team/app" "docker.io/team/app", index.docker.io is docker.io.
func NormalizeRepo(repo string) string {
	repo = strings.TrimPrefix(repo, "index.docker.io/")
	first, rest, found := strings.Cut(repo, "/")
	switch {
	case !found:
		return "docker.io/library/" + repo
	case first == "docker.io":
		if !strings.Contains(rest, "/") {
			return "docker.io/library/" + rest
		}
		return repo
	case !strings.ContainsAny(first, ".:") && first != "localhost":
		return "docker.io/" + repo
	}
	return repo
}

// SameRepo reports whether two repositories are the same once normalized.
func SameRepo(a, b string) bool {
	return NormalizeRepo(a) == NormalizeRepo(b)
}

// spellings are the ways a repository may be written in a file: as given, and for Docker Hub
// the short forms.
func spellings(repo string) []string {
	n := NormalizeRepo(repo)
	out := []string{n}
	if rest, ok := strings.CutPrefix(n, "docker.io/"); ok {
		out = append(out, rest, "index.docker.io/"+rest)
		if lib, ok := strings.CutPrefix(rest, "library/"); ok {
			out = append(out, lib)
		}
	}
	return out
}
