package notify

import (
	"net/url"
	"strings"

	"github.com/tagrelay/tagrelay/reconcile/api"
)

// State is what a notification says about a sync.
type State string

// The states.
const (
	// Pending: the sync applies the app; its health is awaited.
	Pending State = "pending"
	// Success: the sync succeeded (healthy, or applied without waiting).
	Success State = "success"
	// Failure: the sync failed or a guard refused it.
	Failure State = "failure"
)

// Event is one thing to tell about one sync of an app.
type Event struct {
	// App is the app's name; Config its notify: section.
	App    string
	Config *Config
	State  State
	// Result is the sync's result, AppCommits included.
	Result api.SyncResult
	// Diagnosis details a failed sync for the merge request note; nil when unknown.
	Diagnosis *Diagnosis
}

// Diagnosis says why a sync failed, object by object: what the reconciler's rollout error and the
// console's log reader know.
type Diagnosis struct {
	Objects []FailedObject `json:"objects,omitempty"`
}

// FailedObject is one object that did not become healthy.
type FailedObject struct {
	// Object is Kind/namespace/name.
	Object string `json:"object"`
	// Reason is why: ProgressDeadlineExceeded: …, BackoffLimitExceeded, timed out ….
	Reason string `json:"reason"`
	// Pods are the states of its unready pods.
	Pods []string `json:"pods,omitempty"`
	// Events are its last events and its pods'.
	Events []string `json:"events,omitempty"`
	// Logs are the last lines of its failing containers.
	Logs []LogTail `json:"logs,omitempty"`
}

// LogTail is the end of one container's log.
type LogTail struct {
	Pod       string   `json:"pod"`
	Container string   `json:"container"`
	Lines     []string `json:"lines"`
}

// stateOf is the state a finished sync reports; ok is false for results nobody is told about: a
// dry run, a refused no-op (nothing was deployed; the image already runs), a sync still applying.
func stateOf(res api.SyncResult) (State, bool) {
	switch res.Status {
	case api.StatusSucceeded, api.StatusApplied:
		return Success, true
	case api.StatusFailed, api.StatusRefused:
		return Failure, true
	}
	return "", false
}

// consoleLink is the console's page of app, "" without a console URL.
func consoleLink(base, app string) string {
	if base == "" {
		return ""
	}
	return strings.TrimSuffix(base, "/") + "/apps/" + url.PathEscape(app)
}

// statusContext names the line of app on a commit: one per environment.
func statusContext(app string) string { return "deploy/" + app }

// description is the one-line status text of an event.
func description(ev Event) string {
	res := ev.Result
	switch ev.State {
	case Pending:
		return "deploying " + short(res.Revision) + " to " + ev.App
	case Success:
		if res.Status == api.StatusApplied {
			return "applied to " + ev.App + "; health not awaited"
		}
		return "deployed to " + ev.App + " and healthy"
	}
	msg := res.Message
	if msg == "" {
		msg = string(res.Status)
	}
	return "deploy to " + ev.App + " failed: " + msg
}

// short is the first 12 characters of a commit SHA.
func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}
