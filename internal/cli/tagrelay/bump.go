package tagrelay

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/tagrelay/tagrelay/bump"
	"github.com/tagrelay/tagrelay/internal/cli/regflags"
	"github.com/tagrelay/tagrelay/internal/clirun"
	"github.com/tagrelay/tagrelay/internal/errdefs"
)

type bumpOptions struct {
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
	git         gitFlags
	cr          changeRequestOptions

	// registry check
	reg      regflags.Options
	noVerify bool
	waitFor  time.Duration
	digest   bool
}

// NewBumpCommand returns the bump command: point an image at a new tag in infra files.
func NewBumpCommand(env *clirun.Env) *cli.Command {
	o := &bumpOptions{}
	flags := []cli.Flag{
		&cli.StringSliceFlag{Name: "file", Aliases: []string{"f"}, Usage: "`PATH` of a file or directory to edit (repeatable; a directory means every YAML file below it)", EnvVars: []string{"TAGRELAY_FILE"}, Destination: &o.files, TakesFile: true},
		&cli.StringFlag{Name: "image", Aliases: []string{"i"}, Usage: "image `REPOSITORY` to bump, without tag (nginx, harbor.example/team/app)", EnvVars: []string{"TAGRELAY_IMAGE"}, Destination: &o.image},
		&cli.StringFlag{Name: "tag", Aliases: []string{"t"}, Usage: "new `TAG` (default: CI_COMMIT_SHORT_SHA, else GITHUB_SHA[:8], else HEAD[:8] of the current git repository)", EnvVars: []string{"TAGRELAY_TAG"}, Destination: &o.tag},
		&cli.StringSliceFlag{Name: "set", Usage: "`IMAGE=TAG` to bump (repeatable; all go in one change)", EnvVars: []string{"TAGRELAY_SET"}, Destination: &o.sets},
		&cli.StringFlag{Name: "key", Usage: "dotted `PATH` of one Helm value to set (image.tag, spec.values.app.image); default: find the image by repository", EnvVars: []string{"TAGRELAY_KEY"}, Destination: &o.key},
		&cli.StringFlag{Name: "kind", Value: string(bump.KindAuto), Usage: "file `KIND`: auto, kustomize, helm or manifest", EnvVars: []string{"TAGRELAY_KIND"}, Destination: &o.kind},
		&cli.BoolFlag{Name: "dry-run", Usage: "print the unified diff and write nothing", EnvVars: []string{"TAGRELAY_DRY_RUN"}, Destination: &o.dryRun},
		&cli.BoolFlag{Name: "allow-noop", Usage: "exit 0 (with a warning) instead of 3 when every tag is already current", EnvVars: []string{"TAGRELAY_ALLOW_NOOP"}, Destination: &o.allowNoop},
		&cli.StringFlag{Name: "repo", Usage: "git `URL` of the infra repository: fetch, edit, commit and push there instead of local files (--file paths are inside it)", EnvVars: []string{"TAGRELAY_REPO"}, Destination: &o.repo, Category: "Git"},
		&cli.StringFlag{Name: "branch", Usage: "`BRANCH` to update (default: the repository's default branch)", EnvVars: []string{"TAGRELAY_BRANCH"}, Destination: &o.branch, Category: "Git"},
		&cli.StringFlag{Name: "message", Aliases: []string{"m"}, Usage: "commit message, a Go `TEMPLATE` over .Images, .Changes, .Files, .Branch (default: \"deploy: IMAGE:TAG\" with the changes and the CI pipeline)", EnvVars: []string{"TAGRELAY_MESSAGE"}, Destination: &o.message, Category: "Git"},
		&cli.StringFlag{Name: "author-name", Usage: "commit author `NAME` (default: GITLAB_USER_NAME, GITHUB_ACTOR, tagrelay)", EnvVars: []string{"TAGRELAY_AUTHOR_NAME"}, Destination: &o.authorName, Category: "Git"},
		&cli.StringFlag{Name: "author-email", Usage: "commit author `EMAIL` (default: GITLAB_USER_EMAIL, the GitHub noreply address, tagrelay@localhost)", EnvVars: []string{"TAGRELAY_AUTHOR_EMAIL"}, Destination: &o.authorEmail, Category: "Git"},
		&cli.IntFlag{Name: "retries", Value: 10, Usage: "`N` times a push that lost a race with another pipeline is re-applied on the new tip and retried", EnvVars: []string{"TAGRELAY_RETRIES"}, Destination: &o.retries, Category: "Git"},
	}
	flags = append(flags, o.git.flags()...)
	flags = append(flags, o.cr.flags()...)
	flags = append(flags,
		&cli.BoolFlag{Name: "no-verify-image", Usage: "with --repo, do not check that the tag exists in the registry before committing", EnvVars: []string{"TAGRELAY_NO_VERIFY_IMAGE"}, Destination: &o.noVerify, Category: "Registry"},
		&cli.DurationFlag{Name: "wait-for-image", Usage: "wait up to `DURATION` (10m) for the build to push the tag before bumping", EnvVars: []string{"TAGRELAY_WAIT_FOR_IMAGE"}, Destination: &o.waitFor, Category: "Registry"},
		&cli.BoolFlag{Name: "digest", Usage: "resolve the tag's digest in the registry and write it too (pins the deploy; required where a digest is already pinned)", EnvVars: []string{"TAGRELAY_DIGEST"}, Destination: &o.digest, Category: "Registry"},
	)
	flags = append(flags, regflags.Flags(&o.reg)...)
	return &cli.Command{
		Name:  "bump",
		Usage: "point an image at a new tag in Kustomize, Helm values or manifests (local files or a git repository)",
		UsageText: "tagrelay bump --file kustomization.yaml --image harbor.example/team/app --tag $CI_COMMIT_SHORT_SHA\n" +
			"tagrelay bump --file values.yaml --image team/app --key image.tag --dry-run\n" +
			"tagrelay bump --file envs/ --set team/api=1a2b3c4d --set team/web=1a2b3c4d",
		Description: "Only the bytes of the tag change: comments, quoting, order, CRLF and a missing final newline stay.\n" +
			"A tag that is already current is refused (exit 3, nothing written) unless --allow-noop;\n" +
			"an image absent from the files is not found (exit 4, nothing written).",
		Flags:  append(flags, clirun.CommonFlags(&o.common)...),
		Action: func(c *cli.Context) error { return runBump(c, env, o) },
	}
}

func runBump(c *cli.Context, env *clirun.Env, o *bumpOptions) error {
	log, err := env.Begin(&o.common)
	if err != nil {
		return err
	}
	if c.Args().Present() {
		return clirun.Usagef("pass files with --file", "unexpected argument %q", c.Args().First())
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
	if err := o.verifyImages(c.Context, env, log, targets); err != nil {
		return err
	}
	if o.repo != "" {
		return runBumpRemote(c, env, o, log, targets, kind)
	}
	root, paths, err := localPaths(o.files.Value())
	if err != nil {
		return err
	}
	res, err := bump.Plan(os.DirFS(root), paths, targets, kind)
	if err = o.noop(log, err); err != nil || res == nil {
		return err
	}
	if o.dryRun {
		diff := res.Diff() // also fills each file's Patch for --output json
		return env.Emit(&o.common, res, diff, nil)
	}
	if err := bump.WriteFiles(root, res); err != nil {
		return err
	}
	return env.Emit(&o.common, res, describeChanges(res), bumpOutputs(res, ""))
}

// targets builds the requested changes from --image/--tag/--key and --set.
func (o *bumpOptions) targets(env *clirun.Env) ([]bump.Target, error) {
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
		return nil, err
	}
	return append(targets, t), nil
}

// noop turns a refused no-op into success with a warning when --allow-noop is set.
func (o *bumpOptions) noop(log *slog.Logger, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, bump.ErrUnchanged) {
		if o.allowNoop {
			log.Warn("no-op accepted (--allow-noop): nothing changed", "reason", err.Error())
			return nil
		}
		return errdefs.WithHint(err, "the deploy would not change; build and push a new commit, or pass --allow-noop to accept")
	}
	if errors.Is(err, bump.ErrImageNotFound) {
		return errdefs.WithHint(err, "check --image (matched by repository, exactly) and --file; images are never appended")
	}
	return err
}

// localPaths turns --file values into paths relative to one root for os.DirFS: the common
// directory of their absolute forms.
func localPaths(files []string) (root string, rel []string, err error) {
	abs := make([]string, len(files))
	for i, f := range files {
		if abs[i], err = filepath.Abs(f); err != nil {
			return "", nil, err
		}
	}
	root = filepath.Dir(abs[0])
	for _, a := range abs {
		for !strings.HasPrefix(a, root+string(filepath.Separator)) && a != root {
			root = filepath.Dir(root)
		}
	}
	for _, a := range abs {
		r, _ := filepath.Rel(root, a)
		rel = append(rel, filepath.ToSlash(r))
	}
	return root, rel, nil
}

func describeChanges(res *bump.Result) string {
	var b strings.Builder
	for _, ch := range res.Changes() {
		from := ch.From
		if from == "" {
			from = "(none)"
		}
		fmt.Fprintf(&b, "%s:%d: %s %s %s -> %s\n", ch.Path, ch.Line, ch.Image, ch.Field, from, ch.To)
	}
	for _, u := range res.Unchanged {
		fmt.Fprintf(&b, "unchanged: %s (already current)\n", u)
	}
	return b.String()
}

// bumpOutputs are the variables handed to the next CI job.
func bumpOutputs(res *bump.Result, commit string) []clirun.KV {
	var images, tags []string
	seen := map[string]bool{}
	for _, ch := range res.Changes() {
		if !seen[ch.Image] {
			seen[ch.Image] = true
			images = append(images, ch.Image)
			tags = append(tags, ch.To)
		}
	}
	kv := []clirun.KV{
		{Key: "TAGRELAY_BUMPED_IMAGES", Value: strings.Join(images, ",")},
		{Key: "TAGRELAY_BUMPED_TAGS", Value: strings.Join(tags, ",")},
	}
	if commit != "" {
		kv = append(kv, clirun.KV{Key: "TAGRELAY_BUMP_COMMIT", Value: commit})
	}
	return kv
}
