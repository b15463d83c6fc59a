package release

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/tagrelay/tagrelay/internal/errdefs"
	"github.com/tagrelay/tagrelay/registry"
)

// pushStep promotes the commit's image to the release tag: a manifest PUT when it stays in its
// repository. Done when the tag already points at the digest.
type pushStep struct {
	cfg ImageConfig
	o   *Options
}

func (s *pushStep) source() string {
	if s.cfg.Source != "" {
		return s.cfg.Source
	}
	return s.cfg.Repository + ":" + s.o.Commit
}

func (s *pushStep) tags() []string {
	if s.o.Version != "" {
		return []string{s.o.Version}
	}
	return []string{s.o.Commit}
}

func (s *pushStep) plan(ctx context.Context) (StepResult, error) {
	res := StepResult{Kind: StepPush, Target: s.cfg.Repository, Status: StatusPending}
	p, err := s.push(ctx, true)
	switch {
	case errors.Is(err, registry.ErrUnchanged):
		res.Status = StatusAlreadyDone
	case err != nil:
		return res, err
	}
	var tags []string
	for _, t := range p.Tags {
		tags = append(tags, fmt.Sprintf("%s:%s (%s)", s.cfg.Repository, t.Tag, t.Action))
	}
	res.Plan = fmt.Sprintf("promote %s (%s) to %s", s.source(), short(p.Digest), strings.Join(tags, ", "))
	return res, nil
}

func (s *pushStep) run(ctx context.Context) (string, bool, error) {
	p, err := s.push(ctx, false)
	if errors.Is(err, registry.ErrUnchanged) {
		return fmt.Sprintf("%s:%s is already %s", s.cfg.Repository, strings.Join(s.tags(), ","), short(p.Digest)), true, nil
	}
	if err != nil {
		return "", false, err
	}
	return fmt.Sprintf("%s:%s -> %s", s.cfg.Repository, strings.Join(s.tags(), ","), p.Digest), false, nil
}

// push plans (dryRun) or pushes; the plan comes back with ErrUnchanged too.
func (s *pushStep) push(ctx context.Context, dryRun bool) (*registry.Plan, error) {
	src, err := s.o.Registry.OpenSource(ctx, s.source())
	if err != nil {
		if errors.Is(err, registry.ErrNotFound) {
			return nil, errdefs.WithHint(err, "the commit's image must exist: let CI build and push it (tag "+s.o.Commit+"), or set image.source")
		}
		return nil, err
	}
	defer src.Close()
	if dryRun {
		return s.o.Registry.Plan(ctx, src, s.cfg.Repository, s.tags())
	}
	res, err := s.o.Registry.Push(ctx, src, s.cfg.Repository, s.tags())
	if res == nil {
		return nil, err
	}
	return res.Plan, err
}

func short(digest string) string {
	if len(digest) > len("sha256:")+12 {
		return digest[:len("sha256:")+12]
	}
	return digest
}
