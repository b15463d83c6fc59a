package render

import (
	"context"
	"fmt"
	"path"
	"strings"

	"sigs.k8s.io/kustomize/api/konfig"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// kustomize builds the path with krusty over an in-memory copy of the whole repository, so
// overlays can use bases elsewhere in it. krusty's defaults hold: files load only from below
// their kustomization's root, exec and container plugins and the Helm generator are off.
// Every file krusty reads passes guardedFS first (its aliases counted, its remote references
// fetched from allowed hosts or refused), so nothing reaches krusty's parser or its own network
// code unchecked.
func (r *run) kustomize(ctx context.Context) (*Result, error) {
	mem := filesys.MakeFsInMemory()
	for name, data := range r.req.Files {
		if err := mem.WriteFile("/"+name, data); err != nil {
			return nil, err
		}
	}
	fs := &guardedFS{FileSystem: mem, run: r, ctx: ctx, remotes: newRemotes(r)}
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(fs, path.Join("/", r.req.Path))
	if fs.err != nil {
		return nil, fs.err // a refusal of ours, whatever krusty made of it
	}
	if err != nil {
		return nil, err
	}
	source := "kustomize build " + path.Join(".", r.req.Path)
	if err := r.size.addObjects(source, m.Size()); err != nil {
		return nil, err
	}
	out, err := m.AsYaml()
	if err != nil {
		return nil, err
	}
	if err := r.size.addBytes(source, int64(len(out))); err != nil {
		return nil, err
	}
	objs, err := decode(source, out) // krusty's output has no aliases left
	if err != nil {
		return nil, err
	}
	return &Result{Objects: objs, Bytes: r.size.bytes}, nil
}

// guardedFS is the file system krusty reads. It keeps the render's context because krusty's
// FileSystem interface has none, and a remote fetch made on its behalf must end with the render.
type guardedFS struct {
	filesys.FileSystem
	run     *run
	ctx     context.Context
	remotes *remotes
	err     error // the first refusal: krusty may wrap or reword it
}

var kustomizationNames = func() map[string]bool {
	m := map[string]bool{}
	for _, n := range konfig.RecognizedKustomizationFileNames() {
		m[n] = true
	}
	return m
}()

// ReadFile checks a file before krusty sees it: aliases first, then, for kustomizations and
// the plugin configurations they list, every reference that krusty could load from the
// network.
func (fs *guardedFS) ReadFile(name string) ([]byte, error) {
	data, err := fs.FileSystem.ReadFile(name)
	if err != nil {
		return nil, err
	}
	rel := strings.TrimPrefix(name, "/")
	if err := fs.run.aliases.check(rel, data); err != nil {
		return nil, fs.refuse(err)
	}
	switch {
	case kustomizationNames[path.Base(name)]:
		data, err = fs.remotes.kustomization(fs.ctx, fs, name, data)
	case fs.remotes.isPluginConfig(name):
		err = fs.remotes.pluginConfig(rel, data)
	}
	if err != nil {
		return nil, fs.refuse(err)
	}
	return data, nil
}

// Open is ReadFile for krusty's readers that stream.
func (fs *guardedFS) Open(name string) (filesys.File, error) {
	if fs.FileSystem.IsDir(name) {
		return fs.FileSystem.Open(name)
	}
	if _, err := fs.ReadFile(name); err != nil {
		return nil, err
	}
	return fs.FileSystem.Open(name)
}

func (fs *guardedFS) refuse(err error) error {
	if fs.err == nil {
		fs.err = err
	}
	return err
}

// kustomizationSource names a kustomization file in messages.
func kustomizationSource(name string) string {
	return strings.TrimPrefix(name, "/")
}

// errRemoteField is the refusal of a remote reference krusty would load.
func errRemoteField(file, field, ref, why string) error {
	return &LimitError{Err: ErrRemote, File: kustomizationSource(file), Detail: fmt.Sprintf("%s %s: %s", field, ref, why)}
}
