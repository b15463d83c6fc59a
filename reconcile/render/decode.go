package render

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// decode splits a multi-document YAML (or JSON) stream into objects; empty documents are
// skipped and v1 Lists are flattened. The caller has checked data's aliases.
func decode(source string, data []byte) ([]Object, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var out []Object
	for doc := 1; ; doc++ {
		chunk, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: reading document %d: %w", source, doc, err)
		}
		j, err := yaml.YAMLToJSON(chunk)
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", source, doc, err)
		}
		if t := bytes.TrimSpace(j); len(t) == 0 || bytes.Equal(t, []byte("null")) {
			continue
		}
		obj, _, err := unstructured.UnstructuredJSONScheme.Decode(j, nil, nil)
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", source, doc, err)
		}
		objs := []unstructured.Unstructured{}
		switch o := obj.(type) {
		case *unstructured.Unstructured:
			objs = append(objs, *o)
		case *unstructured.UnstructuredList:
			objs = append(objs, o.Items...)
		default:
			return nil, fmt.Errorf("%s: document %d: unexpected %T", source, doc, obj)
		}
		for i := range objs {
			if err := validateObject(&objs[i]); err != nil {
				return nil, fmt.Errorf("%s: document %d: %w", source, doc, err)
			}
			out = append(out, Object{Object: &objs[i], Source: source})
		}
	}
}

func validateObject(u *unstructured.Unstructured) error {
	switch {
	case u.GetAPIVersion() == "":
		return errors.New("apiVersion is missing")
	case u.GetKind() == "":
		return errors.New("kind is missing")
	case u.GetName() == "" && u.GetGenerateName() != "" && isHook(u):
		return nil // a hook: the reconciler names it for each run, as Argo CD does
	case u.GetName() == "" && u.GetGenerateName() != "":
		return fmt.Errorf("%s uses generateName, which only a hook (argocd.argoproj.io/hook, helm.sh/hook) may; give it a name", u.GetKind())
	case u.GetName() == "":
		return fmt.Errorf("%s has no metadata.name", u.GetKind())
	}
	return nil
}

// decodeChecked checks a stream's aliases and size, then decodes it and counts its objects.
func (r *run) decodeChecked(source string, data []byte) ([]Object, error) {
	if err := r.aliases.check(source, data); err != nil {
		return nil, err
	}
	if err := r.size.addBytes(source, int64(len(data))); err != nil {
		return nil, err
	}
	objs, err := decode(source, data)
	if err != nil {
		return nil, err
	}
	return objs, r.size.addObjects(source, len(objs))
}

// isHook reports whether u is an Argo CD or Helm hook: generateName is allowed there.
func isHook(u *unstructured.Unstructured) bool {
	ann := u.GetAnnotations()
	_, argo := ann["argocd.argoproj.io/hook"]
	_, helm := ann["helm.sh/hook"]
	return argo || helm
}
