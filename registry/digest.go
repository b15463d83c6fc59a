package registry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Image is what a registry says about one reference.
type Image struct {
	Ref       string `json:"ref"`   // the reference asked about, normalised
	Image     string `json:"image"` // its repository
	Tag       string `json:"tag,omitempty"`
	Digest    string `json:"digest"` // sha256:…
	MediaType string `json:"mediaType"`
	Size      int64  `json:"size"`
}

// Digest returns the digest ref points at, with one manifest HEAD (a GET when the registry
// does not allow HEAD). A missing tag or repository is an ErrNotFound (errdefs class NotFound,
// exit 4); refused credentials are an ErrUnauthorized (exit 1).
func (c *Client) Digest(ctx context.Context, ref string) (string, error) {
	img, err := c.Head(ctx, ref)
	if err != nil {
		return "", err
	}
	return img.Digest, nil
}

// Head returns the descriptor of ref; see Digest.
func (c *Client) Head(ctx context.Context, s string) (*Image, error) {
	ref, err := c.ParseReference(s)
	if err != nil {
		return nil, err
	}
	d, err := c.head(ctx, ref)
	if err != nil {
		return nil, wrap("looking up", ref.String(), err)
	}
	img := &Image{Ref: ref.String(), Image: ref.Context().String(), Digest: d.Digest.String(), MediaType: string(d.MediaType), Size: d.Size}
	if t, ok := ref.(name.Tag); ok {
		img.Tag = t.TagStr()
	}
	return img, nil
}

func (c *Client) head(ctx context.Context, ref name.Reference) (*v1.Descriptor, error) {
	tr, err := c.transport(ctx, ref.Context().Registry, []string{ref.Scope(transport.PullScope)})
	if err != nil {
		return nil, err
	}
	p, err := remote.NewPuller(c.remoteOptions(tr)...)
	if err != nil {
		return nil, err
	}
	d, err := p.Head(ctx, ref)
	if err == nil || isNotFound(err) || isAuth(err) || errors.Is(err, context.Canceled) {
		return d, err
	}
	// Some registries refuse HEAD (405) or omit Docker-Content-Digest on it: ask with GET,
	// as crane digest does.
	full, gerr := p.Get(ctx, ref)
	if gerr != nil {
		return nil, gerr
	}
	return &full.Descriptor, nil
}

// WaitFor polls until ref exists and returns its digest (bump's --wait-for-image). It asks
// every interval (default 5 s when <= 0) and returns ctx.Err() when ctx ends first, joined
// with the last lookup error (so a timeout says why the image was not seen, and is an
// ErrNotFound, exit 4, when the image never appeared). Errors other than
// ErrNotFound (bad credentials, an invalid reference) end the wait at once.
func (c *Client) WaitFor(ctx context.Context, ref string, interval time.Duration) (string, error) {
	if interval <= 0 {
		interval = 5 * time.Second
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	var last error
	for {
		d, err := c.Digest(ctx, ref)
		switch {
		case err == nil:
			return d, nil
		case ctx.Err() != nil:
			return "", waitError(ref, ctx.Err(), last)
		case !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrUnavailable):
			return "", err
		}
		last = err
		c.log.Debug("waiting for image", "ref", ref, "error", err)
		select {
		case <-ctx.Done():
			return "", waitError(ref, ctx.Err(), last)
		case <-t.C:
		}
	}
}

// waitError reports why a wait ended and the last reason the image was not seen.
func waitError(ref string, ctxErr, last error) error {
	if last == nil {
		return fmt.Errorf("waiting for %s: %w", ref, ctxErr)
	}
	return fmt.Errorf("waiting for %s: %w; last lookup: %w", ref, ctxErr, last)
}

func isNotFound(err error) bool {
	var terr *transport.Error
	if !errors.As(err, &terr) {
		return false
	}
	if terr.StatusCode == http.StatusNotFound {
		return true
	}
	for _, d := range terr.Errors {
		if d.Code == transport.ManifestUnknownErrorCode || d.Code == transport.NameUnknownErrorCode {
			return true
		}
	}
	return false
}

func isAuth(err error) bool {
	var terr *transport.Error
	return errors.As(err, &terr) && (terr.StatusCode == http.StatusUnauthorized || terr.StatusCode == http.StatusForbidden)
}
