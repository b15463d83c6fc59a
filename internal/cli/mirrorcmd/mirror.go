// Package mirrorcmd is the tagrelay mirror command, in a package of its own so that the
// tagrelay-mirror binary links the mirror code and nothing of bump, the registry or the forges.
package mirrorcmd

import (
	"cmp"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/tagrelay/tagrelay/internal/cli/tlsflags"
	"github.com/tagrelay/tagrelay/internal/clirun"
	"github.com/tagrelay/tagrelay/internal/errdefs"
	"github.com/tagrelay/tagrelay/internal/gitauth"
	"github.com/tagrelay/tagrelay/mirror"
)

// mirrorSide is the flags of one remote.
type mirrorSide struct {
	url, user, token, tokenFile string
}

type mirrorOptions struct {
	common      clirun.Common
	source      mirrorSide
	dest        mirrorSide
	refs        cli.StringSlice
	pushOptions cli.StringSlice
	all, tags   bool
	prune       bool
	force       bool
	atomic      bool
	lfs         bool
	ciSkip      bool
	dryRun      bool
	allowNoop   bool
	cacheDir    string
	tls         tlsflags.Options
	timeout     time.Duration
}

// NewCommand returns the mirror command: copy branches and tags from one git remote to
// another, incrementally and without ever overwriting what the destination has on its own.
func NewCommand(env *clirun.Env) *cli.Command {
	o := &mirrorOptions{}
	return &cli.Command{
		Name:  "mirror",
		Usage: "mirror branches and tags of a git repository into another (incremental, never overwrites internal work)",
		UsageText: "tagrelay mirror --source https://github.com/org/app.git --dest https://gitlab.internal/team/app.git --ref main\n" +
			"tagrelay mirror --source URL --dest URL --all --tags --prune --push-option ci.skip\n" +
			"GIT_INPUT_URL=… GIT_OUTPUT_URL=… GIT_BRANCH_DEPLOY=main tagrelay mirror   # Cloud π Native .repo_pull_sync variables",
		Description: "Only refs/heads/* and refs/tags/* are mirrored; hidden refs (refs/merge-requests/*, …) never are.\n" +
			"Every ref that can be updated safely is pushed; a branch that would lose commits on the destination\n" +
			"(non-fast-forward) or a moved tag is refused and listed with its old and new commits (the --ref or\n" +
			"default branch first), and the command exits 4 at the end. --force applies them; --atomic pushes\n" +
			"nothing when one is refused. Every update carries the destination value it was planned against, so a\n" +
			"concurrent writer is never overwritten. --prune deletes only refs mirrored from the source before and\n" +
			"unchanged since. Commits holding Git LFS pointers are refused (exit 4) unless --lfs, which copies the\n" +
			"missing LFS objects to the destination's LFS server first. Nothing to change: exit 3 unless\n" +
			"--allow-noop (a refusal is exit 4 even then). Needs the git CLI (≥ 2.31).",
		Flags:  append(append(mirrorFlags(o), tlsflags.Flags(&o.tls)...), clirun.CommonFlags(&o.common)...),
		Action: func(c *cli.Context) error { return runMirror(c, env, o) },
	}
}

func mirrorFlags(o *mirrorOptions) []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "source", Usage: "`URL` of the repository to copy from (https; no scheme means https)", EnvVars: []string{"TAGRELAY_SOURCE", "GIT_INPUT_URL"}, Destination: &o.source.url, Category: "Source"},
		&cli.StringFlag{Name: "source-user", Usage: "user `NAME` for the source (default: oauth2, or x-access-token with GITHUB_TOKEN)", EnvVars: []string{"TAGRELAY_SOURCE_USER", "GIT_INPUT_USER"}, Destination: &o.source.user, Category: "Source"},
		&cli.StringFlag{Name: "source-token", Usage: "`TOKEN` or password for the source (prefer the env var or --source-token-file)", EnvVars: []string{"TAGRELAY_SOURCE_TOKEN", "GIT_INPUT_PASSWORD"}, Destination: &o.source.token, Category: "Source"},
		&cli.StringFlag{Name: "source-token-file", Usage: "read the source token from `FILE`", EnvVars: []string{"TAGRELAY_SOURCE_TOKEN_FILE"}, Destination: &o.source.tokenFile, TakesFile: true, Category: "Source"},
		&cli.StringFlag{Name: "dest", Usage: "`URL` of the repository to copy into", EnvVars: []string{"TAGRELAY_DEST", "GIT_OUTPUT_URL"}, Destination: &o.dest.url, Category: "Destination"},
		&cli.StringFlag{Name: "dest-user", Usage: "user `NAME` for the destination (default: oauth2, or gitlab-ci-token with CI_JOB_TOKEN)", EnvVars: []string{"TAGRELAY_DEST_USER", "GIT_OUTPUT_USER"}, Destination: &o.dest.user, Category: "Destination"},
		&cli.StringFlag{Name: "dest-token", Usage: "`TOKEN` or password for the destination, with write access", EnvVars: []string{"TAGRELAY_DEST_TOKEN", "GIT_OUTPUT_PASSWORD", "GITLAB_TOKEN"}, Destination: &o.dest.token, Category: "Destination"},
		&cli.StringFlag{Name: "dest-token-file", Usage: "read the destination token from `FILE`", EnvVars: []string{"TAGRELAY_DEST_TOKEN_FILE"}, Destination: &o.dest.tokenFile, TakesFile: true, Category: "Destination"},
		&cli.StringSliceFlag{Name: "ref", Usage: "`REF` to mirror, a branch or tag: main, v1.2.0, refs/heads/x, release/* (repeatable; default: the source's default branch)", EnvVars: []string{"TAGRELAY_REF", "GIT_BRANCH_DEPLOY"}, Destination: &o.refs, Category: "What"},
		&cli.BoolFlag{Name: "all", Usage: "mirror every branch", EnvVars: []string{"TAGRELAY_ALL", "SYNC_ALL"}, Destination: &o.all, Category: "What"},
		&cli.BoolFlag{Name: "tags", Usage: "mirror every tag", EnvVars: []string{"TAGRELAY_TAGS", "PUSH_TAGS"}, Destination: &o.tags, Category: "What"},
		&cli.BoolFlag{Name: "prune", Usage: "delete destination branches (--all) and tags (--tags) deleted in the source, if mirrored before and unchanged since", EnvVars: []string{"TAGRELAY_PRUNE"}, Destination: &o.prune, Category: "What"},
		&cli.BoolFlag{Name: "force", Usage: "apply non-fast-forward updates and moved tags instead of refusing them (exit 4)", EnvVars: []string{"TAGRELAY_FORCE"}, Destination: &o.force, Category: "What"},
		&cli.BoolFlag{Name: "atomic", Usage: "all or nothing: push no ref when one is refused or rejected (default: push every safe ref, report the others)", EnvVars: []string{"TAGRELAY_ATOMIC"}, Destination: &o.atomic, Category: "What"},
		&cli.BoolFlag{Name: "lfs", Usage: "copy the Git LFS objects of the mirrored commits to the destination's LFS server, only those it lacks (without it, LFS pointers are refused: exit 4)", EnvVars: []string{"TAGRELAY_LFS"}, Destination: &o.lfs, Category: "What"},
		&cli.StringSliceFlag{Name: "push-option", Usage: "git push `OPTION` for the destination (repeatable): ci.skip, ci.variable=K=V", EnvVars: []string{"TAGRELAY_PUSH_OPTION"}, Destination: &o.pushOptions, Category: "How"},
		&cli.BoolFlag{Name: "ci-skip", Usage: "same as --push-option ci.skip: GitLab creates no pipeline for the mirrored push", EnvVars: []string{"TAGRELAY_CI_SKIP", "CI_SKIP"}, Destination: &o.ciSkip, Category: "How"},
		&cli.StringFlag{Name: "cache-dir", Usage: "`DIR` of the persistent caches, one bare repository per source (default: $XDG_CACHE_HOME/tagrelay/mirror)", EnvVars: []string{"TAGRELAY_CACHE_DIR"}, Destination: &o.cacheDir, TakesFile: true, Category: "How"},
		&cli.BoolFlag{Name: "dry-run", Usage: "print the plan and push nothing (the cache is still fetched into)", EnvVars: []string{"TAGRELAY_DRY_RUN"}, Destination: &o.dryRun, Category: "How"},
		clirun.AllowNoopFlag(&o.allowNoop, "exit 0 (with a warning) instead of 3 when the destination is already up to date", "How"),
		clirun.TimeoutFlag(&o.timeout, 0, "give up after `DURATION`, the whole mirror (0: no limit)", "How", "TAGRELAY_TIMEOUT"),
	}
}

func runMirror(c *cli.Context, env *clirun.Env, o *mirrorOptions) error {
	log, err := env.Begin(&o.common)
	if err != nil {
		return err
	}
	if c.Args().Present() {
		return clirun.Usagef("pass the repositories with --source and --dest", "unexpected argument %q", c.Args().First())
	}
	src, err := o.source.remote(env, "source")
	if err != nil {
		return err
	}
	dst, err := o.dest.remote(env, "dest")
	if err != nil {
		return err
	}
	opts, err := o.libOptions(env)
	if err != nil {
		return err
	}
	caFile, caDone, err := o.tls.File(env)
	if err != nil {
		return err
	}
	defer caDone()
	opts.Logger, opts.CAFile, opts.Insecure = log, caFile, o.tls.Insecure
	if o.tls.Insecure {
		log.Warn("TLS verification is off for both remotes (--insecure)")
	}
	ctx, cancel := clirun.WithTimeout(c.Context, o.timeout)
	defer cancel()
	res, err := mirror.Sync(ctx, src, dst, opts)
	if res != nil && (res.Pushed || res.Refused > 0) && err != nil && !errors.Is(err, mirror.ErrUnchanged) {
		// A partial sync: say what was pushed and what was refused, then fail.
		if emitErr := env.Emit(&o.common, res, describeMirror(res), mirrorOutputs(res)); emitErr != nil {
			log.Error("writing the result", "error", emitErr)
		}
	}
	err = clirun.AcceptNoop(log, o.allowNoop, o.hint(err), "nothing to mirror; pass --allow-noop (or TAGRELAY_ALLOW_NOOP=true) to accept, e.g. in scheduled jobs")
	if err != nil {
		return err
	}
	return env.Emit(&o.common, res, describeMirror(res), mirrorOutputs(res))
}

// hint gives the mirror's errors the flags that fix them; the mirror package says what happened.
func (o *mirrorOptions) hint(err error) error {
	switch {
	case errors.Is(err, mirror.ErrNonFastForward):
		return errdefs.WithHint(err, "re-run with --force to overwrite them (each still only if unchanged since planned)")
	case errors.Is(err, mirror.ErrLFSPointers):
		return errdefs.WithHint(err, "pass --lfs (or TAGRELAY_LFS=true) to copy the LFS objects from the source's LFS server to the destination's")
	case errors.Is(err, mirror.ErrPruneScope):
		return errdefs.WithHint(err, "add --all and/or --tags to --prune")
	case errors.Is(err, mirror.ErrRefDeleted):
		return err // raced with the source: the library's "run again" is the step
	case errors.Is(err, mirror.ErrRefNotFound) && len(o.refs.Value()) == 0 && !o.all && !o.tags:
		return errdefs.WithHint(err, "pass --ref BRANCH or --all")
	case errors.Is(err, mirror.ErrRefNotFound):
		return errdefs.WithHint(err, "check --ref (a branch or tag name of the source)")
	}
	return err
}

// remote turns one side's flags into a mirror.Remote; credentials embedded in the URL are split
// out and every secret is registered with the redactor before anything can print it.
func (s mirrorSide) remote(env *clirun.Env, side string) (mirror.Remote, error) {
	if s.url == "" {
		return mirror.Remote{}, clirun.Usagef(fmt.Sprintf("pass --%s URL (or GIT_%s_URL)", side, map[string]string{"source": "INPUT", "dest": "OUTPUT"}[side]), "no %s repository given", side)
	}
	raw := s.url
	if !strings.Contains(raw, "://") {
		raw = "https://" + raw
	}
	clean, inURL, err := gitauth.FromURL(raw)
	if err != nil {
		return mirror.Remote{}, clirun.Usagef("check --"+side, "%s: %v", side, err)
	}
	env.Redactor.Add(inURL.Password)
	token, err := env.Secret(s.token, s.tokenFile)
	if err != nil {
		return mirror.Remote{}, err
	}
	creds := gitauth.Credentials{Username: s.user, Password: token}
	if token == "" {
		creds = gitauth.Credentials{Username: cmp.Or(s.user, inURL.Username), Password: inURL.Password}
	}
	if creds.Password != "" && creds.Username == "" {
		creds.Username = defaultUsername(env, creds.Password)
	}
	return mirror.Remote{URL: clean, Credentials: creds}, nil
}

// defaultUsername picks the user name conventionally paired with a token, from the variable
// that holds it.
func defaultUsername(env *clirun.Env, token string) string {
	for _, v := range []string{"GITHUB_TOKEN", "GH_TOKEN", "CI_JOB_TOKEN"} {
		if env.Getenv(v) == token {
			return gitauth.DefaultUsername(v)
		}
	}
	return gitauth.DefaultUsername("")
}

func (o *mirrorOptions) libOptions(env *clirun.Env) (mirror.Options, error) {
	opts := mirror.Options{
		Refs: trimAll(o.refs.Value()), All: o.all, Tags: o.tags, Prune: o.prune, Force: o.force,
		Atomic: o.atomic, LFS: o.lfs,
		DryRun: o.dryRun, PushOptions: trimAll(o.pushOptions.Value()), CacheDir: o.cacheDir,
	}
	if o.ciSkip {
		opts.PushOptions = append(opts.PushOptions, "ci.skip")
	}
	if opts.CacheDir == "" {
		var err error
		if opts.CacheDir, err = env.CacheDir("mirror"); err != nil {
			return opts, err
		}
	}
	if env.TTY {
		opts.Progress = env.Stderr
	}
	return opts, nil
}

func describeMirror(res *mirror.Result) string {
	var b strings.Builder
	for _, c := range res.Changes {
		switch c.Action {
		case mirror.ActionUnchanged, mirror.ActionRefused:
			continue // refusals are listed last, protected refs first
		case mirror.ActionCreate:
			fmt.Fprintf(&b, "%-12s %s %s\n", "created", c.Ref, shortSHA(c.New))
		case mirror.ActionUpdate:
			fmt.Fprintf(&b, "%-12s %s %s..%s\n", "updated", c.Ref, shortSHA(c.Old), shortSHA(c.New))
		case mirror.ActionForce:
			fmt.Fprintf(&b, "%-12s %s %s...%s (%s)\n", "forced", c.Ref, shortSHA(c.Old), shortSHA(c.New), c.Reason)
		case mirror.ActionDelete:
			fmt.Fprintf(&b, "%-12s %s %s\n", "deleted", c.Ref, shortSHA(c.Old))
		default:
			fmt.Fprintf(&b, "%-12s %s (%s)\n", c.Action, c.Ref, c.Reason)
		}
	}
	for _, c := range res.RefusedRefs {
		mark := ""
		if c.Protected {
			mark = " [deploy ref]"
		}
		fmt.Fprintf(&b, "%-12s %s %s...%s (%s)%s\n", "refused", c.Ref, shortSHA(c.Old), shortSHA(c.New), c.Reason, mark)
	}
	if l := res.LFS; l != nil && res.DryRun {
		fmt.Fprintf(&b, "%-12s %d objects: %d to copy, %d already on the destination\n", "lfs", l.Objects, l.Missing, l.Present)
	} else if l != nil {
		fmt.Fprintf(&b, "%-12s %d objects: %d copied (%d bytes), %d already on the destination\n", "lfs", l.Objects, l.Copied, l.Bytes, l.Present)
	}
	verb := "mirrored"
	switch {
	case res.DryRun:
		verb = "would mirror (dry run)"
	case res.Refused > 0 && !res.Pushed:
		verb = "refused"
	case res.Refused > 0:
		verb = "partly mirrored"
	}
	fmt.Fprintf(&b, "%s %s -> %s: %d created, %d updated, %d deleted, %d unchanged", verb, res.Source, res.Dest,
		res.Created, res.Updated, res.Deleted, res.Unchanged)
	if res.Kept > 0 {
		fmt.Fprintf(&b, ", %d kept", res.Kept)
	}
	if res.Refused > 0 {
		fmt.Fprintf(&b, ", %d refused", res.Refused)
	}
	return b.String()
}

// mirrorOutputs are the variables handed to the next CI job.
func mirrorOutputs(res *mirror.Result) []clirun.KV {
	var changed []string
	for _, c := range res.Changes {
		switch c.Action {
		case mirror.ActionUnchanged, mirror.ActionKept, mirror.ActionRefused:
		default:
			changed = append(changed, c.Ref)
		}
	}
	var refused []string
	for _, c := range res.RefusedRefs {
		refused = append(refused, c.Ref)
	}
	kv := []clirun.KV{
		{Key: "TAGRELAY_MIRROR_CREATED", Value: fmt.Sprint(res.Created)},
		{Key: "TAGRELAY_MIRROR_UPDATED", Value: fmt.Sprint(res.Updated)},
		{Key: "TAGRELAY_MIRROR_DELETED", Value: fmt.Sprint(res.Deleted)},
		{Key: "TAGRELAY_MIRROR_REFS", Value: strings.Join(changed, ",")},
	}
	if len(refused) > 0 {
		kv = append(kv, clirun.KV{Key: "TAGRELAY_MIRROR_REFUSED", Value: strings.Join(refused, ",")})
	}
	if res.LFS != nil {
		kv = append(kv, clirun.KV{Key: "TAGRELAY_MIRROR_LFS_COPIED", Value: fmt.Sprint(res.LFS.Copied)})
	}
	if len(res.Changes) == 1 && res.Changes[0].New != "" && res.Changes[0].Action != mirror.ActionRefused {
		kv = append(kv, clirun.KV{Key: "TAGRELAY_MIRROR_SHA", Value: res.Changes[0].New})
	}
	return kv
}

func shortSHA(h string) string {
	if len(h) > 8 {
		return h[:8]
	}
	return h
}

func trimAll(in []string) []string {
	var out []string
	for _, s := range in {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
