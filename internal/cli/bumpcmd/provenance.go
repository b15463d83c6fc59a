package bumpcmd

import (
	"cmp"
	"log/slog"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/tagrelay/tagrelay/bump"
	"github.com/tagrelay/tagrelay/internal/clirun"
	"github.com/tagrelay/tagrelay/internal/errdefs"
	"github.com/tagrelay/tagrelay/internal/provenance"
)

// sourceFlags name the app commit the images were built from, for the provenance trailers.
type sourceFlags struct {
	commit       string
	repo         string
	writeMessage string
}

func (o *sourceFlags) flags() []cli.Flag {
	const cat = "Provenance"
	return []cli.Flag{
		&cli.StringFlag{Name: "source-commit", Usage: "full `SHA` of the app commit the images were built from, written as a Tagrelay-Source-Commit trailer (default: CI_COMMIT_SHA, else GITHUB_SHA, unless the tag is another commit's short SHA)", EnvVars: []string{"TAGRELAY_SOURCE_COMMIT"}, Destination: &o.commit, Category: cat},
		&cli.StringFlag{Name: "source-repo", Usage: "`URL` of the app repository, written as a Tagrelay-Source-Repo trailer without credentials (default: CI_PROJECT_URL, else GITHUB_SERVER_URL/GITHUB_REPOSITORY)", EnvVars: []string{"TAGRELAY_SOURCE_REPO"}, Destination: &o.repo, Category: cat},
		&cli.StringFlag{Name: "write-message", Usage: "without --repo: write the commit message (the --message template and the provenance trailers) to `FILE`, for git commit -F FILE", EnvVars: []string{"TAGRELAY_WRITE_MESSAGE"}, Destination: &o.writeMessage, TakesFile: true, Category: cat},
	}
}

// ciSource is the app commit named by the CI's variables: GitLab's CI_COMMIT_SHA and
// CI_PROJECT_URL, else GitHub's GITHUB_SHA and GITHUB_SERVER_URL/GITHUB_REPOSITORY. Values that
// cannot be trailers (a short SHA) name nothing; a URL loses its credentials.
func ciSource(env *clirun.Env) provenance.Source {
	sha, repo := env.Getenv("CI_COMMIT_SHA"), env.Getenv("CI_PROJECT_URL")
	if sha == "" {
		sha = env.Getenv("GITHUB_SHA")
		if srv, r := env.Getenv("GITHUB_SERVER_URL"), env.Getenv("GITHUB_REPOSITORY"); srv != "" && r != "" {
			repo = strings.TrimSuffix(srv, "/") + "/" + r
		}
	}
	sha = strings.TrimSpace(sha)
	if !provenance.ValidCommit(sha) {
		return provenance.Source{}
	}
	src := provenance.Source{Commit: strings.ToLower(sha)}
	if clean, err := provenance.CleanRepo(repo); err == nil {
		src.Repo = clean
	}
	return src
}

// source is the app commit of this bump: the flags, else the CI's (ci). The CI's commit is not
// used when a target's tag is a short SHA of another commit: the job then bumps an image it did
// not build (a promotion, a bump from the infra repository's own pipeline).
func (o *sourceFlags) source(log *slog.Logger, targets []bump.Target, ci provenance.Source) (provenance.Source, error) {
	if o.commit == "" && o.repo != "" {
		return provenance.Source{}, clirun.Usagef("give the commit with --source-commit too", "--source-repo without --source-commit")
	}
	if o.commit != "" {
		src := provenance.Source{Commit: strings.TrimSpace(o.commit), Repo: o.repo}
		if _, err := (provenance.Record{Source: src}).Trailers(); err != nil {
			return provenance.Source{}, errdefs.WithHint(errdefs.Invalid(err), "pass the full 40-character SHA with --source-commit and an https or ssh URL with --source-repo")
		}
		return src, nil
	}
	for _, t := range targets {
		if isHex(t.Tag) && len(t.Tag) >= 7 && !strings.HasPrefix(ci.Commit, strings.ToLower(t.Tag)) && ci.Commit != "" {
			log.Info("no Tagrelay-Source-Commit trailer: the tag is another commit's than the CI's; pass --source-commit", "image", t.Image+":"+t.Tag)
			return provenance.Source{}, nil
		}
	}
	return ci, nil
}

func isHex(s string) bool {
	return s != "" && strings.Trim(strings.ToLower(s), "0123456789abcdef") == ""
}

// writeLocalMessage renders the commit message of a local bump and writes it to --write-message,
// before the files are written.
func (o *sourceFlags) writeLocalMessage(message string, res *bump.Result, targets []bump.Target, src provenance.Source) (string, error) {
	msg, err := bump.CommitMessage(cmp.Or(message, bump.DefaultMessage), res, targets, "", src)
	if err != nil || o.writeMessage == "" {
		return msg, err
	}
	if err := os.WriteFile(o.writeMessage, []byte(msg), 0o644); err != nil {
		return "", clirun.Usagef("check --write-message; nothing was written", "writing the commit message: %v", err)
	}
	return msg, nil
}
