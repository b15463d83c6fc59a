package api

import (
	"strings"
	"time"
)

// The types below are what the console (package reconcile/console) shows: who is looking
// (Principal), the state of each app (AppState), its resource tree, events and pod logs, and the
// preview of a sync. The server fills them; the console only renders them.

// Principal is who a request acts as: the admin, or a member of one project.
type Principal struct {
	// Name identifies the caller in the history and the logs: "admin", a project token's
	// name, "gitlab:group/app pipeline 1234". Never a secret.
	Name string `json:"name"`
	// Admin may read and act on every app.
	Admin bool `json:"admin,omitempty"`
	// Project is the only project a non-admin may read and act on.
	Project string `json:"project,omitempty"`
	// Caller is who the server records in the history for the principal's actions
	// (SyncResult.Caller): the kind of credential and, for a GitLab id_token, the pipeline.
	Caller *Caller `json:"caller,omitempty"`
	// Credential binds a session to the token it was opened with: an opaque MAC the server
	// checks on every request, so that a session ends when its token is changed or its project
	// removed. Never the token itself.
	Credential string `json:"credential,omitempty"`
	// Expires, when set, is when the credential itself expires (a GitLab id_token): a session
	// does not outlive it.
	Expires time.Time `json:"expires,omitzero"`
}

// Allows reports whether p may read and act on an app of project.
func (p Principal) Allows(project string) bool {
	return p.Admin || (p.Project != "" && p.Project == project)
}

// Health is the state of a live object or of a whole app.
type Health string

// The healths, from best to worst (see Worse).
const (
	// HealthHealthy: rolled out and ready (kstatus Current).
	HealthHealthy Health = "Healthy"
	// HealthProgressing: rolling out, starting, or waiting for its controller.
	HealthProgressing Health = "Progressing"
	// HealthUnknown: the state could not be read.
	HealthUnknown Health = "Unknown"
	// HealthMissing: in the app's inventory or render, absent from the cluster.
	HealthMissing Health = "Missing"
	// HealthDegraded: failed (crash loop, ProgressDeadlineExceeded, failed Job).
	HealthDegraded Health = "Degraded"
)

var healthRank = map[Health]int{HealthHealthy: 0, HealthProgressing: 1, HealthUnknown: 2, HealthMissing: 3, HealthDegraded: 4}

// Worse returns the worse of h and o.
func (h Health) Worse(o Health) Health {
	if healthRank[o] > healthRank[h] {
		return o
	}
	return h
}

// SyncState says whether an app runs what its repository says.
type SyncState string

// The sync states.
const (
	// SyncSynced: the last sync succeeded and no drift was found since.
	SyncSynced SyncState = "Synced"
	// SyncOutOfSync: the repository (or the cluster) changed; a sync would change objects.
	SyncOutOfSync SyncState = "OutOfSync"
	// SyncSyncing: a sync runs now.
	SyncSyncing SyncState = "Syncing"
	// SyncFailed: the last sync failed or was refused by a guard.
	SyncFailed SyncState = "Failed"
	// SyncNoopRefused: the last triggered sync changed no image and was refused.
	SyncNoopRefused SyncState = "NoopRefused"
	// SyncUnknown: never synced by this server.
	SyncUnknown SyncState = "Unknown"
)

// SyncStateOf derives an app's sync state from whether a sync runs, its last result and
// whether the last drift check found changes.
func SyncStateOf(syncing bool, last *SyncResult, drift bool) SyncState {
	switch {
	case syncing:
		return SyncSyncing
	case drift:
		return SyncOutOfSync
	case last == nil:
		return SyncUnknown
	}
	switch last.Status {
	case StatusSucceeded, StatusApplied:
		return SyncSynced
	case StatusNoopRefused:
		return SyncNoopRefused
	}
	return SyncFailed
}

// AppState is one app as the console lists it: its status plus what runs.
type AppState struct {
	AppStatus
	// Project owns the app; only its members (and the admin) see it.
	Project   string `json:"project,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	Health    Health `json:"health,omitempty"`
	// HealthMessage says why the app is not healthy ("" when it is).
	HealthMessage string    `json:"healthMessage,omitempty"`
	Sync          SyncState `json:"sync,omitempty"`
	// Pinned is the commit a rollback pinned the app to; "" while it follows its ref.
	Pinned string `json:"pinned,omitempty"`
	// Running are the images the app's pods run now, per workload and container.
	Running []RunningImage `json:"running,omitempty"`
	// SourceRepo is the web URL of the repository the images are built from (http or https),
	// when known: an image tag that is a commit hash links to that commit.
	SourceRepo string `json:"sourceRepo,omitempty"`
	// DriftChecked is when the server's last drift check (a dry-run diff) of the app ended;
	// zero when none ran. DriftError is why it failed ("" when it did not): Sync then keeps
	// what the check before it found.
	DriftChecked time.Time `json:"driftChecked,omitzero"`
	DriftError   string    `json:"driftError,omitempty"`
}

// RunningImage is one image a workload's pods run, with how many pods run it.
type RunningImage struct {
	Object    string `json:"object"` // Kind/namespace/name of the workload
	Container string `json:"container"`
	Image     string `json:"image"`
	Pods      int    `json:"pods"`
	Ready     int    `json:"ready"`
	// SourceRepo is the web URL of the repository this image is built from, when the server
	// knows it for this image; AppState.SourceRepo otherwise.
	SourceRepo string `json:"sourceRepo,omitempty"`
}

// Tag returns the tag of the image ("" for a digest-only or untagged reference).
func (i RunningImage) Tag() string {
	ref, _, _ := strings.Cut(i.Image, "@")
	slash := strings.LastIndexByte(ref, '/')
	if c := strings.LastIndexByte(ref, ':'); c > slash {
		return ref[c+1:]
	}
	return ""
}

// AppFilter selects a page of apps.
type AppFilter struct {
	// Project keeps the apps of one project. Default: every project the principal sees.
	Project string `json:"project,omitempty"`
	// Status keeps the apps whose Health or Sync equals it, or that are pinned ("Pinned").
	Status string `json:"status,omitempty"`
	// Offset skips the first apps (by project, then name). Limit bounds the page; 0 means
	// the server's maximum.
	Offset int `json:"offset,omitempty"`
	Limit  int `json:"limit,omitempty"`
}

// Match reports whether st passes the filter's project and status.
func (f AppFilter) Match(st *AppState) bool {
	if f.Project != "" && st.Project != f.Project {
		return false
	}
	switch f.Status {
	case "":
		return true
	case "Pinned":
		return st.Pinned != ""
	}
	return string(st.Health) == f.Status || string(st.Sync) == f.Status
}

// AppPage is one page of apps.
type AppPage struct {
	Apps []AppState `json:"apps"`
	// Total counts the apps that pass the filter, on every page.
	Total int `json:"total"`
	// Projects lists every project the principal sees, for the filter.
	Projects []string `json:"projects"`
	// Counts counts the apps of the filter's project by Health, by Sync and "Pinned",
	// whatever the filter's status: the numbers next to the status filters.
	Counts map[string]int `json:"counts,omitempty"`
}

// Tree is an app's resources as a graph: the objects the app applied and what their
// controllers made of them (ReplicaSets, Pods, Jobs), parents before children.
type Tree struct {
	App   string     `json:"app"`
	Nodes []TreeNode `json:"nodes"`
}

// TreeNode is one object of a Tree.
type TreeNode struct {
	// ID is Kind/namespace/name (Kind/name for cluster-scoped objects), as in ObjectChange.
	ID     string `json:"id"`
	Parent string `json:"parent,omitempty"` // "" for the objects the app applied
	Group  string `json:"group,omitempty"`
	Kind   string `json:"kind"`
	// Namespace and Name of the object.
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	Health    Health `json:"health"`
	// Message says why the object is not healthy, or what it is doing.
	Message string `json:"message,omitempty"`
	// Info is a short summary: "2/2 ready", "revision 3", "ClusterIP 10.96.0.10".
	Info string `json:"info,omitempty"`
	// Images are the container images of a workload or pod.
	Images []string `json:"images,omitempty"`
	// Containers are a pod's container names (for its logs).
	Containers []string  `json:"containers,omitempty"`
	Created    time.Time `json:"created,omitzero"`
}

// Health returns the worst health of the objects the app applied, with the message of the
// first that has it; an empty tree is Missing.
func (t *Tree) Health() (Health, string) {
	if len(t.Nodes) == 0 {
		return HealthMissing, "no objects"
	}
	h, msg := HealthHealthy, ""
	for _, n := range t.Nodes {
		if n.Parent == "" && n.Health.Worse(h) != h {
			h, msg = n.Health, n.ID+": "+n.Message
		}
	}
	return h, msg
}

// Event is one Kubernetes event of an object of an app.
type Event struct {
	Object  string    `json:"object"` // Kind/namespace/name of the object it is about
	Type    string    `json:"type"`   // Normal, Warning
	Reason  string    `json:"reason"`
	Message string    `json:"message"`
	Count   int32     `json:"count,omitempty"`
	First   time.Time `json:"first,omitzero"`
	Last    time.Time `json:"last,omitzero"`
	Source  string    `json:"source,omitempty"` // the component that reported it
}

// LogQuery selects the log lines of one container of one of an app's pods.
type LogQuery struct {
	Pod       string `json:"pod"`
	Container string `json:"container,omitempty"` // default: the pod's first container
	// TailLines is how many of the last lines to send first. Default 200, at most 5000.
	TailLines int64 `json:"tailLines,omitempty"`
	// Follow keeps sending new lines until the request ends.
	Follow bool `json:"follow,omitempty"`
}

// LogLine is one line of a container's log.
type LogLine struct {
	Time time.Time `json:"time,omitzero"`
	Line string    `json:"line"`
}

// Preview is a sync's dry run: the per-object diff, the image changes, and the no-op guard's
// verdict on a triggered sync.
type Preview struct {
	Result *SyncResult `json:"result"`
	// Refusal is why the no-op guard would refuse a triggered sync ("" when it would apply).
	Refusal string `json:"refusal,omitempty"`
}

// OutOfSync reports whether a sync would change, create or prune an object.
func (p *Preview) OutOfSync() bool {
	if p == nil || p.Result == nil {
		return false
	}
	for _, o := range p.Result.Objects {
		if o.Action != ActionUnchanged && o.Action != ActionSkipped {
			return true
		}
	}
	return false
}

// Running returns the images the tree's pods run, per workload the app applied and container,
// with how many pods run each and how many of them are ready (healthy); init containers are
// left out. Pods the app applied directly count for themselves.
func (t *Tree) Running() []RunningImage {
	parent := make(map[string]string, len(t.Nodes))
	for _, n := range t.Nodes {
		parent[n.ID] = n.Parent
	}
	top := func(id string) string {
		for parent[id] != "" {
			id = parent[id]
		}
		return id
	}
	var out []RunningImage
	index := map[RunningImage]int{} // key: Object, Container, Image
	for _, n := range t.Nodes {
		if n.Kind != "Pod" || n.Group != "" {
			continue
		}
		obj := top(n.ID)
		for i, img := range n.Images {
			if strings.HasPrefix(n.Containers[i], "init:") {
				continue
			}
			k := RunningImage{Object: obj, Container: n.Containers[i], Image: img}
			j, ok := index[k]
			if !ok {
				j = len(out)
				index[k] = j
				out = append(out, k)
			}
			out[j].Pods++
			if n.Health == HealthHealthy {
				out[j].Ready++
			}
		}
	}
	return out
}
