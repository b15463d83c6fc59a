package bump

import (
	"context"
	"fmt"

	"golang.org/x/sync/errgroup"
)

// ImageCheck looks an image reference (IMAGE:TAG) up before a bump points at it and returns the
// digest the tag points at, or an error when it is not there. A registry client's lookup is one:
// registry.Client.Verify, bound to how long to wait for the build to push the tag.
type ImageCheck func(ctx context.Context, ref string) (digest string, err error)

// CheckImages runs check for every target at once and returns the digests, in target order. It is
// meant to run before anything is written: its errors say so.
func CheckImages(ctx context.Context, targets []Target, check ImageCheck) ([]string, error) {
	digests := make([]string, len(targets))
	g, gctx := errgroup.WithContext(ctx)
	for i, t := range targets {
		g.Go(func() error {
			d, err := check(gctx, t.Image+":"+t.Tag)
			if err != nil {
				return fmt.Errorf("%w; nothing was written", err)
			}
			digests[i] = d
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return digests, nil
}

// Pin returns the targets with Digest set to digests (from CheckImages): the bump then writes the
// digest next to the tag, and updates digests already pinned.
func Pin(targets []Target, digests []string) []Target {
	out := append([]Target(nil), targets...)
	for i := range out {
		out[i].Digest = digests[i]
	}
	return out
}
