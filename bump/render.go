package bump

import (
	"context"
	"errors"
	"io/fs"

	"github.com/tagrelay/tagrelay/internal/errdefs"
)

// ErrNotRendered: the bump changes the files, but the render of the app does not run the new
// tag: another input (a later values file, an overlay's images:, a patch, a --set of the app, a
// template that writes the image itself) decides it. Nothing was written.
var ErrNotRendered = errdefs.Precondition(errors.New("the render does not deploy the bump"))

// RenderCheck proves a planned bump before anything is written, committed or pushed: it
// renders fsys (the tree the plan was made on) with res's edits applied, in memory, and returns
// nil when every target's new tag runs in a container of the render; ErrNotRendered (saying
// what runs instead and where it comes from) otherwise. Package bump/rendercheck makes one
// with the reconciler's render code; bump itself links no renderer.
type RenderCheck func(ctx context.Context, fsys fs.FS, res *Result, targets []Target) error

// RenderSettings say how the infra repository is rendered: what the reconciler's app says
// (path, type, values files, --set values).
type RenderSettings struct {
	// Path is the directory rendered, relative to the repository root.
	Path string `yaml:"path" json:"path"`
	// Type is plain, kustomize or helm; "" detects it.
	Type string `yaml:"type,omitempty" json:"type,omitempty"`
	// ValuesFiles are Helm values files relative to Path, later ones winning.
	ValuesFiles []string `yaml:"valuesFiles,omitempty" json:"valuesFiles,omitempty"`
	// Set are Helm values in --set form (image.tag=1.2.3), applied after the values files.
	Set []string `yaml:"set,omitempty" json:"set,omitempty"`
	// Name is the Helm release name; Namespace its namespace. Default: the directory's name,
	// and "default".
	Name      string `yaml:"name,omitempty" json:"name,omitempty"`
	Namespace string `yaml:"namespace,omitempty" json:"namespace,omitempty"`
}
