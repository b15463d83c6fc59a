package mirror

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/plumbing/transport/client"

	"github.com/tagrelay/tagrelay/internal/errdefs"
)

// listing is what a remote advertised: its branches and tags (nothing else) and, for the source,
// the branch HEAD points at.
type listing struct {
	refs map[string]plumbing.Hash
	head string
}

// list reads a remote's ref advertisement with go-git: upload-pack for the source (what can be
// fetched), receive-pack for the destination (what a push will be compared against, and a check
// that the credentials may push; a failure cancels a fetch running alongside).
func (s *syncer) list(ctx context.Context, side string, r Remote, service string) (*listing, error) {
	ep, err := transport.NewEndpoint(r.URL)
	if err != nil {
		return nil, errdefs.Invalid(fmt.Errorf("%s URL: %v", side, err))
	}
	ep.InsecureSkipTLS = s.o.Insecure
	ep.CaBundle = s.caBundle
	cl, err := client.NewClient(ep)
	if err != nil {
		return nil, errdefs.Invalid(fmt.Errorf("%s URL: %v", side, err))
	}
	var sess transport.Session
	if service == transport.ReceivePackServiceName {
		sess, err = cl.NewReceivePackSession(ep, r.Credentials.GoGit())
	} else {
		sess, err = cl.NewUploadPackSession(ep, r.Credentials.GoGit())
	}
	if err != nil {
		return nil, remoteError(side, r.URL, err)
	}
	defer sess.Close()
	adv, err := sess.AdvertisedReferencesContext(ctx)
	if errors.Is(err, transport.ErrEmptyRemoteRepository) {
		return &listing{refs: map[string]plumbing.Hash{}}, nil
	}
	if err != nil {
		return nil, remoteError(side, r.URL, err)
	}
	l := &listing{refs: map[string]plumbing.Hash{}}
	for name, h := range adv.References {
		if mirrorable(name) && !h.IsZero() {
			l.refs[name] = h
		}
	}
	for _, v := range adv.Capabilities.Get(capability.SymRef) {
		if target, ok := strings.CutPrefix(v, "HEAD:"); ok {
			l.head = target
		}
	}
	return l, nil
}

// readCA returns the PEM bundle of o.CAFile, nil without one.
func (o *Options) readCA() ([]byte, error) {
	if o.CAFile == "" {
		return nil, nil
	}
	b, err := os.ReadFile(o.CAFile)
	if err != nil {
		return nil, errdefs.Invalid(fmt.Errorf("reading CA file: %w", err))
	}
	return b, nil
}

// remoteError names the side and classifies a listing failure so the CLI can say what to do.
func remoteError(side, url string, err error) error {
	switch {
	case errors.Is(err, transport.ErrAuthenticationRequired), errors.Is(err, transport.ErrAuthorizationFailed):
		hint := "check the source user and token (read access is enough)"
		if side == "destination" {
			hint = "check the destination user and token (it needs write access: GitLab role Developer or more, scope write_repository)"
		}
		return errdefs.WithHint(fmt.Errorf("%s %s: %w (%s)", side, url, ErrAuth, strings.TrimSpace(err.Error())), hint)
	case errors.Is(err, transport.ErrRepositoryNotFound):
		return errdefs.WithHint(fmt.Errorf("%s %s: %w", side, url, ErrRepoNotFound),
			"check the "+side+" URL, and that the token can see the repository")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	}
	var netErr net.Error
	if errors.As(err, &netErr) || strings.Contains(err.Error(), "connection refused") {
		return errdefs.WithHint(errdefs.Unavailable(fmt.Errorf("reaching %s %s: %w", side, url, err)),
			"check the URL and the network (proxy variables, VPN, firewall)")
	}
	return errdefs.Unavailable(fmt.Errorf("listing %s refs of %s: %w", side, url, err))
}
