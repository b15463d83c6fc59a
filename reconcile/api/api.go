// Package api holds the wire types of the reconciler's HTTP API (tagrelay-reconciler serve) and
// of the sync results and history it records. It imports nothing from client-go or Helm, so the
// CI-side client (tagrelay trigger reconciler) stays small.
//
//	POST   /api/v1/apps/{name}/sync      SyncRequest → SyncResult (200, 202, 409, 412, 4xx, 5xx)
//	POST   /api/v1/apps/{name}/rollback  RollbackRequest → SyncResult (same codes; 409 when it would change nothing)
//	DELETE /api/v1/apps/{name}/pin       → AppStatus (200; 409 when the app is not pinned)
//	GET    /api/v1/apps/{name}/history   → []SyncResult, newest first
//	GET    /api/v1/apps/{name}           AppStatus
//	GET    /api/v1/apps                  AppList: the apps the caller may see, by name, a page at a time
//	GET    /api/v1/server                ServerStatus of the replica that answers
//
// Every request needs "Authorization: Bearer TOKEN": the admin token, a
// project token, or a GitLab CI id_token (a JWT). A wrong or missing token is 401; an app of
// another project is 403; an unknown app is 404. Any replica answers: a follower forwards the
// request to the leader (header X-Tagrelay-Forwarded-By names the follower).
package api

import "time"

// SyncPath returns the path that triggers a sync of app.
func SyncPath(app string) string { return "/api/v1/apps/" + app + "/sync" }

// AppPath returns the path of app's status.
func AppPath(app string) string { return "/api/v1/apps/" + app }

// RollbackPath returns the path that rolls app back.
func RollbackPath(app string) string { return "/api/v1/apps/" + app + "/rollback" }

// PinPath returns the path of app's rollback pin (DELETE unpins).
func PinPath(app string) string { return "/api/v1/apps/" + app + "/pin" }

// HistoryPath returns the path of app's history.
func HistoryPath(app string) string { return "/api/v1/apps/" + app + "/history" }

// ServerPath is the path of the replica's own status.
const ServerPath = "/api/v1/server"

// ForwardedHeader marks a request a follower forwarded to the leader; its value is the
// follower's identity. A replica never forwards a request that carries it.
const ForwardedHeader = "X-Tagrelay-Forwarded-By"

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
	// ID identifies the sync across replicas (a resumed sync keeps its ID).
	ID string `json:"id,omitempty"`
	// Replica is the identity of the reconciler process that finished the sync.
	Replica string `json:"replica,omitempty"`
	// Caller is who asked for the sync; nil for polls and webhooks.
	Caller *Caller `json:"caller,omitempty"`
	// Rollback is set on the syncs of a rollback: the revision is pinned (see Pin).
	Rollback bool `json:"rollback,omitempty"`
	// ResumedFrom is the replica that started this sync and stopped before recording it; the
	// leader after it ran the sync again.
	ResumedFrom string `json:"resumedFrom,omitempty"`
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
	// ActionHookSucceeded, ActionHookFailed: a hook (Helm's or Argo CD's) ran; the Reason
	// names its phase and wave. ActionHookSkipped: not run (the app's hooks: skip).
	ActionHookSucceeded Action = "hook succeeded"
	ActionHookFailed    Action = "hook failed"
	ActionHookSkipped   Action = "hook skipped"
)

// ObjectChange is one object and what the sync did to it.
type ObjectChange struct {
	Object string `json:"object"` // Kind/namespace/name
	Action Action `json:"action"`
	// Reason says why, when the action needs one: "config changed: ConfigMap/app-config" (a
	// restart), "PreSync hook, wave -1" (a hook).
	Reason string `json:"reason,omitempty"`
	// Diff is the unified diff of the object (dry runs and diff only); Secret values are masked.
	Diff string `json:"diff,omitempty"`
}

// AppStatus is the state of one app on the server. LastSync, LastCommit and Pin are rebuilt
// from the history in the cluster when a replica starts or becomes the leader.
type AppStatus struct {
	Name string `json:"name"`
	// Project is the project whose namespaces hold the app ("" for none: admin only).
	Project  string      `json:"project,omitempty"`
	Repo     string      `json:"repo"`
	Ref      string      `json:"ref"`
	Path     string      `json:"path,omitempty"`
	Syncing  bool        `json:"syncing"`
	LastSync *SyncResult `json:"lastSync,omitempty"`
	// LastCommit is the last commit a sync handled (deployed, refused or failed its rollout);
	// a poll syncs only a commit other than this one.
	LastCommit string `json:"lastCommit,omitempty"`
	// Pin is the app's rollback pin, active or the last one ended (see Pin.Active).
	Pin *Pin `json:"pin,omitempty"`
	// NextPoll is when the server next checks the repository.
	NextPoll *time.Time `json:"nextPoll,omitempty"`
}

// AppList is a page of GET /api/v1/apps?project=P&status=S&limit=N&continue=TOKEN: the apps
// the caller may see, sorted by name, filtered by project and by the status of their last sync
// (or "Pinned", "Syncing", "Never"). Limit defaults to 500 and is at most 1000.
type AppList struct {
	Items []AppStatus `json:"items"`
	// Continue, when set, fetches the next page.
	Continue string `json:"continue,omitempty"`
}

// ListOptions select a page of apps (see AppList).
type ListOptions struct {
	Project, Status string
	Limit           int
	Continue        string
}

// Pin holds an app at a rolled-back revision: polls do not deploy the commit it was pinned
// over. A new commit, a sync trigger of a new commit or an unpin ends it.
type Pin struct {
	// Revision is the commit the app was rolled back to.
	Revision string `json:"revision"`
	// Over is the commit the app's revision pointed at when it was pinned.
	Over string `json:"over,omitempty"`
	// Caller asked for the rollback.
	Caller *Caller    `json:"caller,omitempty"`
	Since  time.Time  `json:"since"`
	Ended  *time.Time `json:"ended,omitempty"`
	// EndedBy says what ended it: "new commit 1a2b3c4d", "unpin by project team-a".
	EndedBy string `json:"endedBy,omitempty"`
}

// Active reports whether the pin holds.
func (p *Pin) Active() bool { return p != nil && p.Ended == nil }

// Caller is who asked for a sync, a rollback or an unpin.
type Caller struct {
	// Kind is how the caller authenticated: CallerAdmin, CallerProject, CallerGitLab or CallerCLI.
	Kind string `json:"kind"`
	// Project is the project the caller acts for; "" for the admin and the CLI.
	Project string `json:"project,omitempty"`
	// Name is the GitLab project_path of an id_token, or the OS user of the CLI.
	Name string `json:"name,omitempty"`
	// Pipeline is the GitLab pipeline id of an id_token.
	Pipeline string `json:"pipeline,omitempty"`
}

// The kinds of callers.
const (
	CallerAdmin   = "admin"   // the admin token
	CallerProject = "project" // a project's token
	CallerGitLab  = "gitlab"  // a GitLab CI id_token
	CallerCLI     = "cli"     // tagrelay-reconciler with cluster credentials
)

// String is a short human form: "admin", "project team-a", "gitlab team-a/infra pipeline 42".
func (c *Caller) String() string {
	if c == nil {
		return ""
	}
	s := c.Kind
	switch c.Kind {
	case CallerProject:
		s += " " + c.Project
	case CallerGitLab:
		s += " " + c.Name
		if c.Pipeline != "" {
			s += " pipeline " + c.Pipeline
		}
	case CallerCLI:
		if c.Name != "" {
			s += " " + c.Name
		}
	}
	return s
}

// RollbackRequest is the body of a rollback. Every field is optional.
type RollbackRequest struct {
	// To is the target: a history entry (1 is the newest, as `history` numbers them) or a
	// commit hash (40 hex digits, or a prefix of a revision in the history). Default: the
	// newest successfully synced commit other than the one running.
	To RollbackTarget `json:"to,omitzero"`
	// AllowNoop applies even when no container image changes.
	AllowNoop bool `json:"allowNoop,omitempty"`
	// Wait answers when the workloads are healthy (or failed), as SyncRequest.Wait.
	Wait bool `json:"wait,omitempty"`
}

// ServerStatus is what one replica says about itself.
type ServerStatus struct {
	// Identity is this process: hostname and a random suffix.
	Identity string `json:"identity"`
	// Leading is true on a replica that polls and syncs: it holds a shard of the apps.
	Leading bool `json:"leading"`
	// Leader and LeaderURL are the leader as this replica last observed it.
	Leader    string `json:"leader,omitempty"`
	LeaderURL string `json:"leaderURL,omitempty"`
	// Ready is true once the state was loaded from the cluster, until the replica drains.
	Ready bool `json:"ready"`
	// Members is how many replicas share the shards, as this one counts them (1 with one
	// shard or without leader election).
	Members int `json:"members,omitempty"`
	// Shards are the shards of the apps and who holds each (Leader and LeaderURL are shard
	// 0's holder). Leading is true when this replica holds at least one.
	Shards []ShardStatus `json:"shards,omitempty"`
}

// ShardStatus is one shard of the apps: they are hashed onto shards by repository, and each
// shard is held by one replica through its own Lease.
type ShardStatus struct {
	Shard int `json:"shard"`
	// Apps is how many apps of the config are on the shard.
	Apps int `json:"apps"`
	// Holder is the replica holding the shard ("" when none does right now) and URL where it
	// answers.
	Holder string `json:"holder,omitempty"`
	URL    string `json:"url,omitempty"`
}

// Error is the body of a non-sync error answer (401, 403, 404, 400, 503).
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
