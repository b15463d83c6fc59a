package registry_test

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tagrelay/tagrelay/internal/regtest"
	"github.com/tagrelay/tagrelay/registry"
)

// counts is what the registry saw, from its own recording front.
type counts struct {
	Uploads, MountAttempts, ManifestPuts int
}

func seen(srv *regtest.Server) counts {
	return counts{
		Uploads:       srv.Count(regtest.Request.BlobUpload),
		MountAttempts: srv.Count(regtest.Request.MountAttempt),
		ManifestPuts:  srv.Count(regtest.Request.ManifestPut),
	}
}

// TestTransfers proves, on every registry, what each kind of push sends.
func TestTransfers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		refuse  bool
		source  func(srv *regtest.Server, layout string) string
		dest    string
		want    counts
		mounted int64
	}{
		{"retag", false, func(srv *regtest.Server, _ string) string { return srv.Host + "/team/build:1a2b3c4d" }, "team/build",
			counts{0, 0, 1}, 0},
		{"re-push of a present image", false, func(_ *regtest.Server, l string) string { return l }, "team/build",
			counts{0, 0, 1}, 0},
		{"cross-repository copy mounts", false, func(srv *regtest.Server, _ string) string { return srv.Host + "/team/build:1a2b3c4d" }, "team/app",
			counts{0, 3, 1}, 3},
		{"refused mount falls back to upload", true, func(srv *regtest.Server, _ string) string { return srv.Host + "/team/build:1a2b3c4d" }, "team/app",
			counts{3, 3, 1}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var opts []regtest.Option
			if tc.refuse {
				opts = append(opts, regtest.WithRefusedMounts())
			}
			registries(t, func(t *testing.T, srv *regtest.Server) {
				img := regtest.Image(t, 2048, 2)
				want := srv.Write(t, "team/build:1a2b3c4d", img)
				c := newClient(t, srv)
				src := openSource(t, c, tc.source(srv, regtest.Layout(t, img)))
				res, err := c.Push(context.Background(), src, srv.Host+"/"+tc.dest, []string{"v2"})
				if err != nil {
					t.Fatalf("Push() = %v", err)
				}
				if got := srv.Digest(t, tc.dest+":v2"); got != want {
					t.Errorf("%s:v2 = %q, want %q", tc.dest, got, want)
				}
				if diff := cmp.Diff(tc.want, seen(srv)); diff != "" {
					t.Errorf("requests (-want +got):\n%s", diff)
				}
				if res.Stats.BlobsMounted != tc.mounted || res.Stats.BlobsUploaded != int64(tc.want.Uploads) {
					t.Errorf("Stats = %+v, want %d mounted, %d uploaded", res.Stats, tc.mounted, tc.want.Uploads)
				}
			}, opts...)
		})
	}
}

// TestJobsBoundUploads checks that no more than Jobs blobs are in flight at once.
func TestJobsBoundUploads(t *testing.T) {
	t.Parallel()
	for _, jobs := range []int{1, 3} {
		var inFlight, peak atomic.Int64
		srv := regtest.New(t, regtest.WithMiddleware(func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodPatch {
					n := inFlight.Add(1)
					for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
					}
					defer inFlight.Add(-1)
					time.Sleep(2 * time.Millisecond) // let uploads overlap
				}
				next.ServeHTTP(w, r)
			})
		}))
		o := registry.DefaultClientOptions()
		o.Jobs = jobs
		c, err := registry.NewClient(o)
		if err != nil {
			t.Fatal(err)
		}
		idx := regtest.Index(t, 64<<10, 4, "linux/amd64", "linux/arm64")
		src := openSource(t, c, regtest.Layout(t, idx))
		if _, err := c.Push(context.Background(), src, srv.Host+"/team/app", []string{"v1"}); err != nil {
			t.Fatalf("Push(jobs=%d) = %v", jobs, err)
		}
		if got := peak.Load(); got > int64(jobs) || got < 1 {
			t.Errorf("Push(jobs=%d): %d uploads in flight at once", jobs, got)
		}
	}
}
