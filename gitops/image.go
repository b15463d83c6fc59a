package gitops

import (
	"cmp"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/tagrelay/tagrelay/internal/errdefs"
)

// Image is an image a trigger expects to run once the reconciler is done: a repository and a
// tag or a digest.
type Image struct {
	// Ref is the image as given: "harbor.example/team/web:1a2b3c4d".
	Ref string

	repo string // canonical repository: "index.docker.io/library/nginx"
	id   string // the digest ("sha256:…") when given, else the tag
}

// ParseImage parses "REPOSITORY:TAG" or "REPOSITORY@DIGEST" (or both). Short Docker Hub names are
// normalised, so "nginx:1.27" matches a pod running "docker.io/library/nginx:1.27".
func ParseImage(s string) (Image, error) {
	s = strings.TrimSpace(s)
	repo, tag, digest, ok := splitImage(s)
	if !ok || (tag == "" && digest == "") {
		return Image{}, errdefs.Invalid(fmt.Errorf("invalid image %q: want REPOSITORY:TAG or REPOSITORY@DIGEST", s))
	}
	return Image{Ref: s, repo: repo, id: cmp.Or(digest, tag)}, nil
}

// String returns the image as given.
func (i Image) String() string { return i.Ref }

// matches reports whether a pod's image is this one: same repository and tag, or the same
// digest (a pod image "repo:tag@digest" matches on either). An untagged pod image is ":latest".
func (i Image) matches(image string) bool {
	repo, tag, digest, ok := splitImage(image)
	if !ok || repo != i.repo {
		return false
	}
	if tag == "" && digest == "" {
		tag = "latest"
	}
	return i.id == tag || i.id == digest
}

// sameRepo reports whether a pod's image is of this image's repository, whatever its tag.
func (i Image) sameRepo(image string) bool {
	repo, _, _, ok := splitImage(image)
	return ok && repo == i.repo
}

// splitImage returns the canonical repository, the tag and the digest of an image as written
// ("" for a part not written). ok is false when it is not an image reference.
func splitImage(image string) (repo, tag, digest string, ok bool) {
	rest, digest, hasDigest := strings.Cut(image, "@")
	if hasDigest {
		if _, err := name.NewDigest("example.invalid/x@"+digest, name.WeakValidation); err != nil {
			return "", "", "", false
		}
	}
	// The tag is after the last ':' that follows the last '/': "10.0.0.1:5000/app" has none.
	if c := strings.LastIndexByte(rest, ':'); c > strings.LastIndexByte(rest, '/') {
		rest, tag = rest[:c], rest[c+1:]
		if _, err := name.NewTag("example.invalid/x:"+tag, name.WeakValidation); err != nil {
			return "", "", "", false
		}
	}
	r, err := name.NewRepository(rest, name.WeakValidation)
	if err != nil {
		return "", "", "", false
	}
	return r.Name(), tag, digest, true
}
