// Package gitflags holds the credential flags of a git remote shared by tagrelay bump and
// release, and picks the credentials to send: user info in the URL, else --token-file, else the
// first token variable set — a CI job token (CI_JOB_TOKEN, GITHUB_TOKEN) only to its own CI
// server, over HTTPS (internal/gitauth.CheckJobToken).
package gitflags

import (
	"errors"
	"log/slog"

	"github.com/urfave/cli/v2"

	"github.com/tagrelay/tagrelay/internal/clirun"
	"github.com/tagrelay/tagrelay/internal/gitauth"
)

// Options are the values of the git credential flags.
type Options struct {
	username  string
	tokenFile string
	tokenVar  string // the variable the token came from, once Credentials has run
}

// TokenVar returns the environment variable the credentials' token came from, "" when it came
// from the URL, a file or nowhere.
func (o *Options) TokenVar() string { return o.tokenVar }

// Flags returns the git credential flags bound to o. Each call returns new flags.
func Flags(o *Options) []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "token-file", Usage: "read the git token (or password) from `FILE` (default: $TAGRELAY_TOKEN, $GITLAB_TOKEN, $GITHUB_TOKEN, $GH_TOKEN, $CI_JOB_TOKEN; the CI job tokens GITHUB_TOKEN and CI_JOB_TOKEN only for their own server, over https)", EnvVars: []string{"TAGRELAY_TOKEN_FILE"}, Destination: &o.tokenFile, TakesFile: true, Category: "Git"},
		&cli.StringFlag{Name: "username", Usage: "git user `NAME` sent with the token (default: oauth2; x-access-token for GITHUB_TOKEN; gitlab-ci-token for CI_JOB_TOKEN)", EnvVars: []string{"TAGRELAY_USERNAME"}, Destination: &o.username, Category: "Git"},
	}
}

// tokenVars are read in this order when no --token-file is given.
var tokenVars = []string{"TAGRELAY_TOKEN", "GITLAB_TOKEN", "GITHUB_TOKEN", "GH_TOKEN", "CI_JOB_TOKEN"}

// Credentials returns the repository URL without credentials and the credentials to send: user
// info in the URL, else --token-file, else the first token variable set that may go to the URL's
// host. A CI job token for another host is passed by with a warning; one that would travel over
// plain HTTP without insecure (--insecure) is an input error. Every secret is registered with the
// redactor before anything can print it.
func (o *Options) Credentials(env *clirun.Env, log *slog.Logger, rawURL string, insecure bool) (string, gitauth.Credentials, error) {
	url, creds, err := gitauth.FromURL(rawURL)
	if err != nil {
		return "", creds, clirun.Usagef("give an https:// or ssh URL", "invalid repository URL")
	}
	env.Redactor.Add(creds.Password)
	if creds.Password == "" {
		tokenVar := ""
		if o.tokenFile != "" {
			if creds.Password, err = env.Secret("", o.tokenFile); err != nil {
				return "", creds, err
			}
		} else if tokenVar, creds.Password, err = ambientToken(env, log, url, insecure); err != nil {
			return "", creds, err
		}
		o.tokenVar = tokenVar
		if creds.Password != "" && creds.Username == "" {
			creds.Username = gitauth.DefaultUsername(tokenVar)
		}
	}
	if o.username != "" {
		creds.Username = o.username
	}
	return url, creds, nil
}

// ambientToken returns the first token variable set that may be sent to url, and its name.
func ambientToken(env *clirun.Env, log *slog.Logger, url string, insecure bool) (string, string, error) {
	for _, v := range tokenVars {
		tok := env.Getenv(v)
		if tok == "" {
			continue
		}
		env.Redactor.Add(tok)
		err := gitauth.CheckJobToken(v, url, env.Getenv, insecure)
		switch {
		case errors.Is(err, gitauth.ErrPlainHTTP):
			return "", "", clirun.Usagef("use the repository's https:// URL, or pass --insecure to send it anyway", "refusing to send %v", err)
		case err != nil:
			log.Warn("not sending the CI job token to this repository", "variable", v, "reason", err.Error())
			continue
		}
		return v, tok, nil
	}
	return "", "", nil
}
