package notify

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"text/template"

	"github.com/tagrelay/tagrelay/internal/errdefs"
)

// Config is the notify: section of an app in apps.yaml: where the results of its syncs go. Every
// part is optional; secrets come from files (mounted Secrets), never from the file itself.
//
//	notify:
//	  gitlab: {url: https://gitlab.example.com, project: team/web, tokenFile: /etc/tagrelay/gitlab-token}
//	  github: {repo: octo-org/web, tokenFile: /etc/tagrelay/github-token}
//	  webhook: {url: https://hooks.example.com/deploys, secretFile: /etc/tagrelay/webhook-secret}
//	  chat: {urlFile: /etc/tagrelay/slack-url}
type Config struct {
	GitLab  *GitLab  `json:"gitlab,omitempty"`
	GitHub  *GitHub  `json:"github,omitempty"`
	Webhook *Webhook `json:"webhook,omitempty"`
	Chat    *Chat    `json:"chat,omitempty"`
	// LogLines is how many lines of each failing container's log a merge request note shows.
	// Default 20; negative: none (the logs stay in the console).
	LogLines int `json:"logLines,omitempty"`
}

// GitLab marks the app commits on a GitLab project: a commit status deploy/APP, and on failure a
// note on the merge request that brought the commit.
type GitLab struct {
	// URL is the GitLab URL (https://gitlab.example.com, with or without /api/v4).
	URL string `json:"url"`
	// Project is the app project's full path (team/web) or numeric ID.
	Project string `json:"project"`
	// TokenFile holds an access token with the api scope and at least the Developer role.
	TokenFile string `json:"tokenFile"`
	// CAFile is a PEM bundle of extra certificate authorities for the GitLab's TLS.
	CAFile string `json:"caFile,omitempty"`
	// Notes writes the failure note on the merge request. Default: true.
	Notes *bool `json:"notes,omitempty"`
}

// GitHub marks the app commits on a GitHub repository: a deployment to the environment APP with
// its statuses, and on failure a comment on the pull request that brought the commit.
type GitHub struct {
	// URL is the API of a GitHub Enterprise Server; "" for github.com.
	URL string `json:"url,omitempty"`
	// Repo is the app repository, OWNER/NAME.
	Repo string `json:"repo"`
	// TokenFile holds a token with deployments:write (and pull_requests:write for comments).
	TokenFile string `json:"tokenFile"`
	CAFile    string `json:"caFile,omitempty"`
	// Notes writes the failure comment on the pull request. Default: true.
	Notes *bool `json:"notes,omitempty"`
}

// Webhook posts each event as JSON (see Payload). With SecretFile, the body is signed:
// X-Tagrelay-Signature-256: sha256=HMAC-SHA256(secret, body), in hex, as GitHub signs its webhooks.
type Webhook struct {
	// URL, or URLFile when the URL itself is a secret.
	URL     string `json:"url,omitempty"`
	URLFile string `json:"urlFile,omitempty"`
	// SecretFile holds the HMAC key.
	SecretFile string `json:"secretFile,omitempty"`
	CAFile     string `json:"caFile,omitempty"`
	// On lists the states sent: pending, success, failure. Default: all three.
	On []State `json:"on,omitempty"`
}

// Chat posts a message to a Slack or Mattermost incoming webhook: {"text": …}, the text rendered
// from Template (a Go text/template over Message).
type Chat struct {
	// URL, or URLFile: an incoming-webhook URL is a secret (it is the only credential).
	URL     string `json:"url,omitempty"`
	URLFile string `json:"urlFile,omitempty"`
	CAFile  string `json:"caFile,omitempty"`
	// Template is the message; default DefaultTemplate.
	Template string `json:"template,omitempty"`
	// On lists the states sent. Default: success and failure.
	On []State `json:"on,omitempty"`
}

// Validate checks the configuration of app's notifications (presence and syntax; files are read
// when a notification is sent, so a rotated token is picked up).
func (c *Config) Validate() error {
	if c == nil {
		return nil
	}
	var errs []error
	if g := c.GitLab; g != nil {
		errs = append(errs, required("gitlab", map[string]string{"url": g.URL, "project": g.Project, "tokenFile": g.TokenFile}), httpURL("gitlab.url", g.URL))
	}
	if g := c.GitHub; g != nil {
		errs = append(errs, required("github", map[string]string{"repo": g.Repo, "tokenFile": g.TokenFile}))
		if o, n, ok := strings.Cut(g.Repo, "/"); g.Repo != "" && (!ok || o == "" || n == "" || strings.Contains(n, "/")) {
			errs = append(errs, fmt.Errorf("github.repo %q: use OWNER/NAME", g.Repo))
		}
		if g.URL != "" {
			errs = append(errs, httpURL("github.url", g.URL))
		}
	}
	if w := c.Webhook; w != nil {
		errs = append(errs, oneURL("webhook", w.URL, w.URLFile), states("webhook.on", w.On))
	}
	if ch := c.Chat; ch != nil {
		errs = append(errs, oneURL("chat", ch.URL, ch.URLFile), states("chat.on", ch.On))
		if _, err := parseTemplate(ch.Template); err != nil {
			errs = append(errs, fmt.Errorf("chat.template: %w", err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return errdefs.Invalid(fmt.Errorf("notify: %w", err))
	}
	return nil
}

func required(section string, fields map[string]string) error {
	var missing []string
	for _, k := range []string{"url", "project", "repo", "tokenFile"} {
		if v, ok := fields[k]; ok && strings.TrimSpace(v) == "" {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s needs %s", section, strings.Join(missing, ", "))
	}
	return nil
}

func httpURL(field, raw string) error {
	if raw == "" {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("%s: not an http(s) URL", field)
	}
	if u.User != nil {
		return fmt.Errorf("%s: no credentials in the URL; use tokenFile", field)
	}
	return nil
}

func oneURL(section, u, file string) error {
	switch {
	case (u == "") == (file == ""):
		return fmt.Errorf("%s needs url or urlFile (one of them)", section)
	case u != "":
		return httpURL(section+".url", u)
	}
	return nil
}

func states(field string, on []State) error {
	for _, s := range on {
		if s != Pending && s != Success && s != Failure {
			return fmt.Errorf("%s: unknown state %q (use pending, success, failure)", field, s)
		}
	}
	return nil
}

func parseTemplate(s string) (*template.Template, error) {
	if s == "" {
		s = DefaultTemplate
	}
	return template.New("chat").Funcs(template.FuncMap{"short": short, "join": strings.Join}).Option("missingkey=error").Parse(s)
}

func enabled(b *bool) bool { return b == nil || *b }

func wants(on []State, s State, def ...State) bool {
	if len(on) == 0 {
		on = def
	}
	for _, x := range on {
		if x == s {
			return true
		}
	}
	return false
}
