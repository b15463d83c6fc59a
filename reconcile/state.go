package reconcile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	"github.com/tagrelay/tagrelay/internal/errdefs"
	"github.com/tagrelay/tagrelay/internal/exitcode"
	"github.com/tagrelay/tagrelay/reconcile/api"
)

// An app's state lives in its history ConfigMap (historyName), so that nothing that matters
// lives only in a replica's memory: history.json holds the recorded syncs, newest first, and
// state.json the record below. A server reads it when it starts and when it becomes the leader.

// stateKey is the key of the app's record in its history ConfigMap.
const stateKey = "state.json"

// ErrFenced: a write of the app's records (inventory, history) found them changed since this
// sync read them — another replica leads now, or another sync of the app ran. The write was
// refused; the sync stopped there.
var ErrFenced = errors.New("fenced")

// State is an app's state in the cluster.
type State struct {
	// LastCommit is the last commit a sync handled: deployed, refused, or failed its rollout.
	LastCommit string
	// Pin is the app's rollback pin, active or the last one ended.
	Pin *api.Pin
	// InFlight is a sync a server started applying and did not record: the replica died or
	// lost the lead. The next leader runs it again.
	InFlight *InFlight
	// History are the recorded syncs, newest first.
	History []Result
	// Hooks are the hooks the last successful sync ran, as hookSpec says them: the no-op guard
	// lets a triggered sync through when it would run a hook that is not among them.
	Hooks []string

	// version is the ConfigMap's resourceVersion, "" when it does not exist: fenced writes
	// carry it as their precondition.
	version string
}

// Last returns the newest recorded sync, nil when none.
func (s *State) Last() *Result {
	if s == nil || len(s.History) == 0 {
		return nil
	}
	return &s.History[0]
}

// InFlight is a fenced sync that reached the apply step: enough to run it again.
type InFlight struct {
	ID       string      `json:"id"`
	Replica  string      `json:"replica"`
	Started  time.Time   `json:"started"`
	Trigger  string      `json:"trigger"`
	Caller   *api.Caller `json:"caller,omitempty"`
	Revision string      `json:"revision"`
	Rollback bool        `json:"rollback,omitempty"`
	PinOver  string      `json:"pinOver,omitempty"`
	// Restart: the sync restarts every workload (SyncOptions.Restart). Restarts are the
	// workloads its config plan restarts (Kind/namespace/name → the configs, Kind/name, that
	// changed). A sync that runs the mark again repeats both, stamped with Started: a restart
	// the first run made changes nothing, one it did not make yet is made — the configs it
	// applied no longer show a change by then.
	Restart  bool                `json:"restart,omitempty"`
	Restarts map[string][]string `json:"restarts,omitempty"`
}

// record is the JSON of state.json.
type record struct {
	LastCommit string    `json:"lastCommit,omitempty"`
	Pin        *api.Pin  `json:"pin,omitempty"`
	InFlight   *InFlight `json:"inFlight,omitempty"`
	Hooks      []string  `json:"hooks,omitempty"`
}

// State reads the app's state from the cluster (one GET). An app never synced has an empty
// state.
func (r *Reconciler) State(ctx context.Context, app string) (*State, error) {
	cm, err := r.cs.CoreV1().ConfigMaps(r.opts.Namespace).Get(ctx, historyName(app), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return &State{}, nil
	}
	if err != nil {
		return nil, apiError("reading ConfigMap "+r.opts.Namespace+"/"+historyName(app), err)
	}
	return decodeState(cm), nil
}

// decodeState reads a history ConfigMap. A corrupt part is dropped, not fatal: the next sync
// replaces it. Histories written before state.json existed give LastCommit from their entries.
func decodeState(cm *corev1.ConfigMap) *State {
	st := &State{version: cm.ResourceVersion}
	if json.Unmarshal([]byte(cm.Data[historyKey]), &st.History) != nil {
		st.History = nil
	}
	var rec record
	if b := cm.Data[stateKey]; b != "" && json.Unmarshal([]byte(b), &rec) == nil {
		st.LastCommit, st.Pin, st.InFlight, st.Hooks = rec.LastCommit, rec.Pin, rec.InFlight, rec.Hooks
	} else {
		st.LastCommit = lastHandled(st.History)
	}
	return st
}

// lastHandled is the revision of the newest entry that handled its commit (see handled).
func lastHandled(history []Result) string {
	for _, h := range history {
		// A recorded rollout failure is known by its message, the only trace an entry keeps of
		// its error.
		if h.Revision != "" && (h.ExitCode != exitcode.Failure || strings.HasPrefix(h.Message, ErrRollout.Error())) {
			return h.Revision
		}
	}
	return ""
}

// writeState changes the app's history ConfigMap with change and returns its new version.
// Fenced (version is the one read, "" for a ConfigMap that did not exist), the write carries
// version as its precondition and a conflict is ErrFenced: nothing is overwritten. Unfenced
// (version is nil, the CLI), it reads again and retries on conflicts.
func (r *Reconciler) writeState(ctx context.Context, app string, version *string, change func(*State) error) (string, error) {
	if err := r.ensureNamespace(ctx); err != nil {
		return "", err
	}
	name := historyName(app)
	if version == nil {
		var out string
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			var err error
			out, err = r.putState(ctx, app, name, nil, change)
			return err
		})
		return out, err
	}
	out, err := r.putState(ctx, app, name, version, change)
	if apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) || errors.Is(err, errStale) {
		return "", fencedError("the history of app "+app, err)
	}
	if lost := lostLeadDuring(ctx, "the history of app "+app, err); lost != nil {
		return "", lost
	}
	return out, err
}

// errStale: the ConfigMap read before a fenced write is not the version the sync read.
var errStale = errors.New("changed since it was read")

func (r *Reconciler) putState(ctx context.Context, app, name string, version *string, change func(*State) error) (string, error) {
	cms := r.cs.CoreV1().ConfigMaps(r.opts.Namespace)
	cm, err := cms.Get(ctx, name, metav1.GetOptions{})
	create := apierrors.IsNotFound(err)
	switch {
	case create:
		cm = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: r.opts.Namespace,
			Labels: map[string]string{"app.kubernetes.io/managed-by": "tagrelay", "tagrelay.dev/history-of": app}}}
	case err != nil:
		return "", apiError("reading ConfigMap "+r.opts.Namespace+"/"+name, err)
	}
	if version != nil && *version != cm.ResourceVersion {
		return "", errStale
	}
	st := decodeState(cm)
	if err := change(st); err != nil {
		return "", err
	}
	if err := encodeState(cm, st); err != nil {
		return "", err
	}
	if create {
		cm, err = cms.Create(ctx, cm, metav1.CreateOptions{FieldManager: FieldManager})
	} else {
		cm, err = cms.Update(ctx, cm, metav1.UpdateOptions{FieldManager: FieldManager})
	}
	if err != nil {
		if apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) {
			return "", err // RetryOnConflict and the fence look at the API error itself
		}
		return "", apiError("writing ConfigMap "+r.opts.Namespace+"/"+name, err)
	}
	return cm.ResourceVersion, nil
}

// encodeState writes st into cm, dropping the oldest entries while the history exceeds
// maxHistoryBytes.
func encodeState(cm *corev1.ConfigMap, st *State) error {
	for len(st.History) > 1 {
		if b, err := json.Marshal(st.History); err != nil || len(b) <= maxHistoryBytes {
			break
		}
		st.History = st.History[:len(st.History)-1]
	}
	hist, err := json.Marshal(st.History)
	if err != nil {
		return err
	}
	rec, err := json.Marshal(record{LastCommit: st.LastCommit, Pin: st.Pin, InFlight: st.InFlight, Hooks: st.Hooks})
	if err != nil {
		return err
	}
	if cm.Data == nil {
		cm.Data = map[string]string{}
	}
	cm.Data[historyKey], cm.Data[stateKey] = string(hist), string(rec)
	if cm.Annotations == nil {
		cm.Annotations = map[string]string{}
	}
	cm.Annotations[summaryAnnotation] = encodeSummary(st)
	return nil
}

// fencedError says which write was refused and why the sync stops.
func fencedError(what string, err error) error {
	return errdefs.WithHint(errdefs.Conflict(fmt.Errorf("%w: %s changed since this sync read it (%v); another replica leads now, or another sync of the app ran: nothing was overwritten",
		ErrFenced, what, err)), "nothing to do: the replica that leads now finishes the app's sync; retry the trigger to see its result")
}

// lostLeadDuring is the error of a conditional write of what that ended because this replica
// lost the lead while it was in flight (its answer never read): ErrFenced, since the write was
// conditioned on the version this sync read and so cannot have overwritten the new leader's.
// It returns nil when ctx did not end for that reason.
func lostLeadDuring(ctx context.Context, what string, err error) error {
	if err == nil || ctx.Err() == nil || !errors.Is(context.Cause(ctx), errLostLead) {
		return nil
	}
	return errdefs.WithHint(errdefs.Conflict(fmt.Errorf("%w: this replica lost the leader lease while writing %s (%v); the write was conditional on the version this sync read, so nothing was overwritten",
		ErrFenced, what, err)), "nothing to do: the replica that leads now finishes the app's sync; retry the trigger to see its result")
}

// States reads the state of every app, Jobs reads at a time. It returns what it could read and
// the errors of the rest.
func (r *Reconciler) States(ctx context.Context, apps []string) (map[string]*State, error) {
	out := make(map[string]*State, len(apps))
	var mu sync.Mutex
	var errs []error
	g := new(errgroup.Group)
	g.SetLimit(r.opts.Jobs)
	for _, a := range apps {
		g.Go(func() error {
			st, err := r.State(ctx, a)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
			} else {
				out[a] = st
			}
			return nil
		})
	}
	_ = g.Wait()
	return out, errors.Join(errs...)
}
