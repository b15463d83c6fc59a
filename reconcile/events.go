package reconcile

import (
	"context"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tagrelay/tagrelay/reconcile/api"
)

// maxTreeEvents bounds the events returned for one app: a crash-looping pod can have thousands.
const maxTreeEvents = 500

// Events returns the events of the objects of an app's tree (from Tree), newest first, at most
// 500: one LIST of events per namespace (in pages of 500) of the tree, matched to its objects by kind and
// name.
func (r *Reconciler) Events(ctx context.Context, t *api.Tree) ([]api.Event, error) {
	byNamespace := map[string]map[string]string{} // namespace → "Kind/name" → node ID
	for _, n := range t.Nodes {
		m := byNamespace[n.Namespace]
		if m == nil {
			m = map[string]string{}
			byNamespace[n.Namespace] = m
		}
		m[n.Kind+"/"+n.Name] = n.ID
	}
	var out []api.Event
	for ns, ids := range byNamespace {
		opts := metav1.ListOptions{Limit: 500}
		for {
			list, err := r.cs.CoreV1().Events(ns).List(ctx, opts)
			if err != nil {
				return nil, apiError("listing events in "+ns, err)
			}
			for i := range list.Items {
				e := &list.Items[i]
				if id, ok := ids[e.InvolvedObject.Kind+"/"+e.InvolvedObject.Name]; ok {
					out = append(out, eventOf(id, e))
				}
			}
			if len(out) > 4*maxTreeEvents {
				out = newestEvents(out)
			}
			if opts.Continue = list.Continue; opts.Continue == "" {
				break
			}
		}
	}
	return newestEvents(out), nil
}

// newestEvents sorts events newest first (warnings first at the same second) and keeps
// maxTreeEvents of them.
func newestEvents(evs []api.Event) []api.Event {
	sort.SliceStable(evs, func(i, j int) bool {
		if !evs[i].Last.Equal(evs[j].Last) {
			return evs[i].Last.After(evs[j].Last)
		}
		return evs[i].Type == "Warning" && evs[j].Type != "Warning"
	})
	if len(evs) > maxTreeEvents {
		evs = evs[:maxTreeEvents]
	}
	return evs
}

func eventOf(id string, e *corev1.Event) api.Event {
	src := e.Source.Component
	if src == "" {
		src = e.ReportingController
	}
	first := e.FirstTimestamp.Time
	if first.IsZero() {
		first = e.EventTime.Time
	}
	count := e.Count
	if e.Series != nil {
		count = e.Series.Count
	}
	return api.Event{Object: id, Type: e.Type, Reason: e.Reason, Message: strings.TrimSpace(e.Message),
		Count: count, First: first, Last: eventTime(*e).Time, Source: src}
}
