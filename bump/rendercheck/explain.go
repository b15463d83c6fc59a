package rendercheck

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"strings"
	"text/tabwriter"

	"github.com/tagrelay/tagrelay/internal/errdefs"
	"github.com/tagrelay/tagrelay/reconcile/render"
)

// Explanation answers "which file and key decide this image's tag in this render".
type Explanation struct {
	// Render names the render: its path, values files and set values.
	Render string `json:"render"`
	render.Trace
}

// Explain renders fsys as it is (read-only) and traces the inputs that set repo's tag.
func (c *Checker) Explain(ctx context.Context, fsys fs.FS, repo string) (*Explanation, error) {
	files, err := Files(fsys, c.Settings.Path, c.Options.Limits.WithDefaults().MaxBytes)
	if err != nil {
		return nil, err
	}
	req := c.request(files)
	out, err := render.Render(ctx, req, c.Options)
	if err != nil {
		return nil, fmt.Errorf("rendering %s: %w", c.describe(), err)
	}
	e := &Explanation{Render: c.describe(), Trace: *render.TraceImage(req, out, repo)}
	if len(e.Running) == 0 && len(e.Chain) == 0 {
		return e, errdefs.NotFound(fmt.Errorf("%s runs no container of %s, and no input of it sets its tag", c.describe(), repo))
	}
	return e, nil
}

// Text is the explanation for people: what runs, the chain in the order it applies with the
// effective input marked, and the file to bump.
func (e *Explanation) Text() string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s in %s:\n", e.Repository, e.Render)
	if len(e.Running) == 0 {
		b.WriteString("  runs in no container of the render\n")
	}
	for _, im := range e.Running {
		kind := "container"
		if im.Init {
			kind = "init container"
		}
		fmt.Fprintf(&b, "  runs %s in %s %s %s (%s)\n", im.Image, im.Object, kind, im.Container, im.Source)
	}
	if len(e.Chain) == 0 {
		b.WriteString("  no values key, kustomization or manifest sets its tag (a template may compute it)\n")
		return b.String()
	}
	b.WriteString("  set by, in the order the render applies them (a later one wins):\n")
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	for i, o := range e.Chain {
		mark := "   "
		if i == e.Effective {
			mark = "-> "
		}
		file := o.File
		if o.Kind == render.OriginSet {
			file = "(set)"
		}
		v := o.Value
		if v == "" {
			v = `""`
		}
		fmt.Fprintf(tw, "  %s%s\t%s\t%s\t%s\n", mark, file, o.Key, v, o.Kind)
	}
	tw.Flush()
	if w, ok := e.Winner(); ok {
		fmt.Fprintf(&b, "  the running tag comes from %s%s\n", describe(w), strings.Replace(instead(w), " instead", " to change it", 1))
	} else if len(e.Running) > 0 {
		b.WriteString("  no input of the chain sets the running tag (a template may compute it)\n")
	}
	return b.String()
}
