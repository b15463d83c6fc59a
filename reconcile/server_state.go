package reconcile

import (
	"context"
	"encoding/json"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/tools/cache"
)

// Every replica knows the state of every app — what the status API and pages show — without a
// request per app or per page: each write of an app's state (state.go) also puts a summary of it
// (last handled commit, pin, sync in flight, newest history entry) in an annotation of its
// history ConfigMap, and one metadata-only informer over those ConfigMaps keeps the summaries
// of all apps in memory. The owner of an app also reads its full state (one GET) before each
// job and after each sync; only syncs read the history itself.

// summaryAnnotation holds the summary of an app's state on its history ConfigMap.
const summaryAnnotation = "tagrelay.dev/state"

// historyLabel is set on every history ConfigMap, with the app's name as value.
const historyLabel = "tagrelay.dev/history-of"

// maxSummaryBytes keeps a summary far below the 256 KiB of all annotations: an entry with a
// long message or many objects is shortened.
const maxSummaryBytes = 32 << 10

type stateSummary struct {
	record
	Last *Result `json:"last,omitempty"`
}

// encodeSummary returns the summary of st.
func encodeSummary(st *State) string {
	sum := stateSummary{record: record{LastCommit: st.LastCommit, Pin: st.Pin, InFlight: st.InFlight}}
	if last := st.Last(); last != nil {
		l := *last
		sum.Last = &l
	}
	b, _ := json.Marshal(sum)
	if len(b) > maxSummaryBytes && sum.Last != nil {
		sum.Last.Objects = nil
		if len(sum.Last.Message) > 4096 {
			sum.Last.Message = sum.Last.Message[:4096] + "…"
		}
		b, _ = json.Marshal(sum)
	}
	return string(b)
}

// decodeSummary returns the state a summary describes (History holds the newest entry alone);
// ok is false without a summary (a ConfigMap written before summaries existed).
func decodeSummary(annotations map[string]string) (*State, bool) {
	raw, ok := annotations[summaryAnnotation]
	if !ok {
		return nil, false
	}
	var sum stateSummary
	if json.Unmarshal([]byte(raw), &sum) != nil {
		return &State{}, true // corrupt: shown as never synced until the next sync rewrites it
	}
	st := &State{LastCommit: sum.LastCommit, Pin: sum.Pin, InFlight: sum.InFlight}
	if sum.Last != nil {
		st.History = []Result{*sum.Last}
	}
	return st, true
}

// watchStates runs the informer of the apps' summaries until ctx ends. It returns once the
// informer listed them all and the states without a summary were read (a GET each); ctx's end
// before that is an error.
func (s *Server) watchStates(ctx context.Context) error {
	mc, err := metadata.NewForConfig(s.r.rest)
	if err != nil {
		return err
	}
	inf := metadatainformer.NewFilteredMetadataInformer(mc, schema.GroupVersionResource{Version: "v1", Resource: "configmaps"},
		s.r.opts.Namespace, 0, cache.Indexers{}, func(o *metav1.ListOptions) { o.LabelSelector = historyLabel }).Informer()
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    s.summaryChanged,
		UpdateFunc: func(_, obj any) { s.summaryChanged(obj) },
		DeleteFunc: s.summaryDeleted,
	})
	go inf.RunWithContext(ctx)
	for !inf.HasSynced() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	s.states = inf.GetStore()
	return s.loadLegacy(ctx)
}

// summaryChanged caches the state an informer event carries.
func (s *Server) summaryChanged(obj any) {
	m, ok := obj.(*metav1.PartialObjectMetadata)
	if !ok {
		return
	}
	st := s.app(m.Labels[historyLabel])
	if st == nil || m.Name != historyName(st.name) {
		return
	}
	if state, ok := decodeSummary(m.Annotations); ok {
		st.setState(state)
		s.stateChanged(st)
	}
}

func (s *Server) summaryDeleted(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	if m, ok := obj.(*metav1.PartialObjectMetadata); ok {
		if st := s.app(m.Labels[historyLabel]); st != nil && m.Name == historyName(st.name) {
			st.setState(&State{})
			s.stateChanged(st)
		}
	}
}

// loadLegacy reads the full state of the apps whose history has no summary yet, retrying
// what failed until it all succeeded or ctx ends.
func (s *Server) loadLegacy(ctx context.Context) error {
	return s.loadStates(ctx, s.legacy(s.current().names))
}

// legacy returns the apps among names whose history ConfigMap exists without a summary.
func (s *Server) legacy(names []string) []string {
	var out []string
	for _, name := range names {
		obj, exists, _ := s.states.GetByKey(s.r.opts.Namespace + "/" + historyName(name))
		if m, ok := obj.(*metav1.PartialObjectMetadata); exists && ok {
			if _, ok := decodeSummary(m.Annotations); !ok {
				out = append(out, name)
			}
		}
	}
	return out
}

// cachedState returns the state of app name as the informer has it: an app without a history
// ConfigMap has an empty state.
func (s *Server) cachedState(name string) *State {
	if s.states == nil {
		return &State{}
	}
	obj, exists, _ := s.states.GetByKey(s.r.opts.Namespace + "/" + historyName(name))
	m, ok := obj.(*metav1.PartialObjectMetadata)
	if !exists || !ok {
		return &State{}
	}
	if st, ok := decodeSummary(m.Annotations); ok {
		return st
	}
	return nil // legacy: read in full
}

// loadStates reads the full state of names (a GET each, Jobs at a time), retrying what failed
// until it all succeeded or ctx ends.
func (s *Server) loadStates(ctx context.Context, pending []string) error {
	for delay := time.Second; len(pending) > 0; delay = min(2*delay, 30*time.Second) {
		states, err := s.r.States(ctx, pending)
		for name, state := range states {
			if st := s.app(name); st != nil {
				st.setState(state)
			}
		}
		if err == nil {
			return nil
		}
		s.log.Warn("reading the apps' state", "failed", len(pending)-len(states), "error", err)
		var left []string
		for _, name := range pending {
			if states[name] == nil {
				left = append(left, name)
			}
		}
		pending = left
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
	}
	return nil
}
