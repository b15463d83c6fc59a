package tagrelay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/tagrelay/tagrelay/bump"
	"github.com/tagrelay/tagrelay/internal/cli/regflags"
	"github.com/tagrelay/tagrelay/internal/clirun"
	"github.com/tagrelay/tagrelay/internal/errdefs"
	"github.com/tagrelay/tagrelay/registry"
)

// verifyImages checks, before anything is written, that every target's tag exists in its
// registry (waiting up to --wait-for-image), and with --digest records the digest it points at.
// It runs for --repo (unless --no-verify-image) and whenever --digest or --wait-for-image is given.
func (o *bumpOptions) verifyImages(ctx context.Context, env *clirun.Env, log *slog.Logger, targets []bump.Target) error {
	if !(o.repo != "" && !o.noVerify || o.digest || o.waitFor > 0) {
		return nil
	}
	if o.noVerify && o.digest {
		return clirun.Usagef("drop one of them", "--digest needs the registry, --no-verify-image skips it")
	}
	hosts := make([]string, 0, len(targets))
	for _, t := range targets {
		hosts = append(hosts, regflags.RegistryOf(t.Image))
	}
	client, err := o.reg.Client(env, log, 0, hosts...)
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	for i := range targets {
		t := &targets[i]
		g.Go(func() error {
			d, err := lookup(gctx, client, t.Image+":"+t.Tag, o.waitFor)
			if err != nil {
				return err
			}
			log.Info("image found", "image", t.Image+":"+t.Tag, "digest", d)
			if o.digest {
				t.Digest = d
			}
			return nil
		})
	}
	return g.Wait()
}

func lookup(ctx context.Context, client *registry.Client, ref string, wait time.Duration) (string, error) {
	if wait <= 0 {
		d, err := client.Digest(ctx, ref)
		if errors.Is(err, registry.ErrNotFound) {
			return "", errdefs.WithHint(fmt.Errorf("%w; nothing was written", err),
				"the build has not pushed it (yet): wait for it with --wait-for-image 10m, or skip the check with --no-verify-image")
		}
		return d, err
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	d, err := client.WaitFor(wctx, ref, min(5*time.Second, max(wait/20, 200*time.Millisecond)))
	if err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		return "", errdefs.NotFound(fmt.Errorf("%s did not appear within %s: %w; nothing was written", ref, wait, err))
	}
	return d, err
}

// gitTLS returns the CA bundle and insecure setting for git from the same flags as the
// registry's: a private PKI usually signs both.
func (o *bumpOptions) gitTLS(env *clirun.Env, log *slog.Logger) ([]byte, bool, error) {
	bundle, _, err := o.reg.CABundle(env)
	if err != nil {
		return nil, false, err
	}
	if o.reg.Insecure {
		log.Warn("TLS verification of the git server disabled (--insecure)", "repo", o.repo)
	}
	return bundle, o.reg.Insecure, nil
}
