package release

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/tagrelay/tagrelay/internal/errdefs"
	"github.com/tagrelay/tagrelay/internal/gitauth"
	"github.com/tagrelay/tagrelay/mirror"
)

// mirrorStep copies refs of one repository into another. Done when the destination already has
// them: the mirror refuses a no-op and never moves a ref backwards.
type mirrorStep struct {
	cfg      MirrorConfig
	src, dst mirror.Remote
	o        *Options
}

func newMirrorStep(m MirrorConfig, o *Options) (step, error) {
	if o.MirrorCacheDir == "" {
		return nil, errdefs.Invalid(errors.New("mirrors need a cache directory"))
	}
	s := &mirrorStep{cfg: m, src: mirror.Remote{URL: m.Source}, dst: mirror.Remote{URL: m.Dest}, o: o}
	for _, side := range []struct {
		env string
		r   *mirror.Remote
	}{{m.SourceTokenEnv, &s.src}, {m.DestTokenEnv, &s.dst}} {
		if side.env == "" {
			continue
		}
		if o.Secret == nil {
			return nil, errdefs.Invalid(errors.New("mirror tokens need a secret lookup"))
		}
		tok, err := o.Secret(side.env, "")
		if err != nil {
			return nil, err
		}
		if tok == "" {
			return nil, errdefs.WithHint(errdefs.Invalid(fmt.Errorf("mirror %s: %s is empty", side.r.URL, side.env)), "export the token in "+side.env)
		}
		side.r.Credentials = gitauth.Credentials{Username: gitauth.DefaultUsername(side.env), Password: tok}
	}
	return s, nil
}

func (s *mirrorStep) sync(ctx context.Context, dryRun bool) (*mirror.Result, error) {
	r, err := mirror.Sync(ctx, s.src, s.dst, mirror.Options{
		Refs: s.cfg.Refs, Tags: s.cfg.Tags, LFS: s.cfg.LFS, DryRun: dryRun, CacheDir: s.o.MirrorCacheDir,
		CAFile: s.o.MirrorCAFile, Insecure: s.o.GitInsecure, Logger: s.o.Logger,
	})
	if errors.Is(err, mirror.ErrLFSPointers) {
		err = errdefs.WithHint(err, "set lfs: true on the mirror of "+s.cfg.Source+" in the release configuration to copy the LFS objects too")
	}
	return r, err
}

func (s *mirrorStep) plan(ctx context.Context) (StepResult, error) {
	res := StepResult{Kind: StepMirror, Target: s.cfg.Dest, Status: StatusPending}
	r, err := s.sync(ctx, true)
	switch {
	case errors.Is(err, mirror.ErrUnchanged):
		res.Status = StatusAlreadyDone
		res.Plan = fmt.Sprintf("%s -> %s: already up to date", s.cfg.Source, s.cfg.Dest)
		return res, nil
	case err != nil:
		return res, err
	}
	res.Plan = fmt.Sprintf("%s -> %s: %s", s.cfg.Source, s.cfg.Dest, describeMirror(r))
	return res, nil
}

func (s *mirrorStep) run(ctx context.Context) (string, bool, error) {
	r, err := s.sync(ctx, false)
	if errors.Is(err, mirror.ErrUnchanged) {
		return "already up to date", true, nil
	}
	if err != nil {
		return "", false, err
	}
	return describeMirror(r), false, nil
}

func describeMirror(r *mirror.Result) string {
	var refs []string
	for _, c := range r.Changes {
		if c.Action != mirror.ActionUnchanged {
			refs = append(refs, fmt.Sprintf("%s %s %s", c.Action, c.Ref, short(c.New)))
		}
	}
	return strings.Join(refs, ", ")
}
