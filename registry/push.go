package registry

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"

	"github.com/tagrelay/tagrelay/internal/errdefs"
)

// Action is what a push does to one tag.
type Action string

// The actions.
const (
	// ActionCreate: the tag does not exist yet.
	ActionCreate Action = "create"
	// ActionUnchanged: the tag already points at the digest.
	ActionUnchanged Action = "unchanged"
	// ActionOverwrite: the tag points at another digest and Force moves it.
	ActionOverwrite Action = "overwrite"
)

// Mode is how the content reaches the destination.
type Mode string

// The modes.
const (
	// ModeTag: the content is already in the destination repository; only manifests are PUT.
	ModeTag Mode = "tag"
	// ModeCopy: from another repository or registry; blobs are mounted when the registry
	// allows it, else streamed from the source.
	ModeCopy Mode = "copy"
	// ModeUpload: from a local layout or tarball.
	ModeUpload Mode = "upload"
)

// TagPlan is the fate of one tag.
type TagPlan struct {
	Tag    string `json:"tag"`
	Action Action `json:"action"`
	// Previous is the digest the tag pointed at before, "" when it did not exist.
	Previous string `json:"previous,omitempty"`
}

// Plan is a push decided before anything is written: every tag has been checked.
type Plan struct {
	Source    *Source   `json:"-"`
	Dest      string    `json:"image"`
	Digest    string    `json:"digest"`
	MediaType string    `json:"mediaType"`
	Platforms []string  `json:"platforms,omitempty"`
	Mode      Mode      `json:"mode"`
	Tags      []TagPlan `json:"tags"`

	repo name.Repository
}

// Changes reports whether applying the plan writes anything.
func (p *Plan) Changes() bool {
	for _, t := range p.Tags {
		if t.Action != ActionUnchanged {
			return true
		}
	}
	return false
}

// Result is what a push did.
type Result struct {
	*Plan
	Stats Stats `json:"stats"`
}

// PushOption configures Plan and Push.
type PushOption func(*pushOptions)

type pushOptions struct {
	force    bool
	progress chan<- v1.Update
}

// WithForce lets a push move tags that point at another digest. Default: such a tag is an
// ErrTagExists and nothing is written.
func WithForce(force bool) PushOption { return func(o *pushOptions) { o.force = force } }

// WithProgress sends upload progress to ch (see remote.WithProgress); ch must be buffered and
// is closed when the push ends. Default: no progress.
func WithProgress(ch chan<- v1.Update) PushOption {
	return func(o *pushOptions) { o.progress = ch }
}

func makePushOptions(opts []PushOption) pushOptions {
	var o pushOptions
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// Push plans and applies: it pushes src to dest (a repository, harbor.example/team/app) under
// every tag. See Plan for the checks made before anything is written.
func (c *Client) Push(ctx context.Context, src *Source, dest string, tags []string, opts ...PushOption) (*Result, error) {
	p, err := c.Plan(ctx, src, dest, tags, opts...)
	if err != nil {
		if p != nil { // ErrUnchanged: Plan returns the plan only with that error
			return &Result{Plan: p}, err
		}
		return nil, err
	}
	return c.Apply(ctx, p, opts...)
}

// Plan checks every tag of dest before anything is written (bad input changes nothing):
//   - an invalid repository or tag is an ErrInvalidReference;
//   - a tag pointing at another digest is an ErrTagExists naming both digests, unless WithForce;
//   - when every tag already points at the source's digest, the plan is returned with
//     ErrUnchanged.
func (c *Client) Plan(ctx context.Context, src *Source, dest string, tags []string, opts ...PushOption) (*Plan, error) {
	o := makePushOptions(opts)
	repo, err := c.ParseRepository(dest)
	if err != nil {
		return nil, err
	}
	if len(tags) == 0 {
		return nil, errdefs.Invalid(fmt.Errorf("pushing to %s: no tag given", dest))
	}
	for _, t := range tags {
		if _, err := name.NewTag(repo.String()+":"+t, c.nameOptions()...); err != nil || strings.ContainsAny(t, ":@/") {
			return nil, fmt.Errorf("%w: tag %q: use letters, digits, '_', '.' and '-' (at most 128, not starting with '.' or '-')", ErrInvalidReference, t)
		}
	}
	tr, err := c.transport(ctx, repo.Registry, pushScopes(repo, src))
	if err != nil {
		return nil, wrap("pushing to", repo.String(), err)
	}
	var srcTr http.RoundTripper
	if sameRegistry(src, repo) {
		srcTr = tr
	}
	tags = uniq(tags)
	heads, err := c.lookUp(ctx, src, srcTr, tr, repo, tags)
	if err != nil {
		return nil, err
	}
	p := &Plan{Source: src, Dest: repo.String(), Digest: src.Digest(), MediaType: src.MediaType(),
		Platforms: src.Platforms(), repo: repo}
	var clashes []string
	for i, t := range tags {
		tp := TagPlan{Tag: t, Action: ActionCreate}
		switch d := heads[i]; {
		case d == nil:
		case d.Digest.String() == p.Digest:
			tp.Action, tp.Previous = ActionUnchanged, d.Digest.String()
		default:
			tp.Action, tp.Previous = ActionOverwrite, d.Digest.String()
			clashes = append(clashes, fmt.Sprintf("%s is %s", t, d.Digest))
		}
		p.Tags = append(p.Tags, tp)
	}
	p.Mode = p.mode()
	if len(clashes) > 0 && !o.force {
		return nil, errdefs.WithHint(fmt.Errorf("%w: %s: %s, not %s; nothing was pushed", ErrTagExists, repo, strings.Join(clashes, ", "), p.Digest),
			"tags are immutable: push under a new tag (the commit SHA)")
	}
	if !p.Changes() {
		return p, errdefs.WithHint(fmt.Errorf("%w: %s already points at %s; nothing was pushed", ErrUnchanged, p.tagList(), p.Digest),
			"build and push a new commit")
	}
	return p, nil
}

// lookUp fetches a remote source's manifest and HEADs every tag of repo at once (nil: absent),
// so a plan costs one round trip after the handshake.
func (c *Client) lookUp(ctx context.Context, src *Source, srcTr, tr http.RoundTripper, repo name.Repository, tags []string) ([]*v1.Descriptor, error) {
	puller, err := remote.NewPuller(c.remoteOptions(tr)...)
	if err != nil {
		return nil, err
	}
	heads := make([]*v1.Descriptor, len(tags))
	g, gctx := errgroup.WithContext(ctx)
	// Not gctx: the descriptor keeps the context for the blobs and children it reads later,
	// and gctx ends with Wait.
	g.Go(func() error { return src.resolve(ctx, c, srcTr) })
	for i, t := range tags {
		g.Go(func() error {
			d, err := puller.Head(gctx, repo.Tag(t))
			if err != nil && !isNotFound(err) {
				return wrap("checking tag", repo.Tag(t).String(), err)
			}
			heads[i] = d
			return nil
		})
	}
	return heads, g.Wait()
}

func (p *Plan) mode() Mode {
	for _, t := range p.Tags {
		if t.Action == ActionUnchanged {
			return ModeTag // the content is there under another tag of this push
		}
	}
	if p.Source.Kind != SourceRemote {
		return ModeUpload
	}
	if p.Source.ref.Context().String() == p.repo.String() {
		return ModeTag
	}
	return ModeCopy
}

func (p *Plan) tagList() string {
	var refs []string
	for _, t := range p.Tags {
		refs = append(refs, p.Dest+":"+t.Tag)
	}
	return strings.Join(refs, ", ")
}

// pushScopes are the token scopes of a push: push and pull on the destination, and pull on a
// source repository of the same registry so blobs can be mounted from it.
func pushScopes(repo name.Repository, src *Source) []string {
	scopes := []string{repo.Scope(transport.PushScope)}
	if sameRegistry(src, repo) {
		scopes = append(scopes, src.ref.Context().Scope(transport.PullScope))
	}
	return scopes
}

func sameRegistry(src *Source, repo name.Repository) bool {
	return src.Kind == SourceRemote && src.ref.Context().Registry.String() == repo.Registry.String()
}

// Apply writes the plan: the content once (unless already there), then a manifest PUT per tag.
func (c *Client) Apply(ctx context.Context, p *Plan, opts ...PushOption) (*Result, error) {
	o := makePushOptions(opts)
	res := &Result{Plan: p}
	ctx = withStats(ctx, &res.Stats)
	tr, err := c.transport(ctx, p.repo.Registry, pushScopes(p.repo, p.Source))
	if err != nil {
		return nil, wrap("pushing to", p.Dest, err)
	}
	// remoteOptions gives ggcr all Jobs, though it applies them twice for an index (see there).
	var extra []remote.Option
	if o.progress != nil {
		extra = append(extra, remote.WithProgress(o.progress))
		defer close(o.progress)
	}
	pusher, err := remote.NewPusher(c.remoteOptions(tr, extra...)...)
	if err != nil {
		return nil, err
	}
	m, err := p.Source.taggable()
	if err != nil {
		return nil, wrap("reading source", p.Source.Name, err)
	}
	first := true
	for _, t := range p.Tags {
		if t.Action == ActionUnchanged {
			continue
		}
		ref := p.repo.Tag(t.Tag)
		if first && p.Mode != ModeTag {
			err = pusher.Push(ctx, ref, m) // blobs, child manifests, then this tag
		} else {
			err = pusher.Put(ctx, ref, m) // the content is there: one manifest PUT
		}
		if err != nil {
			return nil, wrap("pushing", ref.String(), err)
		}
		first = false
	}
	return res, nil
}

// taggable is what ggcr pushes: the remote descriptor, or the local image or index.
func (s *Source) taggable() (remote.Taggable, error) {
	if s.desc != nil {
		if s.mediaType.IsIndex() {
			return s.desc.ImageIndex()
		}
		if s.mediaType == types.DockerManifestSchema1 || s.mediaType == types.DockerManifestSchema1Signed {
			return s.desc, nil
		}
		return s.desc.Image()
	}
	return s.local.(remote.Taggable), nil
}

func uniq(ss []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
