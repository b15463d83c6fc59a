// Package api holds the wire types of the reconciler's HTTP API (tagrelay-reconciler serve) and
// of the sync results and history it records. It imports nothing from client-go or Helm, so the
// CI-side client (tagrelay trigger reconciler) stays small.
//
//	POST /api/v1/apps/{name}/sync   SyncRequest → SyncResult (200, 202, 409, 4xx, 5xx)
//	GET  /api/v1/apps/{name}        AppStatus
//	GET  /api/v1/apps               []AppStatus
//
// Every request needs "Authorization: Bearer TOKEN"; a wrong or missing token is 401.
package api

import "time"

// SyncPath returns the path that triggers a sync of app.
func SyncPath(app string) string { return "/api/v1/apps/" + app + "/sync" }

// AppPath returns the path of app's status.
func AppPath(app string) string { return "/api/v1/apps/" + app }

// SyncRequest is the body of a sync trigger. Every field is optional.
type SyncRequest struct {
	// ExpectImage is the image the pipeline just built, NAME:TAG. The sync is refused (409)
	// when the rendered state does not deploy it, or when it is already running.
	ExpectImage string `json:"expectImage,omitempty"`
	// AllowNoop applies even when no container image changes.
	AllowNoop bool `json:"allowNoop,omitempty"`
	// Restart rolls the app's workloads (kubectl.kubernetes.io/restartedAt) after applying.
	Restart bool `json:"restart,omitempty"`
	// Wait makes the server answer when the workloads are healthy (or failed) instead of right
	// after applying.
	Wait bool `json:"wait,omitempty"`
}

// Status is the outcome of a sync.
type Status string

// The outcomes of a sync.
const (
	// StatusSucceeded: applied, pruned and, when waited for, healthy.
	StatusSucceeded Status = "Succeeded"
	// StatusApplied: applied and pruned; health is still being waited for.
	StatusApplied Status = "Applied"
	// StatusNoopRefused: nothing would change an image; nothing was applied (exit 3, HTTP 409).
	StatusNoopRefused Status = "NoopRefused"
	// StatusRefused: a guard refused the sync (tenancy, ownership); nothing was applied.
	StatusRefused Status = "Refused"
	// StatusFailed: the sync failed (render, apply, rollout, timeout).
	StatusFailed Status = "Failed"
	// StatusDryRun: diff only, nothing applied.
	StatusDryRun Status = "DryRun"
)

// SyncResult is what one sync did.
type SyncResult struct {
	App      string `json:"app"`
	Revision string `json:"revision,omitempty"` // commit hash
	Ref      string `json:"ref,omitempty"`      // the configured revision (branch, tag)
	Trigger  string `json:"trigger,omitempty"`  // cli, api, poll
	Status   Status `json:"status"`
	// ExitCode is the code the CLI exits with for this result (0, 1, 2, 3, 4).
	ExitCode int    `json:"exitCode"`
	Message  string `json:"message,omitempty"`
	Hint     string `json:"hint,omitempty"`
	// Images are the container images of the app's workloads, before and after.
	Images   []ImageChange  `json:"images,omitempty"`
	Objects  []ObjectChange `json:"objects,omitempty"`
	Started  time.Time      `json:"started"`
	Duration Duration       `json:"duration"`
	// AppCommits are the app commits the deployed revision carries (see AppCommit), newest first.
	AppCommits []AppCommit `json:"appCommits,omitempty"`
}

// Summary counts the objects of r by action.
func (r *SyncResult) Summary() map[Action]int {
	m := map[Action]int{}
	for _, o := range r.Objects {
		m[o.Action]++
	}
	return m
}

// ImageChange is one container of a workload, with its image before and after the sync.
type ImageChange struct {
	Object    string `json:"object"` // Kind/namespace/name
	Container string `json:"container"`
	Before    string `json:"before,omitempty"` // "" for a new workload
	After     string `json:"after,omitempty"`  // "" for a removed workload
}

// Changed reports whether the image differs.
func (c ImageChange) Changed() bool { return c.Before != c.After }

// Action is what a sync did to one object.
type Action string

// The actions on objects.
const (
	ActionCreated    Action = "created"
	ActionConfigured Action = "configured"
	ActionUnchanged  Action = "unchanged"
	ActionPruned     Action = "pruned"
	ActionSkipped    Action = "skipped" // left alone: not owned by this app
	ActionRestarted  Action = "restarted"
)

// ObjectChange is one object and what the sync did to it.
type ObjectChange struct {
	Object string `json:"object"` // Kind/namespace/name
	Action Action `json:"action"`
	// Diff is the unified diff of the object (dry runs and diff only); Secret values are masked.
	Diff string `json:"diff,omitempty"`
}

// AppStatus is the state of one app on the server.
type AppStatus struct {
	Name     string      `json:"name"`
	Repo     string      `json:"repo"`
	Ref      string      `json:"ref"`
	Path     string      `json:"path,omitempty"`
	Syncing  bool        `json:"syncing"`
	LastSync *SyncResult `json:"lastSync,omitempty"`
	// NextPoll is when the server next checks the repository.
	NextPoll *time.Time `json:"nextPoll,omitempty"`
}

// Error is the body of a non-sync error answer (401, 404, 400, 503).
type Error struct {
	Error string `json:"error"`
	Hint  string `json:"hint,omitempty"`
}

// Duration is a time.Duration that travels as a string ("1.5s").
type Duration time.Duration

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	*d = Duration(v)
	return err
}

// AnyChanged reports whether any of images changed.
func AnyChanged(images []ImageChange) bool {
	for _, c := range images {
		if c.Changed() {
			return true
		}
	}
	return false
}
