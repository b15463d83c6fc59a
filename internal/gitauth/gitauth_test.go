package gitauth

import (
	"errors"
	"strings"
	"testing"
)

func TestGitEnv(t *testing.T) {
	t.Parallel()
	c := Credentials{Username: "robot$ci", Password: "glpat-abcdef"}
	env := c.GitEnv([]string{"PATH=/bin", "GIT_CONFIG_COUNT=2"})
	if len(env) != 3 || env[0] != "GIT_CONFIG_COUNT=3" || env[1] != "GIT_CONFIG_KEY_2=http.extraHeader" {
		t.Fatalf("GitEnv() = %q", env)
	}
	if !strings.HasPrefix(env[2], "GIT_CONFIG_VALUE_2=Authorization: Basic ") || strings.Contains(env[2], "glpat-abcdef") {
		t.Errorf("GitEnv() header = %q", env[2])
	}
	if (Credentials{}).GitEnv(nil) != nil || (Credentials{}).GoGit() != nil {
		t.Errorf("empty credentials produce auth")
	}
}

func TestFromURL(t *testing.T) {
	t.Parallel()
	clean, c, err := FromURL("https://oauth2:tok%24en@gitlab.example/g/p.git")
	if err != nil || clean != "https://gitlab.example/g/p.git" || c.Username != "oauth2" || c.Password != "tok$en" {
		t.Errorf("FromURL() = %q, %+v, %v", clean, c, err)
	}
	clean, c, _ = FromURL("git@github.com:o/r.git")
	if clean != "git@github.com:o/r.git" || !c.Empty() {
		t.Errorf("FromURL(scp) = %q, %+v", clean, c)
	}
}

func TestCheckJobToken(t *testing.T) {
	t.Parallel()
	gitlabCI := map[string]string{"CI_SERVER_HOST": "gitlab.example.com"}
	actions := map[string]string{"GITHUB_SERVER_URL": "https://github.com"}
	ghes := map[string]string{"GITHUB_SERVER_URL": "https://ghes.example.com", "GITHUB_API_URL": "https://ghes.example.com/api/v3"}
	for _, tc := range []struct {
		name, token, target string
		vars                map[string]string
		insecure            bool
		want                error
	}{
		{"CI_JOB_TOKEN home", "CI_JOB_TOKEN", "https://gitlab.example.com/team/infra.git", gitlabCI, false, nil},
		{"CI_JOB_TOKEN home, other port", "CI_JOB_TOKEN", "https://GitLab.example.com:8443/team/infra.git", gitlabCI, false, nil},
		{"CI_JOB_TOKEN abroad", "CI_JOB_TOKEN", "https://gitlab.evil.example/team/infra.git", gitlabCI, false, ErrForeignHost},
		{"CI_JOB_TOKEN, a host whose name starts alike", "CI_JOB_TOKEN", "https://gitlab.example.com.evil.example/x.git", gitlabCI, false, ErrForeignHost},
		{"CI_JOB_TOKEN outside GitLab CI", "CI_JOB_TOKEN", "https://gitlab.example.com/x.git", nil, false, ErrForeignHost},
		{"CI_JOB_TOKEN over http", "CI_JOB_TOKEN", "http://gitlab.example.com/x.git", gitlabCI, false, ErrPlainHTTP},
		{"CI_JOB_TOKEN over http, insecure", "CI_JOB_TOKEN", "http://gitlab.example.com/x.git", gitlabCI, true, nil},
		{"CI_JOB_TOKEN over ssh", "CI_JOB_TOKEN", "ssh://git@gitlab.example.com/x.git", gitlabCI, true, ErrForeignHost},
		{"GITHUB_TOKEN to github.com", "GITHUB_TOKEN", "https://github.com/octo-org/infra.git", actions, false, nil},
		{"GITHUB_TOKEN to its API", "GITHUB_TOKEN", "https://api.github.com", nil, false, nil},
		{"GITHUB_TOKEN to a GitLab", "GITHUB_TOKEN", "https://gitlab.example.com/team/infra.git", actions, false, ErrForeignHost},
		{"GITHUB_TOKEN of a GHES", "GITHUB_TOKEN", "https://ghes.example.com/org/infra.git", ghes, false, nil},
		{"GITHUB_TOKEN of a GHES to github.com", "GITHUB_TOKEN", "https://github.com/org/infra.git", ghes, false, ErrForeignHost},
		{"a personal token goes anywhere", "GITLAB_TOKEN", "http://gitlab.other.example/x.git", nil, false, nil},
	} {
		err := CheckJobToken(tc.token, tc.target, func(k string) string { return tc.vars[k] }, tc.insecure)
		if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("%s: CheckJobToken(%s, %s) = %v, want %v", tc.name, tc.token, tc.target, err, tc.want)
		}
	}
}
