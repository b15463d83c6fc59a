package bump

import (
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/tagrelay/tagrelay/internal/errdefs"
)

// imageRef is an image reference as written in a file, split into its parts with their offsets in
// the written string, so a rewrite can replace exactly the tag or digest bytes.
type imageRef struct {
	raw    string
	repo   string // repository as written: "nginx", "10.0.0.1:5000/app"
	tag    string // "" when untagged
	digest string // "sha256:..." when pinned, "" otherwise
	// tagStart..tagEnd is the tag in raw (both at the insertion point when untagged);
	// digestStart..len(raw) is the digest including its "@".
	tagStart, tagEnd, digestStart int
}

// splitImage splits "repo[:tag][@digest]". The tag is after the last ':' that follows the last
// '/', so registry ports ("10.0.0.1:5000/app:1.0") are never mistaken for tags.
func splitImage(s string) imageRef {
	r := imageRef{raw: s, digestStart: len(s)}
	rest := s
	if i := strings.IndexByte(s, '@'); i >= 0 {
		r.digest = s[i+1:]
		r.digestStart = i
		rest = s[:i]
	}
	slash := strings.LastIndexByte(rest, '/')
	if c := strings.LastIndexByte(rest, ':'); c > slash {
		r.repo, r.tag = rest[:c], rest[c+1:]
		r.tagStart, r.tagEnd = c+1, len(rest)
	} else {
		r.repo = rest
		r.tagStart, r.tagEnd = len(rest), len(rest)
	}
	return r
}

// canonicalRepo returns the fully qualified repository name used to compare images:
// "nginx" and "docker.io/library/nginx" are both "index.docker.io/library/nginx". ok is false for
// strings that are not image repositories (templates, empty values, uppercase).
func canonicalRepo(repo string) (canon string, ok bool) {
	if repo == "" || strings.ContainsAny(repo, " {}$\t") {
		return "", false
	}
	r, err := name.NewRepository(repo)
	if err != nil {
		return "", false
	}
	return r.Name(), true
}

// Target is one requested change: point Image at Tag (and Digest, when resolved).
type Target struct {
	// Image is the repository to match, without tag: "nginx", "harbor.example/team/app".
	Image string
	// Tag is the new tag.
	Tag string
	// Digest is the new digest ("sha256:…"). When set, pinned digests next to the tag are
	// updated and images are pinned; when empty, a pinned digest makes the bump fail.
	Digest string
	// Key is a dotted path ("image.tag", "spec.values.app.image") to one node of a Helm values
	// file or HelmRelease; "" means find the image by its repository.
	Key string
}

// String returns "image:tag" (and "@digest" when set).
func (t Target) String() string {
	s := t.Image + ":" + t.Tag
	if t.Digest != "" {
		s += "@" + t.Digest
	}
	return s
}

// ParseTarget parses "image=tag" (the --set syntax) into a Target and validates it.
func ParseTarget(s string) (Target, error) {
	img, tag, ok := strings.Cut(s, "=")
	if !ok {
		return Target{}, errdefs.Invalid(fmt.Errorf("invalid image assignment %q: want IMAGE=TAG", s))
	}
	t := Target{Image: strings.TrimSpace(img), Tag: strings.TrimSpace(tag)}
	return t, t.Validate()
}

// Validate checks the image, tag and digest syntax (OCI distribution rules: a tag is
// [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}; repositories are lowercase). It changes nothing.
func (t Target) Validate() error {
	_, err := t.prepare()
	return err
}

// target is a validated Target with what matching compares: its canonical repository.
type target struct {
	Target
	canon string
}

// prepare validates t and returns it ready for matching.
func (t Target) prepare() (target, error) {
	if t.Image == "" {
		return target{}, errdefs.Invalid(fmt.Errorf("no image given"))
	}
	ref := splitImage(t.Image)
	if ref.tag != "" || ref.digest != "" {
		return target{}, errdefs.Invalid(fmt.Errorf("invalid image %q: give the repository without a tag or digest", t.Image))
	}
	canon, err := name.NewRepository(t.Image)
	if err != nil {
		return target{}, errdefs.Invalid(fmt.Errorf("invalid image %q: %s", t.Image, badName(err)))
	}
	if err := t.validateTag(); err != nil {
		return target{}, err
	}
	return target{Target: t, canon: canon.Name()}, nil
}

// prepareAll validates every target: ErrNoTarget for none.
func prepareAll(targets []Target) ([]target, error) {
	if len(targets) == 0 {
		return nil, ErrNoTarget
	}
	out := make([]target, len(targets))
	for i, t := range targets {
		var err error
		if out[i], err = t.prepare(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// validateTag checks the tag and the digest of a target whose image is valid.
func (t Target) validateTag() error {
	if t.Tag == "" {
		return errdefs.Invalid(fmt.Errorf("no tag given for image %s", t.Image))
	}
	// ggcr checks the characters and the length; the OCI grammar also forbids a leading '.' or
	// '-': [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}.
	// https://github.com/opencontainers/distribution-spec/blob/main/spec.md#pulling-manifests
	if _, err := name.NewTag(t.Image + ":" + t.Tag); err != nil || t.Tag[0] == '.' || t.Tag[0] == '-' {
		return errdefs.Invalid(fmt.Errorf("invalid tag %q for %s: a tag is 1 to 128 characters of letters, digits, '_', '.' and '-', not starting with '.' or '-'", t.Tag, t.Image))
	}
	if t.Digest != "" {
		if _, err := name.NewDigest(t.Image + "@" + t.Digest); err != nil {
			return errdefs.Invalid(fmt.Errorf("invalid digest %q for %s: %s", t.Digest, t.Image, badName(err)))
		}
	}
	return nil
}

// badName strips ggcr's generic prefix from a name error.
func badName(err error) string {
	return strings.TrimPrefix(err.Error(), "repository can only contain the characters ")
}

// matches reports whether repo (as written in a file) is the target's repository.
func (t target) matches(repo string) bool {
	c, ok := canonicalRepo(repo)
	return ok && c == t.canon
}

// lastSegment is the cheap screen applied to a file before parsing it: any file that refers to
// the image contains the last path segment of its repository.
func (t Target) lastSegment() string {
	s := t.Image
	if i := strings.LastIndexByte(s, '/'); i >= 0 {
		s = s[i+1:]
	}
	return s
}
