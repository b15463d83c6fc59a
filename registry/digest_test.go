package registry_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tagrelay/tagrelay/internal/errdefs"
	"github.com/tagrelay/tagrelay/internal/exitcode"
	"github.com/tagrelay/tagrelay/internal/regtest"
	"github.com/tagrelay/tagrelay/registry"
)

func TestDigest(t *testing.T) {
	t.Parallel()
	// A registry that refuses HEAD on manifests, as some proxies do (once seeded).
	var refuseHead atomic.Bool
	noHead := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if refuseHead.Load() && r.Method == http.MethodHead && strings.Contains(r.URL.Path, "/manifests/") {
				w.WriteHeader(http.StatusMethodNotAllowed)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	for _, tc := range []struct {
		name string
		opts []regtest.Option
	}{
		{"HEAD", nil},
		{"GET when HEAD is not allowed", []regtest.Option{regtest.WithMiddleware(noHead)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := regtest.New(t, append(tc.opts, regtest.WithBasicAuth(robotUser, robotPass), regtest.WithTLS())...)
			want := srv.Write(t, "team/app:1a2b3c4d", regtest.Image(t, 64, 1))
			refuseHead.Store(tc.opts != nil)
			c := newClient(t, srv)
			got, err := c.Digest(context.Background(), srv.Host+"/team/app:1a2b3c4d")
			if err != nil || got != want {
				t.Errorf("Digest() = %q, %v; want %q", got, err, want)
			}
			_, err = c.Digest(context.Background(), srv.Host+"/team/app:absent")
			if !errors.Is(err, registry.ErrNotFound) || !errors.Is(err, errdefs.ErrNotFound) || exitcode.Code(err) != 4 {
				t.Errorf("Digest(absent) = %v (exit %d), want ErrNotFound, exit 4", err, exitcode.Code(err))
			}
		})
	}
}

func TestDigestErrors(t *testing.T) {
	t.Parallel()
	srv := regtest.New(t, regtest.WithBasicAuth(robotUser, robotPass))
	srv.Write(t, "team/app:v1", regtest.Image(t, 64, 1))
	wrong := registry.DefaultClientOptions()
	wrong.Username, wrong.Password = robotUser, "wrong-password"
	for _, tc := range []struct {
		name string
		opts registry.ClientOptions
		ref  string
		is   error
		code int
	}{
		{"wrong password", wrong, srv.Host + "/team/app:v1", registry.ErrUnauthorized, 1},
		{"malformed reference", wrong, srv.Host + "/Team/App:v1", registry.ErrInvalidReference, 2},
		{"unreachable", wrong, "127.0.0.1:1/team/app:v1", registry.ErrUnavailable, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := registry.NewClient(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Digest(context.Background(), tc.ref)
			if !errors.Is(err, tc.is) || exitcode.Code(err) != tc.code {
				t.Errorf("Digest(%s) = %v (exit %d), want %v (exit %d)", tc.ref, err, exitcode.Code(err), tc.is, tc.code)
			}
			if strings.Contains(err.Error(), "wrong-password") || strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one secret-free line: %q", err)
			}
		})
	}
}

func TestWaitFor(t *testing.T) {
	t.Parallel()
	img := regtest.Image(t, 64, 1)
	var srv *regtest.Server
	var heads atomic.Int64
	// The build "finishes" while tagrelay is polling: the image is pushed after the second look.
	srv = regtest.New(t, regtest.WithMiddleware(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r)
			if r.Method == http.MethodHead && strings.HasSuffix(r.URL.Path, "/manifests/1a2b3c4d") && heads.Add(1) == 2 {
				go srv.Write(t, "team/app:1a2b3c4d", img)
			}
		})
	}))
	c := newClient(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	got, err := c.WaitFor(ctx, srv.Host+"/team/app:1a2b3c4d", time.Millisecond)
	if want := digest(t, img); err != nil || got != want {
		t.Errorf("WaitFor() = %q, %v; want %q", got, err, want)
	}
	if heads.Load() < 3 {
		t.Errorf("WaitFor() returned after %d lookups, want at least 3", heads.Load())
	}
}

func TestWaitForTimeout(t *testing.T) {
	t.Parallel()
	srv := regtest.New(t)
	c := newClient(t, srv)
	ctx, cancel := context.WithCancel(context.Background())
	var polls atomic.Int64
	go func() {
		for polls.Load() < 3 {
			time.Sleep(time.Millisecond)
			polls.Store(int64(srv.Count(func(r regtest.Request) bool { return r.Method == http.MethodHead })))
		}
		cancel()
	}()
	_, err := c.WaitFor(ctx, srv.Host+"/team/app:never", time.Millisecond)
	if !errors.Is(err, context.Canceled) || !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("WaitFor(never) = %v, want context.Canceled joined with the last ErrNotFound", err)
	}
}

func TestRetries(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		failures int64 // 503s before the registry recovers
		ok       bool
	}{
		{"transient 503 is retried", 1, true},
		{"429 then recovery", 1, true},
		{"persistent 503 fails", 1000, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			status := http.StatusServiceUnavailable
			if strings.HasPrefix(tc.name, "429") {
				status = http.StatusTooManyRequests
			}
			var n atomic.Int64
			srv := regtest.New(t, regtest.WithBasicAuth(robotUser, robotPass), regtest.WithMiddleware(func(next http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/") && n.Add(1) <= tc.failures {
						w.WriteHeader(status)
						return
					}
					next.ServeHTTP(w, r)
				})
			}))
			c := newClient(t, srv)
			src := openSource(t, c, regtest.Layout(t, regtest.Image(t, 64, 1)))
			_, err := c.Push(context.Background(), src, srv.Host+"/team/app", []string{"v1"})
			if tc.ok && err != nil {
				t.Errorf("Push() = %v, want success after retry", err)
			}
			if !tc.ok && (!errors.Is(err, registry.ErrUnavailable) || exitcode.Code(err) != 1) {
				t.Errorf("Push() = %v, want ErrUnavailable (exit 1)", err)
			}
		})
	}
}
