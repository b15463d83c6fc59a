package tagrelay

import (
	"github.com/urfave/cli/v2"

	"github.com/tagrelay/tagrelay/internal/clirun"
	"github.com/tagrelay/tagrelay/internal/gitauth"
)

// gitFlags are the credentials of one git remote.
type gitFlags struct {
	username  string
	tokenFile string
}

func (g *gitFlags) flags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "token-file", Usage: "read the git token (or password) from `FILE` (default: $TAGRELAY_TOKEN, $GITLAB_TOKEN, $GITHUB_TOKEN, $CI_JOB_TOKEN)", EnvVars: []string{"TAGRELAY_TOKEN_FILE"}, Destination: &g.tokenFile, TakesFile: true, Category: "Git"},
		&cli.StringFlag{Name: "username", Usage: "git user `NAME` sent with the token (default: oauth2; x-access-token for GITHUB_TOKEN; gitlab-ci-token for CI_JOB_TOKEN)", EnvVars: []string{"TAGRELAY_USERNAME"}, Destination: &g.username, Category: "Git"},
	}
}

// tokenVars are read in this order when no --token-file is given.
var tokenVars = []string{"TAGRELAY_TOKEN", "GITLAB_TOKEN", "GITHUB_TOKEN", "GH_TOKEN", "CI_JOB_TOKEN"}

// credentials returns the repository URL without credentials and the credentials to send:
// user info in the URL, else --token-file, else the first token variable set. Every secret is
// registered with the redactor before anything can print it.
func (g *gitFlags) credentials(env *clirun.Env, rawURL string) (string, gitauth.Credentials, error) {
	url, creds, err := gitauth.FromURL(rawURL)
	if err != nil {
		return "", creds, clirun.Usagef("give an https:// or ssh URL", "invalid repository URL")
	}
	env.Redactor.Add(creds.Password)
	if creds.Password == "" {
		tokenVar := ""
		if g.tokenFile != "" {
			if creds.Password, err = env.Secret("", g.tokenFile); err != nil {
				return "", creds, err
			}
		} else {
			for _, v := range tokenVars {
				if tok := env.Getenv(v); tok != "" {
					creds.Password, tokenVar = tok, v
					env.Redactor.Add(tok)
					break
				}
			}
		}
		if creds.Password != "" && creds.Username == "" {
			creds.Username = gitauth.DefaultUsername(tokenVar)
		}
	}
	if g.username != "" {
		creds.Username = g.username
	}
	return url, creds, nil
}
