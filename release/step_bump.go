package release

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/tagrelay/tagrelay/bump"
	"github.com/tagrelay/tagrelay/internal/provenance"
)

// bumpStep points the infra files at the released tag in one commit. Done when they already
// hold it: bump refuses a no-op, so a second run never makes a second commit.
type bumpStep struct {
	cfg   InfraConfig
	image string
	tag   string
	o     *Options
}

// push plans (dryRun) or makes the commit. Before writing, the tag is looked up in the registry,
// as tagrelay bump does: the infra repository never points at an image that is not there. (The
// plan runs before the push step, so the tag may not exist yet then.)
func (s *bumpStep) push(ctx context.Context, dryRun bool) (*bump.Commit, error) {
	remote := bump.Remote{URL: s.cfg.Repo, Branch: s.cfg.Branch, Auth: s.o.Git.GoGit(), CABundle: s.o.GitCABundle, InsecureSkipTLS: s.o.GitInsecure}
	opts := s.o.Bump
	opts.DryRun, opts.Kind, opts.Logger, opts.Source = dryRun, bump.KindAuto, s.o.Logger, s.source()
	if r := s.cfg.Render; r != nil {
		if s.o.RenderCheck == nil {
			return nil, errors.New("infra.render is set, and the release has no render check")
		}
		check, err := s.o.RenderCheck(*r)
		if err != nil {
			return nil, err
		}
		opts.RenderCheck = check
	}
	if !dryRun {
		opts.CheckImage = func(ctx context.Context, ref string) (string, error) { return s.o.Registry.Verify(ctx, ref, 0) }
	}
	return bump.Push(ctx, remote, s.cfg.Files, []bump.Target{{Image: s.image, Tag: s.tag}}, opts)
}

// source is the app commit the provenance trailers name: Bump.Source (the CI's commit) when it is
// the released commit, none otherwise — releasing another commit than the pipeline's must not
// credit the pipeline's.
func (s *bumpStep) source() provenance.Source {
	src := s.o.Bump.Source
	if src.Commit != "" && !strings.HasPrefix(strings.ToLower(src.Commit), strings.ToLower(s.o.Commit)) {
		s.o.Logger.Info("no Tagrelay-Source-Commit trailer: the released commit is not the pipeline's", "commit", s.o.Commit, "source", src.Commit)
		return provenance.Source{}
	}
	return src
}

func (s *bumpStep) plan(ctx context.Context) (StepResult, error) {
	res := StepResult{Kind: StepBump, Target: s.cfg.Repo, Status: StatusPending}
	c, err := s.push(ctx, true)
	switch {
	case errors.Is(err, bump.ErrUnchanged):
		res.Status = StatusAlreadyDone
		res.Plan = fmt.Sprintf("%s already at %s in %s", s.image, s.tag, strings.Join(s.cfg.Files, ", "))
		return res, nil
	case err != nil:
		return res, err
	}
	var lines []string
	for _, ch := range c.Changes() {
		from := ch.From
		if from == "" {
			from = "(none)"
		}
		lines = append(lines, fmt.Sprintf("%s:%d %s %s -> %s", ch.Path, ch.Line, ch.Image, from, ch.To))
	}
	res.Plan = fmt.Sprintf("commit to %s of %s: %s", c.BaseBranch, s.cfg.Repo, strings.Join(lines, "; "))
	return res, nil
}

func (s *bumpStep) run(ctx context.Context) (string, bool, error) {
	c, err := s.push(ctx, false)
	if errors.Is(err, bump.ErrUnchanged) {
		return fmt.Sprintf("%s already at %s", s.image, s.tag), true, nil
	}
	if err != nil {
		return "", false, err
	}
	return fmt.Sprintf("commit %s on %s", c.Hash, c.Branch), false, nil
}
