// Package rendercheck proves that a bump reaches what is deployed: it renders the infra
// repository with the planned edit, in memory, with the reconciler's own render code and
// limits (package reconcile/render), and refuses a bump whose new tag no container of the
// render runs, naming what runs instead and the file and key it comes from. It is apart from
// package bump so that bump links no renderer; the commands and release plug it in with
// bump.PushOptions.RenderCheck (remote) or Checker.Check (local files).
package rendercheck

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/tagrelay/tagrelay/bump"
	"github.com/tagrelay/tagrelay/internal/errdefs"
	"github.com/tagrelay/tagrelay/reconcile/render"
)

// Checker renders with Settings within Options (limits, template isolation).
type Checker struct {
	Settings bump.RenderSettings
	Options  render.Options
}

// New returns a checker, its settings validated.
func New(s bump.RenderSettings, opts render.Options) (*Checker, error) {
	switch render.Type(s.Type) {
	case render.TypeAuto, render.TypePlain, render.TypeKustomize, render.TypeHelm:
	default:
		return nil, errdefs.Invalid(fmt.Errorf("unknown render type %q: use plain, kustomize or helm", s.Type))
	}
	s.Path = strings.Trim(path.Clean("/"+strings.TrimPrefix(s.Path, "./")), "/")
	if len(s.ValuesFiles) > 0 && render.Type(s.Type) != render.TypeHelm && render.Type(s.Type) != render.TypeAuto {
		return nil, errdefs.Invalid(fmt.Errorf("values files are for Helm charts, and the render type is %s", s.Type))
	}
	return &Checker{Settings: s, Options: opts}, nil
}

// Func returns c.Check as a bump.RenderCheck.
func (c *Checker) Func() bump.RenderCheck { return c.Check }

// Check renders fsys with res's edits and returns nil when every target runs with its new tag
// in a container or init container of the render; bump.ErrNotRendered otherwise, naming what
// runs instead and where it comes from. A render that fails keeps its class (a refused remote
// dependency is a precondition, a broken chart invalid input).
func (c *Checker) Check(ctx context.Context, fsys fs.FS, res *bump.Result, targets []bump.Target) error {
	files, err := Files(fsys, c.Settings.Path, c.Options.Limits.WithDefaults().MaxBytes)
	if err != nil {
		return err
	}
	for _, f := range res.Files {
		files[f.Path] = f.New
	}
	req := c.request(files)
	out, err := render.Render(ctx, req, c.Options)
	if err != nil {
		return fmt.Errorf("rendering %s with the bump: %w; nothing was written", c.describe(), err)
	}
	var problems []string
	for _, t := range targets {
		tr := render.TraceImage(req, out, t.Image)
		if runs(tr.Running, t) {
			continue
		}
		problems = append(problems, c.diagnose(t, tr, res, out))
	}
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s; nothing was written", bump.ErrNotRendered, strings.Join(problems, "; "))
}

// runs reports whether a container runs the target's tag (and digest, when pinned).
func runs(running []render.Image, t bump.Target) bool {
	for _, im := range running {
		_, tag, digest := render.SplitImage(im.Image)
		if tag == t.Tag && (t.Digest == "" || digest == "" || digest == t.Digest) {
			return true
		}
	}
	return false
}

// diagnose says what the render runs instead of the target and which input decides it.
func (c *Checker) diagnose(t bump.Target, tr *render.Trace, res *bump.Result, out *render.Result) string {
	if len(tr.Running) == 0 {
		var imgs []string
		for _, im := range out.Images() {
			if !slices.Contains(imgs, im.Image) {
				imgs = append(imgs, im.Image)
			}
		}
		runsNow := "no container at all"
		if len(imgs) > 0 {
			runsNow = strings.Join(imgs, ", ")
		}
		return fmt.Sprintf("%s runs no container of %s (it runs %s)", c.describe(), t.Image, runsNow)
	}
	im := tr.Running[0]
	var b strings.Builder
	fmt.Fprintf(&b, "%s runs %s, not %s:%s (%s container %s)", c.describe(), im.Image, t.Image, t.Tag, im.Object, im.Container)
	edited := editedOrigin(tr, t, res)
	w, ok := tr.Winner()
	switch {
	case ok:
		fmt.Fprintf(&b, ": the tag comes from %s", describe(w))
		if edited != nil {
			fmt.Fprintf(&b, ", which wins over %s that this bump changes", describe(*edited))
		} else if files := changedFiles(res, t); len(files) > 0 {
			fmt.Fprintf(&b, "; %s, which this bump changes, does not set the tag of this render", strings.Join(files, ", "))
		}
		b.WriteString(instead(w))
	default:
		fmt.Fprintf(&b, ": no values key, kustomization or manifest of the render sets that tag (a template may compute it); see the templates of %s", c.Settings.Path)
	}
	return b.String()
}

// editedOrigin is the input of the chain that the bump changed for t.
func editedOrigin(tr *render.Trace, t bump.Target, res *bump.Result) *render.Origin {
	files := changedFiles(res, t)
	for i := len(tr.Chain) - 1; i >= 0; i-- {
		o := tr.Chain[i]
		if o.Value == t.Tag && slices.Contains(files, o.File) {
			return &o
		}
	}
	return nil
}

func changedFiles(res *bump.Result, t bump.Target) []string {
	var out []string
	for _, f := range res.Files {
		for _, ch := range f.Changes {
			if render.SameRepo(ch.Image, t.Image) && !slices.Contains(out, f.Path) {
				out = append(out, f.Path)
			}
		}
	}
	return out
}

// describe names an origin in a sentence.
func describe(o render.Origin) string {
	v := o.Value
	if v == "" {
		v = `""`
	}
	switch o.Kind {
	case render.OriginSet:
		return fmt.Sprintf("the render's set value %s", o.Key)
	case render.OriginValues:
		return fmt.Sprintf("%s key %s (%s)", o.File, o.Key, v)
	case render.OriginTemplate:
		return fmt.Sprintf("%s %s (%s), a template that writes the image itself", o.File, o.Key, v)
	}
	return fmt.Sprintf("%s %s (%s)", o.File, o.Key, v)
}

// instead says what to change instead of the file the bump edits.
func instead(o render.Origin) string {
	switch o.Kind {
	case render.OriginSet:
		return "; change that set value (the app's set) instead"
	case render.OriginTemplate:
		return fmt.Sprintf("; make the template use the values, or bump %s instead", o.File)
	case render.OriginValues, render.OriginImages:
		return fmt.Sprintf("; bump %s (key %s) instead", o.File, o.Key)
	}
	return fmt.Sprintf("; bump %s instead", o.File)
}

// request is the render of files with the settings.
func (c *Checker) request(files map[string][]byte) render.Request {
	s := c.Settings
	name := s.Name
	if name == "" {
		name = path.Base("/" + s.Path)
		if name == "/" || name == "." {
			name = "release"
		}
	}
	ns := s.Namespace
	if ns == "" {
		ns = "default"
	}
	return render.Request{Name: name, Namespace: ns, Files: files, Path: s.Path, Type: render.Type(s.Type),
		ValuesFiles: s.ValuesFiles, Set: s.Set}
}

// describe names the render: "charts/podinfo (values values-prod.yaml)".
func (c *Checker) describe() string {
	s := c.Settings
	where := "the render of " + cmpOr(s.Path, ".")
	var extra []string
	if len(s.ValuesFiles) > 0 {
		extra = append(extra, "values "+strings.Join(s.ValuesFiles, ", "))
	}
	if len(s.Set) > 0 {
		extra = append(extra, "set "+strings.Join(s.Set, ", "))
	}
	if len(extra) > 0 {
		where += " (" + strings.Join(extra, "; ") + ")"
	}
	return where
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// maxFiles bounds the files one render check reads.
const maxFiles = 20000

// Files reads what a render of dir in fsys needs: every regular file below dir (hidden
// directories skipped), and the local bases, resources, components and patches its
// kustomizations name elsewhere in fsys, transitively. Links are not followed. It reads at
// most maxBytes and 20,000 files.
func Files(fsys fs.FS, dir string, maxBytes int64) (map[string][]byte, error) {
	files := map[string][]byte{}
	var total int64
	var walked []string
	covered := func(p string) bool {
		for _, w := range walked {
			if w == "." || p == w || strings.HasPrefix(p, w+"/") {
				return true
			}
		}
		return false
	}
	read := func(p string) error {
		if _, ok := files[p]; ok {
			return nil
		}
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return fmt.Errorf("reading %s: %w", p, err)
		}
		if total += int64(len(data)); total > maxBytes || len(files) >= maxFiles {
			return errdefs.Invalid(fmt.Errorf("the files of the render of %s pass %d bytes or %d files", cmpOr(dir, "."), maxBytes, maxFiles))
		}
		files[p] = data
		return nil
	}
	queue := []string{cmpOr(dir, ".")}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if !fs.ValidPath(p) || covered(p) {
			continue
		}
		st, err := fs.Stat(fsys, p)
		if err != nil {
			continue // missing: the render says so, with its own words
		}
		if st.Mode().IsRegular() {
			if err := read(p); err != nil {
				return nil, err
			}
			queue = append(queue, kustomizationRefs(p, files[p])...)
			continue
		}
		if !st.IsDir() {
			continue
		}
		walked = append(walked, p)
		err = fs.WalkDir(fsys, p, func(q string, d fs.DirEntry, err error) error {
			switch {
			case err != nil:
				return err
			case d.IsDir():
				if q != p && strings.HasPrefix(d.Name(), ".") {
					return fs.SkipDir
				}
			case d.Type().IsRegular():
				if err := read(q); err != nil {
					return err
				}
				queue = append(queue, kustomizationRefs(q, files[q])...)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return files, nil
}

// kustomizationRefs returns the local paths a kustomization file names (resources, bases,
// components, patch files), nil for any other file.
func kustomizationRefs(name string, data []byte) []string {
	switch path.Base(name) {
	case "kustomization.yaml", "kustomization.yml", "Kustomization":
	default:
		return nil
	}
	if render.AliasNodes(data, render.DefaultMaxAliasNodes) > render.DefaultMaxAliasNodes {
		return nil // the render refuses it, with its limit named
	}
	var k struct {
		Resources, Bases, Components, PatchesStrategicMerge []string
		Patches, PatchesJSON6902                            []struct {
			Path string `json:"path"`
		}
	}
	if err := yaml.Unmarshal(data, &k); err != nil {
		return nil
	}
	dir := path.Dir(name)
	var out []string
	add := func(r string) {
		if r == "" || strings.Contains(r, "://") || strings.Contains(r, "\n") || strings.HasPrefix(r, "/") {
			return
		}
		if p := path.Join(dir, r); fs.ValidPath(p) {
			out = append(out, p)
		}
	}
	for _, list := range [][]string{k.Resources, k.Bases, k.Components, k.PatchesStrategicMerge} {
		for _, r := range list {
			add(r)
		}
	}
	for _, p := range append(k.Patches, k.PatchesJSON6902...) {
		add(p.Path)
	}
	return out
}

// ErrNoApp: the apps file has no app of that name.
var ErrNoApp = errdefs.Invalid(errors.New("no such app"))
