package release

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/tagrelay/tagrelay/internal/errdefs"
)

// StepKind names a step.
type StepKind string

// The steps, in the order they run.
const (
	StepPush    StepKind = "push"
	StepBump    StepKind = "bump"
	StepMirror  StepKind = "mirror"
	StepTrigger StepKind = "trigger"
)

// StepStatus is where a step stands.
type StepStatus string

// The statuses of a step.
const (
	// StatusPending: not run yet (in a plan: it will write).
	StatusPending StepStatus = "pending"
	// StatusRunning: running now (reported to Options.Progress).
	StatusRunning StepStatus = "running"
	// StatusDone: this run did it.
	StatusDone StepStatus = "done"
	// StatusAlreadyDone: found done (by an earlier run, or nothing to do); nothing was written.
	StatusAlreadyDone StepStatus = "already-done"
	// StatusFailed: it failed; the release stopped there.
	StatusFailed StepStatus = "failed"
	// StatusNotRun: a step after the failure.
	StatusNotRun StepStatus = "not-run"
)

// StepResult is one step of a plan or a run.
type StepResult struct {
	Kind StepKind `json:"step"`
	// Target is what the step writes to: an image repository, a repository URL, an app.
	Target string     `json:"target"`
	Status StepStatus `json:"status"`
	// Plan says what the step does (tags promoted, files changed from which tag to which…).
	Plan string `json:"plan"`
	// Detail says what happened: a digest, a commit, a sync result.
	Detail string `json:"detail,omitempty"`
	Error  string `json:"error,omitempty"`
}

// Release is a planned release: Plan computes it, Run executes it.
type Release struct {
	Version string       `json:"version,omitempty"`
	Commit  string       `json:"commit"`
	Image   string       `json:"image"` // the image deployed, REPOSITORY:TAG
	Steps   []StepResult `json:"steps"`

	steps []step
	opts  Options
}

// step is one stage. plan is read-only; run writes, and reports already-done when what it
// writes to already holds the result.
type step interface {
	plan(ctx context.Context) (StepResult, error)
	run(ctx context.Context) (detail string, already bool, err error)
}

// ErrAlreadyReleased: every step was already done; nothing was written (exit 3).
var ErrAlreadyReleased = errdefs.Noop(errors.New("already released"))

// Plan builds the steps of cfg and asks each what it would do. Nothing is written.
func Plan(ctx context.Context, cfg *Config, o Options) (*Release, error) {
	o.defaults()
	if o.Commit == "" {
		return nil, errdefs.Invalid(errors.New("no commit to release"))
	}
	if o.Registry == nil {
		return nil, errdefs.Invalid(errors.New("no registry client"))
	}
	r := &Release{Version: o.Version, Commit: o.Commit, opts: o}
	deployTag := o.Commit
	if o.Version != "" && (cfg.Infra == nil || cfg.Infra.Tag != TagCommit) {
		deployTag = o.Version
	}
	r.Image = cfg.Image.Repository + ":" + deployTag
	r.steps = append(r.steps, &pushStep{cfg: cfg.Image, o: &r.opts})
	if cfg.Infra != nil {
		r.steps = append(r.steps, &bumpStep{cfg: *cfg.Infra, image: cfg.Image.Repository, tag: deployTag, o: &r.opts})
	}
	for _, m := range cfg.Mirrors {
		ms, err := newMirrorStep(m, &r.opts)
		if err != nil {
			return nil, err
		}
		r.steps = append(r.steps, ms)
	}
	if cfg.Trigger != nil && cfg.Trigger.Reconciler != nil {
		r.steps = append(r.steps, &reconcilerStep{cfg: *cfg.Trigger.Reconciler, image: r.Image, o: &r.opts})
	}
	for _, s := range r.steps {
		p, err := s.plan(ctx)
		if err != nil {
			return nil, fmt.Errorf("planning %s: %w", p.Kind, err)
		}
		switch {
		case p.Kind == StepMirror && p.Status == StatusAlreadyDone && r.Pending():
			// up to date now, but the steps before it write what it copies
			p.Status, p.Plan = StatusPending, p.Plan+" now; copies what the steps before it write"
		case p.Kind == StepTrigger && p.Status == StatusAlreadyDone && r.Pending():
			// running now, but the steps before it change what it deploys
			p.Status, p.Plan = StatusPending, p.Plan+"; deploys what the steps before it write"
		}
		r.Steps = append(r.Steps, p)
	}
	return r, nil
}

// Pending reports whether any step would write.
func (r *Release) Pending() bool {
	for _, s := range r.Steps {
		if s.Status == StatusPending {
			return true
		}
	}
	return false
}

// Run executes the steps in order and stops at the first failure, returned as a *StepError.
// Steps are re-checked as they run, so a step done meanwhile (or by an interrupted run) is
// recognised and not repeated. It returns ErrAlreadyReleased when every step was already done.
func (r *Release) Run(ctx context.Context) error {
	wrote := false
	for i, s := range r.steps {
		res := &r.Steps[i]
		running := *res
		running.Status = StatusRunning
		r.opts.Progress(running)
		detail, already, err := s.run(ctx)
		res.Detail = detail
		switch {
		case err != nil:
			res.Status, res.Error = StatusFailed, err.Error()
			for j := i + 1; j < len(r.Steps); j++ {
				r.Steps[j].Status = StatusNotRun
			}
			r.opts.Progress(*res)
			return &StepError{Step: res.Kind, Target: res.Target, Steps: r.Steps, Err: err}
		case already:
			res.Status = StatusAlreadyDone
		default:
			res.Status, wrote = StatusDone, true
		}
		r.opts.Progress(*res)
	}
	if !wrote {
		return fmt.Errorf("%w: %s", ErrAlreadyReleased, r.Image)
	}
	return nil
}

// StepError is a release stopped by a failing step: it says what was done and what was not.
type StepError struct {
	Step   StepKind
	Target string
	Steps  []StepResult
	Err    error
}

func (e *StepError) Error() string {
	var done, notDone []string
	for _, s := range e.Steps {
		switch s.Status {
		case StatusDone, StatusAlreadyDone:
			done = append(done, string(s.Kind))
		case StatusNotRun:
			notDone = append(notDone, string(s.Kind))
		}
	}
	msg := fmt.Sprintf("release stopped at %s %s: %v", e.Step, e.Target, e.Err)
	msg += "; done: " + orNone(done) + "; not done: " + orNone(notDone)
	return msg
}

// Unwrap returns the step's error.
func (e *StepError) Unwrap() error { return e.Err }

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}
