package reconcile

import (
	"errors"
	"strings"
	"testing"

	"github.com/tagrelay/tagrelay/internal/errdefs"
	"github.com/tagrelay/tagrelay/reconcile/api"
)

func TestNoopGuard(t *testing.T) {
	t.Parallel()
	same := []api.ImageChange{{Object: "Deployment/ns/web", Container: "web", Before: "harbor.example/team/web:v1", After: "harbor.example/team/web:v1"}}
	bumped := []api.ImageChange{{Object: "Deployment/ns/web", Container: "web", Before: "harbor.example/team/web:v1", After: "harbor.example/team/web:v2"}}
	hub := []api.ImageChange{{Object: "Deployment/ns/web", Container: "web", Before: "nginx:1.26", After: "nginx:1.27"}}
	for _, tc := range []struct {
		name      string
		images    []api.ImageChange
		expect    string
		allowNoop bool
		restart   bool
		want      error // nil: passes
		message   string
	}{
		{name: "image changed", images: bumped},
		{name: "nothing changed", images: same, want: ErrNoImageChange, message: "Deployment/ns/web web=harbor.example/team/web:v1"},
		{name: "no workloads", want: ErrNoImageChange, message: "no workload"},
		{name: "nothing changed, allow-noop", images: same, allowNoop: true},
		{name: "nothing changed, restart", images: same, restart: true},
		{name: "expected and new", images: bumped, expect: "harbor.example/team/web:v2"},
		{name: "expected, docker hub names normalised", images: hub, expect: "docker.io/library/nginx:1.27"},
		{name: "expected but running already", images: same, expect: "harbor.example/team/web:v1", want: ErrExpectedImage, message: "already running"},
		{name: "expected but running already, restart", images: same, expect: "harbor.example/team/web:v1", restart: true},
		{name: "expected tag not rendered, restart", images: bumped, expect: "harbor.example/team/web:v3", restart: true, want: ErrExpectedImage},
		{name: "expected tag not rendered", images: bumped, expect: "harbor.example/team/web:v3", want: ErrExpectedImage, message: "the rendered state has harbor.example/team/web:v2"},
		{name: "expected image not used", images: bumped, expect: "harbor.example/team/api:v2", want: ErrExpectedImage, message: "no workload of the app uses harbor.example/team/api"},
		{name: "prefix is not a match", images: bumped, expect: "harbor.example/team/we:v2", want: ErrExpectedImage},
		{name: "expected mismatch, allow-noop", images: bumped, expect: "harbor.example/team/web:v3", allowNoop: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := noopGuard(tc.images, tc.expect, tc.allowNoop, tc.restart)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("noopGuard() = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, tc.want) || !errors.Is(err, errdefs.ErrNoop) || !strings.Contains(err.Error(), tc.message) {
				t.Errorf("noopGuard() = %v, want %v (a no-op) containing %q", err, tc.want, tc.message)
			}
			if errdefs.Hint(err) == "" {
				t.Errorf("noopGuard() = %v has no hint", err)
			}
		})
	}
	if err := noopGuard(bumped, "not a ref!", false, false); !errors.Is(err, errdefs.ErrInvalid) {
		t.Errorf("noopGuard(bad expect) = %v, want invalid input", err)
	}
}
