// Package pushcmd is the tagrelay push command, in a package of its own so that the tagrelay-push
// binary links the registry code and nothing of bump, mirror or the forges.
package pushcmd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/urfave/cli/v2"

	"github.com/tagrelay/tagrelay/internal/cli/regflags"
	"github.com/tagrelay/tagrelay/internal/cli/tlsflags"
	"github.com/tagrelay/tagrelay/internal/clirun"
	"github.com/tagrelay/tagrelay/internal/errdefs"
	"github.com/tagrelay/tagrelay/registry"
)

type pushOptions struct {
	common       clirun.Common
	reg          regflags.Options
	tls          tlsflags.Options
	source       string
	dest         string
	tags         cli.StringSlice
	check        string
	force        bool
	allowNoop    bool
	dryRun       bool
	jobs         int
	timeout      time.Duration
	requireScan  scanSeverity
	harborURL    string
	scanTimeout  time.Duration
	scanInterval time.Duration
}

// NewCommand returns the push command: put an image under the commit's tag in a registry.
func NewCommand(env *clirun.Env) *cli.Command {
	o := &pushOptions{}
	flags := []cli.Flag{
		&cli.StringFlag{Name: "source", Aliases: []string{"s"}, Usage: "image to push, `SRC`: an OCI layout directory, an OCI or docker tarball, or a registry reference (prefixes oci:, oci-archive:, docker-archive:, docker:// force the kind)", EnvVars: []string{"TAGRELAY_SOURCE"}, Destination: &o.source, TakesFile: true},
		&cli.StringFlag{Name: "dest", Aliases: []string{"d"}, Usage: "destination `REPOSITORY` (harbor.example/team/app)", EnvVars: []string{"TAGRELAY_DEST"}, Destination: &o.dest},
		&cli.StringSliceFlag{Name: "tag", Aliases: []string{"t"}, Usage: "`TAG` to push (repeatable; default: CI_COMMIT_SHORT_SHA, else GITHUB_SHA[:8], else HEAD[:8])", EnvVars: []string{"TAGRELAY_TAG"}, Destination: &o.tags},
		&cli.StringFlag{Name: "check", Usage: "only look `REF` up: print its digest, exit 4 when it does not exist", EnvVars: []string{"TAGRELAY_CHECK"}, Destination: &o.check},
		&cli.BoolFlag{Name: "force", Usage: "move tags that point at another digest (tags are immutable by default)", EnvVars: []string{"TAGRELAY_FORCE"}, Destination: &o.force},
		clirun.AllowNoopFlag(&o.allowNoop, "exit 0 (with a warning) instead of 3 when every tag already points at the digest", ""),
		&cli.BoolFlag{Name: "dry-run", Usage: "check the source and every tag, print the plan, write nothing", EnvVars: []string{"TAGRELAY_DRY_RUN"}, Destination: &o.dryRun},
		&cli.IntFlag{Name: "jobs", Aliases: []string{"j"}, Value: 4, Usage: "at most `N` blobs transferred at once", EnvVars: []string{"TAGRELAY_JOBS"}, Destination: &o.jobs},
		clirun.TimeoutFlag(&o.timeout, 0, "give up after this `DURATION`, the whole push (0: never)", "", "TAGRELAY_TIMEOUT"),
		&cli.GenericFlag{Name: "require-scan", Usage: "after pushing, wait for Harbor's vulnerability scan and fail (exit 4) on a finding at or above `SEVERITY` (low, medium, high, critical; --require-scan alone means critical)", EnvVars: []string{"TAGRELAY_REQUIRE_SCAN"}, Value: &o.requireScan, Category: "Harbor"},
		&cli.StringFlag{Name: "harbor-url", Usage: "Harbor API base `URL` (default: https://REGISTRY of --dest)", EnvVars: []string{"TAGRELAY_HARBOR_URL"}, Destination: &o.harborURL, Category: "Harbor"},
		&cli.DurationFlag{Name: "scan-timeout", Value: 10 * time.Minute, Usage: "how long to wait for the scan", EnvVars: []string{"TAGRELAY_SCAN_TIMEOUT"}, Destination: &o.scanTimeout, Category: "Harbor"},
		&cli.DurationFlag{Name: "scan-interval", Value: 5 * time.Second, Usage: "how often to ask Harbor while the scan runs", EnvVars: []string{"TAGRELAY_SCAN_INTERVAL"}, Destination: &o.scanInterval, Category: "Harbor", Hidden: true},
	}
	flags = append(flags, regflags.Flags(&o.reg)...)
	flags = append(flags, tlsflags.Flags(&o.tls)...)
	return &cli.Command{
		Name:  "push",
		Usage: "push an image (OCI layout, tarball or registry reference) under the commit's tag; tags are immutable",
		UsageText: "tagrelay push --source image.tar --dest harbor.example/team/app            # tag: $CI_COMMIT_SHORT_SHA\n" +
			"tagrelay push --source oci-layout/ --dest harbor.example/team/app --tag 1a2b3c4d --tag v1.4.0\n" +
			"tagrelay push --source harbor.example/team/app:1a2b3c4d --dest harbor.example/team/app --tag v1.4.0   # retag\n" +
			"tagrelay push --check harbor.example/team/app:1a2b3c4d",
		Description: "Every tag is checked before anything is written: a tag that points at another digest is refused\n" +
			"(exit 4, nothing pushed) unless --force; when every tag already points at the digest the push is a\n" +
			"no-op, refused with exit 3 unless --allow-noop. Prints the digest; --dotenv and $GITHUB_OUTPUT get\n" +
			"IMAGE, IMAGE_TAG, IMAGE_DIGEST.",
		Flags:  append(flags, clirun.CommonFlags(&o.common)...),
		Action: func(c *cli.Context) error { return hint(runPush(c, env, o)) },
	}
}

func runPush(c *cli.Context, env *clirun.Env, o *pushOptions) error {
	log, err := env.Begin(&o.common)
	if err != nil {
		return err
	}
	if c.Args().Present() {
		return clirun.Usagef("pass the image with --source and the repository with --dest", "unexpected argument %q", c.Args().First())
	}
	ctx, cancel := clirun.WithTimeout(c.Context, o.timeout)
	defer cancel()
	if o.check != "" {
		return runCheck(ctx, env, log, o)
	}
	dest, tags, err := o.destAndTags(env)
	if err != nil {
		return err
	}
	// Explicit credentials are for the destination's registry (a retag or promotion inside it
	// included); a source in another registry authenticates with config.json.
	client, err := o.reg.Client(env, log, &o.tls, o.jobs, regflags.RegistryOf(dest))
	if err != nil {
		return err
	}
	src, err := client.OpenSource(ctx, o.source)
	if err != nil {
		return withSourceHint(err)
	}
	defer src.Close()
	res, err := o.push(ctx, env, log, client, src, dest, tags)
	if err != nil {
		return err
	}
	if err := o.scan(ctx, log, client, res); err != nil {
		return err
	}
	text := res.Digest
	if res.DryRun {
		text = describePlan(res.Plan)
	}
	return env.Emit(&o.common, res, text, pushOutputs(res.Dest, res.Tags[0].Tag, res.Digest))
}

// describePlan is the text of --dry-run: one line per tag.
func describePlan(p *registry.Plan) string {
	var b strings.Builder
	for _, t := range p.Tags {
		fmt.Fprintf(&b, "%s:%s %s %s (%s)", p.Dest, t.Tag, t.Action, p.Digest, p.Mode)
		if t.Previous != "" && t.Action != registry.ActionUnchanged {
			fmt.Fprintf(&b, ", was %s", t.Previous)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// push plans, then (unless --dry-run) applies, turning a refused no-op into success with
// --allow-noop.
func (o *pushOptions) push(ctx context.Context, env *clirun.Env, log *slog.Logger, client *registry.Client, src *registry.Source, dest string, tags []string) (*pushResult, error) {
	plan, err := client.Plan(ctx, src, dest, tags, registry.WithForce(o.force))
	if errors.Is(err, registry.ErrUnchanged) {
		if err := clirun.AcceptNoop(log, o.allowNoop, err, "build and push a new commit, or pass --allow-noop to accept"); err != nil {
			return nil, err
		}
		return &pushResult{Result: &registry.Result{Plan: plan}}, nil
	}
	if err != nil {
		return nil, err
	}
	for _, t := range plan.Tags {
		if t.Action == registry.ActionOverwrite {
			log.Warn("moving tag (--force)", "ref", plan.Dest+":"+t.Tag, "from", t.Previous, "digest", plan.Digest)
		}
	}
	if o.dryRun {
		log.Info("dry run: nothing pushed", "image", plan.Dest, "mode", plan.Mode, "digest", plan.Digest)
		return &pushResult{Result: &registry.Result{Plan: plan}, DryRun: true}, nil
	}
	var opts []registry.PushOption // the plan holds --force's decisions
	if env.TTY {
		updates, done := showProgress(env)
		defer done()
		opts = append(opts, registry.WithProgress(updates))
	}
	res, err := client.Apply(ctx, plan, opts...)
	if err != nil {
		return nil, err
	}
	log.Info("pushed", "image", res.Dest, "tags", tagNames(res.Tags), "digest", res.Digest, "mode", res.Mode,
		"uploaded", res.Stats.BlobsUploaded, "mounted", res.Stats.BlobsMounted, "present", res.Stats.BlobsPresent, "bytes", res.Stats.BytesSent)
	return &pushResult{Result: res}, nil
}

// showProgress draws upload progress on stderr (a terminal) from ggcr's updates, at most ten
// times a second; done waits for the last line.
func showProgress(env *clirun.Env) (chan<- v1.Update, func()) {
	updates := make(chan v1.Update, 64)
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		var last time.Time
		var u v1.Update
		for u = range updates {
			if time.Since(last) >= 100*time.Millisecond && u.Total > 0 {
				fmt.Fprintf(env.Stderr, "\rpushing %s / %s", humanBytes(u.Complete), humanBytes(u.Total))
				last = time.Now()
			}
		}
		if !last.IsZero() {
			fmt.Fprintf(env.Stderr, "\rpushed  %s / %s\n", humanBytes(u.Complete), humanBytes(u.Total))
		}
	}()
	return updates, func() { <-finished }
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// pushResult is the JSON of a push.
type pushResult struct {
	*registry.Result
	DryRun bool                  `json:"dryRun,omitempty"`
	Scan   []registry.ScanReport `json:"scan,omitempty"`
}

func (o *pushOptions) scan(ctx context.Context, log *slog.Logger, client *registry.Client, res *pushResult) error {
	if o.requireScan == "" || res.DryRun {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, o.scanTimeout)
	defer cancel()
	log.Info("waiting for Harbor's vulnerability scan", "image", res.Dest, "digest", res.Digest, "fail-at", o.requireScan)
	reports, err := client.RequireScan(ctx, res.Dest+"@"+res.Digest, registry.ScanOptions{
		HarborURL: o.harborURL, FailAt: registry.Severity(o.requireScan), Interval: o.scanInterval,
	})
	res.Scan = reports
	return err
}

// destAndTags returns --dest without a tag and the tags to push: --tag values, a tag written
// in --dest, else the default tag of the commit.
func (o *pushOptions) destAndTags(env *clirun.Env) (string, []string, error) {
	if o.source == "" {
		return "", nil, clirun.Usagef("pass --source (an OCI layout, a tarball or an image reference)", "no source given")
	}
	if o.dest == "" {
		return "", nil, clirun.Usagef("pass --dest REPOSITORY, e.g. harbor.example/team/app", "no destination given")
	}
	dest, tags := o.dest, o.tags.Value()
	if i := strings.LastIndexByte(dest, ':'); i > strings.LastIndexByte(dest, '/') && !strings.Contains(dest, "@") {
		dest, tags = dest[:i], append([]string{dest[i+1:]}, tags...)
	}
	if strings.Contains(dest, "@") {
		return "", nil, clirun.Usagef("pass a repository, and tags with --tag", "--dest %s holds a digest", dest)
	}
	if len(tags) == 0 {
		t, err := env.DefaultTag()
		if err != nil {
			return "", nil, err
		}
		tags = []string{t}
	}
	return dest, tags, nil
}

func runCheck(ctx context.Context, env *clirun.Env, log *slog.Logger, o *pushOptions) error {
	client, err := o.reg.Client(env, log, &o.tls, o.jobs, regflags.RegistryOf(o.check))
	if err != nil {
		return err
	}
	img, err := client.Head(ctx, o.check)
	if err != nil {
		return err
	}
	log.Info("image exists", "ref", img.Ref, "digest", img.Digest)
	return env.Emit(&o.common, img, img.Digest, pushOutputs(img.Image, img.Tag, img.Digest))
}

// pushOutputs are the variables handed to the next CI job.
func pushOutputs(image, tag, digest string) []clirun.KV {
	return []clirun.KV{{Key: "IMAGE", Value: image}, {Key: "IMAGE_TAG", Value: tag}, {Key: "IMAGE_DIGEST", Value: digest}}
}

// hint gives the registry's errors the flags of push that fix them; the registry package says
// what happened, without naming flags.
func hint(err error) error {
	switch {
	case errors.Is(err, registry.ErrTagExists):
		return errdefs.WithHint(err, "tags are immutable: push under a new tag (the commit SHA), or pass --force to move it")
	case errors.Is(err, registry.ErrVulnerable):
		return errdefs.WithHint(err, "fix or upgrade the vulnerable packages and push a new build, or raise --require-scan=SEVERITY")
	case errors.Is(err, registry.ErrScan) && errors.Is(err, context.DeadlineExceeded):
		return errdefs.WithHint(err, "check the scanner in Harbor, or raise --scan-timeout")
	case errors.Is(err, registry.ErrUnavailable) && errors.Is(err, context.DeadlineExceeded):
		return errdefs.WithHint(err, "the registry did not answer in time; check it is up, or raise --timeout")
	}
	return regflags.Hint(err)
}

func withSourceHint(err error) error {
	if errors.Is(err, registry.ErrInvalidSource) {
		return errdefs.WithHint(err, "check --source: an OCI layout directory, an OCI or docker tarball, or REGISTRY/REPO:TAG")
	}
	return err
}

func tagNames(tags []registry.TagPlan) []string {
	out := make([]string, len(tags))
	for i, t := range tags {
		out[i] = t.Tag
	}
	return out
}

// scanSeverity is the value of --require-scan: a flag usable alone (critical) or with =SEVERITY.
type scanSeverity string

func (s *scanSeverity) Set(v string) error {
	switch strings.ToLower(v) {
	case "", "true":
		*s = scanSeverity(registry.SeverityCritical)
		return nil
	case "false":
		*s = ""
		return nil
	}
	sev, err := registry.ParseSeverity(v)
	if err != nil {
		return err
	}
	*s = scanSeverity(sev)
	return nil
}

func (s *scanSeverity) String() string { return string(*s) }

// IsBoolFlag lets --require-scan stand alone, as the flag package does for booleans.
func (s *scanSeverity) IsBoolFlag() bool { return true }

var _ fmt.Stringer = (*scanSeverity)(nil)
