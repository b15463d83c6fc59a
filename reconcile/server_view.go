package reconcile

import (
	"context"
	"encoding/json"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/tools/cache"

	"github.com/tagrelay/tagrelay/reconcile/api"
)

// With several shards, what the console shows of an app beyond its state — the health and
// running images of its tree, and whether its last drift check found drift — is known first by
// the replica holding the app's shard (it reads the tree and runs the checks). That replica
// shares it on a small ConfigMap per app (tagrelay-view-APP, the view in an annotation), written
// only when it changes; every other replica reads those with one metadata-only informer, as it
// reads the state summaries (server_state.go), so whichever replica a user's browser reaches
// shows every app's health and images, not Unknown for the apps of shards it does not hold.
// The view has its own object so its writes never touch the history ConfigMap, whose writes
// are fenced on its resourceVersion.

const (
	// viewLabel is set on every view ConfigMap, with the app's name as value.
	viewLabel = "tagrelay.dev/view-of"
	// viewAnnotation holds the view.
	viewAnnotation = "tagrelay.dev/view"
)

func viewName(app string) string { return "tagrelay-view-" + app }

// sharedView is what a view ConfigMap says. The drift check's time is left out: it changes at
// every check, and writing it would cost a write per app per drift interval.
type sharedView struct {
	Health   api.Health         `json:"health"`
	Message  string             `json:"message,omitempty"`
	Running  []api.RunningImage `json:"running,omitempty"`
	Drift    bool               `json:"drift,omitempty"`
	DriftErr string             `json:"driftError,omitempty"`
}

// maxViewBytes bounds a view: an app with very many images shares its first ones.
const maxViewBytes = 16 << 10

// sharesViews says whether this server shares views: only several shards spread the apps over
// replicas (with one, every page of the console goes to the leader).
func (s *Server) sharesViews() bool { return s.le != nil && len(s.shards) > 1 && s.ui != nil }

// shareView writes the app's view for the other replicas when it changed since this replica
// last wrote it, if this replica holds the app's shard. A failure is logged: the view is what
// the other replicas show until the next change, never what a sync decides on.
func (s *Server) shareView(ctx context.Context, st *appState) {
	if !s.sharesViews() || !s.shardFor(st).held() {
		return
	}
	v := &st.view
	v.mu.Lock()
	sv := sharedView{Health: v.health, Message: v.healthMsg, Running: v.running, Drift: v.drift, DriftErr: v.driftErr}
	last := v.shared
	v.mu.Unlock()
	b, _ := json.Marshal(sv)
	for len(b) > maxViewBytes && len(sv.Running) > 0 {
		sv.Running = sv.Running[:len(sv.Running)/2]
		b, _ = json.Marshal(sv)
	}
	if string(b) == last {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	cms := s.r.cs.CoreV1().ConfigMaps(s.r.opts.Namespace)
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{viewAnnotation: string(b)}}})
	_, err := cms.Patch(ctx, viewName(st.name), types.MergePatchType, patch, metav1.PatchOptions{FieldManager: FieldManager})
	if apierrors.IsNotFound(err) {
		_, err = cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: viewName(st.name), Namespace: s.r.opts.Namespace,
			Labels:      map[string]string{"app.kubernetes.io/managed-by": "tagrelay", viewLabel: st.name},
			Annotations: map[string]string{viewAnnotation: string(b)}}}, metav1.CreateOptions{FieldManager: FieldManager})
	}
	if err != nil {
		s.log.Warn("sharing the app's view with the other replicas", "app", st.name, "error", err)
		return
	}
	v.mu.Lock()
	v.shared = string(b)
	v.mu.Unlock()
}

// watchViews runs the informer of the views of the apps until ctx ends.
func (s *Server) watchViews(ctx context.Context) {
	mc, err := metadata.NewForConfig(s.r.rest)
	if err != nil {
		s.log.Warn("watching the apps' views", "error", err)
		return
	}
	inf := metadatainformer.NewFilteredMetadataInformer(mc, schema.GroupVersionResource{Version: "v1", Resource: "configmaps"},
		s.r.opts.Namespace, 0, cache.Indexers{}, func(o *metav1.ListOptions) { o.LabelSelector = viewLabel }).Informer()
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    s.viewChanged,
		UpdateFunc: func(_, obj any) { s.viewChanged(obj) },
	})
	inf.RunWithContext(ctx)
}

// viewChanged takes the view another replica shared of an app whose shard this one does not
// hold, and shows it.
func (s *Server) viewChanged(obj any) {
	m, ok := obj.(*metav1.PartialObjectMetadata)
	if !ok {
		return
	}
	st := s.app(m.Labels[viewLabel])
	if st == nil || m.Name != viewName(st.name) || s.shardFor(st).held() {
		return
	}
	var sv sharedView
	if json.Unmarshal([]byte(m.Annotations[viewAnnotation]), &sv) != nil || sv.Health == "" {
		return
	}
	v := &st.view
	v.mu.Lock()
	changed := v.health != sv.Health || v.healthMsg != sv.Message || !slices.Equal(v.running, sv.Running) || v.drift != sv.Drift || v.driftErr != sv.DriftErr
	v.health, v.healthMsg, v.running, v.drift, v.driftErr = sv.Health, sv.Message, sv.Running, sv.Drift, sv.DriftErr
	v.mu.Unlock()
	if changed {
		s.stateChanged(st)
	}
}
