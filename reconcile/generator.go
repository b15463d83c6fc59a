package reconcile

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"regexp"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/tagrelay/tagrelay/internal/errdefs"
	"github.com/tagrelay/tagrelay/internal/gitauth"
	"github.com/tagrelay/tagrelay/reconcile/render"
)

// Generators make apps for a platform, like a small ApplicationSet:
//
//	generators:
//	- dir: /etc/tagrelay/apps.d          # one file per project, as a platform console writes them:
//	  prune: true                        #   each holds apps: (and projects:) like the apps file
//	- git:                               # every directory of a repository matching a pattern
//	    repo: https://git.example/platform/deploy.git
//	    revision: main
//	    directories: ["teams/*/apps/*"]  # path.Match per path; "!teams/x/*" excludes
//	    auth: {tokenFile: /etc/tagrelay/git/token}
//	  template:                          # an app; {{path}}, {{path.basename}}, {{path[N]}} and
//	    name: "{{path[1]}}-{{path.basename}}" # {{path.basenameNormalized}} are replaced
//	    namespace: "{{path[1]}}"
//
// A generated app takes the generator's repository, revision and auth unless its template says
// otherwise, and its path is the directory unless the template sets one. When an app of a
// generator disappears (its file or directory is removed), it is no longer synced and its
// objects stay — unless the generator says prune: true, then they are deleted. A generator
// that fails to read (a file that does not parse, a repository down) keeps the apps it gave
// last: an error never removes apps.

// Generator makes apps. Exactly one of Dir and Git is set.
type Generator struct {
	// Dir is a directory of app files (*.yaml, *.yml): each holds apps: and projects: as in the
	// apps file. Files are read again when they change.
	Dir string `json:"dir,omitempty"`
	// Git makes an app of each directory of a repository that matches a pattern; it is read
	// again every poll interval.
	Git *GitGenerator `json:"git,omitempty"`
	// Template is the app of each directory of Git (see the placeholders above).
	Template *App `json:"template,omitempty"`
	// Prune deletes the objects of an app of this generator once it disappears. Default: false.
	Prune bool `json:"prune,omitempty"`
}

// GitGenerator is the repository of a git generator.
type GitGenerator struct {
	Repo string `json:"repo"`
	// Revision is a branch, a tag or a commit. Default: main.
	Revision string `json:"revision,omitempty"`
	// Directories are path.Match patterns of directories; a pattern starting with "!" excludes.
	Directories []string `json:"directories"`
	// Auth says where the git credentials come from.
	Auth Auth `json:"auth,omitempty"`

	// Credentials are the resolved credentials (see resolveCredentials).
	Credentials gitauth.Credentials `json:"-"`
}

// maxGeneratedApps bounds the apps one git generator makes (a pattern like "*/*/*" on a big
// repository).
const maxGeneratedApps = 5000

func validateGenerators(gens []Generator) []error {
	var errs []error
	for i, g := range gens {
		if err := g.validate(); err != nil {
			errs = append(errs, fmt.Errorf("generator %d: %w", i+1, err))
		}
	}
	return errs
}

func (g *Generator) validate() error {
	switch {
	case (g.Dir == "") == (g.Git == nil):
		return errors.New("set exactly one of dir and git")
	case g.Dir != "":
		if g.Template != nil {
			return errors.New("template goes with git, not dir")
		}
		return nil
	}
	var errs []error
	if g.Git.Repo == "" {
		errs = append(errs, errors.New("git.repo is required"))
	}
	if strings.Contains(g.Git.Repo, "@") && (strings.HasPrefix(g.Git.Repo, "http://") || strings.HasPrefix(g.Git.Repo, "https://")) {
		errs = append(errs, errors.New("git.repo must not carry credentials; use git.auth"))
	}
	if len(g.Git.Directories) == 0 {
		errs = append(errs, errors.New("git.directories: list at least one pattern"))
	}
	for _, p := range g.Git.Directories {
		if _, err := path.Match(strings.TrimPrefix(p, "!"), ""); err != nil || strings.TrimPrefix(p, "!") == "" {
			errs = append(errs, fmt.Errorf("git.directories: invalid pattern %q", p))
		}
	}
	if g.Git.Revision == "" {
		g.Git.Revision = "main"
	}
	if g.Template == nil || !strings.Contains(g.Template.Name, "{{path") {
		errs = append(errs, errors.New(`template.name must contain a {{path...}} placeholder ("{{path.basename}}"): every directory makes one app`))
	}
	return errors.Join(errs...)
}

// resolveCredentials reads the git generators' tokens.
func (g *Generator) resolveCredentials(getenv func(string) string) error {
	if g.Git == nil {
		return nil
	}
	c := Config{Apps: []App{{Name: "generator", Auth: g.Git.Auth}}}
	if err := c.ResolveCredentials(getenv); err != nil {
		return err
	}
	g.Git.Credentials = c.Apps[0].Credentials
	return nil
}

// source is the app a git generator reads its repository as.
func (g *GitGenerator) source() App {
	return App{Name: "generator", Repo: g.Repo, Revision: g.Revision, Auth: g.Auth, Credentials: g.Credentials}
}

// matchDirs returns the directories among dirs that a pattern includes and none excludes.
func (g *GitGenerator) matchDirs(dirs []string) []string {
	var out []string
	for _, d := range dirs {
		in := false
		for _, p := range g.Directories {
			if ex, ok := strings.CutPrefix(p, "!"); ok {
				if m, _ := path.Match(ex, d); m {
					in = false
					break
				}
				continue
			}
			if m, _ := path.Match(p, d); m {
				in = true
			}
		}
		if in {
			out = append(out, d)
		}
	}
	return out
}

// placeholder matches the template placeholders.
var placeholder = regexp.MustCompile(`\{\{\s*path(\.basename|\.basenameNormalized|\[\d+\])?\s*\}\}`)

// generate returns the app of directory dir: the template with its placeholders replaced,
// the generator's repository, revision and auth by default, validated.
func (g *Generator) generate(dir string) (App, error) {
	b, err := json.Marshal(g.Template)
	if err != nil {
		return App{}, err
	}
	segments := strings.Split(dir, "/")
	out := placeholder.ReplaceAllStringFunc(string(b), func(m string) string {
		m = strings.Join(strings.Fields(m), "")
		var v string
		switch {
		case m == "{{path}}":
			v = dir
		case m == "{{path.basename}}":
			v = path.Base(dir)
		case m == "{{path.basenameNormalized}}":
			v = normalizeName(path.Base(dir))
		default:
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(m, "{{path["), "]}}"))
			if n < len(segments) {
				v = segments[n]
			}
		}
		q, _ := json.Marshal(v)
		return string(q[1 : len(q)-1])
	})
	var a App
	if err := json.Unmarshal([]byte(out), &a); err != nil {
		return App{}, err
	}
	if a.Repo == "" {
		a.Repo = g.Git.Repo
	}
	if a.Revision == "" {
		a.Revision = g.Git.Revision
	}
	if a.Path == "" {
		a.Path = dir
	}
	if a.Auth == (Auth{}) && a.Repo == g.Git.Repo {
		a.Auth, a.Credentials = g.Git.Auth, g.Git.Credentials
	}
	if err := a.validate(); err != nil {
		return App{}, fmt.Errorf("directory %s: %w", dir, err)
	}
	return a, nil
}

// normalizeName turns a directory name into a DNS label (ApplicationSet's basenameNormalized).
func normalizeName(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	return strings.Trim(b.String(), "-")
}

// readAppFiles reads the app files of a dir generator: every *.yaml and *.yml (not hidden)
// file, each parsed and validated alone. A file that fails is reported and left out.
func readAppFiles(dir string) (files map[string]*Config, errs map[string]error, err error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, errdefs.Invalid(fmt.Errorf("reading generator directory: %w", err))
	}
	files, errs = map[string]*Config{}, map[string]error{}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || strings.HasPrefix(name, ".") || !(strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml")) {
			continue
		}
		p := path.Join(dir, name)
		if len(files)+len(errs) >= maxAppFiles {
			errs[p] = errdefs.Invalid(fmt.Errorf("more than %d app files in the directory: this one and the rest are left out", maxAppFiles))
			continue
		}
		b, err := readBounded(p, maxAppFileBytes)
		if err != nil {
			errs[p] = err
			continue
		}
		cfg, err := parseAppFile(b)
		if err != nil {
			errs[p] = err
			continue
		}
		files[p] = cfg
	}
	return files, errs, nil
}

// maxAppFileBytes and maxAppFiles bound what a dir generator reads: its files are written by
// others (a platform's console, a project's own pipeline).
const (
	maxAppFileBytes = 1 << 20
	maxAppFiles     = 10000
	// maxAppFileAliasNodes bounds the nodes YAML aliases expand to in one app file (billion
	// laughs), checked before it is decoded.
	maxAppFileAliasNodes = 10000
)

// readBounded reads a regular file of at most max bytes; a bigger one is an invalid-input error.
func readBounded(name string, max int64) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return nil, err
	} else if !fi.Mode().IsRegular() {
		return nil, errdefs.Invalid(errors.New("not a regular file"))
	}
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, errdefs.Invalid(fmt.Errorf("larger than %d bytes", max))
	}
	return b, nil
}

// parseAppFile parses an app file of a dir generator: apps and projects, no generators.
// A file may hold a project and no app yet.
func parseAppFile(b []byte) (*Config, error) {
	if n := render.AliasNodes(b, maxAppFileAliasNodes); n > maxAppFileAliasNodes {
		return nil, errdefs.Invalid(fmt.Errorf("%w: its aliases expand to more than %d nodes", render.ErrAliasBomb, maxAppFileAliasNodes))
	}
	var cfg Config
	if err := yaml.UnmarshalStrict(b, &cfg); err != nil {
		return nil, errdefs.Invalid(fmt.Errorf("parsing: %w", err))
	}
	if len(cfg.Generators) > 0 {
		return nil, errdefs.Invalid(errors.New("generators: an app file of a generator cannot hold generators"))
	}
	if len(cfg.Apps) > 0 {
		if err := cfg.Validate(); err != nil {
			return nil, err
		}
	}
	return &cfg, nil
}
