package gitops

import (
	"time"
)

// The parts of Argo CD's REST API types (assets/swagger.json of github.com/argoproj/argo-cd/v2,
// v1alpha1Application and friends) that a trigger reads. Declared here rather than imported:
// Argo CD's module would pull its whole dependency tree into tagrelay.

type application struct {
	Metadata struct {
		Name            string            `json:"name"`
		Namespace       string            `json:"namespace"`
		ResourceVersion string            `json:"resourceVersion"`
		Annotations     map[string]string `json:"annotations"`
	} `json:"metadata"`
	Spec struct {
		Project string `json:"project"`
	} `json:"spec"`
	// Operation is set while an operation is requested and not yet picked up by the controller.
	Operation *struct {
		Sync *struct {
			Revision string `json:"revision"`
		} `json:"sync"`
	} `json:"operation"`
	Status struct {
		Sync struct {
			Status   string `json:"status"` // Synced, OutOfSync, Unknown
			Revision string `json:"revision"`
		} `json:"sync"`
		Health         healthStatus              `json:"health"`
		OperationState *operationState           `json:"operationState"`
		Resources      []resourceStatus          `json:"resources"`
		Summary        struct{ Images []string } `json:"summary"`
	} `json:"status"`
}

type healthStatus struct {
	Status  string `json:"status"` // Healthy, Progressing, Degraded, Suspended, Missing, Unknown
	Message string `json:"message"`
}

type operationState struct {
	Phase      string     `json:"phase"` // Running, Terminating, Succeeded, Failed, Error
	Message    string     `json:"message"`
	StartedAt  time.Time  `json:"startedAt"`
	FinishedAt *time.Time `json:"finishedAt"`
	Operation  struct {
		Info        []info `json:"info"`
		InitiatedBy struct {
			Username  string `json:"username"`
			Automated bool   `json:"automated"`
		} `json:"initiatedBy"`
	} `json:"operation"`
	SyncResult *struct {
		Revision  string           `json:"revision"`
		Resources []resourceResult `json:"resources"`
	} `json:"syncResult"`
}

// running reports whether the operation has not completed.
func (s *operationState) running() bool {
	return s != nil && (s.Phase == "Running" || s.Phase == "Terminating")
}

type resourceResult struct {
	Group     string `json:"group"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Status    string `json:"status"` // Synced, SyncFailed, Pruned, PruneSkipped
	Message   string `json:"message"`
	HookPhase string `json:"hookPhase"`
}

type resourceStatus struct {
	Group     string        `json:"group"`
	Version   string        `json:"version"`
	Kind      string        `json:"kind"`
	Namespace string        `json:"namespace"`
	Name      string        `json:"name"`
	Status    string        `json:"status"`
	Health    *healthStatus `json:"health"`
}

type resourceTree struct {
	Nodes []resourceNode `json:"nodes"`
}

type resourceNode struct {
	Group      string        `json:"group"`
	Version    string        `json:"version"`
	Kind       string        `json:"kind"`
	Namespace  string        `json:"namespace"`
	Name       string        `json:"name"`
	UID        string        `json:"uid"`
	ParentRefs []nodeRef     `json:"parentRefs"`
	Health     *healthStatus `json:"health"`
	Images     []string      `json:"images"`
	CreatedAt  time.Time     `json:"createdAt"`
}

type nodeRef struct {
	UID string `json:"uid"`
}

// syncRequest is applicationApplicationSyncRequest.
type syncRequest struct {
	Name         string `json:"name"`
	AppNamespace string `json:"appNamespace,omitempty"`
	Revision     string `json:"revision,omitempty"`
	Prune        bool   `json:"prune"`
	Infos        []info `json:"infos,omitempty"`
}

// info is v1alpha1Info: a name and a value attached to an operation.
type info struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// apiError is runtimeError, the body of every non-2xx answer.
type apiError struct {
	Error   string `json:"error"`
	Code    int    `json:"code"` // the gRPC code
	Message string `json:"message"`
}

// watchEvent is one line of /api/v1/stream/applications: {"result": {"type", "application"}}.
type watchEvent struct {
	Result *struct {
		Type        string      `json:"type"`
		Application application `json:"application"`
	} `json:"result"`
	Error *apiError `json:"error"`
}

// treeEvent is one line of /api/v1/stream/applications/NAME/resource-tree.
type treeEvent struct {
	Result *resourceTree `json:"result"`
	Error  *apiError     `json:"error"`
}
