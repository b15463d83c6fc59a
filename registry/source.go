package registry

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// SourceKind says where a Source comes from.
type SourceKind string

// The kinds of source.
const (
	// SourceLayout is an OCI image layout directory (oci-layout, index.json, blobs/).
	SourceLayout SourceKind = "oci-layout"
	// SourceOCIArchive is a tar of an OCI image layout (buildah push oci-archive:, docker save ≥ 25).
	SourceOCIArchive SourceKind = "oci-archive"
	// SourceDockerArchive is a docker tarball with manifest.json (kaniko --tar-path, docker save).
	SourceDockerArchive SourceKind = "docker-archive"
	// SourceRemote is an image or index in a registry (retag, promote, copy).
	SourceRemote SourceKind = "remote"
)

// Source is an image or image index to push, opened and checked by OpenSource. Close it when
// done: an OCI archive is unpacked into a temporary directory.
type Source struct {
	Kind SourceKind
	// Name is the source as given, without its transport prefix.
	Name string

	ref       name.Reference     // SourceRemote
	desc      *remote.Descriptor // SourceRemote
	local     partial.Describable
	digest    v1.Hash
	mediaType types.MediaType
	platforms []string
	cleanup   func() error
}

// Digest returns the digest of the manifest (or index) that will be pushed; for a remote
// source, once Plan has fetched it.
func (s *Source) Digest() string { return s.digest.String() }

// MediaType returns the media type of the manifest (or index) that will be pushed.
func (s *Source) MediaType() string { return string(s.mediaType) }

// Platforms returns os/arch[/variant] of each image of an index, nil for a single image.
func (s *Source) Platforms() []string { return s.platforms }

// Close removes temporary files.
func (s *Source) Close() error {
	if s == nil || s.cleanup == nil {
		return nil
	}
	return s.cleanup()
}

// OpenSource opens src, one of:
//
//	oci:DIR[:NAME]          an OCI layout (NAME picks a manifest by org.opencontainers.image.ref.name)
//	oci-archive:FILE        a tar of an OCI layout
//	docker-archive:FILE     a docker tarball (manifest.json)
//	docker://REF            an image in a registry
//	DIR, FILE               detected from the content
//	REGISTRY/REPO[:TAG|@DIGEST]   an image in a registry (the first component must be a host:
//	                        write docker://nginx for Docker Hub short names)
//
// A local source is checked here, before anything is pushed: it must parse, and every blob
// must be present with its declared size; a missing or corrupt one is an ErrInvalidSource. A
// remote source is only parsed here and fetched by Plan; one that does not exist is
// an ErrNotFound.
func (c *Client) OpenSource(ctx context.Context, src string) (*Source, error) {
	kind, path, sel := splitSource(src)
	if kind == "" {
		fi, err := os.Stat(path)
		switch {
		case err == nil && fi.IsDir():
			kind = SourceLayout
		case err == nil:
			if kind, err = sniffArchive(path); err != nil {
				return nil, err
			}
		case looksRemote(path):
			kind = SourceRemote
		case looksLocal(path):
			return nil, sourceError(path, "no such file or directory")
		default:
			return nil, sourceError(path, "no such file or directory, and not an image reference with a registry host (write docker://%s for Docker Hub)", path)
		}
	}
	switch kind {
	case SourceRemote:
		return c.openRemote(path)
	case SourceLayout:
		return openLayout(path, path, sel)
	case SourceOCIArchive:
		return openOCIArchive(path, sel)
	default:
		return openDockerArchive(path, sel)
	}
}

// splitSource separates a transport prefix (skopeo's syntax) from the path or reference.
func splitSource(src string) (kind SourceKind, path, sel string) {
	prefixes := []struct {
		p string
		k SourceKind
	}{
		{"oci:", SourceLayout}, {"oci-archive:", SourceOCIArchive},
		{"docker-archive:", SourceDockerArchive}, {"docker://", SourceRemote},
	}
	for _, p := range prefixes {
		if rest, ok := strings.CutPrefix(src, p.p); ok {
			if p.k != SourceRemote {
				if i := strings.LastIndexByte(rest, ':'); i > 0 && !strings.ContainsRune(rest[i:], '/') {
					return p.k, rest[:i], rest[i+1:]
				}
			}
			return p.k, rest, ""
		}
	}
	return "", src, ""
}

// looksRemote reports whether s starts with a registry host (a dot, a port or localhost), so
// that a mistyped local path is reported as missing instead of being looked up on Docker Hub.
func looksRemote(s string) bool {
	host, _, ok := strings.Cut(s, "/")
	if !ok || strings.HasPrefix(s, ".") || strings.HasPrefix(s, "/") {
		return false
	}
	return strings.ContainsAny(host, ".:") || host == "localhost"
}

// looksLocal reports whether s can only be a path.
func looksLocal(s string) bool {
	return strings.HasPrefix(s, ".") || strings.HasPrefix(s, "/") || strings.HasPrefix(s, "~") ||
		strings.HasSuffix(s, ".tar") || strings.HasSuffix(s, ".tar.gz") || strings.HasSuffix(s, ".tgz")
}

func sourceError(src, format string, args ...any) error {
	return fmt.Errorf("%w %s: %s", ErrInvalidSource, src, fmt.Sprintf(format, args...))
}

// openRemote only parses the reference: the manifest is fetched by resolve, with the
// destination's transport when both are in one registry (a retag then costs one handshake).
func (c *Client) openRemote(s string) (*Source, error) {
	ref, err := c.ParseReference(s)
	if err != nil {
		return nil, err
	}
	return &Source{Kind: SourceRemote, Name: s, ref: ref}, nil
}

// resolve fetches the manifest of a remote source through tr (nil: a transport of its own).
func (s *Source) resolve(ctx context.Context, c *Client, tr http.RoundTripper) error {
	if s.Kind != SourceRemote || s.desc != nil {
		return nil
	}
	if tr == nil {
		var err error
		if tr, err = c.transport(ctx, s.ref.Context().Registry, []string{s.ref.Scope(transport.PullScope)}); err != nil {
			return wrap("reading source", s.ref.String(), err)
		}
	}
	p, err := remote.NewPuller(c.remoteOptions(tr)...)
	if err != nil {
		return err
	}
	desc, err := p.Get(ctx, s.ref)
	if err != nil {
		return wrap("reading source", s.ref.String(), err)
	}
	s.desc, s.digest, s.mediaType = desc, desc.Digest, desc.MediaType
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		if err != nil {
			return wrap("reading source", s.ref.String(), err)
		}
		if s.platforms, err = platforms(idx); err != nil {
			return wrap("reading source", s.ref.String(), err)
		}
	}
	return nil
}

// openLayout opens the one manifest of an OCI layout, or the one named sel.
func openLayout(dir, name, sel string) (*Source, error) {
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, sourceError(name, "not an OCI layout (no index.json)")
		}
		return nil, sourceError(name, "reading OCI layout: %v", err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, sourceError(name, "reading index.json: %v", err)
	}
	desc, err := pickManifest(name, im.Manifests, sel)
	if err != nil {
		return nil, err
	}
	src := &Source{Kind: SourceLayout, Name: name, digest: desc.Digest, mediaType: desc.MediaType}
	switch {
	case desc.MediaType.IsIndex():
		child, err := idx.ImageIndex(desc.Digest)
		if err != nil {
			return nil, sourceError(name, "reading index %s: %v", desc.Digest, err)
		}
		if src.platforms, err = platforms(child); err != nil {
			return nil, sourceError(name, "%v", err)
		}
		src.local = child
	case desc.MediaType.IsImage():
		img, err := idx.Image(desc.Digest)
		if err != nil {
			return nil, sourceError(name, "reading image %s: %v", desc.Digest, err)
		}
		src.local = img
	default:
		return nil, sourceError(name, "manifest %s has unsupported media type %q", desc.Digest, desc.MediaType)
	}
	if err := verifyBlobs(layout.Path(dir), src.local); err != nil {
		return nil, sourceError(name, "%v", err)
	}
	return src, nil
}

// pickManifest returns the single manifest of index.json, or the one whose ref name is sel.
func pickManifest(src string, descs []v1.Descriptor, sel string) (v1.Descriptor, error) {
	var names []string
	for _, d := range descs {
		n := d.Annotations["org.opencontainers.image.ref.name"]
		if sel != "" && n == sel {
			return d, nil
		}
		names = append(names, n)
	}
	switch {
	case sel != "":
		return v1.Descriptor{}, sourceError(src, "no manifest named %q in index.json (names: %s)", sel, strings.Join(names, ", "))
	case len(descs) == 0:
		return v1.Descriptor{}, sourceError(src, "index.json lists no manifest")
	case len(descs) > 1:
		return v1.Descriptor{}, sourceError(src, "index.json lists %d manifests; pick one with oci:%s:NAME (names: %s)", len(descs), src, strings.Join(names, ", "))
	}
	return descs[0], nil
}

// verifyBlobs checks that every blob the manifest tree needs is in the layout with its declared
// size, so a truncated or partial layout fails before anything is pushed.
func verifyBlobs(lp layout.Path, m partial.Describable) error {
	var descs []v1.Descriptor
	switch m := m.(type) {
	case v1.ImageIndex:
		im, err := m.IndexManifest()
		if err != nil {
			return err
		}
		for _, d := range im.Manifests {
			child, err := layoutChild(m, d)
			if err != nil {
				return err
			}
			if err := verifyBlobs(lp, child); err != nil {
				return err
			}
		}
		return nil
	case v1.Image:
		mf, err := m.Manifest()
		if err != nil {
			return fmt.Errorf("reading manifest: %w", err)
		}
		descs = append([]v1.Descriptor{mf.Config}, mf.Layers...)
	}
	for _, d := range descs {
		if !d.MediaType.IsDistributable() {
			continue
		}
		fi, err := os.Stat(filepath.Join(string(lp), "blobs", d.Digest.Algorithm, d.Digest.Hex))
		if err != nil {
			return fmt.Errorf("blob %s missing", d.Digest)
		}
		if fi.Size() != d.Size {
			return fmt.Errorf("blob %s has %d bytes, the manifest says %d (truncated?)", d.Digest, fi.Size(), d.Size)
		}
	}
	return nil
}

func layoutChild(idx v1.ImageIndex, d v1.Descriptor) (partial.Describable, error) {
	switch {
	case d.MediaType.IsIndex():
		return idx.ImageIndex(d.Digest)
	case d.MediaType.IsImage():
		return idx.Image(d.Digest)
	}
	return nil, fmt.Errorf("manifest %s has unsupported media type %q", d.Digest, d.MediaType)
}

// platforms lists os/arch[/variant] of each child of idx.
func platforms(idx v1.ImageIndex) ([]string, error) {
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, d := range im.Manifests {
		if d.Platform != nil {
			out = append(out, d.Platform.String())
		}
	}
	return out, nil
}
