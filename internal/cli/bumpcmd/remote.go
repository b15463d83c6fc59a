package bumpcmd

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"path"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/tagrelay/tagrelay/bump"
	"github.com/tagrelay/tagrelay/internal/cli/regflags"
	"github.com/tagrelay/tagrelay/internal/clirun"
	"github.com/tagrelay/tagrelay/internal/forge"
)

// runRemote is bump --repo: fetch the branch tip into memory, edit, commit, push, and with
// --merge-request/--pull-request open the request of the pushed branch.
func runRemote(c *cli.Context, env *clirun.Env, o *options, log *slog.Logger, targets []bump.Target, kind bump.Kind, check bump.ImageCheck) error {
	if err := o.cr.validate(); err != nil {
		return err
	}
	if o.src.writeMessage != "" {
		return clirun.Usagef("drop --write-message: with --repo, bump commits itself", "--write-message given with --repo")
	}
	url, creds, err := o.git.Credentials(env, log, o.repo, o.tls.Insecure)
	if err != nil {
		return err
	}
	paths := make([]string, 0, len(o.files.Value()))
	for _, f := range o.files.Value() {
		if path.IsAbs(f) {
			return clirun.Usagef("with --repo, --file paths are relative to the repository root", "absolute path %q with --repo", f)
		}
		paths = append(paths, path.Clean(f))
	}
	ca, err := o.tls.Bundle(env)
	if err != nil {
		return err
	}
	if o.tls.Insecure {
		log.Warn("TLS verification of the git server disabled (--insecure)", "repo", url)
	}
	remote := bump.Remote{URL: url, Branch: o.branch, Auth: creds.GoGit(), CABundle: ca, InsecureSkipTLS: o.tls.Insecure}
	opts := CIPushOptions(env, o.message, o.authorName, o.authorEmail)
	opts.Kind, opts.DryRun, opts.Logger = kind, o.dryRun, log
	opts.CheckImage, opts.PinDigest = check, o.digest
	if opts.Source, err = o.src.source(log, targets, opts.Source); err != nil {
		return err
	}
	opts.Retries, opts.RetryTimeout = o.retries, o.retryFor
	switch {
	case !c.IsSet("retries"):
		opts.Retries = 0 // no bound on the count: --retry-timeout bounds the retries
	case o.retries <= 0:
		opts.Retries = -1 // --retries 0: never retry
	}
	if o.render.enabled() {
		check, err := o.render.checker()
		if err != nil {
			return err
		}
		opts.RenderCheck = check.Check
	}
	if o.cr.enabled() {
		opts.HeadBranch = cmp.Or(o.cr.headBranch, bump.HeadBranch(targets))
	}
	commit, err := bump.Push(c.Context, remote, paths, targets, opts)
	if err = o.outcome(log, err); err != nil || commit == nil || commit.Result == nil {
		return err
	}
	if o.dryRun {
		diff := commit.Diff() // also fills each file's Patch for --output json
		return env.Emit(&o.common, commit, diff, nil)
	}
	if commit.Hash == "" { // accepted no-op
		return env.Emit(&o.common, commit, describeChanges(commit.Result), outputs(commit.Result, ""))
	}
	text := fmt.Sprintf("%spushed %s to %s of %s (%s)", describeChanges(commit.Result), commit.Hash, commit.Branch, commit.Repository, plural(commit.Attempts, "attempt"))
	out := outputs(commit.Result, commit.Hash)
	if !o.cr.enabled() {
		return env.Emit(&o.common, commit, text, out)
	}
	change, err := o.openChange(c.Context, env, log, url, creds.Password, commit)
	if err != nil {
		return fmt.Errorf("%w (the change is on branch %s, commit %s)", err, commit.Branch, commit.Hash)
	}
	verb := "updated"
	if change.Created {
		verb = "opened"
	}
	text += fmt.Sprintf("\n%s %s", verb, change.URL)
	out = append(out, clirun.KV{Key: "TAGRELAY_MR_URL", Value: change.URL})
	return env.Emit(&o.common, struct {
		*bump.Commit
		Request *forge.Change `json:"request"`
	}{commit, change}, text, out)
}

// CIPushOptions are the commit message, author and source of a bump: the flags, else the CI's
// user, the default message with a trailer naming the pipeline, and the CI's commit as the source
// of the provenance trailers (CI_COMMIT_SHA and CI_PROJECT_URL, or GitHub's). tagrelay release
// commits the same way.
func CIPushOptions(env *clirun.Env, message, name, email string) bump.PushOptions {
	if message == "" {
		message = bump.DefaultMessage + ciTrailer(env)
	}
	return bump.PushOptions{
		Message:     message,
		AuthorName:  cmp.Or(name, env.Getenv("GITLAB_USER_NAME"), env.Getenv("GITHUB_ACTOR")),
		AuthorEmail: cmp.Or(email, env.Getenv("GITLAB_USER_EMAIL"), githubNoreply(env.Getenv("GITHUB_ACTOR"))),
		Source:      ciSource(env),
	}
}

// ciTrailer links the commit to the pipeline that made it.
func ciTrailer(env *clirun.Env) string {
	var lines []string
	if p, sha := env.Getenv("CI_PROJECT_PATH"), env.Getenv("CI_COMMIT_SHA"); p != "" && sha != "" {
		lines = append(lines, "Source: "+p+"@"+sha)
	} else if r, sha := env.Getenv("GITHUB_REPOSITORY"), env.Getenv("GITHUB_SHA"); r != "" && sha != "" {
		lines = append(lines, "Source: "+r+"@"+sha)
	}
	if u := env.Getenv("CI_PIPELINE_URL"); u != "" {
		lines = append(lines, "Pipeline: "+u)
	} else if srv, r, id := env.Getenv("GITHUB_SERVER_URL"), env.Getenv("GITHUB_REPOSITORY"), env.Getenv("GITHUB_RUN_ID"); srv != "" && r != "" && id != "" {
		lines = append(lines, "Pipeline: "+srv+"/"+r+"/actions/runs/"+id)
	}
	if len(lines) == 0 {
		return ""
	}
	return "\n" + strings.Join(lines, "\n") + "\n"
}

func githubNoreply(actor string) string {
	if actor == "" {
		return ""
	}
	return actor + "@users.noreply.github.com"
}

// imageCheck returns the registry lookup of every target before anything is written, nil when
// none is asked for: it runs for --repo (unless --no-verify-image) and whenever --digest or
// --wait-for-image is given.
func (o *options) imageCheck(env *clirun.Env, log *slog.Logger, targets []bump.Target) (bump.ImageCheck, error) {
	if !(o.repo != "" && !o.noVerify || o.digest || o.waitFor > 0) {
		return nil, nil
	}
	if o.noVerify && o.digest {
		return nil, clirun.Usagef("drop one of them", "--digest needs the registry, --no-verify-image skips it")
	}
	hosts := make([]string, 0, len(targets))
	for _, t := range targets {
		hosts = append(hosts, regflags.RegistryOf(t.Image))
	}
	client, err := o.reg.Client(env, log, &o.tls, 0, hosts...)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, ref string) (string, error) {
		d, err := client.Verify(ctx, ref, o.waitFor)
		if o.waitFor <= 0 {
			err = registryHint(err)
		}
		return d, regflags.Hint(err)
	}, nil
}
