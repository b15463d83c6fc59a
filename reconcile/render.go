package reconcile

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/kustomize/api/konfig"
	"sigs.k8s.io/yaml"

	"github.com/tagrelay/tagrelay/internal/errdefs"
	"github.com/tagrelay/tagrelay/reconcile/api"
)

// ErrRender marks a repository content that cannot be rendered (invalid YAML, a Kustomize or
// Helm error). It is an input error: nothing was applied.
var ErrRender = errors.New("rendering failed")

// renderer turns the files of an app into objects.
type renderer func(ctx context.Context, app App, src *Source, caps func() capabilities) ([]*resource, error)

var renderers = map[Type]renderer{
	TypePlain:     renderPlain,
	TypeKustomize: renderKustomize,
	TypeHelm:      renderHelm,
}

// render renders the app's path of src.
func render(ctx context.Context, app App, src *Source, caps func() capabilities) ([]*resource, error) {
	if !hasDir(src, app.Path) {
		return nil, errdefs.WithHint(errdefs.NotFound(fmt.Errorf("path %q not found at commit %s", app.Path, api.ShortRevision(src.Commit))),
			"check the app's path and revision")
	}
	typ := app.Type
	if typ == TypeAuto {
		typ = detectType(src, app.Path)
	}
	rs, err := renderers[typ](ctx, app, src, caps)
	if err != nil {
		return nil, errdefs.Invalid(fmt.Errorf("%w: %s app %s at %s: %w", ErrRender, typ, app.Name, api.ShortRevision(src.Commit), err))
	}
	if len(rs) == 0 {
		return nil, errdefs.WithHint(errdefs.Invalid(fmt.Errorf("%w: %s app %s renders no objects at %s", ErrRender, typ, app.Name, api.ShortRevision(src.Commit))),
			"check the app's path")
	}
	return rs, nil
}

func detectType(src *Source, dir string) Type {
	for _, name := range konfig.RecognizedKustomizationFileNames() {
		if _, ok := src.Files[path.Join(dir, name)]; ok {
			return TypeKustomize
		}
	}
	if _, ok := src.Files[path.Join(dir, "Chart.yaml")]; ok {
		return TypeHelm
	}
	return TypePlain
}

// renderPlain decodes every .yaml, .yml and .json file below the app's path, in path order.
func renderPlain(_ context.Context, app App, src *Source, _ func() capabilities) ([]*resource, error) {
	var names []string
	for name := range src.Files {
		if !under(name, app.Path) || hidden(strings.TrimPrefix(name, app.Path)) {
			continue
		}
		switch path.Ext(name) {
		case ".yaml", ".yml", ".json":
			names = append(names, name)
		}
	}
	sort.Strings(names)
	var out []*resource
	for _, name := range names {
		rs, err := decode(name, src.Files[name])
		if err != nil {
			return nil, err
		}
		out = append(out, rs...)
	}
	return out, nil
}

// decode splits a multi-document YAML (or JSON) stream into objects; empty documents are
// skipped and v1 Lists are flattened.
func decode(source string, data []byte) ([]*resource, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var out []*resource
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
			out = append(out, &resource{obj: &objs[i], source: source})
		}
	}
}

func validateObject(u *unstructured.Unstructured) error {
	switch {
	case u.GetAPIVersion() == "":
		return errors.New("apiVersion is missing")
	case u.GetKind() == "":
		return errors.New("kind is missing")
	case u.GetName() == "" && u.GetGenerateName() != "":
		return fmt.Errorf("%s uses generateName, which cannot be reconciled; give it a name", u.GetKind())
	case u.GetName() == "":
		return fmt.Errorf("%s has no metadata.name", u.GetKind())
	}
	return nil
}

// hidden reports whether a path has a dot-file or dot-directory component (.github/, .gitlab-ci.yml).
func hidden(p string) bool {
	for _, seg := range strings.Split(p, "/") {
		if strings.HasPrefix(seg, ".") {
			return true
		}
	}
	return false
}

func under(name, dir string) bool {
	return dir == "" || strings.HasPrefix(name, dir+"/")
}

func hasDir(src *Source, dir string) bool {
	for name := range src.Files {
		if under(name, dir) {
			return true
		}
	}
	return false
}
