package registry

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tagrelay/tagrelay/internal/errdefs"
)

// Verify returns the digest ref points at: the check made before a deploy is pointed at an
// image (bump and release look their tags up with it before writing). With wait > 0 it waits up
// to wait for the build to push the tag, asking every wait/20 (at least 200 ms, at most 5 s).
// A tag that does not exist, or does not appear within wait, is ErrNotFound.
func (c *Client) Verify(ctx context.Context, ref string, wait time.Duration) (string, error) {
	if wait <= 0 {
		return c.Digest(ctx, ref)
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	d, err := c.WaitFor(wctx, ref, min(5*time.Second, max(wait/20, 200*time.Millisecond)))
	if err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		return "", errdefs.NotFound(fmt.Errorf("%s did not appear within %s: %w", ref, wait, err))
	}
	return d, err
}
