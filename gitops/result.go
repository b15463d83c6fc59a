package gitops

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tagrelay/tagrelay/internal/errdefs"
)

// Result is a trigger that rolled: the reconciler deployed Revision and the expected images run.
type Result struct {
	// Target is the application or Kustomization: "argocd app web", "flux kustomization apps/web".
	Target string `json:"target"`
	// Revision is the revision deployed, as the reconciler names it: a commit SHA for Argo CD,
	// "main@sha1:<sha>" for Flux.
	Revision string `json:"revision"`
	// PreviousRevision is the revision deployed before the trigger.
	PreviousRevision string `json:"previousRevision,omitempty"`
	// ImagesBefore and Images are the distinct images the application's pods ran before and run now.
	ImagesBefore []string `json:"imagesBefore"`
	Images       []string `json:"images"`
	// Restarted is true when the workloads were restarted (--restart).
	Restarted bool `json:"restarted,omitempty"`
	// Applied is true when only the apply was awaited (ApplyOnly): Images may not have rolled yet.
	Applied bool `json:"appliedOnly,omitempty"`
	// Duration is the time from the trigger to the images running.
	Duration time.Duration `json:"duration"`
}

// Describe returns the result as one line for people.
func (r *Result) Describe() string {
	verb := "rolled out"
	if r.Applied {
		verb = "applied (rollout not awaited)"
	}
	s := fmt.Sprintf("%s: %s %s in %s", r.Target, verb, shortRev(r.Revision), r.Duration.Round(100*time.Millisecond))
	if r.Restarted {
		s += " (restarted)"
	}
	if len(r.Images) > 0 {
		s += "; running " + strings.Join(r.Images, ", ")
	}
	return s
}

// waitError is the error of a wait that ctx ended: a timeout says what was awaited and the last
// state seen; a cancellation is returned as such.
func waitError(ctx context.Context, target, what, state string) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return errdefs.WithHint(fmt.Errorf("%s: timed out waiting for %s; last state: %s: %w", target, what, orUnknown(state), ctx.Err()),
			"allow more time, or look at the application: it goes on without us")
	}
	return fmt.Errorf("%s: waiting for %s: %w", target, what, ctx.Err())
}
