package regtest

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// New starts an in-process registry for the test and closes it at cleanup.
func New(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s, err := Start(opts...)
	if err != nil {
		t.Fatalf("starting registry: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// NewDistribution starts Debian's docker-registry for the test, installing it with apt-get when
// missing. It skips the test under -short (no installs) and when the registry cannot be had,
// saying why.
func NewDistribution(t testing.TB, opts ...Option) *Server {
	t.Helper()
	bin, err := FindDistribution(!testing.Short())
	if err != nil {
		t.Skipf("skipping the docker-registry (distribution) case: %v", err)
	}
	s, err := StartDistribution(bin, opts...)
	if err != nil {
		t.Fatalf("starting docker-registry: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Auth returns the first credentials the server accepts, or anonymous.
func (s *Server) Auth() authn.Authenticator {
	for u, p := range s.opts.creds {
		return &authn.Basic{Username: u, Password: p}
	}
	return authn.Anonymous
}

// Transport returns an HTTP transport that trusts the server's CA.
func (s *Server) Transport() http.RoundTripper {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if s.CA != nil {
		pool, err := s.CA.Pool()
		if err == nil {
			tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		}
	}
	return tr
}

// Options returns ggcr remote options that reach this server with its credentials.
func (s *Server) Options() []remote.Option {
	return []remote.Option{remote.WithAuth(s.Auth()), remote.WithTransport(s.Transport())}
}

// Ref parses HOST/repo[:tag|@digest] for this server.
func (s *Server) Ref(t testing.TB, ref string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(s.Host + "/" + ref)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Write pushes img (a v1.Image or v1.ImageIndex) to HOST/ref with ggcr directly, for seeding,
// and returns its digest. The recorded requests are reset afterwards.
func (s *Server) Write(t testing.TB, ref string, img remote.Taggable) string {
	t.Helper()
	r := s.Ref(t, ref)
	if err := remote.Push(r, img, s.Options()...); err != nil {
		t.Fatalf("seeding %s: %v", r, err)
	}
	s.Reset()
	d, err := img.(interface{ Digest() (v1.Hash, error) }).Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

// Digest returns the digest HOST/ref points at, "" when it does not exist.
func (s *Server) Digest(t testing.TB, ref string) string {
	t.Helper()
	d, err := remote.Head(s.Ref(t, ref), s.Options()...)
	if err != nil {
		return ""
	}
	return d.Digest.String()
}

// Tags lists the tags of HOST/repo, nil when the repository does not exist.
func (s *Server) Tags(t testing.TB, repo string) []string {
	t.Helper()
	r, err := name.NewRepository(s.Host + "/" + repo)
	if err != nil {
		t.Fatal(err)
	}
	tags, err := remote.List(r, s.Options()...)
	if err != nil {
		return nil
	}
	return tags
}

// Image returns a random image of layers layers of size bytes each.
func Image(t testing.TB, size int64, layers int) v1.Image {
	t.Helper()
	img, err := random.Image(size, int64(layers))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// Index returns an OCI index of one random image per platform ("linux/amd64", "linux/arm64",
// "linux/arm/v7"), each of layers layers of size bytes.
func Index(t testing.TB, size int64, layers int, platforms ...string) v1.ImageIndex {
	t.Helper()
	idx, err := NewIndex(size, layers, platforms...)
	if err != nil {
		t.Fatal(err)
	}
	return idx
}

// NewIndex is Index for programs (the benchmark, the demo).
func NewIndex(size int64, layers int, platforms ...string) (v1.ImageIndex, error) {
	var adds []mutate.IndexAddendum
	for _, p := range platforms {
		plat, err := v1.ParsePlatform(p)
		if err != nil {
			return nil, err
		}
		img, err := random.Image(size, int64(layers))
		if err != nil {
			return nil, err
		}
		img = mutate.MediaType(img, types.OCIManifestSchema1)
		img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
		cf, err := img.ConfigFile()
		if err != nil {
			return nil, err
		}
		cf = cf.DeepCopy()
		cf.OS, cf.Architecture, cf.Variant = plat.OS, plat.Architecture, plat.Variant
		if img, err = mutate.ConfigFile(img, cf); err != nil {
			return nil, err
		}
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: plat}})
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	return mutate.AppendManifests(idx, adds...), nil
}

// Layout writes an OCI image layout holding m (a v1.Image or v1.ImageIndex, one entry in
// index.json) into a new directory and returns it.
func Layout(t testing.TB, m remote.Taggable) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "oci")
	if err := WriteLayout(dir, m); err != nil {
		t.Fatal(err)
	}
	return dir
}

// WriteLayout writes an OCI image layout holding m into dir, for programs (the benchmark).
func WriteLayout(dir string, m remote.Taggable) error {
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	if idx, ok := m.(v1.ImageIndex); ok {
		return p.AppendIndex(idx)
	}
	img, ok := m.(v1.Image)
	if !ok {
		return fmt.Errorf("writing layout: %T is neither an image nor an index", m)
	}
	return p.AppendImage(img)
}
