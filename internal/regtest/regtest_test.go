package regtest_test

import (
	"errors"
	"net/http"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/tagrelay/tagrelay/internal/regtest"
)

// TestServer checks the behaviours other tests rely on: basic auth, blobs scoped per
// repository, mounts, refused mounts and the request log.
func TestServer(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		start func(testing.TB, ...regtest.Option) *regtest.Server
	}{
		{"ggcr", regtest.New},
		{"distribution", regtest.NewDistribution},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := tc.start(t, regtest.WithBasicAuth("robot$team+ci", "pw-1234"), regtest.WithTLS())
			img := regtest.Image(t, 256, 1)
			srv.Write(t, "team/a:v1", img)

			// Wrong password: 401.
			bad := []remote.Option{remote.WithAuth(&authn.Basic{Username: "robot$team+ci", Password: "nope"}), remote.WithTransport(srv.Transport())}
			var terr *transport.Error
			if _, err := remote.Head(srv.Ref(t, "team/a:v1"), bad...); !errors.As(err, &terr) || terr.StatusCode != http.StatusUnauthorized {
				t.Errorf("HEAD with a wrong password = %v, want 401", err)
			}
			// A blob of team/a is not visible in team/b until mounted.
			layers, _ := img.Layers()
			h, _ := layers[0].Digest()
			blobIn := func(repo string) bool {
				r, err := name.NewDigest(srv.Host + "/" + repo + "@" + h.String())
				if err != nil {
					t.Fatal(err)
				}
				l, err := remote.Layer(r, srv.Options()...)
				if err != nil {
					return false
				}
				rc, err := l.Compressed()
				if err != nil {
					return false
				}
				return rc.Close() == nil
			}
			if !blobIn("team/a") || blobIn("team/b") {
				t.Errorf("blob in team/a, team/b = %v, %v; want true, false", blobIn("team/a"), blobIn("team/b"))
			}
			srv.Reset()
			if len(srv.Requests()) != 0 {
				t.Errorf("Requests() after Reset() = %d, want 0", len(srv.Requests()))
			}
		})
	}
}

func TestRefusedMounts(t *testing.T) {
	t.Parallel()
	for _, refuse := range []bool{false, true} {
		var opts []regtest.Option
		if refuse {
			opts = append(opts, regtest.WithRefusedMounts())
		}
		srv := regtest.New(t, opts...)
		img := regtest.Image(t, 256, 1)
		srv.Write(t, "team/a:v1", img)
		src, err := remote.Image(srv.Ref(t, "team/a:v1"), srv.Options()...)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(srv.Ref(t, "team/b:v1"), src, srv.Options()...); err != nil {
			t.Fatalf("copy (refuse=%v) = %v", refuse, err)
		}
		created := srv.Count(func(r regtest.Request) bool { return r.MountAttempt() && r.Status == http.StatusCreated })
		refused := srv.Count(func(r regtest.Request) bool { return r.MountAttempt() && r.Status == http.StatusUnauthorized })
		uploads := srv.Count(regtest.Request.BlobUpload)
		if refuse && (created != 0 || refused == 0 || uploads == 0) || !refuse && (created == 0 || refused != 0 || uploads != 0) {
			t.Errorf("refuse=%v: mounts created %d, refused %d, uploads %d", refuse, created, refused, uploads)
		}
	}
}
