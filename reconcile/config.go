package reconcile

import (
	"fmt"
	"os"
	"strings"
	"time"

	apiresource "k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/yaml"

	"github.com/tagrelay/tagrelay/internal/errdefs"
	"github.com/tagrelay/tagrelay/internal/gitauth"
	"github.com/tagrelay/tagrelay/reconcile/notify"
	"github.com/tagrelay/tagrelay/reconcile/render"
)

// Type is how an app's path is rendered (see package render).
type Type = render.Type

// The app types.
const (
	// TypeAuto detects the type: a kustomization file makes it Kustomize, a Chart.yaml Helm,
	// anything else plain manifests.
	TypeAuto = render.TypeAuto
	// TypePlain is a directory of YAML or JSON manifests (multi-document, recursive).
	TypePlain = render.TypePlain
	// TypeKustomize is a Kustomize overlay, built with krusty.
	TypeKustomize = render.TypeKustomize
	// TypeHelm is a Helm chart, rendered client-side with the app's values files.
	TypeHelm = render.TypeHelm
)

// Config is the apps file of the reconciler (--config apps.yaml).
type Config struct {
	// Limits are the defaults of every app's limits.
	Limits Limits `json:"limits,omitempty"`
	Apps   []App  `json:"apps"`
	// Projects are the server's tenants (config_project.go). Default: none (admin token only).
	Projects Projects `json:"projects,omitempty"`
	// DriftInterval is how often the server dry-runs each app's sync to mark drift (console,
	// tagrelay_reconciler_out_of_sync); serve's --drift-interval wins. Negative disables.
	// Default: 10m.
	DriftInterval Duration `json:"driftInterval,omitempty"`
	// Generators make more apps (generator.go): from a directory of app files, or from the
	// directories of a git repository. Default: none.
	Generators []Generator `json:"generators,omitempty"`
}

// App is one deployable: a path in a git repository, rendered into one namespace.
type App struct {
	// Name identifies the app (a DNS label); it is the value of the ownership label.
	Name string `json:"name"`
	// Repo is the git URL (https, http). Credentials never go in it: see Credentials.
	Repo string `json:"repo"`
	// Revision is a branch, a tag or a commit hash. Default: main.
	Revision string `json:"revision,omitempty"`
	// Path is the directory in the repository. Default: the root.
	Path string `json:"path,omitempty"`
	// Type forces the renderer. Default: detected.
	Type Type `json:"type,omitempty"`
	// ValuesFiles are Helm values files, relative to Path, later ones winning.
	ValuesFiles []string `json:"valuesFiles,omitempty"`
	// Set are Helm values in --set form ("image.tag=1.2.3"), applied after ValuesFiles.
	Set []string `json:"set,omitempty"`
	// Namespace is the destination: namespaced objects without a namespace go there, and
	// objects in any other namespace are refused.
	Namespace string `json:"namespace"`
	// CreateNamespace creates Namespace when it does not exist. Default: false (the sync fails).
	CreateNamespace bool `json:"createNamespace,omitempty"`
	// SharedNamespace lets the app share Namespace with other apps; every app of a shared
	// namespace must say so. Default: false (a namespace belongs to one app).
	SharedNamespace bool `json:"sharedNamespace,omitempty"`
	// PodSecurity is the Pod Security Admission level (privileged, baseline, restricted) the
	// namespaces the app creates enforce. Default: baseline.
	PodSecurity string `json:"podSecurity,omitempty"`
	// AllowClusterKinds lists the cluster-scoped kinds the app may apply ("Namespace",
	// "ClusterRole.rbac.authorization.k8s.io"). Default: none.
	AllowClusterKinds []string `json:"allowClusterKinds,omitempty"`
	// ExtraKinds are the namespaced kinds beyond the built-in set (custom resources,
	// "Widget.example.com") that the generated RBAC lets the app write. Default: none.
	ExtraKinds []string `json:"extraKinds,omitempty"`
	// AllowRoles are the ClusterRoles the app's RoleBindings (and ClusterRoleBindings, when
	// allowed) may grant ("view", "edit"). A Role of the app's namespace needs no listing.
	// Default: none.
	AllowRoles []string `json:"allowRoles,omitempty"`
	// ServiceAccounts are the ServiceAccounts of the namespace that the app does not render but
	// whose identity its workloads may use. "default" and the ones it renders always may.
	ServiceAccounts []string `json:"serviceAccounts,omitempty"`
	// AllowPrune are the protected kinds (Namespace, CustomResourceDefinition,
	// PersistentVolumeClaim, PersistentVolume) that prune may delete when they leave the render.
	// Default: none — they are kept, with a warning in the result.
	AllowPrune []string `json:"allowPrune,omitempty"`
	// AllowedHosts are the hosts remote Kustomize bases and resources and remote Helm
	// dependencies may come from ("github.com", "charts.example.com:8443",
	// "*.corp.example"). Default: none, every remote reference is refused.
	AllowedHosts []string `json:"allowedHosts,omitempty"`
	// Limits bound the app's render, git operations and prune; zero fields take the config's
	// limits, then the reconciler's.
	Limits Limits `json:"limits,omitempty"`
	// Auth says where the git credentials come from; they are never printed.
	Auth Auth `json:"auth,omitempty"`
	// Timeout bounds the wait for health. Default: 5m.
	Timeout Duration `json:"timeout,omitempty"`
	// SourceRepo is the web URL (http or https) of the repository the app's images are built
	// from: the console links an image tag that is a commit hash to that commit. Default: none.
	SourceRepo string `json:"sourceRepo,omitempty"`
	// RestartOnConfigChange restarts the Deployments, StatefulSets and DaemonSets that read a
	// ConfigMap or Secret the sync changes (configref.go). Default: true; false only reports them.
	RestartOnConfigChange *bool `json:"restartOnConfigChange,omitempty"`
	// Hooks says whether the sync runs the hooks the app renders (Helm's helm.sh/hook, Argo CD's
	// argocd.argoproj.io/hook; hooks.go): HooksRun (default) or HooksSkip, which every result
	// then mentions.
	Hooks HooksMode `json:"hooks,omitempty"`
	// Notify says where the results of the app's syncs go: commit statuses and merge request
	// notes on GitLab, deployments and pull request comments on GitHub, a webhook, a chat (see
	// package notify and notify_hook.go). Default: nowhere.
	Notify *notify.Config `json:"notify,omitempty"`

	// Credentials are the resolved git credentials (see Config.ResolveCredentials).
	Credentials gitauth.Credentials `json:"-"`
}

// restartsOnConfigChange reports whether the app restarts workloads whose config changed.
func (a App) restartsOnConfigChange() bool {
	return a.RestartOnConfigChange == nil || *a.RestartOnConfigChange
}

// HooksMode says what a sync does with the app's hooks.
type HooksMode string

// The hook modes.
const (
	// HooksRun runs the hooks in their phases and waves (the default).
	HooksRun HooksMode = "run"
	// HooksSkip applies the app without its hooks; every result says which were skipped.
	HooksSkip HooksMode = "skip"
)

// UnmarshalJSON implements json.Unmarshaler: only run and skip are valid.
func (m *HooksMode) UnmarshalJSON(b []byte) error {
	switch v := HooksMode(strings.Trim(string(b), `"`)); v {
	case "", HooksRun, HooksSkip:
		*m = v
		return nil
	}
	return fmt.Errorf("invalid hooks %s (use run or skip)", b)
}

// Auth names the source of an app's git credentials.
type Auth struct {
	Username  string `json:"username,omitempty"`
	TokenFile string `json:"tokenFile,omitempty"`
	TokenEnv  string `json:"tokenEnv,omitempty"`
}

// Duration is a time.Duration written as "90s" or "5m" in the config.
type Duration time.Duration

// UnmarshalJSON implements json.Unmarshaler.
func (d *Duration) UnmarshalJSON(b []byte) error {
	v, err := time.ParseDuration(strings.Trim(string(b), `"`))
	if err != nil {
		return fmt.Errorf("invalid duration %s (use 90s, 5m)", b)
	}
	*d = Duration(v)
	return nil
}

// Limits bound what one app may cost the reconciler. In the config they sit at the top (the
// defaults of every app) and per app; a zero field takes the next level: app, config,
// reconciler (flags), built-in default.
type Limits struct {
	// RenderTimeout bounds the render. Default: 60s.
	RenderTimeout Duration `json:"renderTimeout,omitempty"`
	// MaxRenderBytes bounds the rendered output ("32Mi" or bytes). Default: 32Mi.
	MaxRenderBytes Bytes `json:"maxRenderBytes,omitempty"`
	// MaxObjects bounds the rendered objects. Default: 5000.
	MaxObjects int `json:"maxObjects,omitempty"`
	// MaxAliasNodes bounds how many nodes YAML aliases expand to, over all files of a render.
	// Default: 10000.
	MaxAliasNodes int64 `json:"maxAliasNodes,omitempty"`
	// GitTimeout bounds each git operation (ls-remote, fetch). Default: 2m.
	GitTimeout Duration `json:"gitTimeout,omitempty"`
	// MaxPrune is the percentage of the app's inventory one sync may prune; a sync that would
	// prune more is refused unless forced. Default: 50.
	MaxPrune int `json:"maxPrune,omitempty"`
}

// DefaultGitTimeout and DefaultMaxPrune are the built-in defaults of Limits (the render limits'
// are package render's).
const (
	DefaultGitTimeout = 2 * time.Minute
	DefaultMaxPrune   = 50
)

// Or returns l with its zero fields taken from d.
func (l Limits) Or(d Limits) Limits {
	if l.RenderTimeout == 0 {
		l.RenderTimeout = d.RenderTimeout
	}
	if l.MaxRenderBytes == 0 {
		l.MaxRenderBytes = d.MaxRenderBytes
	}
	if l.MaxObjects == 0 {
		l.MaxObjects = d.MaxObjects
	}
	if l.MaxAliasNodes == 0 {
		l.MaxAliasNodes = d.MaxAliasNodes
	}
	if l.GitTimeout == 0 {
		l.GitTimeout = d.GitTimeout
	}
	if l.MaxPrune == 0 {
		l.MaxPrune = d.MaxPrune
	}
	return l
}

// WithDefaults returns l with its zero fields at the built-in defaults.
func (l Limits) WithDefaults() Limits {
	r := render.Limits{}.WithDefaults()
	return l.Or(Limits{RenderTimeout: Duration(r.Timeout), MaxRenderBytes: Bytes(r.MaxBytes), MaxObjects: r.MaxObjects,
		MaxAliasNodes: r.MaxAliasNodes, GitTimeout: Duration(DefaultGitTimeout), MaxPrune: DefaultMaxPrune})
}

// render returns the render limits of app.
func (l Limits) render(app App) render.Limits {
	return render.Limits{Timeout: time.Duration(l.RenderTimeout), MaxBytes: int64(l.MaxRenderBytes), MaxObjects: l.MaxObjects,
		MaxAliasNodes: l.MaxAliasNodes, AllowedHosts: app.AllowedHosts}.WithDefaults()
}

// Bytes is a size written as a number of bytes or a Kubernetes quantity ("32Mi") in the config.
type Bytes int64

// UnmarshalJSON implements json.Unmarshaler.
func (b *Bytes) UnmarshalJSON(data []byte) error {
	q, err := apiresource.ParseQuantity(strings.Trim(string(data), `"`))
	if err != nil || q.Sign() < 0 {
		return fmt.Errorf("invalid size %s (use 32Mi or a number of bytes)", data)
	}
	*b = Bytes(q.Value())
	return nil
}

// LoadConfig reads and validates an apps file.
func LoadConfig(file string) (*Config, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, errdefs.WithHint(errdefs.Invalid(fmt.Errorf("reading config: %w", err)), "pass --config apps.yaml")
	}
	cfg, err := ParseConfig(b)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", file, err)
	}
	return cfg, nil
}

// ParseConfig parses and validates the YAML of an apps file. Unknown fields are errors.
func ParseConfig(b []byte) (*Config, error) {
	var cfg Config
	if err := yaml.UnmarshalStrict(b, &cfg); err != nil {
		return nil, errdefs.Invalid(fmt.Errorf("parsing: %w", err))
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// ResolveCredentials reads each app's token from its file or from the variable named by
// TokenEnv, looked up with getenv.
func (c *Config) ResolveCredentials(getenv func(string) string) error {
	for i := range c.Apps {
		a := &c.Apps[i]
		token := ""
		switch {
		case a.Auth.TokenFile != "":
			b, err := os.ReadFile(a.Auth.TokenFile)
			if err != nil {
				return errdefs.Invalid(fmt.Errorf("app %s: reading auth.tokenFile: %w", a.Name, err))
			}
			token = strings.TrimSpace(string(b))
		case a.Auth.TokenEnv != "":
			token = getenv(a.Auth.TokenEnv)
			if token == "" {
				return errdefs.Invalid(fmt.Errorf("app %s: auth.tokenEnv %s is empty", a.Name, a.Auth.TokenEnv))
			}
		default:
			continue
		}
		user := a.Auth.Username
		if user == "" {
			user = gitauth.DefaultUsername(a.Auth.TokenEnv)
		}
		a.Credentials = gitauth.Credentials{Username: user, Password: token}
	}
	return nil
}

// App returns the app called name.
func (c *Config) App(name string) (App, error) {
	for _, a := range c.Apps {
		if a.Name == name {
			return a, nil
		}
	}
	names := make([]string, len(c.Apps))
	for i, a := range c.Apps {
		names[i] = a.Name
	}
	return App{}, errdefs.WithHint(errdefs.Invalid(fmt.Errorf("no app %q in the config", name)),
		"known apps: "+strings.Join(names, ", "))
}

// Secrets returns the credentials of every app, for a redactor.
func (c *Config) Secrets() []string {
	var s []string
	for _, a := range c.Apps {
		if a.Credentials.Password != "" {
			s = append(s, a.Credentials.Password)
		}
	}
	return s
}
