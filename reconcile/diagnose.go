package reconcile

import (
	"context"
	"errors"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/tagrelay/tagrelay/internal/errdefs"
	"github.com/tagrelay/tagrelay/reconcile/render"
)

// mirrorLagHint is the hint of a trigger whose expected tag is nowhere in the app's revision.
const mirrorLagHint = "the bump has not reached the app's revision yet (mirror lag, unmerged MR?); nothing was applied"

// notDeployedError is the refusal of a trigger whose render runs the expected image with
// another tag. Until diagnosed, its hint guesses mirror lag; diagnoseNotDeployed reads the
// revision and says where the tag really comes from.
type notDeployedError struct {
	error
	expect string
	seen   []string // the references of the image the render runs
}

func (e *notDeployedError) Unwrap() error { return e.error }

// notDeployed is the refusal of checkExpected when the render runs another tag of the image.
func notDeployed(expect string, seen []string) error {
	err := errdefs.WithHint(errdefs.Noop(fmt.Errorf("%w %s is not deployed: the rendered state has %s", ErrExpectedImage, expect, strings.Join(seen, ", "))),
		mirrorLagHint)
	return &notDeployedError{error: err, expect: expect, seen: seen}
}

// diagnoseNotDeployed replaces the mirror-lag guess of a refused trigger by what the revision
// says: when the revision sets the expected tag in an input of the render that another input
// overrides (a later values file, an overlay's images:, a patch, a set value, a template that
// writes the image), the hint names the overriding file and key; when it sets it in a file the
// render does not read, it names that file. The mirror-lag hint stays when the revision does
// not hold the tag. Any other error is returned as it is.
func (r *Reconciler) diagnoseNotDeployed(ctx context.Context, app App, revision string, err error) error {
	var nd *notDeployedError
	if !errors.As(err, &nd) || revision == "" {
		return err
	}
	src, ferr := r.git.Fetch(ctx, app, Revision{Commit: plumbing.NewHash(revision)})
	if ferr != nil {
		return err // the refusal stands; the diagnosis is best effort
	}
	hint := diagnoseHint(app, src, nd.expect, nd.seen)
	if hint == "" {
		return err
	}
	return errdefs.WithHint(nd.error, hint)
}

// diagnoseHint is the hint for a refusal of expect (NAME:TAG) whose render runs seen, from the
// revision's files; "" keeps the mirror-lag hint.
func diagnoseHint(app App, src *Source, expect string, seen []string) string {
	repo, want, _ := render.SplitImage(expect)
	if len(seen) == 0 {
		return ""
	}
	_, running, _ := render.SplitImage(seen[0])
	req := render.Request{Name: app.Name, Namespace: app.Namespace, Files: src.Files, Path: app.Path,
		Type: app.Type, ValuesFiles: app.ValuesFiles, Set: app.Set}
	tr := render.TraceImage(req, nil, repo)
	var winner, bumped *render.Origin
	for i := range tr.Chain {
		o := &tr.Chain[i]
		switch o.Value {
		case running:
			winner = o
		case want:
			bumped = o
		}
	}
	if bumped != nil && winner != nil {
		return fmt.Sprintf("the revision sets %s in %s, but %s overrides it in the app's render; bump that instead; nothing was applied",
			want, origin(*bumped), origin(*winner))
	}
	if files := mentions(src.Files, repo, want); len(files) > 0 {
		where := "the app's render (path " + cmpOr(app.Path, ".")
		if len(app.ValuesFiles) > 0 {
			where += ", valuesFiles " + strings.Join(app.ValuesFiles, ", ")
		}
		where += ")"
		why := fmt.Sprintf("the revision has %s in %s, which %s does not read for this image", want, strings.Join(files, ", "), where)
		if winner != nil {
			why += fmt.Sprintf("; the running tag comes from %s", origin(*winner))
		}
		return why + "; nothing was applied"
	}
	return ""
}

// origin names an input in a hint: "charts/podinfo/values-prod.yaml key image.tag (6.14.1)".
func origin(o render.Origin) string {
	switch o.Kind {
	case render.OriginSet:
		return fmt.Sprintf("the app's set %s", o.Key)
	case render.OriginTemplate:
		return fmt.Sprintf("the template %s (%s, written in the template itself)", o.File, o.Key)
	case render.OriginValues, render.OriginImages, render.OriginAppVersion:
		return fmt.Sprintf("%s key %s (%s)", o.File, o.Key, o.Value)
	}
	return fmt.Sprintf("%s %s (%s)", o.File, o.Key, o.Value)
}

// mentions lists (up to three) files of the revision that hold tag as a word and name the
// image's last path segment: where a bump of it went.
func mentions(files map[string][]byte, repo, tag string) []string {
	if tag == "" {
		return nil
	}
	word := regexp.MustCompile(`(^|[^\w.-])` + regexp.QuoteMeta(tag) + `($|[^\w.-])`)
	name := path.Base(repo)
	var out []string
	for p, data := range files {
		if strings.Contains(string(data), name) && word.Match(data) {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	if len(out) > 3 {
		out = append(out[:3], "…")
	}
	return out
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
