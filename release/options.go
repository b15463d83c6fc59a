package release

import (
	"log/slog"
	"net/http"

	"github.com/tagrelay/tagrelay/bump"
	"github.com/tagrelay/tagrelay/internal/gitauth"
	"github.com/tagrelay/tagrelay/registry"
)

// Options are what a release needs besides the configuration: what to release and the clients.
type Options struct {
	// Version is the version released, v1.4.0; "" releases the commit under its own tag.
	Version string
	// Commit is the commit's tag, the short SHA CI pushed the image under. Required.
	Commit string
	// Registry is the registry client (credentials, TLS). Required.
	Registry *registry.Client
	// Git authenticates to the infra repository; GitCABundle and GitInsecure are its TLS.
	Git         gitauth.Credentials
	GitCABundle []byte
	GitInsecure bool
	// Bump carries the commit message, author and source (the provenance trailers) of the bump.
	// Kind, DryRun and CheckImage are the release's: the bump looks the released tag up in
	// Registry before writing. Source is used only when it is Commit's full SHA.
	Bump bump.PushOptions
	// RenderCheck makes the render check of infra.render (bump/rendercheck). Required when the
	// configuration has infra.render.
	RenderCheck func(bump.RenderSettings) (bump.RenderCheck, error)
	// MirrorCacheDir keeps the mirrors' caches. Required when the configuration has mirrors.
	MirrorCacheDir string
	// MirrorCAFile is a PEM bundle of extra CAs for the mirrors' remotes.
	MirrorCAFile string
	// Secret returns the value of an environment variable, or of a file when file is set, and
	// registers it for redaction. Required when the configuration names secrets.
	Secret func(env, file string) (string, error)
	// HTTPClient talks to the reconciler. Default http.DefaultClient.
	HTTPClient *http.Client
	// Progress is called when a step starts and when it ends. Default: nothing.
	Progress func(StepResult)
	// Logger receives what the steps do. Default: discard.
	Logger *slog.Logger
}

func (o *Options) defaults() {
	if o.HTTPClient == nil {
		o.HTTPClient = http.DefaultClient
	}
	if o.Progress == nil {
		o.Progress = func(StepResult) {}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}
