package forge

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/tagrelay/tagrelay/internal/errdefs"
)

// Kind names a forge.
type Kind string

// The forges.
const (
	KindGitLab Kind = "gitlab"
	KindGitHub Kind = "github"
)

// Repository is where a merge or pull request goes: a forge's API and a project on it.
type Repository struct {
	Kind Kind
	// APIURL is GitLab's URL (with or without /api/v4), or GitHub's API ("" for api.github.com).
	APIURL string
	// Project is the GitLab project path (group/infra) or the GitHub OWNER/NAME.
	Project string
}

// RepositoryOf locates the API and the project of a git clone URL (https://HOST/PATH.git) on a
// forge of kind: GitLab's API at scheme://HOST, GitHub's at api.github.com for github.com and at
// scheme://HOST/api/v3 for an Enterprise Server; the project is PATH without .git. apiURL and
// project, when not "", are used as given.
func RepositoryOf(kind Kind, cloneURL, apiURL, project string) (Repository, error) {
	u, err := url.Parse(cloneURL)
	if (apiURL == "" || project == "") && (err != nil || u.Host == "") {
		return Repository{}, errdefs.Invalid(fmt.Errorf("cannot derive the %s API and project from repository URL %s", kind, cloneURL))
	}
	r := Repository{Kind: kind, APIURL: apiURL, Project: project}
	if r.Project == "" {
		r.Project = strings.TrimSuffix(strings.Trim(u.Path, "/"), ".git")
	}
	switch {
	case r.APIURL != "":
	case kind == KindGitLab:
		r.APIURL = u.Scheme + "://" + u.Host
	case u.Host != "github.com":
		r.APIURL = u.Scheme + "://" + u.Host + "/api/v3"
	}
	return r, nil
}

// OpenChange opens the merge or pull request cr on r with token, or updates the one already open
// between its branches, and returns it.
func OpenChange(ctx context.Context, r Repository, token string, cr ChangeRequest, opts ...Option) (*Change, error) {
	switch r.Kind {
	case KindGitLab:
		gl, err := NewGitLab(r.APIURL, token, opts...)
		if err != nil {
			return nil, err
		}
		return gl.OpenMergeRequest(ctx, r.Project, cr)
	case KindGitHub:
		gh, err := NewGitHub(r.APIURL, token, opts...)
		if err != nil {
			return nil, err
		}
		return gh.OpenPullRequest(ctx, r.Project, cr)
	}
	return nil, errdefs.Invalid(fmt.Errorf("unknown forge %q", r.Kind))
}
