package provenance

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// The trailer keys.
const (
	// KeyImage names one image the commit points at, NAME:TAG; one trailer per changed image.
	KeyImage = "Tagrelay-Image"
	// KeySourceCommit is the full SHA of the app commit the images were built from.
	KeySourceCommit = "Tagrelay-Source-Commit"
	// KeySourceRepo is the URL of the app repository, without credentials.
	KeySourceRepo = "Tagrelay-Source-Repo"
)

// Bounds of what Read keeps from a message written by anyone.
const (
	// MaxImages is how many image trailers of one commit are read.
	MaxImages = 64
	// maxValue is the longest value read; longer ones are dropped.
	maxValue = 512
)

// Source is the app commit an image was built from.
type Source struct {
	// Commit is the full SHA (40 or 64 hexadecimal digits, lowercase).
	Commit string `json:"commit"`
	// Repo is the app repository's URL, without user info, query or fragment; "" when unknown.
	Repo string `json:"repo,omitempty"`
}

// Record is what one infra commit says about where its images come from.
type Record struct {
	// Images are NAME:TAG, one per changed image.
	Images []string `json:"images"`
	Source Source   `json:"source"`
}

// ErrInvalid is a provenance value that cannot be written.
var ErrInvalid = errors.New("invalid provenance")

// Trailers returns the trailers of r: one Tagrelay-Image per image, then the source commit and
// repository. It fails on a value that cannot be a trailer (a line break), a commit that is not a
// full SHA, or a repository URL that cannot be cleaned. A Record without a source commit gives
// image trailers only.
func (r Record) Trailers() ([]Trailer, error) {
	var out []Trailer
	for _, img := range r.Images {
		if !validImage(img) {
			return nil, fmt.Errorf("%w: image %q", ErrInvalid, img)
		}
		out = append(out, Trailer{KeyImage, img})
	}
	if r.Source.Commit == "" {
		if r.Source.Repo != "" {
			return nil, fmt.Errorf("%w: a source repository without a source commit", ErrInvalid)
		}
		return out, nil
	}
	if !ValidCommit(r.Source.Commit) {
		return nil, fmt.Errorf("%w: source commit %q is not a full SHA (40 or 64 hexadecimal digits)", ErrInvalid, r.Source.Commit)
	}
	out = append(out, Trailer{KeySourceCommit, strings.ToLower(r.Source.Commit)})
	if r.Source.Repo != "" {
		repo, err := CleanRepo(r.Source.Repo)
		if err != nil {
			return nil, err
		}
		out = append(out, Trailer{KeySourceRepo, repo})
	}
	return out, nil
}

// Read returns the provenance in msg's trailer block. ok is false when the block names no valid
// source commit. Invalid values are dropped: an image that does not look like NAME:TAG, a repository
// that is not a clean URL (it is cleaned when it can be). When a message carries several source
// commits, the first valid one is kept.
func Read(msg string) (r Record, ok bool) {
	seen := map[string]bool{}
	for _, t := range Parse(msg) {
		v := t.Value
		if len(v) > maxValue {
			continue
		}
		switch {
		case strings.EqualFold(t.Key, KeyImage):
			if validImage(v) && !seen[v] && len(r.Images) < MaxImages {
				seen[v] = true
				r.Images = append(r.Images, v)
			}
		case strings.EqualFold(t.Key, KeySourceCommit):
			if r.Source.Commit == "" && ValidCommit(v) {
				r.Source.Commit = strings.ToLower(v)
			}
		case strings.EqualFold(t.Key, KeySourceRepo):
			if repo, err := CleanRepo(v); err == nil && r.Source.Repo == "" {
				r.Source.Repo = repo
			}
		}
	}
	return r, r.Source.Commit != ""
}

// ValidCommit reports whether s is a full commit SHA: 40 (SHA-1) or 64 (SHA-256) hexadecimal digits.
func ValidCommit(s string) bool {
	if len(s) != 40 && len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// CleanRepo returns the repository URL u without what may carry a secret: the user info of an
// http(s), ssh or git URL (a CI job token in https://gitlab-ci-token:TOKEN@host/…), its query and
// its fragment. An scp-like address (git@host:group/app.git) keeps its user, which is a login name
// and never a secret. Anything else — another scheme, a local path, a line break, a value longer
// than 512 bytes — is ErrInvalid.
func CleanRepo(raw string) (string, error) {
	s := strings.TrimSpace(raw)
	if s == "" || len(s) > maxValue || strings.ContainsFunc(s, isControlOrSpace) {
		return "", fmt.Errorf("%w: source repository is not a URL", ErrInvalid)
	}
	if scpLike(s) {
		return s, nil
	}
	u, err := url.Parse(s)
	switch {
	case err != nil || u.Scheme == "":
		return "", fmt.Errorf("%w: source repository is not a URL", ErrInvalid)
	case u.Scheme != "https" && u.Scheme != "http" && u.Scheme != "ssh" && u.Scheme != "git":
		return "", fmt.Errorf("%w: source repository scheme %q (use https, http, ssh or git)", ErrInvalid, u.Scheme)
	case u.Host == "" || u.Opaque != "":
		return "", fmt.Errorf("%w: source repository is not a URL", ErrInvalid)
	}
	u.User, u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = nil, "", false, "", ""
	return u.String(), nil
}

// scpLike reports an address of the form user@host:path with no scheme (the user is required:
// without it, javascript:alert(1) would be one).
func scpLike(s string) bool {
	if strings.Contains(s, "://") {
		return false
	}
	hostPart, path, ok := strings.Cut(s, ":")
	if !ok || path == "" || strings.HasPrefix(path, "//") {
		return false
	}
	user, host, hasUser := strings.Cut(hostPart, "@")
	return hasUser && user != "" && host != "" && !strings.ContainsAny(user+host, "/@") && !strings.ContainsAny(path, "@?#")
}

func isControlOrSpace(r rune) bool { return r <= ' ' || r == 0x7f }

// validImage accepts NAME:TAG or NAME@DIGEST as written by bump: no blanks, no control
// characters, a name and a tag or digest.
func validImage(s string) bool {
	if s == "" || len(s) > maxValue || strings.ContainsFunc(s, isControlOrSpace) {
		return false
	}
	if name, digest, ok := strings.Cut(s, "@"); ok {
		return name != "" && strings.Contains(digest, ":")
	}
	slash := strings.LastIndexByte(s, '/')
	colon := strings.LastIndexByte(s, ':')
	return colon > slash+1 && colon < len(s)-1
}
