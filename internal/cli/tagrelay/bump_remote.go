package tagrelay

import (
	"cmp"
	"fmt"
	"log/slog"
	"path"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/tagrelay/tagrelay/bump"
	"github.com/tagrelay/tagrelay/internal/clirun"
	"github.com/tagrelay/tagrelay/internal/forge"
)

// runBumpRemote is bump --repo: fetch the branch tip into memory, edit, commit, push.
func runBumpRemote(c *cli.Context, env *clirun.Env, o *bumpOptions, log *slog.Logger, targets []bump.Target, kind bump.Kind) error {
	if err := o.cr.validate(); err != nil {
		return err
	}
	url, creds, err := o.git.credentials(env, o.repo)
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
	ca, insecure, err := o.gitTLS(env, log)
	if err != nil {
		return err
	}
	remote := bump.Remote{URL: url, Branch: o.branch, Auth: creds.GoGit(), CABundle: ca, InsecureSkipTLS: insecure}
	opts := ciPushOptions(env, o.message, o.authorName, o.authorEmail)
	opts.Kind, opts.Retries, opts.DryRun, opts.Logger = kind, o.retries, o.dryRun, log
	if o.retries == 0 {
		opts.Retries = -1
	}
	if o.cr.enabled() {
		opts.HeadBranch = o.cr.branch(targets)
	}
	commit, err := bump.Push(c.Context, remote, paths, targets, opts)
	if err = o.noop(log, err); err != nil || commit == nil || commit.Result == nil {
		return err
	}
	if o.dryRun {
		diff := commit.Diff() // also fills each file's Patch for --output json
		return env.Emit(&o.common, commit, diff, nil)
	}
	if commit.Hash == "" { // accepted no-op
		return env.Emit(&o.common, commit, describeChanges(commit.Result), bumpOutputs(commit.Result, ""))
	}
	text := fmt.Sprintf("%spushed %s to %s of %s (%s)", describeChanges(commit.Result), commit.Hash, commit.Branch, commit.Repository, plural(commit.Attempts, "attempt"))
	out := bumpOutputs(commit.Result, commit.Hash)
	result := any(commit)
	if o.cr.enabled() {
		change, err := o.cr.open(c.Context, url, creds.Password, commit)
		if err != nil {
			return fmt.Errorf("%w (the change is on branch %s, commit %s)", err, commit.Branch, commit.Hash)
		}
		verb := "updated"
		if change.Created {
			verb = "opened"
		}
		text += fmt.Sprintf("\n%s %s", verb, change.URL)
		out = append(out, clirun.KV{Key: "TAGRELAY_MR_URL", Value: change.URL})
		result = struct {
			*bump.Commit
			Request *forge.Change `json:"request"`
		}{commit, change}
	}
	return env.Emit(&o.common, result, text, out)
}

// ciPushOptions are the commit message and author of a bump: the flags, else the CI's user and
// the default message with a trailer naming the pipeline.
func ciPushOptions(env *clirun.Env, message, name, email string) bump.PushOptions {
	if message == "" {
		message = bump.DefaultMessage + ciTrailer(env)
	}
	return bump.PushOptions{
		Message:     message,
		AuthorName:  cmp.Or(name, env.Getenv("GITLAB_USER_NAME"), env.Getenv("GITHUB_ACTOR")),
		AuthorEmail: cmp.Or(email, env.Getenv("GITLAB_USER_EMAIL"), githubNoreply(env.Getenv("GITHUB_ACTOR"))),
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

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
