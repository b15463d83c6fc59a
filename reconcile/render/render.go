package render

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path"
	"runtime/debug"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/api/konfig"

	"github.com/tagrelay/tagrelay/internal/errdefs"
)

// ErrRender marks repository content that cannot be rendered: invalid YAML, a Kustomize or Helm
// error, a limit passed. It is an input error: nothing was applied.
var ErrRender = errors.New("rendering failed")

// Type is how a directory is rendered.
type Type string

// The types.
const (
	// TypeAuto detects the type: a kustomization file makes it Kustomize, a Chart.yaml Helm,
	// anything else plain manifests.
	TypeAuto Type = ""
	// TypePlain is a directory of YAML or JSON manifests (multi-document, recursive).
	TypePlain Type = "plain"
	// TypeKustomize is a Kustomize overlay, built with krusty.
	TypeKustomize Type = "kustomize"
	// TypeHelm is a Helm chart, rendered client-side with values files.
	TypeHelm Type = "helm"
)

// Request is what to render: a directory of the files of one commit.
type Request struct {
	// Name names the render in messages; it is the Helm release name.
	Name string
	// Namespace is the Helm release namespace (.Release.Namespace). Objects are returned as
	// rendered: a namespaced object without a namespace keeps none.
	Namespace string
	// Files are the files of the commit, by slash-separated path relative to the repository root.
	Files map[string][]byte
	// Path is the directory to render, "" for the root.
	Path string
	// Type is the renderer. Default: detected (TypeAuto).
	Type Type
	// ValuesFiles are Helm values files, relative to Path, later ones winning.
	ValuesFiles []string
	// Set are Helm values in --set form ("image.tag=1.2.3", "a.b[0]=x"), applied after the
	// values files, later ones winning.
	Set []string
	// Revision names the commit in messages. Optional.
	Revision string
}

// Capabilities are what Helm templates may ask of the cluster (.Capabilities), as data: the
// package never talks to a cluster.
type Capabilities struct {
	// KubeVersion is the cluster's version, "v1.34.4". Default: Helm's.
	KubeVersion string
	// APIVersions are the served group versions ("apps/v1") and kinds ("apps/v1/Deployment").
	// Default: Helm's list of built-in versions.
	APIVersions []string
}

// GitFetcher returns the files of a git repository at ref (a branch, a tag, a commit; "" for
// the default branch). Remote Kustomize bases on allowed hosts are fetched with it.
type GitFetcher func(ctx context.Context, repoURL, ref string) (map[string][]byte, error)

// Options say how to render. The zero value renders with the default limits, Helm's default
// capabilities, and no remote access.
type Options struct {
	Limits Limits
	// Capabilities are the cluster's, for Helm. Default: Helm's defaults (like `helm template`).
	Capabilities *Capabilities
	// Git fetches remote Kustomize bases from allowed hosts. Default: nil, git remotes are
	// refused even on allowed hosts.
	Git GitFetcher
	// HTTP fetches remote files and chart repositories from allowed hosts. Default: a client
	// without proxy or cookies that follows redirects only to allowed hosts.
	HTTP *http.Client
	// Isolation runs Helm's templates in a worker process. Default: nil, in-process (a
	// template loop then outlives the timeout, and its allocations are the caller's).
	Isolation *Isolation
}

// Object is one rendered object and where it came from.
type Object struct {
	Object *unstructured.Unstructured
	// Source is the file it was rendered from: a repository path, "kustomize build overlays/prod",
	// "web/templates/deployment.yaml" (a chart's template).
	Source string
}

// Hook is a Helm hook: a template annotated helm.sh/hook. Hooks are not objects of the app: they
// run around an install or upgrade (pre-install, post-upgrade, test…); the reconciler runs them
// around its apply.
type Hook struct {
	Object
	// Events are the hook's helm.sh/hook values: pre-install, post-upgrade, test…
	Events []string
	// Weight is helm.sh/hook-weight.
	Weight int
	// DeletePolicies are helm.sh/hook-delete-policy values.
	DeletePolicies []string
}

// Result is a render.
type Result struct {
	// Type is the renderer that ran (detected for TypeAuto).
	Type Type
	// Objects are the rendered objects, in render order.
	Objects []Object
	// Hooks are Helm hooks, kept out of Objects.
	Hooks []Hook
	// Bytes is the size of the rendered output.
	Bytes int64
}

// Render renders the directory req.Path of req.Files within opts.Limits: every YAML file is
// checked for alias bombs before a parser sees it, remote references are refused unless their
// host is allowed, and the render is stopped by its timeout and its byte and object caps.
//
// Errors are errdefs-classed: a path that does not exist is ErrNotFound, a refused remote
// reference ErrPrecondition, anything else ErrInvalid (ErrRender); a *LimitError says which
// limit and which file.
func Render(ctx context.Context, req Request, opts Options) (*Result, error) {
	r := &run{req: req, opts: opts}
	r.opts.Limits = opts.Limits.WithDefaults()
	if !hasDir(req.Files, req.Path) {
		return nil, errdefs.WithHint(errdefs.NotFound(fmt.Errorf("path %q not found%s", req.Path, r.at())),
			"check the app's path and revision")
	}
	typ := req.Type
	if typ == TypeAuto {
		typ = Detect(req.Files, req.Path)
	}
	res, err := r.bounded(ctx, typ)
	if err != nil && ctx.Err() != nil {
		return nil, ctx.Err() // the caller gave up: not the repository's fault
	}
	if err != nil {
		return nil, r.classify(typ, err)
	}
	if len(res.Objects) == 0 && len(res.Hooks) == 0 {
		if j := jsonnetFiles(req.Files, req.Path); len(j) > 0 {
			return nil, errdefs.WithHint(errdefs.Invalid(fmt.Errorf("%w: %s %s%s: the path holds Jsonnet (%s), which is not supported", ErrRender, typ, r.name(), r.at(), strings.Join(j, ", "))),
				"render the Jsonnet to YAML in CI and commit the output, or point the app at a directory of manifests, a Kustomize overlay or a Helm chart; nothing was applied")
		}
		return nil, errdefs.WithHint(errdefs.Invalid(fmt.Errorf("%w: %s %s renders no objects%s", ErrRender, typ, r.name(), r.at())),
			"check the app's path")
	}
	res.Type = typ
	return res, nil
}

// jsonnetFiles lists (up to three) Jsonnet files below dir: a path of Jsonnet only renders no
// objects, and the error says why.
func jsonnetFiles(files map[string][]byte, dir string) []string {
	var out []string
	for name := range files {
		if under(name, dir) && (strings.HasSuffix(name, ".jsonnet") || strings.HasSuffix(name, ".libsonnet")) {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	if len(out) > 3 {
		out = append(out[:3], "…")
	}
	return out
}

// Detect returns the type of the directory dir of files.
func Detect(files map[string][]byte, dir string) Type {
	for _, name := range konfig.RecognizedKustomizationFileNames() {
		if _, ok := files[path.Join(dir, name)]; ok {
			return TypeKustomize
		}
	}
	if _, ok := files[path.Join(dir, "Chart.yaml")]; ok {
		return TypeHelm
	}
	return TypePlain
}

// run is one render and its budgets.
type run struct {
	req     Request
	opts    Options
	aliases *aliasBudget
	size    *sizeBudget
}

type outcome struct {
	res *Result
	err error
}

// bounded runs the renderer under the timeout. Kustomize and Helm cannot be interrupted: past
// the timeout the render's goroutine is abandoned and its result dropped when it ends. A panic
// in a renderer is an error of this render, never of the process.
func (r *run) bounded(ctx context.Context, typ Type) (*Result, error) {
	ctx, cancel := context.WithTimeoutCause(ctx, r.opts.Limits.Timeout, ErrTimeout)
	defer cancel()
	r.aliases = newAliasBudget(r.opts.Limits.MaxAliasNodes)
	r.size = &sizeBudget{limits: r.opts.Limits}
	done := make(chan outcome, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- outcome{err: fmt.Errorf("the %s renderer panicked: %v\n%s", typ, p, debug.Stack())}
			}
		}()
		var o outcome
		switch typ {
		case TypePlain:
			o.res, o.err = r.plain()
		case TypeKustomize:
			o.res, o.err = r.kustomize(ctx)
		case TypeHelm:
			o.res, o.err = r.helm(ctx)
		default:
			o.err = fmt.Errorf("unknown type %q", typ)
		}
		done <- o
	}()
	select {
	case o := <-done:
		if o.err != nil && errors.Is(context.Cause(ctx), ErrTimeout) {
			break // a fetch cut by the deadline: report the timeout
		}
		return o.res, o.err
	case <-ctx.Done():
	}
	if errors.Is(context.Cause(ctx), ErrTimeout) {
		return nil, &LimitError{Err: ErrTimeout, Detail: fmt.Sprintf("still rendering after %s", r.opts.Limits.Timeout)}
	}
	return nil, ctx.Err()
}

// classify gives an error its class and the render's context, and a hint naming the limit.
func (r *run) classify(typ Type, err error) error {
	wrapped := fmt.Errorf("%w: %s %s%s: %w", ErrRender, typ, r.name(), r.at(), err)
	var le *LimitError
	if !errors.As(err, &le) {
		return errdefs.Invalid(wrapped)
	}
	switch le.Err {
	case ErrRemote:
		return errdefs.WithHint(errdefs.Precondition(wrapped),
			"vendor the remote content into the repository, or list its host in the app's allowedHosts; nothing was fetched or applied")
	case ErrTimeout:
		return errdefs.WithHint(errdefs.Invalid(wrapped), "simplify the templates, or raise the app's limits.renderTimeout")
	case ErrTooLarge:
		return errdefs.WithHint(errdefs.Invalid(wrapped), "split the app, or raise the app's limits.maxRenderBytes")
	case ErrTooManyObjects:
		return errdefs.WithHint(errdefs.Invalid(wrapped), "split the app, or raise the app's limits.maxObjects")
	}
	return errdefs.WithHint(errdefs.Invalid(wrapped), "remove the YAML anchors and aliases that multiply, or raise the app's limits.maxAliasNodes")
}

func (r *run) name() string {
	if r.req.Name == "" {
		return "render"
	}
	return "app " + r.req.Name
}

func (r *run) at() string {
	if r.req.Revision == "" {
		return ""
	}
	rev := r.req.Revision
	if len(rev) > 8 {
		rev = rev[:8]
	}
	return " at " + rev
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

func hasDir(files map[string][]byte, dir string) bool {
	for name := range files {
		if under(name, dir) {
			return true
		}
	}
	return false
}
