package reconcile

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	"github.com/tagrelay/tagrelay/internal/errdefs"
	"github.com/tagrelay/tagrelay/internal/gitauth"
)

// Type is how an app's path is rendered.
type Type string

// The app types.
const (
	// TypeAuto detects the type: a kustomization file makes it Kustomize, a Chart.yaml Helm,
	// anything else plain manifests.
	TypeAuto Type = ""
	// TypePlain is a directory of YAML or JSON manifests (multi-document, recursive).
	TypePlain Type = "plain"
	// TypeKustomize is a Kustomize overlay, built with krusty.
	TypeKustomize Type = "kustomize"
	// TypeHelm is a Helm chart, rendered client-side with the app's values files.
	TypeHelm Type = "helm"
)

// Config is the apps file of the reconciler (--config apps.yaml).
type Config struct {
	Apps []App `json:"apps"`
	// Projects are the server's tenants (config_project.go). Default: none (admin token only).
	Projects Projects `json:"projects,omitempty"`
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
	// Namespace is the destination: namespaced objects without a namespace go there, and
	// objects in any other namespace are refused.
	Namespace string `json:"namespace"`
	// CreateNamespace creates Namespace when it does not exist. Default: false (the sync fails).
	CreateNamespace bool `json:"createNamespace,omitempty"`
	// AllowClusterKinds lists the cluster-scoped kinds the app may apply ("Namespace",
	// "ClusterRole.rbac.authorization.k8s.io"). Default: none.
	AllowClusterKinds []string `json:"allowClusterKinds,omitempty"`
	// Auth says where the git credentials come from; they are never printed.
	Auth Auth `json:"auth,omitempty"`
	// Timeout bounds the wait for health. Default: 5m.
	Timeout Duration `json:"timeout,omitempty"`
	// SourceRepo is the web URL (http or https) of the repository the app's images are built
	// from: the console links an image tag that is a commit hash to that commit. Default: none.
	SourceRepo string `json:"sourceRepo,omitempty"`

	// Credentials are the resolved git credentials (see Config.ResolveCredentials).
	Credentials gitauth.Credentials `json:"-"`
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

// Validate checks every app and fills in defaults.
func (c *Config) Validate() error {
	if len(c.Apps) == 0 {
		return errdefs.WithHint(errdefs.Invalid(errors.New("no apps")), "list apps under apps:")
	}
	seen := map[string]bool{}
	var errs []error
	for i := range c.Apps {
		a := &c.Apps[i]
		if err := a.validate(); err != nil {
			errs = append(errs, fmt.Errorf("app %d (%s): %w", i+1, a.Name, err))
		}
		if seen[a.Name] {
			errs = append(errs, fmt.Errorf("app %d: duplicate name %q", i+1, a.Name))
		}
		seen[a.Name] = true
	}
	return errdefs.Invalid(errors.Join(errs...))
}

func (a *App) validate() error {
	var errs []error
	if msgs := validation.IsDNS1123Label(a.Name); len(msgs) > 0 {
		errs = append(errs, fmt.Errorf("name %q: %s", a.Name, strings.Join(msgs, "; ")))
	}
	if msgs := validation.IsDNS1123Label(a.Namespace); len(msgs) > 0 {
		errs = append(errs, fmt.Errorf("namespace %q: %s", a.Namespace, strings.Join(msgs, "; ")))
	}
	switch {
	case a.Repo == "":
		errs = append(errs, errors.New("repo is required"))
	case strings.Contains(a.Repo, "@") && (strings.HasPrefix(a.Repo, "http://") || strings.HasPrefix(a.Repo, "https://")):
		errs = append(errs, errors.New("repo must not carry credentials; use auth.tokenFile or auth.tokenEnv"))
	}
	if a.SourceRepo != "" {
		if u, err := url.Parse(a.SourceRepo); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
			// the value is not quoted: it may carry credentials
			errs = append(errs, errors.New("sourceRepo: want the http(s) web URL of the images' repository, without credentials"))
		}
	}
	switch a.Type {
	case TypeAuto, TypePlain, TypeKustomize, TypeHelm:
	default:
		errs = append(errs, fmt.Errorf("type %q: use plain, kustomize or helm", a.Type))
	}
	if len(a.ValuesFiles) > 0 && a.Type != TypeHelm && a.Type != TypeAuto {
		errs = append(errs, errors.New("valuesFiles need type helm"))
	}
	if a.Revision == "" {
		a.Revision = "main"
	}
	a.Path = path.Clean("/" + a.Path)[1:]
	if a.Timeout == 0 {
		a.Timeout = Duration(5 * time.Minute)
	}
	return errors.Join(errs...)
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
