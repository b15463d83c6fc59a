package reconcile

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/tagrelay/tagrelay/internal/errdefs"
)

// The server reads its config again when it changes, without a restart: the apps file, the app
// files of dir generators, and the token files they name are watched (fsnotify, on their
// directories), and the git generators are read every poll interval. A ConfigMap or Secret
// mounted as a volume changes by a symlink swap (kubelet writes a new ..2025_… directory and
// renames the ..data symlink onto it): an event on ..data counts as a change of every file of
// the directory.
//
// A reload is all or nothing per source: an apps file that does not parse, or a merge that
// fails (two projects claiming a namespace), keeps the apps and projects in use and says why in
// the log and in tagrelay_reconciler_config_reloads_total{result="error"}; an app file of a dir
// generator that does not parse keeps what that file gave last; a git generator that cannot be
// read keeps its apps. Two sources naming the same app: the first wins (apps file, dir files by
// name, git generators in order), the other is reported.

// ConfigSource is where the server's config comes from and is read again from.
type ConfigSource struct {
	// File is the apps file.
	File string
	// Getenv looks up auth.tokenEnv variables. Default: none are set.
	Getenv func(string) string
	// Secrets, when set, receives the tokens and git credentials of each config read, for the
	// caller's redactor.
	Secrets func(...string)
	// PruneRemoved deletes the objects of an app removed from the apps file itself (not from a
	// generator: each generator says). Default: false, the objects stay.
	PruneRemoved bool
	// Namespace is the reconciler's own namespace: a generated app that targets it is left out
	// (see Config.CheckNamespaces).
	Namespace string
}

// configPart is what one source gave last: the apps file, an app file of a dir generator, or a
// git generator.
type configPart struct {
	apps     []App
	projects Projects
	prune    bool
}

// reloadDebounce gathers the events of one change (an editor's write-rename, a symlink swap).
const reloadDebounce = 200 * time.Millisecond

// Load reads the apps file and the app files of its dir generators (the git generators are
// read by the server) and returns the merged config. Used at start. An error is the apps
// file's, and nothing runs; warnings are the app files that failed and the apps left out of
// the merge: the rest runs, as on a reload.
func (cs *ConfigSource) Load() (cfg *Config, warnings, err error) {
	file, err := cs.readFile()
	if err != nil {
		return nil, nil, err
	}
	parts := map[string]*configPart{"file": {apps: file.Apps, projects: file.Projects, prune: cs.PruneRemoved}}
	var warns []error
	for _, g := range file.Generators {
		if g.Dir != "" {
			if err := cs.readDir(g, parts, nil); err != nil {
				warns = append(warns, fmt.Errorf("generator %s: %w", g.Dir, err))
			}
		}
	}
	merged, _, left, err := mergeParts(parts, cs.Namespace)
	if err != nil {
		return nil, nil, errdefs.Invalid(err)
	}
	merged.Limits, merged.Generators = file.Limits, file.Generators
	return merged, errors.Join(append(warns, left...)...), nil
}

// readFile reads and validates the apps file, with its credentials and project tokens.
func (cs *ConfigSource) readFile() (*Config, error) {
	cfg, err := LoadConfig(cs.File)
	if err != nil {
		return nil, err
	}
	if err := cfg.CheckNamespaces(cs.Namespace); err != nil {
		return nil, fmt.Errorf("config %s: %w", cs.File, err)
	}
	if err := cs.resolve(cfg); err != nil {
		return nil, fmt.Errorf("config %s: %w", cs.File, err)
	}
	for i := range cfg.Generators {
		if err := cfg.Generators[i].resolveCredentials(cs.getenv); err != nil {
			return nil, fmt.Errorf("config %s: generator %d: %w", cs.File, i+1, err)
		}
		if g := cfg.Generators[i].Git; g != nil && cs.Secrets != nil && g.Credentials.Password != "" {
			cs.Secrets(g.Credentials.Password)
		}
	}
	return cfg, nil
}

func (cs *ConfigSource) getenv(k string) string {
	if cs.Getenv == nil {
		return ""
	}
	return cs.Getenv(k)
}

// resolve reads the credentials and project tokens of cfg and hands them to Secrets.
func (cs *ConfigSource) resolve(cfg *Config) error {
	if err := cfg.ResolveCredentials(cs.getenv); err != nil {
		return err
	}
	if err := cfg.Projects.ResolveTokens(); err != nil {
		return err
	}
	if cs.Secrets != nil {
		cs.Secrets(append(cfg.Secrets(), cfg.Projects.Secrets()...)...)
	}
	return nil
}

// readDir reads the app files of a dir generator into parts ("dir:" + path). A file that
// fails keeps what it gave last (in prev) and is reported in the error.
func (cs *ConfigSource) readDir(g Generator, parts, prev map[string]*configPart) error {
	files, errs, err := readAppFiles(g.Dir)
	if err != nil {
		return err
	}
	for p, cfg := range files {
		if err := cs.resolve(cfg); err != nil {
			errs[p] = err
			continue
		}
		parts["dir:"+p] = &configPart{apps: cfg.Apps, projects: cfg.Projects, prune: g.Prune}
	}
	var out []error
	for p, err := range errs {
		if last := prev["dir:"+p]; last != nil {
			parts["dir:"+p] = last
		}
		out = append(out, fmt.Errorf("%s: %w", p, err))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Error() < out[j].Error() })
	return errors.Join(out...)
}

// mergeParts merges the parts in order (file, dir files by path, git generators): the first
// part naming an app keeps it. An app of a later part is left out too when it targets the
// reconciler's namespace (ns) or a namespace an app of an earlier part has, unless both say
// sharedNamespace. It returns the config, which apps to prune once removed, what it
// left out, and an error when the merged projects are invalid (the merge is then refused).
func mergeParts(parts map[string]*configPart, ns string) (cfg *Config, prune map[string]bool, left []error, err error) {
	keys := make([]string, 0, len(parts))
	for k := range parts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return partOrder(keys[i]) < partOrder(keys[j]) })
	cfg, prune = &Config{}, map[string]bool{}
	from := map[string]string{}
	type owner struct {
		part, app string
		shared    bool
	}
	byNS := map[string]owner{}
	for _, k := range keys {
		for _, a := range parts[k].apps {
			if other, dup := from[a.Name]; dup {
				left = append(left, fmt.Errorf("app %s of %s left out: %s has it", a.Name, k, other))
				continue
			}
			if err := a.reservedNamespace(ns); err != nil {
				left = append(left, fmt.Errorf("app %s of %s left out: %w", a.Name, k, err))
				continue
			}
			if o, ok := byNS[a.Namespace]; ok && o.part != k && !(o.shared && a.SharedNamespace) {
				left = append(left, fmt.Errorf("app %s of %s left out: %w: app %s of %s targets namespace %s (set sharedNamespace: true on both to share it)",
					a.Name, k, ErrNamespace, o.app, o.part, a.Namespace))
				continue
			} else if !ok {
				byNS[a.Namespace] = owner{part: k, app: a.Name, shared: a.SharedNamespace}
			}
			from[a.Name] = k
			cfg.Apps = append(cfg.Apps, a)
			prune[a.Name] = parts[k].prune
		}
		cfg.Projects = append(cfg.Projects, parts[k].projects...)
	}
	if err := cfg.Projects.Validate(); err != nil {
		return nil, nil, left, fmt.Errorf("merging the projects: %w", err)
	}
	return cfg, prune, left, nil
}

// partOrder sorts the parts: the apps file, then dir files, then git generators.
func partOrder(k string) string {
	switch {
	case k == "file":
		return "0"
	case strings.HasPrefix(k, "dir:"):
		return "1" + k
	}
	return "2" + k
}

// watchConfig reloads the config when its files change and reads the git generators every
// Interval, until ctx ends.
func (s *Server) watchConfig(ctx context.Context) {
	cs := s.opts.Config
	w, err := fsnotify.NewWatcher()
	if err != nil {
		s.log.Warn("watching the config; it is read again only by the git generators' polls", "error", err)
	} else {
		defer w.Close()
	}
	var events chan fsnotify.Event
	var watchErrs chan error
	if w != nil {
		events, watchErrs = w.Events, w.Errors
	}
	s.reloadAll(ctx, w)
	var gitTick <-chan time.Time
	if s.opts.Interval > 0 {
		gitTick = time.After(s.opts.Interval)
	}
	var debounce <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			if s.relevant(ev, cs) {
				debounce = time.After(reloadDebounce)
			}
		case err, ok := <-watchErrs:
			if !ok {
				watchErrs = nil
				continue
			}
			s.log.Warn("watching the config", "error", err)
		case <-debounce:
			debounce = nil
			s.reloadFiles(w)
		case <-gitTick:
			s.reloadGit(ctx)
			gitTick = time.After(s.opts.Interval)
		}
	}
}

// relevant reports whether a file event may change the config: the apps file, a file of a dir
// generator, a token file, or a ..data swap in one of their directories.
func (s *Server) relevant(ev fsnotify.Event, cs *ConfigSource) bool {
	base := filepath.Base(ev.Name)
	if base == "..data" {
		return true
	}
	if strings.HasPrefix(base, ".") || ev.Op == fsnotify.Chmod {
		return false
	}
	return s.watched()[filepath.Clean(ev.Name)] || s.watchedDirs()[filepath.Dir(filepath.Clean(ev.Name))]
}

// reloadAll reads every source once (the git generators first: NewServer had only the files)
// and starts watching.
func (s *Server) reloadAll(ctx context.Context, w *fsnotify.Watcher) {
	s.reloadGit(ctx)
	s.reloadFiles(w)
}

// reloadFiles reads the apps file and the dir generators again and applies the result.
func (s *Server) reloadFiles(w *fsnotify.Watcher) {
	cs := s.opts.Config
	cfg, err := cs.readFile()
	if err != nil {
		s.metrics.reloads.WithLabelValues("file", "error").Inc()
		s.log.Error("config reload refused; the apps and projects in use stay", "file", cs.File, "error", err)
		s.watch(w, nil)
		return
	}
	s.setMu.Lock()
	prev := s.sources
	parts := map[string]*configPart{"file": {apps: cfg.Apps, projects: cfg.Projects, prune: cs.PruneRemoved}}
	for k, p := range prev {
		if strings.HasPrefix(k, "git:") {
			parts[k] = p
		}
	}
	s.gens = cfg.Generators
	s.setMu.Unlock()
	for _, g := range cfg.Generators {
		if g.Dir == "" {
			continue
		}
		if err := cs.readDir(g, parts, prev); err != nil {
			s.metrics.reloads.WithLabelValues("dir", "error").Inc()
			s.log.Error("app files left out; what they gave last stays", "dir", g.Dir, "error", err)
		}
	}
	s.metrics.reloads.WithLabelValues("file", "ok").Inc()
	s.apply(parts)
	s.watch(w, cfg)
}

// apply merges parts and makes the result the server's config, unless the merge fails.
func (s *Server) apply(parts map[string]*configPart) {
	cfg, prune, left, err := mergeParts(parts, s.opts.Config.Namespace)
	for _, e := range left {
		s.log.Error("config", "error", e)
	}
	if err == nil {
		err = checkProjectTokens(cfg.Projects, s.opts.Token)
	}
	if err != nil {
		s.metrics.reloads.WithLabelValues("merge", "error").Inc()
		s.log.Error("config reload refused; the apps and projects in use stay", "error", err)
		return
	}
	s.setMu.Lock()
	old := s.prunable
	s.sources, s.prunable = parts, prune
	s.setMu.Unlock()
	if sameConfig(s.current(), cfg) {
		return
	}
	s.replace(cfg.Apps, cfg.Projects, old)
	s.log.Info("config reloaded", "apps", len(cfg.Apps), "projects", len(cfg.Projects))
}

// sameConfig reports whether cfg has the apps and projects of set.
func sameConfig(set *appSet, cfg *Config) bool {
	if len(set.apps) != len(cfg.Apps) || len(set.projects) != len(cfg.Projects) {
		return false
	}
	for _, a := range cfg.Apps {
		st := set.apps[a.Name]
		if st == nil || !sameSpec(st.spec(), a) {
			return false
		}
	}
	for i := range cfg.Projects {
		if cfg.Projects[i].Name != set.projects[i].Name || cfg.Projects[i].Token != set.projects[i].Token ||
			strings.Join(cfg.Projects[i].Namespaces, ",") != strings.Join(set.projects[i].Namespaces, ",") ||
			strings.Join(cfg.Projects[i].GitLabProjects, ",") != strings.Join(set.projects[i].GitLabProjects, ",") {
			return false
		}
	}
	return true
}

// watch makes the watcher follow the directories of the apps file, the dir generators and the
// token files.
func (s *Server) watch(w *fsnotify.Watcher, cfg *Config) {
	cs := s.opts.Config
	files := map[string]bool{filepath.Clean(cs.File): true}
	dirs := map[string]bool{}
	if cfg != nil {
		for _, g := range cfg.Generators {
			if g.Dir != "" {
				dirs[filepath.Clean(g.Dir)] = true
			}
		}
	}
	set := s.current()
	for _, st := range set.apps {
		if f := st.spec().Auth.TokenFile; f != "" {
			files[filepath.Clean(f)] = true
		}
	}
	for _, p := range set.projects {
		if p.TokenFile != "" {
			files[filepath.Clean(p.TokenFile)] = true
		}
	}
	s.setMu.Lock()
	if cfg != nil {
		s.watchFiles, s.watchDirs = files, dirs
	} else {
		files, dirs = s.watchFiles, s.watchDirs
	}
	s.setMu.Unlock()
	if w == nil {
		return
	}
	want := map[string]bool{}
	for f := range files {
		want[filepath.Dir(f)] = true
	}
	for d := range dirs {
		want[d] = true
	}
	have := map[string]bool{}
	for _, d := range w.WatchList() {
		have[d] = true
	}
	for d := range want {
		if !have[d] {
			if err := w.Add(d); err != nil && !errors.Is(err, os.ErrNotExist) {
				s.log.Warn("watching the config", "dir", d, "error", err)
			}
		}
	}
	for d := range have {
		if !want[d] {
			_ = w.Remove(d)
		}
	}
}

func (s *Server) watched() map[string]bool {
	s.setMu.Lock()
	defer s.setMu.Unlock()
	return s.watchFiles
}

func (s *Server) watchedDirs() map[string]bool {
	s.setMu.Lock()
	defer s.setMu.Unlock()
	return s.watchDirs
}
