// Package gitauth carries git credentials to the two git clients tagrelay uses — go-git (bump,
// reconcile) and the git CLI (mirror) — without ever putting them in a URL, argv or a log line.
//
// For the git CLI, credentials travel as an http.extraHeader set through GIT_CONFIG_COUNT
// environment variables (git ≥ 2.31), which neither `ps` nor git's own error messages show.
package gitauth

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
)

// Credentials are HTTP credentials for a git remote. A token is a password; GitLab accepts any
// non-empty user name with it ("oauth2" by convention), GitHub wants "x-access-token".
type Credentials struct {
	Username string
	Password string
}

// Empty reports whether there is nothing to send.
func (c Credentials) Empty() bool { return c.Password == "" && c.Username == "" }

// GoGit returns the go-git auth method, nil when empty.
func (c Credentials) GoGit() transport.AuthMethod {
	if c.Empty() {
		return nil
	}
	return &githttp.BasicAuth{Username: c.userOrDefault(), Password: c.Password}
}

// Header returns the value of the Authorization header.
func (c Credentials) Header() string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(c.userOrDefault()+":"+c.Password))
}

// GitEnv returns environment variables that make the git CLI send the credentials with every
// HTTP request, appended after any GIT_CONFIG_COUNT entries already in base. It returns nil when
// the credentials are empty.
func (c Credentials) GitEnv(base []string) []string {
	if c.Empty() {
		return nil
	}
	n := 0
	for _, kv := range base {
		if v, ok := strings.CutPrefix(kv, "GIT_CONFIG_COUNT="); ok {
			fmt.Sscan(v, &n)
		}
	}
	return []string{
		fmt.Sprintf("GIT_CONFIG_COUNT=%d", n+1),
		fmt.Sprintf("GIT_CONFIG_KEY_%d=http.extraHeader", n),
		fmt.Sprintf("GIT_CONFIG_VALUE_%d=Authorization: %s", n, c.Header()),
	}
}

func (c Credentials) userOrDefault() string {
	if c.Username == "" {
		return "oauth2"
	}
	return c.Username
}

// FromURL splits credentials embedded in a URL (https://user:token@host/...) out of it, so they
// can be sent as a header and the URL printed safely. It returns the URL without user info.
func FromURL(raw string) (clean string, c Credentials, err error) {
	if !strings.HasPrefix(raw, "http://") && !strings.HasPrefix(raw, "https://") {
		return raw, Credentials{}, nil // scp-like SSH, file paths: nothing to split
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", Credentials{}, fmt.Errorf("parsing git URL: invalid URL")
	}
	if u.User == nil || (u.Scheme != "http" && u.Scheme != "https") {
		return raw, Credentials{}, nil
	}
	c.Username = u.User.Username()
	c.Password, _ = u.User.Password()
	u.User = nil
	return u.String(), c, nil
}

// DefaultUsername returns the user name conventionally paired with a token from the given
// environment variable.
func DefaultUsername(tokenVar string) string {
	switch tokenVar {
	case "GITHUB_TOKEN", "GH_TOKEN":
		return "x-access-token"
	case "CI_JOB_TOKEN":
		return "gitlab-ci-token"
	}
	return "oauth2"
}

// Errors of CheckJobToken.
var (
	// ErrForeignHost: a CI job token would go to another host than its CI server's.
	ErrForeignHost = errors.New("not the CI server's host")
	// ErrPlainHTTP: a CI job token would travel unencrypted.
	ErrPlainHTTP = errors.New("plain HTTP")
)

// JobTokenHosts returns the hosts the CI job token held by variable name may be sent to, and
// whether name holds such a token at all. A job token is handed to every job by the CI system
// (GitLab's CI_JOB_TOKEN, GitHub Actions' GITHUB_TOKEN), so it must never leave that system: the
// hosts are GitLab's CI_SERVER_HOST, and GitHub's GITHUB_SERVER_URL (github.com when unset) with
// its API host (GITHUB_API_URL, api.github.com). getenv looks the variables up.
func JobTokenHosts(name string, getenv func(string) string) ([]string, bool) {
	switch name {
	case "CI_JOB_TOKEN":
		if h := strings.ToLower(strings.TrimSpace(getenv("CI_SERVER_HOST"))); h != "" {
			return []string{h}, true
		}
		return nil, true
	case "GITHUB_TOKEN":
		server := hostname(getenv("GITHUB_SERVER_URL"))
		if server == "" {
			server = "github.com"
		}
		hosts := []string{server}
		if api := hostname(getenv("GITHUB_API_URL")); api != "" {
			hosts = append(hosts, api)
		} else if server == "github.com" {
			hosts = append(hosts, "api.github.com")
		}
		return hosts, true
	}
	return nil, false
}

// CheckJobToken returns nil when the token of variable name may be sent to target (a URL): any
// token that is not a CI job token may; a job token only to its CI server's hosts
// (ErrForeignHost) and only over HTTPS unless insecure (ErrPlainHTTP).
func CheckJobToken(name, target string, getenv func(string) string, insecure bool) error {
	hosts, job := JobTokenHosts(name, getenv)
	if !job {
		return nil
	}
	u, err := url.Parse(target)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%s is for the CI server's own host, and %q names no host: %w", name, target, ErrForeignHost)
	}
	if !slices.Contains(hosts, strings.ToLower(u.Hostname())) {
		return fmt.Errorf("%s is for %s, not %s: %w", name, strings.Join(hosts, ", "), u.Hostname(), ErrForeignHost)
	}
	switch {
	case u.Scheme == "https", u.Scheme == "http" && insecure:
		return nil
	case u.Scheme == "http":
		return fmt.Errorf("%s would travel unencrypted to %s (http://): %w", name, u.Host, ErrPlainHTTP)
	}
	return fmt.Errorf("%s is sent over HTTPS only, not %s://: %w", name, u.Scheme, ErrForeignHost)
}

func hostname(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return ""
	}
	return strings.ToLower(u.Hostname())
}
