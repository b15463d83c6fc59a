package reconcile

import (
	"context"
	"path"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// renderKustomize builds the app's path with krusty over an in-memory copy of the whole
// repository, so overlays can use bases elsewhere in it.
func renderKustomize(_ context.Context, app App, src *Source, _ func() capabilities) ([]*resource, error) {
	fs := filesys.MakeFsInMemory()
	for name, data := range src.Files {
		if err := fs.WriteFile("/"+name, data); err != nil {
			return nil, err
		}
	}
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(fs, path.Join("/", app.Path))
	if err != nil {
		return nil, err
	}
	out, err := m.AsYaml()
	if err != nil {
		return nil, err
	}
	return decode("kustomize build "+path.Join(".", app.Path), out)
}
