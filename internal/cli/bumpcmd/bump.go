// Package bumpcmd is the tagrelay bump command, in a package of its own so that the tagrelay-bump
// binary links bump, the registry check and the forges' merge/pull requests, and nothing of
// mirror, trigger or the reconciler.
package bumpcmd

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/urfave/cli/v2"

	"github.com/tagrelay/tagrelay/bump"
	"github.com/tagrelay/tagrelay/internal/cli/gitflags"
	"github.com/tagrelay/tagrelay/internal/cli/regflags"
	"github.com/tagrelay/tagrelay/internal/cli/tlsflags"
	"github.com/tagrelay/tagrelay/internal/clirun"
	"github.com/tagrelay/tagrelay/internal/errdefs"
)

type options struct {
	common    clirun.Common
	files     cli.StringSlice
	image     string
	tag       string
	key       string
	kind      string
	sets      cli.StringSlice
	dryRun    bool
	allowNoop bool

	// remote mode
	repo        string
	branch      string
	message     string
	authorName  string
	authorEmail string
	retries     int
	retryFor    time.Duration
	git         gitflags.Options
	cr          changeRequestFlags
	src         sourceFlags

	// registry check
	reg      regflags.Options
	tls      tlsflags.Options
	noVerify bool
	waitFor  time.Duration
	digest   bool

	render renderOptions
}

// NewCommand returns the bump command: point an image at a new tag in infra files.
func NewCommand(env *clirun.Env) *cli.Command {
	o := &options{}
	flags := []cli.Flag{
		&cli.StringSliceFlag{Name: "file", Aliases: []string{"f"}, Usage: "`PATH` of a file or directory to edit (repeatable; a directory means every YAML file below it; symbolic links are never followed)", EnvVars: []string{"TAGRELAY_FILE"}, Destination: &o.files, TakesFile: true},
		&cli.StringFlag{Name: "image", Aliases: []string{"i"}, Usage: "image `REPOSITORY` to bump, without tag (nginx, harbor.example/team/app)", EnvVars: []string{"TAGRELAY_IMAGE"}, Destination: &o.image},
		&cli.StringFlag{Name: "tag", Aliases: []string{"t"}, Usage: "new `TAG` (default: CI_COMMIT_SHORT_SHA, else GITHUB_SHA[:8], else HEAD[:8] of the current git repository)", EnvVars: []string{"TAGRELAY_TAG"}, Destination: &o.tag},
		&cli.StringSliceFlag{Name: "set", Usage: "`IMAGE=TAG` to bump (repeatable; all go in one change)", EnvVars: []string{"TAGRELAY_SET"}, Destination: &o.sets},
		&cli.StringFlag{Name: "key", Usage: "dotted `PATH` of one Helm value to set (image.tag, spec.values.app.image); default: find the image by repository", EnvVars: []string{"TAGRELAY_KEY"}, Destination: &o.key},
		&cli.StringFlag{Name: "kind", Value: string(bump.KindAuto), Usage: "file `KIND`: auto, kustomize, helm or manifest", EnvVars: []string{"TAGRELAY_KIND"}, Destination: &o.kind},
		&cli.BoolFlag{Name: "dry-run", Usage: "print the unified diff and write nothing", EnvVars: []string{"TAGRELAY_DRY_RUN"}, Destination: &o.dryRun},
		clirun.AllowNoopFlag(&o.allowNoop, "exit 0 (with a warning) instead of 3 when every tag is already current", ""),
		&cli.StringFlag{Name: "repo", Usage: "git `URL` of the infra repository: fetch, edit, commit and push there instead of local files (--file paths are inside it)", EnvVars: []string{"TAGRELAY_REPO"}, Destination: &o.repo, Category: "Git"},
		&cli.StringFlag{Name: "branch", Usage: "`BRANCH` to update (default: the repository's default branch)", EnvVars: []string{"TAGRELAY_BRANCH"}, Destination: &o.branch, Category: "Git"},
		&cli.StringFlag{Name: "message", Aliases: []string{"m"}, Usage: "commit message, a Go `TEMPLATE` over .Images, .Changes, .Files, .Branch (default: \"deploy: IMAGE:TAG\" with the changes and the CI pipeline)", EnvVars: []string{"TAGRELAY_MESSAGE"}, Destination: &o.message, Category: "Git"},
		&cli.StringFlag{Name: "author-name", Usage: "commit author `NAME` (default: GITLAB_USER_NAME, GITHUB_ACTOR, tagrelay)", EnvVars: []string{"TAGRELAY_AUTHOR_NAME"}, Destination: &o.authorName, Category: "Git"},
		&cli.StringFlag{Name: "author-email", Usage: "commit author `EMAIL` (default: GITLAB_USER_EMAIL, the GitHub noreply address, tagrelay@localhost)", EnvVars: []string{"TAGRELAY_AUTHOR_EMAIL"}, Destination: &o.authorEmail, Category: "Git"},
		&cli.IntFlag{Name: "retries", Usage: "at most `N` times a push that lost a race with another pipeline is re-applied on the new tip and retried (default: as often as --retry-timeout allows; 0: never)", EnvVars: []string{"TAGRELAY_RETRIES"}, Destination: &o.retries, Category: "Git"},
		&cli.DurationFlag{Name: "retry-timeout", Value: 10 * time.Minute, Usage: "retry a push that keeps losing races for up to `DURATION` (the wait between two attempts grows with the races lost, at random, so parallel pipelines spread out)", EnvVars: []string{"TAGRELAY_RETRY_TIMEOUT"}, Destination: &o.retryFor, Category: "Git"},
	}
	flags = append(flags, gitflags.Flags(&o.git)...)
	flags = append(flags, o.cr.flags()...)
	flags = append(flags, o.src.flags()...)
	flags = append(flags,
		&cli.BoolFlag{Name: "no-verify-image", Usage: "with --repo, do not check that the tag exists in the registry before committing", EnvVars: []string{"TAGRELAY_NO_VERIFY_IMAGE"}, Destination: &o.noVerify, Category: "Registry"},
		&cli.DurationFlag{Name: "wait-for-image", Usage: "wait up to `DURATION` (10m) for the build to push the tag before bumping", EnvVars: []string{"TAGRELAY_WAIT_FOR_IMAGE"}, Destination: &o.waitFor, Category: "Registry"},
		&cli.BoolFlag{Name: "digest", Usage: "resolve the tag's digest in the registry and write it too (pins the deploy; required where a digest is already pinned)", EnvVars: []string{"TAGRELAY_DIGEST"}, Destination: &o.digest, Category: "Registry"},
	)
	flags = append(flags, o.render.flags()...)
	flags = append(flags, regflags.Flags(&o.reg)...)
	flags = append(flags, tlsflags.Flags(&o.tls)...)
	return &cli.Command{
		Name:  "bump",
		Usage: "point an image at a new tag in Kustomize, Helm values or manifests (local files or a git repository)",
		UsageText: "tagrelay bump --file kustomization.yaml --image harbor.example/team/app --tag $CI_COMMIT_SHORT_SHA\n" +
			"tagrelay bump --file charts/app/values-prod.yaml --image team/app --render charts/app --values values-prod.yaml\n" +
			"tagrelay bump --explain --image team/app --render charts/app --values values-prod.yaml\n" +
			"tagrelay bump --file values.yaml --image team/app --key image.tag --dry-run\n" +
			"tagrelay bump --file envs/ --set team/api=1a2b3c4d --set team/web=1a2b3c4d",
		Description: "Only the bytes of the tag change: comments, quoting, order, CRLF and a missing final newline stay.\n" +
			"A tag that is already current is refused (exit 3, nothing written) unless --allow-noop;\n" +
			"an image absent from the files is not found (exit 4, nothing written); a symbolic link is refused (exit 2).\n" +
			"With --render (or --app), the edit is rendered in memory first, with the reconciler's render code: a bump\n" +
			"whose new tag no container of the render runs is refused (exit 4, nothing written), naming the file and key\n" +
			"that decide the tag instead (a later values file, an overlay's images:, a patch, a set value, a template).",
		Flags:  append(flags, clirun.CommonFlags(&o.common)...),
		Action: func(c *cli.Context) error { return run(c, env, o) },
	}
}

func run(c *cli.Context, env *clirun.Env, o *options) error {
	log, err := env.Begin(&o.common)
	if err != nil {
		return err
	}
	if c.Args().Present() {
		return clirun.Usagef("pass files with --file", "unexpected argument %q", c.Args().First())
	}
	if o.render.explain {
		if !o.render.enabled() {
			return clirun.Usagef("pass --render DIR (or --app NAME --apps FILE)", "--explain without a render")
		}
		return runExplain(c.Context, env, o)
	}
	targets, err := o.targets(env)
	if err != nil {
		return err
	}
	kind, err := bump.ParseKind(o.kind)
	if err != nil {
		return errdefs.Invalid(err)
	}
	if len(o.files.Value()) == 0 {
		return clirun.Usagef("pass --file PATH (a file or a directory)", "no file given")
	}
	check, err := o.imageCheck(env, log, targets)
	if err != nil {
		return err
	}
	if o.repo != "" {
		return runRemote(c, env, o, log, targets, kind, check)
	}
	if check != nil {
		digests, err := bump.CheckImages(c.Context, targets, check)
		if err != nil {
			return err
		}
		for i, t := range targets {
			log.Info("image found", "image", t.Image+":"+t.Tag, "digest", digests[i])
		}
		if o.digest {
			targets = bump.Pin(targets, digests)
		}
	}
	return runLocal(c.Context, env, o, log, targets, kind)
}

// localResult is the result of a local bump: the changes and the commit message to commit them
// with.
type localResult struct {
	*bump.Result
	Message string `json:"message"`
}

// runLocal edits files of a checkout in place.
func runLocal(ctx context.Context, env *clirun.Env, o *options, log *slog.Logger, targets []bump.Target, kind bump.Kind) error {
	files := o.files.Value()
	var check RenderChecker
	if o.render.enabled() {
		var err error
		if check, err = o.render.checker(); err != nil {
			return err
		}
		// One root holds the files, the render and the checkout's top (a Kustomize base the
		// overlay names may be anywhere in the checkout).
		top := checkoutTop(cmp.Or(o.render.dir, filepath.Dir(files[0])))
		files = append(append([]string{}, files...), top)
		if o.render.dir != "" {
			files = append(files, o.render.dir)
		}
	}
	root, paths, err := localPaths(files)
	if err != nil {
		return err
	}
	paths = paths[:len(o.files.Value())]
	if check != nil && o.render.dir != "" {
		if check.Settings().Path, err = localRenderDir(root, o.render.dir); err != nil {
			return err
		}
	} else if check != nil {
		// --app: its path is relative to the repository root, the top of the checkout of the
		// files.
		top, _ := localRenderDir(root, checkoutTop(filepath.Dir(files[0])))
		check.Settings().Path = path.Join(top, check.Settings().Path)
	}
	// The files are read through an os.Root: nothing below it can lead out of it.
	dir, err := os.OpenRoot(root)
	if err != nil {
		return clirun.Usagef("check --file", "opening %s: %v", root, err)
	}
	defer dir.Close()
	res, err := bump.Plan(dir.FS(), paths, targets, kind)
	if err == nil && check != nil {
		err = check.Check(ctx, dir.FS(), res, targets)
	}
	if err = o.outcome(log, err); err != nil || res == nil {
		return err
	}
	if o.dryRun {
		diff := res.Diff() // also fills each file's Patch for --output json
		return env.Emit(&o.common, res, diff, nil)
	}
	src, err := o.src.source(log, targets, ciSource(env))
	if err != nil {
		return err
	}
	msg, err := o.src.writeLocalMessage(CIPushOptions(env, o.message, "", "").Message, res, targets, src)
	if err != nil {
		return err
	}
	if err := bump.WriteFiles(root, res); err != nil {
		if o.src.writeMessage != "" {
			os.Remove(o.src.writeMessage)
		}
		return err
	}
	return env.Emit(&o.common, localResult{res, msg}, describeChanges(res), outputs(res, ""))
}

// targets builds the requested changes from --image/--tag/--key and --set.
func (o *options) targets(env *clirun.Env) ([]bump.Target, error) {
	var targets []bump.Target
	for _, s := range o.sets.Value() {
		t, err := bump.ParseTarget(s)
		if err != nil {
			return nil, errdefs.WithHint(err, "use --set IMAGE=TAG, e.g. --set harbor.example/team/app=1a2b3c4d")
		}
		targets = append(targets, t)
	}
	if o.image == "" {
		if len(targets) == 0 {
			return nil, clirun.Usagef("pass --image REPOSITORY (and --tag) or --set IMAGE=TAG", "no image given")
		}
		if o.key != "" {
			return nil, clirun.Usagef("--key applies to --image", "--key given without --image")
		}
		return targets, nil
	}
	tag := o.tag
	if tag == "" {
		var err error
		if tag, err = env.DefaultTag(); err != nil {
			return nil, err
		}
	}
	t := bump.Target{Image: o.image, Tag: tag, Key: o.key}
	if err := t.Validate(); err != nil {
		return nil, errdefs.WithHint(err, "pass the repository with --image and the tag with --tag (or --set IMAGE=TAG)")
	}
	return append(targets, t), nil
}

// outcome gives bump's errors the flags that fix them, and turns a refused no-op into success
// with a warning under --allow-noop.
func (o *options) outcome(log *slog.Logger, err error) error {
	switch {
	case errors.Is(err, bump.ErrUnchanged):
		return clirun.AcceptNoop(log, o.allowNoop, err, "the deploy would not change; build and push a new commit, or pass --allow-noop to accept")
	case errors.Is(err, bump.ErrRaceLost):
		return errdefs.WithHint(err, "other pipelines kept pushing to the branch; raise --retry-timeout (or --retries), or run again")
	case errors.Is(err, bump.ErrImageNotFound):
		return errdefs.WithHint(err, "check --image (matched by repository, exactly) and --file; images are never appended")
	case errors.Is(err, bump.ErrPinnedDigest):
		return errdefs.WithHint(err, "pass --digest to resolve the tag's digest in the registry and write it too")
	case errors.Is(err, bump.ErrNotRendered):
		return renderHint(err)
	case errors.Is(err, bump.ErrSymlink):
		return errdefs.WithHint(err, "pass the file the link points to with --file; nothing was written")
	case errors.Is(err, bump.ErrOutsideTree):
		return errdefs.WithHint(err, "with --repo, --file paths are relative to the repository root")
	case errors.Is(err, transport.ErrAuthenticationRequired), errors.Is(err, transport.ErrAuthorizationFailed):
		return errdefs.WithHint(err, "check the token (--token-file, GITLAB_TOKEN, GITHUB_TOKEN) and that it may write to the repository")
	}
	return err
}

// localPaths turns --file values into paths relative to one root: the common directory of their
// absolute forms.
func localPaths(files []string) (root string, rel []string, err error) {
	abs := make([]string, len(files))
	for i, f := range files {
		if abs[i], err = filepath.Abs(f); err != nil {
			return "", nil, err
		}
	}
	root = filepath.Dir(abs[0])
	for _, a := range abs {
		for !within(a, root) {
			root = filepath.Dir(root)
		}
	}
	for _, a := range abs {
		r, _ := filepath.Rel(root, a)
		rel = append(rel, filepath.ToSlash(r))
	}
	return root, rel, nil
}

// within reports whether path p is dir or below it.
func within(p, dir string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}
