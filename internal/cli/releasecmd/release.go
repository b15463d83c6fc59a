// Package releasecmd is the tagrelay release command: push -> bump -> mirror -> trigger -> wait,
// from the app repository's .tagrelay.yaml, confirmed first, safe to run again.
package releasecmd

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"regexp"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/tagrelay/tagrelay/internal/cli/bumpcmd"
	"github.com/tagrelay/tagrelay/internal/cli/bumpcmd/renderengine"
	"github.com/tagrelay/tagrelay/internal/cli/gitflags"
	"github.com/tagrelay/tagrelay/internal/cli/regflags"
	"github.com/tagrelay/tagrelay/internal/cli/tlsflags"
	"github.com/tagrelay/tagrelay/internal/clirun"
	"github.com/tagrelay/tagrelay/internal/errdefs"
	"github.com/tagrelay/tagrelay/release"
)

type options struct {
	common   clirun.Common
	version  string
	config   string
	commit   string
	yes      bool
	dryRun   bool
	cacheDir string
	registry regflags.Options
	tls      tlsflags.Options
	git      gitflags.Options

	caDone func() // removes the mirrors' CA file, when one was written
}

// NewCommand returns the release command.
func NewCommand(env *clirun.Env) *cli.Command {
	o := &options{caDone: func() {}}
	flags := []cli.Flag{
		&cli.StringFlag{Name: "version", Usage: "`VERSION` to release (v1.4.0): the commit's image is promoted to that tag and deployed; default: the commit's own tag", EnvVars: []string{"TAGRELAY_RELEASE_VERSION"}, Destination: &o.version},
		&cli.StringFlag{Name: "config", Aliases: []string{"c"}, Value: release.DefaultConfigFile, Usage: "release configuration `FILE`", EnvVars: []string{"TAGRELAY_CONFIG"}, Destination: &o.config, TakesFile: true},
		&cli.StringFlag{Name: "commit", Usage: "`TAG` of the commit's image (default: CI_COMMIT_SHORT_SHA, else GITHUB_SHA[:8], else HEAD[:8])", EnvVars: []string{"TAGRELAY_COMMIT"}, Destination: &o.commit},
		&cli.BoolFlag{Name: "yes", Aliases: []string{"y"}, Usage: "do not ask for confirmation (scripts and CI)", EnvVars: []string{"TAGRELAY_YES"}, Destination: &o.yes},
		&cli.BoolFlag{Name: "dry-run", Usage: "print the plan and write nothing", EnvVars: []string{"TAGRELAY_DRY_RUN"}, Destination: &o.dryRun},
		&cli.StringFlag{Name: "cache-dir", Usage: "`DIR` of the mirrors' caches (default: $XDG_CACHE_HOME/tagrelay/mirror)", EnvVars: []string{"TAGRELAY_CACHE_DIR"}, Destination: &o.cacheDir},
	}
	flags = append(flags, regflags.Flags(&o.registry)...)
	flags = append(flags, tlsflags.Flags(&o.tls)...)
	flags = append(flags, gitflags.Flags(&o.git)...)
	return &cli.Command{
		Name:  "release",
		Usage: "release the commit: promote its image, bump the infra repository, mirror, trigger the deploy and wait",
		UsageText: "tagrelay release --version v1.4.0             # shows the plan, asks, runs\n" +
			"tagrelay release --version v1.4.0 --yes       # in scripts\n" +
			"tagrelay release --version v1.4.0 --dry-run   # the plan only",
		Description: "Steps run in order and stop at the first failure, saying what was done and what was not.\n" +
			"A step already done (tag present, files at the tag, refs mirrored, image running) is not repeated,\n" +
			"so an interrupted release can be run again; when every step was already done it exits 3.",
		Flags:  append(flags, clirun.CommonFlags(&o.common)...),
		Action: func(c *cli.Context) error { return regflags.Hint(run(c, env, o)) },
	}
}

// versionRE is a semantic version with an optional v, which is also a valid OCI tag.
var versionRE = regexp.MustCompile(`^v?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$`)

func run(c *cli.Context, env *clirun.Env, o *options) error {
	log, err := env.Begin(&o.common)
	if err != nil {
		return err
	}
	if c.Args().Present() {
		return clirun.Usagef("pass the version with --version", "unexpected argument %q", c.Args().First())
	}
	if o.version != "" && !versionRE.MatchString(o.version) {
		return clirun.Usagef("use a semantic version such as v1.4.0", "invalid version %q", o.version)
	}
	if !o.yes && !o.dryRun && !env.TTY {
		return clirun.Usagef("pass --yes to release without confirmation (or --dry-run to see the plan)", "no terminal to confirm the release on")
	}
	cfg, err := release.LoadConfig(o.config)
	if errors.Is(err, fs.ErrNotExist) {
		return errdefs.WithHint(err, "write a "+release.DefaultConfigFile+" (see docs/release.md) or pass --config FILE")
	}
	if err != nil {
		return err
	}
	opts, err := o.options(env, log, cfg)
	defer o.caDone()
	if err != nil {
		return err
	}
	opts.Progress = func(s release.StepResult) { progressLine(env, s) }
	rel, err := release.Plan(c.Context, cfg, opts)
	if err != nil {
		return err
	}
	fmt.Fprint(env.Stdout, describeRelease(rel))
	if o.dryRun {
		return env.Emit(&o.common, rel, "", nil)
	}
	if !rel.Pending() {
		fmt.Fprintln(env.Stderr, "every step is already done; checking each once more")
	} else if !o.yes && !confirm(env) {
		return errdefs.WithHint(errdefs.Invalid(errors.New("release not confirmed")), "nothing was written")
	}
	err = rel.Run(c.Context)
	if errors.Is(err, release.ErrAlreadyReleased) {
		return errdefs.WithHint(err, "nothing was written: this release is already out; release a new commit or a new version")
	}
	if err != nil {
		return err
	}
	return env.Emit(&o.common, rel, "released "+rel.Image, []clirun.KV{
		{Key: "TAGRELAY_RELEASE_VERSION", Value: rel.Version},
		{Key: "TAGRELAY_RELEASE_IMAGE", Value: rel.Image},
		{Key: "TAGRELAY_RELEASE_STATUS", Value: "done"},
	})
}

// options builds the library's clients from the flags: one TLS configuration for the registry,
// git, the mirrors and the reconciler.
func (o *options) options(env *clirun.Env, log *slog.Logger, cfg *release.Config) (release.Options, error) {
	commit := o.commit
	if commit == "" {
		var err error
		if commit, err = env.DefaultTag(); err != nil {
			return release.Options{}, err
		}
	}
	reg, err := o.registry.Client(env, log, &o.tls, 0, regflags.RegistryOf(cfg.Image.Repository))
	if err != nil {
		return release.Options{}, err
	}
	opts := release.Options{Version: o.version, Commit: commit, Registry: reg, Logger: log, GitInsecure: o.tls.Insecure,
		Secret: func(name, file string) (string, error) { return env.Secret(env.Getenv(name), file) }}
	if cfg.Infra != nil {
		if _, opts.Git, err = o.git.Credentials(env, log, cfg.Infra.Repo, o.tls.Insecure); err != nil {
			return release.Options{}, err
		}
		opts.Bump = bumpcmd.CIPushOptions(env, "", "", "")
		opts.RenderCheck = renderengine.RenderCheck
	}
	if opts.GitCABundle, err = o.tls.Bundle(env); err != nil {
		return release.Options{}, err
	}
	if cfg.Trigger != nil && cfg.Trigger.Reconciler != nil {
		if opts.HTTPClient, err = o.tls.HTTPClient(env, log, cfg.Trigger.Reconciler.URL, 0); err != nil {
			return release.Options{}, err
		}
	}
	if len(cfg.Mirrors) > 0 {
		if opts.MirrorCacheDir = o.cacheDir; opts.MirrorCacheDir == "" {
			if opts.MirrorCacheDir, err = env.CacheDir("mirror"); err != nil {
				return release.Options{}, err
			}
		}
		file, done, err := o.tls.File(env)
		if err != nil {
			return release.Options{}, err
		}
		opts.MirrorCAFile, o.caDone = file, done
	}
	return opts, nil
}

func describeRelease(r *release.Release) string {
	var b strings.Builder
	what := "commit " + r.Commit
	if r.Version != "" {
		what = r.Version + " (commit " + r.Commit + ")"
	}
	fmt.Fprintf(&b, "release %s: deploy %s\n", what, r.Image)
	for i, s := range r.Steps {
		mark := "will run"
		if s.Status == release.StatusAlreadyDone {
			mark = "already done"
		}
		fmt.Fprintf(&b, "  %d. %-7s [%s] %s\n", i+1, s.Kind, mark, s.Plan)
	}
	return b.String()
}

func progressLine(env *clirun.Env, s release.StepResult) {
	switch s.Status {
	case release.StatusDone:
		fmt.Fprintf(env.Stderr, "done    %s: %s\n", s.Kind, s.Detail)
	case release.StatusAlreadyDone:
		fmt.Fprintf(env.Stderr, "skipped %s: already done: %s\n", s.Kind, s.Detail)
	case release.StatusFailed:
		fmt.Fprintf(env.Stderr, "failed  %s: %s\n", s.Kind, s.Error)
	case release.StatusRunning:
		fmt.Fprintf(env.Stderr, "running %s %s\n", s.Kind, s.Target)
	}
}

// confirm asks on the terminal; only "y" or "yes" goes on.
func confirm(env *clirun.Env) bool {
	fmt.Fprint(env.Stderr, "Release? [y/N] ")
	line, _ := bufio.NewReader(env.Stdin).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true
	}
	return false
}
