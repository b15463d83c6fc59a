package notify

import (
	"context"
	"errors"
	"fmt"

	"github.com/tagrelay/tagrelay/internal/forge"
	"github.com/tagrelay/tagrelay/reconcile/api"
)

// gitlabTarget sets the commit status deploy/APP on each app commit and, on failure, keeps a note
// on the merge request that brought it (on success, an existing note says it is resolved).
type gitlabTarget struct{ cfg *GitLab }

func (gitlabTarget) name() string { return "gitlab" }

func (t gitlabTarget) send(ctx context.Context, n *Notifier, ev Event) error {
	token, opts, err := n.forgeAccess("GitLab token", t.cfg.TokenFile, t.cfg.CAFile)
	if err != nil {
		return err
	}
	gl, err := forge.NewGitLab(t.cfg.URL, token, opts...)
	if err != nil {
		return err
	}
	link := consoleLink(n.opts.ConsoleURL, ev.App)
	st := forge.Status{Context: statusContext(ev.App), State: forge.State(ev.State), Description: description(ev), TargetURL: link}
	return eachCommit(ctx, ev, link, enabled(t.cfg.Notes),
		func(ctx context.Context, c api.AppCommit) error {
			return gl.SetCommitStatus(ctx, t.cfg.Project, c.Commit, st)
		},
		func(ctx context.Context, c api.AppCommit) (forge.ChangeRef, bool, error) {
			return gl.ChangeOfCommit(ctx, t.cfg.Project, c.Commit)
		},
		func(ctx context.Context, number int64, note forge.Note) (bool, error) {
			return gl.UpsertMergeRequestNote(ctx, t.cfg.Project, number, note)
		})
}

// githubTarget records a deployment of each app commit to the environment APP: created when the
// sync starts (in_progress), its final status when it ends (the newest deployment of the commit
// to the environment, created then if the start was missed); on failure, a comment on the pull
// request that brought the commit.
type githubTarget struct{ cfg *GitHub }

func (githubTarget) name() string { return "github" }

func (t githubTarget) send(ctx context.Context, n *Notifier, ev Event) error {
	token, opts, err := n.forgeAccess("GitHub token", t.cfg.TokenFile, t.cfg.CAFile)
	if err != nil {
		return err
	}
	gh, err := forge.NewGitHub(t.cfg.URL, token, opts...)
	if err != nil {
		return err
	}
	link := consoleLink(n.opts.ConsoleURL, ev.App)
	return eachCommit(ctx, ev, link, enabled(t.cfg.Notes),
		func(ctx context.Context, c api.AppCommit) error { return t.deployment(ctx, gh, ev, c, link) },
		func(ctx context.Context, c api.AppCommit) (forge.ChangeRef, bool, error) {
			return gh.ChangeOfCommit(ctx, t.cfg.Repo, c.Commit)
		},
		func(ctx context.Context, number int64, note forge.Note) (bool, error) {
			return gh.UpsertIssueComment(ctx, t.cfg.Repo, number, note)
		})
}

func (t githubTarget) deployment(ctx context.Context, gh *forge.GitHub, ev Event, c api.AppCommit, link string) error {
	var id int64
	var err error
	if ev.State != Pending {
		if id, err = gh.LatestDeployment(ctx, t.cfg.Repo, c.Commit, ev.App); err != nil {
			return err
		}
	}
	if id == 0 {
		id, err = gh.CreateDeployment(ctx, t.cfg.Repo, forge.Deployment{SHA: c.Commit, Environment: ev.App,
			Description: fmt.Sprintf("tagrelay: %s at infra revision %s", ev.App, short(ev.Result.Revision)),
			Payload:     map[string]any{"app": ev.App, "images": c.Images, "infraCommit": c.InfraCommit, "revision": ev.Result.Revision}})
		if err != nil {
			return err
		}
	}
	return gh.SetDeploymentStatus(ctx, t.cfg.Repo, id, forge.Status{State: forge.State(ev.State), Description: description(ev),
		TargetURL: link, Environment: ev.App})
}

// eachCommit marks each app commit of ev (mark) and, for a final state with notes on, keeps the
// note on the merge/pull request that brought it (noteOnChange). A commit whose mark failed gets
// no note; the errors of every commit are joined.
func eachCommit(ctx context.Context, ev Event, link string, notes bool, mark func(context.Context, api.AppCommit) error,
	change func(context.Context, api.AppCommit) (forge.ChangeRef, bool, error), upsert func(context.Context, int64, forge.Note) (bool, error)) error {
	var errs []error
	for _, c := range ev.Result.AppCommits {
		if err := mark(ctx, c); err != nil {
			errs = append(errs, err)
			continue
		}
		if ev.State == Pending || !notes {
			continue
		}
		errs = append(errs, noteOnChange(ctx, ev, c, link, ev.Config.LogLines,
			func(ctx context.Context) (forge.ChangeRef, bool, error) { return change(ctx, c) }, upsert))
	}
	return errors.Join(errs...)
}

// noteOnChange keeps the note of ev on the merge/pull request that brought commit c: the failure
// note on a failure, written or updated; on a success, an existing failure note is marked resolved
// (none is written). A commit no request brought gets no note.
func noteOnChange(ctx context.Context, ev Event, c api.AppCommit, link string, logLines int,
	change func(context.Context) (forge.ChangeRef, bool, error), upsert func(context.Context, int64, forge.Note) (bool, error)) error {
	cr, ok, err := change(ctx)
	if err != nil || !ok {
		return err
	}
	note := forge.Note{Marker: marker(ev.App), Body: failureNote(ev, c, link, logLines)}
	if ev.State == Success {
		note = forge.Note{Marker: marker(ev.App), Body: resolvedNote(ev, c, link), UpdateOnly: true}
	}
	_, err = upsert(ctx, cr.Number, note)
	return err
}
