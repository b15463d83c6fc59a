package release

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/tagrelay/tagrelay/bump"
	"github.com/tagrelay/tagrelay/internal/errdefs"
)

// DefaultConfigFile is where the configuration lives in the app repository.
const DefaultConfigFile = ".tagrelay.yaml"

// Config is .tagrelay.yaml. schema/tagrelay.schema.json describes the same file.
type Config struct {
	// Image is the app's image.
	Image ImageConfig `yaml:"image" json:"image"`
	// Infra is the infra repository whose files deploy the image. Optional.
	Infra *InfraConfig `yaml:"infra,omitempty" json:"infra,omitempty"`
	// Mirrors are repositories copied after the bump, in order. Optional.
	Mirrors []MirrorConfig `yaml:"mirrors,omitempty" json:"mirrors,omitempty"`
	// Trigger starts the deploy and waits for it. Optional.
	Trigger *TriggerConfig `yaml:"trigger,omitempty" json:"trigger,omitempty"`
}

// ImageConfig says which image is released.
type ImageConfig struct {
	// Repository is where the image lives, harbor.example/team/app.
	Repository string `yaml:"repository" json:"repository"`
	// Source is the image CI built for the commit. Default: Repository:COMMIT.
	Source string `yaml:"source,omitempty" json:"source,omitempty"`
}

// InfraConfig is the infra repository and the files to bump.
type InfraConfig struct {
	Repo   string   `yaml:"repo" json:"repo"`
	Branch string   `yaml:"branch,omitempty" json:"branch,omitempty"`
	Files  []string `yaml:"files" json:"files"`
	// Tag is which tag the files get: "version" (the default when a version is released) or
	// "commit".
	Tag string `yaml:"tag,omitempty" json:"tag,omitempty"`
	// Render, when set, renders the infra repository with the bump before the commit (as
	// tagrelay bump --render does): a bump whose tag the render does not run is refused and
	// nothing is pushed.
	Render *bump.RenderSettings `yaml:"render,omitempty" json:"render,omitempty"`
}

// MirrorConfig is one repository copy.
type MirrorConfig struct {
	Source string   `yaml:"source" json:"source"`
	Dest   string   `yaml:"dest" json:"dest"`
	Refs   []string `yaml:"refs,omitempty" json:"refs,omitempty"`
	Tags   bool     `yaml:"tags,omitempty" json:"tags,omitempty"`
	// LFS copies the Git LFS objects of the mirrored commits (tagrelay mirror --lfs); without
	// it, commits holding LFS pointers are refused.
	LFS bool `yaml:"lfs,omitempty" json:"lfs,omitempty"`
	// SourceTokenEnv and DestTokenEnv name the environment variables holding the tokens.
	SourceTokenEnv string `yaml:"sourceTokenEnv,omitempty" json:"sourceTokenEnv,omitempty"`
	DestTokenEnv   string `yaml:"destTokenEnv,omitempty" json:"destTokenEnv,omitempty"`
}

// TriggerConfig says what deploys the release.
type TriggerConfig struct {
	Reconciler *ReconcilerTrigger `yaml:"reconciler,omitempty" json:"reconciler,omitempty"`
}

// ReconcilerTrigger syncs an app on tagrelay-reconciler and waits for the rollout.
type ReconcilerTrigger struct {
	URL string `yaml:"url" json:"url"`
	App string `yaml:"app" json:"app"`
	// TokenEnv names the environment variable holding the API token (default
	// TAGRELAY_RECONCILER_TOKEN); TokenFile is a file holding it instead.
	TokenEnv  string `yaml:"tokenEnv,omitempty" json:"tokenEnv,omitempty"`
	TokenFile string `yaml:"tokenFile,omitempty" json:"tokenFile,omitempty"`
	// Timeout bounds the wait for the rollout, a Go duration. Default 15m.
	Timeout string `yaml:"timeout,omitempty" json:"timeout,omitempty"`
}

// Tag choices of InfraConfig.Tag.
const (
	TagVersion = "version"
	TagCommit  = "commit"
)

// LoadConfig reads and validates a configuration file.
func LoadConfig(p string) (*Config, error) {
	data, err := os.ReadFile(p)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, errdefs.WithHint(errdefs.Invalid(fmt.Errorf("reading %s: %w", p, err)),
				"write a "+DefaultConfigFile+" (see docs/release.md)")
		}
		return nil, errdefs.Invalid(fmt.Errorf("reading %s: %w", p, err))
	}
	c, err := ParseConfig(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return c, nil
}

// ParseConfig decodes and validates a configuration. Unknown keys are errors.
func ParseConfig(data []byte) (*Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return nil, errdefs.WithHint(errdefs.Invalid(fmt.Errorf("parsing: %w", err)), "see schema/tagrelay.schema.json")
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

var (
	envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	appName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
)

// Validate checks the configuration and returns every problem at once (exit 2).
func (c *Config) Validate() error {
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	if c.Image.Repository == "" {
		bad("image.repository is required")
	} else if strings.Contains(c.Image.Repository, "@") || strings.Contains(path.Base(c.Image.Repository), ":") {
		bad("image.repository %q must be a repository, without tag or digest", c.Image.Repository)
	}
	if i := c.Infra; i != nil {
		checkURL(bad, "infra.repo", i.Repo)
		if len(i.Files) == 0 {
			bad("infra.files needs at least one path")
		}
		for _, f := range i.Files {
			if f == "" || path.IsAbs(f) || strings.HasPrefix(path.Clean(f), "..") {
				bad("infra.files: %q must be a path inside the repository", f)
			}
		}
		if i.Tag != "" && i.Tag != TagVersion && i.Tag != TagCommit {
			bad("infra.tag must be %q or %q, not %q", TagVersion, TagCommit, i.Tag)
		}
		if r := i.Render; r != nil {
			if r.Path == "" || path.IsAbs(r.Path) || strings.HasPrefix(path.Clean(r.Path), "..") {
				bad("infra.render.path %q must be a directory inside the repository", r.Path)
			}
			switch r.Type {
			case "", "plain", "kustomize", "helm":
			default:
				bad("infra.render.type must be plain, kustomize or helm, not %q", r.Type)
			}
			for _, v := range r.ValuesFiles {
				if v == "" || path.IsAbs(v) {
					bad("infra.render.valuesFiles: %q must be a path relative to infra.render.path", v)
				}
			}
			for _, v := range r.Set {
				if !strings.Contains(v, "=") {
					bad("infra.render.set: %q must be KEY=VALUE", v)
				}
			}
		}
	}
	for n, m := range c.Mirrors {
		checkURL(bad, fmt.Sprintf("mirrors[%d].source", n), m.Source)
		checkURL(bad, fmt.Sprintf("mirrors[%d].dest", n), m.Dest)
		for _, e := range []string{m.SourceTokenEnv, m.DestTokenEnv} {
			if e != "" && !envName.MatchString(e) {
				bad("mirrors[%d]: %q is not an environment variable name", n, e)
			}
		}
	}
	if t := c.Trigger; t != nil && t.Reconciler != nil {
		r := t.Reconciler
		checkURL(bad, "trigger.reconciler.url", r.URL)
		if !appName.MatchString(r.App) {
			bad("trigger.reconciler.app %q must be an app name (lowercase letters, digits, -)", r.App)
		}
		if r.TokenEnv != "" && !envName.MatchString(r.TokenEnv) {
			bad("trigger.reconciler.tokenEnv %q is not an environment variable name", r.TokenEnv)
		}
		if r.Timeout != "" {
			if d, err := time.ParseDuration(r.Timeout); err != nil || d <= 0 {
				bad("trigger.reconciler.timeout %q is not a positive duration (15m)", r.Timeout)
			}
		}
	}
	if len(errs) > 0 {
		return errdefs.WithHint(errdefs.Invalid(errors.New(strings.Join(errs, "; "))), "see schema/tagrelay.schema.json")
	}
	return nil
}

// checkURL wants an http(s) URL without credentials: tokens come from the environment.
func checkURL(bad func(string, ...any), field, raw string) {
	u, err := url.Parse(raw)
	switch {
	case raw == "":
		bad("%s is required", field)
	case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "":
		bad("%s %q must be an http(s) URL", field, raw)
	case u.User != nil:
		bad("%s must not hold credentials: name an environment variable instead", field)
	}
}
