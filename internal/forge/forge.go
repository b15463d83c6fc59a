package forge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
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
	client *http.Client
	retry  Retry
}

// Option configures a GitLab or GitHub client.
type Option func(*options)

// WithLogger logs retries and polls. Default: discard.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithHTTPClient sends every call through c: its transport carries the TLS configuration (a
// private CA, --insecure) and proxies, its Timeout bounds each call. The retries of WithRetry wrap
// its transport. Default: a client over a clone of http.DefaultTransport.
func WithHTTPClient(c *http.Client) Option { return func(o *options) { o.client = c } }

// WithRetry sets how calls are retried on 429, 5xx and network errors. Default: Retry's
// defaults (4 attempts, 500 ms doubling to 10 s, with jitter).
func WithRetry(r Retry) Option { return func(o *options) { o.retry = r } }

func makeOptions(opts []Option) options {
	o := options{logger: slog.New(slog.DiscardHandler)}
	for _, opt := range opts {
		opt(&o)
	}
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}
	o.retry = o.retry.withDefaults()
	return o
}

// httpClient returns the client of the API calls: the configured one (or a default) with the
// retries around its transport.
func (o options) httpClient() *http.Client {
	c := &http.Client{}
	if o.client != nil {
		copied := *o.client
		c = &copied
	}
	next := c.Transport
	if next == nil {
		next = http.DefaultTransport.(*http.Transport).Clone()
	}
	c.Transport = &retryTransport{next: next, r: o.retry, log: o.logger}
	return c
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

// maxPollFailures is how many polls in a row may fail transiently (429, 5xx, network; each call
// already retried) before a wait gives up: a forge being upgraded does not end a wait at once.
const maxPollFailures = 5

// poll calls get every interval until done reports the run finished, reporting each status change,
// and returns the last run. When ctx ends it returns ctx.Err() wrapped with the last state seen.
func poll(ctx context.Context, what string, o waitOptions, log *slog.Logger, get func() (Run, error), done func(Run) bool) (Run, error) {
	var last Run
	seen := ""
	failures := 0
	for {
		r, err := get()
		switch {
		case err != nil && ctx.Err() != nil:
			return last, waitError(what, last, ctx.Err())
		case err != nil && errors.Is(err, errdefs.ErrUnavailable) && failures+1 < maxPollFailures:
			failures++
			log.Warn("reading the run failed; polling again", "run", last.ID, "error", err.Error(), "failures", failures)
		case err != nil:
			return last, err
		default:
			failures = 0
			last = r
			if state := r.Status + "/" + r.Conclusion; state != seen {
				seen = state
				o.progress(r)
			}
			if done(r) {
				return r, nil
			}
		}
		if err := sleep(ctx, o.interval); err != nil {
			return last, waitError(what, last, err)
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
			"the run goes on without us; look at it")
	}
	return fmt.Errorf("waiting for %s %d (last status %s): %w", what, last.ID, state, err)
}
