package tagrelay

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/tagrelay/tagrelay/bump"
	"github.com/tagrelay/tagrelay/internal/clirun"
	"github.com/tagrelay/tagrelay/internal/forge"
)

// changeRequestOptions are the flags of bump's merge/pull request mode.
type changeRequestOptions struct {
	mergeRequest bool
	pullRequest  bool
	headBranch   string
	gitlabURL    string
	githubURL    string
	project      string
	labels       cli.StringSlice
}

func (o *changeRequestOptions) flags() []cli.Flag {
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

func (o *changeRequestOptions) enabled() bool { return o.mergeRequest || o.pullRequest }

func (o *changeRequestOptions) validate() error {
	if o.mergeRequest && o.pullRequest {
		return clirun.Usagef("use --merge-request for GitLab or --pull-request for GitHub", "--merge-request and --pull-request both given")
	}
	return nil
}

var unsafeBranch = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// branch returns the head branch: --head-branch, else tagrelay/<last segment of the first
// image>-<tag>, stable across re-runs so a second run updates the same request.
func (o *changeRequestOptions) branch(targets []bump.Target) string {
	if o.headBranch != "" {
		return o.headBranch
	}
	t := targets[0]
	seg := t.Image[strings.LastIndexByte(t.Image, '/')+1:]
	name := seg + "-" + t.Tag
	if len(targets) > 1 {
		name = fmt.Sprintf("%s-and-%d-more-%s", seg, len(targets)-1, t.Tag)
	}
	return "tagrelay/" + strings.Trim(unsafeBranch.ReplaceAllString(name, "-"), "-")
}

// open opens or updates the merge/pull request of the pushed commit and returns it.
func (o *changeRequestOptions) open(ctx context.Context, repoURL, token string, c *bump.Commit) (*forge.Change, error) {
	u, err := url.Parse(repoURL)
	if err != nil || u.Host == "" {
		return nil, clirun.Usagef("give --project and --gitlab-url/--github-url", "cannot derive the API from repository URL %s", repoURL)
	}
	project := o.project
	if project == "" {
		project = strings.TrimSuffix(strings.Trim(u.Path, "/"), ".git")
	}
	title, body, _ := strings.Cut(c.Message, "\n")
	cr := forge.ChangeRequest{
		SourceBranch: c.Branch, TargetBranch: c.BaseBranch, Title: title,
		Description: strings.TrimSpace(body) + "\n\nOpened by tagrelay bump.", Labels: o.labels.Value(), RemoveSourceBranch: true,
	}
	if o.mergeRequest {
		base := o.gitlabURL
		if base == "" {
			base = u.Scheme + "://" + u.Host
		}
		gl, err := forge.NewGitLab(base, token)
		if err != nil {
			return nil, err
		}
		return gl.OpenMergeRequest(ctx, project, cr)
	}
	api := o.githubURL
	if api == "" && u.Host != "github.com" {
		api = u.Scheme + "://" + u.Host + "/api/v3"
	}
	gh, err := forge.NewGitHub(api, token)
	if err != nil {
		return nil, err
	}
	return gh.OpenPullRequest(ctx, project, cr)
}
