package registry_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/tagrelay/tagrelay/internal/regtest"
	"github.com/tagrelay/tagrelay/registry"
)

const (
	robotUser = "robot$team+ci"
	robotPass = "s3cr3t-Pa55word"
)

// newClient returns a client for srv with the robot's credentials and fast retries.
func newClient(t *testing.T, srv *regtest.Server) *registry.Client {
	t.Helper()
	o := registry.DefaultClientOptions()
	o.Username, o.Password = robotUser, robotPass
	o.Retry = remote.Backoff{Duration: time.Millisecond, Factor: 1, Steps: 2}
	if srv.CA != nil {
		o.CAFiles = []string{srv.CA.CertFile}
	}
	c, err := registry.NewClient(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func openSource(t *testing.T, c *registry.Client, src string) *registry.Source {
	t.Helper()
	s, err := c.OpenSource(context.Background(), src)
	if err != nil {
		t.Fatalf("OpenSource(%q) = %v", src, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// registries runs f against each kind of registry, over HTTP and TLS, with basic auth.
func registries(t *testing.T, f func(t *testing.T, srv *regtest.Server), opts ...regtest.Option) {
	t.Helper()
	for _, tc := range []struct {
		name  string
		start func(t testing.TB, opts ...regtest.Option) *regtest.Server
		tls   bool
	}{
		{"ggcr/http", regtest.New, false},
		{"ggcr/tls", regtest.New, true},
		{"distribution/http", regtest.NewDistribution, false},
		{"distribution/tls", regtest.NewDistribution, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := append([]regtest.Option{regtest.WithBasicAuth(robotUser, robotPass)}, opts...)
			if tc.tls {
				o = append(o, regtest.WithTLS())
			}
			f(t, tc.start(t, o...))
		})
	}
}

func TestPushLayoutIndexRoundTrip(t *testing.T) {
	t.Parallel()
	registries(t, func(t *testing.T, srv *regtest.Server) {
		idx := regtest.Index(t, 1024, 2, "linux/amd64", "linux/arm64", "linux/arm/v7")
		want, _ := idx.Digest()
		c := newClient(t, srv)
		src := openSource(t, c, regtest.Layout(t, idx))
		res, err := c.Push(context.Background(), src, srv.Host+"/team/app", []string{"1a2b3c4d", "v1.0.0"})
		if err != nil {
			t.Fatalf("Push() = %v", err)
		}
		if res.Digest != want.String() {
			t.Errorf("Push().Digest = %s, want %s", res.Digest, want)
		}
		for _, tag := range []string{"1a2b3c4d", "v1.0.0"} {
			if got := srv.Digest(t, "team/app:"+tag); got != want.String() {
				t.Errorf("registry team/app:%s = %s, want %s", tag, got, want)
			}
		}
		if diff := cmp.Diff([]string{"linux/amd64", "linux/arm64", "linux/arm/v7"}, res.Platforms); diff != "" {
			t.Errorf("Push().Platforms (-want +got):\n%s", diff)
		}
	})
}

func digest(t *testing.T, m interface{ Digest() (v1.Hash, error) }) string {
	t.Helper()
	d, err := m.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

// exampleDir returns a new temporary directory for examples, which have no t.TempDir.
func exampleDir() string {
	dir, err := os.MkdirTemp("", "registry-example-")
	if err != nil {
		panic(err)
	}
	return dir
}
