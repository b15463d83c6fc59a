package forge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/tagrelay/tagrelay/internal/errdefs"
)

// Run is a GitLab pipeline or a GitHub Actions workflow run.
type Run struct {
	ID     int64  `json:"id"`
	URL    string `json:"url"`
	Ref    string `json:"ref"`
	SHA    string `json:"sha,omitempty"`
	Status string `json:"status"` // the forge's own word: running, success, failed; in_progress, completed
	// Conclusion is GitHub's result of a completed run (success, failure, cancelled, …); for GitLab
	// it equals Status once the pipeline has ended.
	Conclusion string `json:"conclusion,omitempty"`
}

// Job is one job of a run.
type Job struct {
	Name   string `json:"name"`
	Stage  string `json:"stage,omitempty"`
	Status string `json:"status"`
	URL    string `json:"url"`
	// Reason is GitLab's failure_reason (script_failure, runner_system_failure, …).
	Reason string `json:"reason,omitempty"`
}

// RunFailure is a run that ended without success: failed, canceled, skipped, or blocked on a
// manual action.
type RunFailure struct {
	Kind string // "pipeline" or "workflow run"
	Run  Run
	Jobs []Job // the jobs that failed (or were canceled)
}

func (e *RunFailure) Error() string {
	state := e.Run.Conclusion
	if state == "" {
		state = e.Run.Status
	}
	msg := fmt.Sprintf("%s %d %s (%s)", e.Kind, e.Run.ID, state, e.Run.URL)
	if len(e.Jobs) > 0 {
		jobs := make([]string, len(e.Jobs))
		for i, j := range e.Jobs {
			jobs[i] = fmt.Sprintf("%s [%s] %s", j.Name, j.Status, j.URL)
		}
		msg += ": " + strings.Join(jobs, ", ")
	}
	return msg
}

// ChangeRequest is a GitLab merge request or a GitHub pull request to open or update.
type ChangeRequest struct {
	SourceBranch string
	TargetBranch string
	Title        string
	Description  string
	Labels       []string
	// RemoveSourceBranch asks GitLab to delete the branch on merge (GitHub: ignored).
	RemoveSourceBranch bool
}

// Change is an opened or updated merge request or pull request.
type Change struct {
	Number  int64  `json:"number"` // GitLab iid, GitHub number
	URL     string `json:"url"`
	Created bool   `json:"created"` // false when an open one was updated
}

// userAgent is the User-Agent of every request to a forge.
const userAgent = "tagrelay"

type options struct {
	logger *slog.Logger
}

// Option configures a GitLab or GitHub client.
type Option func(*options)

// WithLogger logs retries and polls. Default: discard.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

func makeOptions(opts []Option) options {
	o := options{logger: slog.New(slog.DiscardHandler)}
	for _, opt := range opts {
		opt(&o)
	}
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}
	return o
}

type waitOptions struct {
	interval time.Duration
	progress func(Run)
}

// WaitOption configures a wait.
type WaitOption func(*waitOptions)

// WithPollInterval polls every d. Default: 5s.
func WithPollInterval(d time.Duration) WaitOption { return func(o *waitOptions) { o.interval = d } }

// WithProgress calls f with the run each time its status changes (and once at the start).
func WithProgress(f func(Run)) WaitOption { return func(o *waitOptions) { o.progress = f } }

func makeWaitOptions(opts []WaitOption) waitOptions {
	o := waitOptions{interval: 5 * time.Second, progress: func(Run) {}}
	for _, opt := range opts {
		opt(&o)
	}
	if o.interval <= 0 {
		o.interval = 5 * time.Second
	}
	return o
}

// poll calls get every interval until done reports the run finished, reporting each status change,
// and returns the last run. When ctx ends it returns ctx.Err() wrapped with the last state seen.
func poll(ctx context.Context, what string, o waitOptions, get func() (Run, error), done func(Run) bool) (Run, error) {
	var last Run
	seen := ""
	for {
		r, err := get()
		if err != nil {
			if ctx.Err() != nil {
				return last, waitError(what, last, ctx.Err())
			}
			return last, err
		}
		last = r
		if state := r.Status + "/" + r.Conclusion; state != seen {
			seen = state
			o.progress(r)
		}
		if done(r) {
			return r, nil
		}
		select {
		case <-ctx.Done():
			return last, waitError(what, last, ctx.Err())
		case <-time.After(o.interval):
		}
	}
}

func waitError(what string, last Run, err error) error {
	state := last.Status
	if state == "" {
		state = "unknown"
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return errdefs.WithHint(fmt.Errorf("timed out waiting for %s %d (%s), last status %s: %w", what, last.ID, last.URL, state, err),
			"raise --timeout, or look at the run; it goes on without us")
	}
	return fmt.Errorf("waiting for %s %d (last status %s): %w", what, last.ID, state, err)
}
