package bumpcmd

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/tagrelay/tagrelay/bump"
	"github.com/tagrelay/tagrelay/internal/clirun"
	"github.com/tagrelay/tagrelay/internal/errdefs"
	"github.com/tagrelay/tagrelay/internal/forge"
	"github.com/tagrelay/tagrelay/internal/gitauth"
	"github.com/tagrelay/tagrelay/registry"
)

// changeRequestFlags are the flags of bump's merge/pull request mode.
type changeRequestFlags struct {
	mergeRequest bool
	pullRequest  bool
	headBranch   string
	gitlabURL    string
	githubURL    string
	project      string
	labels       cli.StringSlice
}

func (o *changeRequestFlags) flags() []cli.Flag {
	const cat = "Merge request"
	return []cli.Flag{
		&cli.BoolFlag{Name: "merge-request", Usage: "push to a branch and open (or update) a GitLab merge request instead of pushing to --branch", EnvVars: []string{"TAGRELAY_MERGE_REQUEST"}, Destination: &o.mergeRequest, Category: cat},
		&cli.BoolFlag{Name: "pull-request", Usage: "push to a branch and open (or update) a GitHub pull request instead of pushing to --branch", EnvVars: []string{"TAGRELAY_PULL_REQUEST"}, Destination: &o.pullRequest, Category: cat},
		&cli.StringFlag{Name: "head-branch", Usage: "`BRANCH` that carries the change (default: tagrelay/IMAGE-TAG)", EnvVars: []string{"TAGRELAY_HEAD_BRANCH"}, Destination: &o.headBranch, Category: cat},
		&cli.StringFlag{Name: "gitlab-url", Usage: "GitLab `URL` for the API (default: CI_SERVER_URL, else the scheme and host of --repo)", EnvVars: []string{"TAGRELAY_GITLAB_URL", "CI_SERVER_URL"}, Destination: &o.gitlabURL, Category: cat},
		&cli.StringFlag{Name: "github-url", Usage: "GitHub API `URL` (default: GITHUB_API_URL, api.github.com for github.com, else HOST/api/v3)", EnvVars: []string{"TAGRELAY_GITHUB_URL", "GITHUB_API_URL"}, Destination: &o.githubURL, Category: cat},
		&cli.StringFlag{Name: "project", Usage: "GitLab project `PATH` or GitHub OWNER/NAME of --repo (default: the path of --repo)", EnvVars: []string{"TAGRELAY_PROJECT"}, Destination: &o.project, Category: cat},
		&cli.StringSliceFlag{Name: "label", Usage: "`LABEL` of the merge/pull request (repeatable)", EnvVars: []string{"TAGRELAY_LABEL"}, Destination: &o.labels, Category: cat},
	}
}

func (o *changeRequestFlags) enabled() bool { return o.mergeRequest || o.pullRequest }

func (o *changeRequestFlags) validate() error {
	if o.mergeRequest && o.pullRequest {
		return clirun.Usagef("use --merge-request for GitLab or --pull-request for GitHub", "--merge-request and --pull-request both given")
	}
	return nil
}

// openChange opens or updates the merge/pull request of the pushed commit, over the TLS flags'
// client, and returns it.
func (o *options) openChange(ctx context.Context, env *clirun.Env, log *slog.Logger, repoURL, token string, c *bump.Commit) (*forge.Change, error) {
	kind, api := forge.KindGitLab, o.cr.gitlabURL
	if o.cr.pullRequest {
		kind, api = forge.KindGitHub, o.cr.githubURL
	}
	repo, err := forge.RepositoryOf(kind, repoURL, api, o.cr.project)
	if err != nil {
		return nil, errdefs.WithHint(err, "give --project and --gitlab-url/--github-url")
	}
	// A CI job token was checked for the git host; the API may be another one (--gitlab-url).
	if err := gitauth.CheckJobToken(o.git.TokenVar(), apiURL(repo), env.Getenv, o.tls.Insecure); err != nil {
		return nil, clirun.Usagef("pass a token for the API with --token-file", "not sending the CI job token to the API: %v", err)
	}
	client, err := o.tls.HTTPClient(env, log, apiURL(repo), 0)
	if err != nil {
		return nil, err
	}
	title, body, _ := strings.Cut(c.Message, "\n")
	cr := forge.ChangeRequest{
		SourceBranch: c.Branch, TargetBranch: c.BaseBranch, Title: title,
		Description: strings.TrimSpace(body) + "\n\nOpened by tagrelay bump.", Labels: o.cr.labels.Value(), RemoveSourceBranch: true,
	}
	change, err := forge.OpenChange(ctx, repo, token, cr, forge.WithHTTPClient(client), forge.WithLogger(log))
	if fe, ok := forge.AsError(err); ok {
		switch fe.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			err = errdefs.WithHint(err, errdefs.Hint(err)+"; the git token (--token-file, GITLAB_TOKEN, GITHUB_TOKEN) is also the API's")
		case http.StatusNotFound:
			err = errdefs.WithHint(err, "check --project and --gitlab-url/--github-url")
		case 0:
			err = errdefs.WithHint(err, "check --gitlab-url/--github-url and the network")
		}
	}
	return change, err
}

// apiURL is the URL the API calls of repo go to, for the CI token and TLS checks.
func apiURL(r forge.Repository) string {
	if r.APIURL == "" {
		return "https://api.github.com"
	}
	return r.APIURL
}

// registryHint says what to do about an image the registry does not have (yet).
func registryHint(err error) error {
	if errors.Is(err, registry.ErrNotFound) {
		return errdefs.WithHint(err, "the build has not pushed it (yet): wait for it with --wait-for-image 10m, or skip the check with --no-verify-image")
	}
	return err
}
