package reconcile

import (
	"crypto/sha256"
	"fmt"
	"reflect"

	"github.com/aymanbagabas/go-udiff"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// volatile are the fields the server maintains: they differ between a live object and its
// dry run without anyone changing the configuration.
var volatile = [][]string{
	{"metadata", "managedFields"}, {"metadata", "resourceVersion"}, {"metadata", "generation"},
	{"metadata", "uid"}, {"metadata", "creationTimestamp"}, {"metadata", "selfLink"}, {"status"},
}

// normalize returns a copy of u without server-maintained fields and with Secret values masked.
func normalize(u *unstructured.Unstructured) map[string]any {
	if u == nil {
		return nil
	}
	c := u.DeepCopy()
	for _, f := range volatile {
		unstructured.RemoveNestedField(c.Object, f...)
	}
	return c.Object
}

func equalObjects(a, b *unstructured.Unstructured) bool {
	return reflect.DeepEqual(normalize(a), normalize(b))
}

// diffObject returns the unified diff between the live object and what applying would make of
// it ("" when equal). Secret values are replaced by a hash prefix, so a change is visible
// without the value ever being printed.
func diffObject(name string, live, merged *unstructured.Unstructured) string {
	before, after := normalize(live), normalize(merged)
	if isSecret(live) || isSecret(merged) {
		maskSecret(before)
		maskSecret(after)
	}
	a, b := toYAML(before), toYAML(after)
	if a == b {
		return ""
	}
	return udiff.Unified("live/"+name, "rendered/"+name, a, b)
}

func toYAML(obj map[string]any) string {
	if obj == nil {
		return ""
	}
	b, err := yaml.Marshal(obj)
	if err != nil {
		return fmt.Sprintf("# %v\n", err)
	}
	return string(b)
}

func isSecret(u *unstructured.Unstructured) bool {
	return u != nil && u.GetKind() == "Secret" && u.GroupVersionKind().Group == ""
}

func maskSecret(obj map[string]any) {
	for _, field := range []string{"data", "stringData"} {
		m, ok := obj[field].(map[string]any)
		if !ok {
			continue
		}
		for k, v := range m {
			sum := sha256.Sum256(fmt.Append(nil, v))
			m[k] = fmt.Sprintf("*** (sha256:%x)", sum[:4])
		}
	}
	if ann, ok := obj["metadata"].(map[string]any)["annotations"].(map[string]any); ok {
		// kubectl client-side apply keeps the whole Secret here.
		if _, ok := ann["kubectl.kubernetes.io/last-applied-configuration"]; ok {
			ann["kubectl.kubernetes.io/last-applied-configuration"] = "***"
		}
	}
}
