package registry_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/v1/remote"

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

// TestJobsBoundDownloads checks the source side of a copy between registries: at most Jobs
// blob bodies open at once in the client, though ggcr runs Jobs children of an index with Jobs
// blobs each. The count is taken under the client (its base transport), from the response
// headers to the close of the body.
func TestJobsBoundDownloads(t *testing.T) {
	t.Parallel()
	src := regtest.New(t)
	src.Write(t, "team/build:v1", regtest.Index(t, 64<<10, 3, "linux/amd64", "linux/arm64", "linux/arm/v7"))
	for _, jobs := range []int{1, 3} {
		dst := regtest.New(t, regtest.WithMiddleware(func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodPatch || r.Method == http.MethodPut {
					time.Sleep(5 * time.Millisecond) // slow uploads: downloads wait on them
				}
				next.ServeHTTP(w, r)
			})
		}))
		open := &openBodies{inner: http.DefaultTransport}
		o := registry.DefaultClientOptions()
		o.Jobs = jobs
		o.Transport = open
		c, err := registry.NewClient(o)
		if err != nil {
			t.Fatal(err)
		}
		s := openSource(t, c, src.Host+"/team/build:v1")
		if _, err := c.Push(context.Background(), s, dst.Host+"/team/app", []string{"v1"}); err != nil {
			t.Fatalf("Push(jobs=%d) = %v", jobs, err)
		}
		if got := open.peak.Load(); got > int64(jobs) || got < 1 {
			t.Errorf("Push(jobs=%d): %d blob downloads open at once", jobs, got)
		}
	}
}

// openBodies counts the blob GET bodies open at once.
type openBodies struct {
	inner      http.RoundTripper
	open, peak atomic.Int64
}

func (o *openBodies) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := o.inner.RoundTrip(req)
	if err != nil || req.Method != http.MethodGet || !strings.Contains(req.URL.Path, "/blobs/") {
		return resp, err
	}
	n := o.open.Add(1)
	for p := o.peak.Load(); n > p && !o.peak.CompareAndSwap(p, n); p = o.peak.Load() {
	}
	resp.Body = &closeOnce{ReadCloser: resp.Body, done: func() { o.open.Add(-1) }}
	return resp, nil
}

type closeOnce struct {
	io.ReadCloser
	once sync.Once
	done func()
}

func (c *closeOnce) Close() error {
	c.once.Do(c.done)
	return c.ReadCloser.Close()
}

// TestRetriedDownloadsFreeTheirSlot: a blob GET answered 503 is retried; its error body must not
// keep the only download slot (the copy would hang).
func TestRetriedDownloadsFreeTheirSlot(t *testing.T) {
	t.Parallel()
	var failed sync.Map
	src := regtest.New(t, regtest.WithMiddleware(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/") {
				if _, again := failed.LoadOrStore(r.URL.Path, true); !again {
					http.Error(w, `{"errors":[{"code":"UNAVAILABLE","message":"try again"}]}`, http.StatusServiceUnavailable)
					return
				}
			}
			next.ServeHTTP(w, r)
		})
	}))
	dst := regtest.New(t)
	want := src.Write(t, "team/build:v1", regtest.Index(t, 4<<10, 2, "linux/amd64", "linux/arm64"))
	o := registry.DefaultClientOptions()
	o.Jobs = 1
	o.Retry = remote.Backoff{Duration: time.Millisecond, Factor: 1, Steps: 3}
	c, err := registry.NewClient(o)
	if err != nil {
		t.Fatal(err)
	}
	s := openSource(t, c, src.Host+"/team/build:v1")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := c.Push(ctx, s, dst.Host+"/team/app", []string{"v1"}); err != nil {
		t.Fatalf("Push() = %v", err)
	}
	if got := dst.Digest(t, "team/app:v1"); got != want {
		t.Errorf("team/app:v1 = %q, want %q", got, want)
	}
	n := 0
	failed.Range(func(_, _ any) bool { n++; return true })
	if n < 2 {
		t.Errorf("%d blob GETs failed once, want every blob (at least 2) to have been retried", n)
	}
}
