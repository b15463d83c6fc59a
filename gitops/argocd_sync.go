package gitops

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tagrelay/tagrelay/internal/errdefs"
)

// SyncOptions is what a trigger of an Argo CD application asks for.
type SyncOptions struct {
	// AppNamespace is the application's namespace when Argo CD manages applications in several
	// namespaces; "" for its own.
	AppNamespace string
	// Revision syncs to this revision (commit, branch, tag) instead of the target revision.
	Revision string
	// Expect are the images that must run when done. When they already ran before the sync and
	// nothing rolled, Sync returns ErrNothingRolled. Without them, the sync must change some
	// container image.
	Expect []Image
	// Restart runs Argo CD's "restart" action on the workloads (those of the expected images,
	// or all) after the sync, so a deploy that changes no image still rolls its pods.
	Restart bool
	// Prune deletes the resources no longer in git, like `argocd app sync --prune`.
	Prune bool
	// ApplyOnly returns once the sync operation succeeded, without waiting for the rollout (nor
	// judging it). The no-op check before the sync still applies.
	ApplyOnly bool
}

// infoName marks the sync operations a trigger starts, so it waits for its own.
const infoName = "tagrelay-trigger"

// Sync refreshes the application (Argo CD re-reads git), syncs it, waits for the sync operation
// to finish, for the application to be Synced at the synced revision and Healthy, and for the
// expected images to run on ready pods of rolled-out workloads. An operation already running is
// waited for first. It returns ErrNothingRolled when the expected images already ran and
// nothing rolled (without syncing, when the application was already Synced at the revision), a
// *RolloutError when the sync or the rollout failed, ErrImageNotDeployed when the revision does
// not deploy the expected images, and ErrUnauthorized when the token is refused.
func (a *ArgoCD) Sync(ctx context.Context, name string, o SyncOptions) (*Result, error) {
	if name == "" {
		return nil, errdefs.Invalid(errors.New("no Argo CD application given"))
	}
	start := time.Now()
	target := "argocd app " + name
	rq := appQuery(o.AppNamespace)
	rq.Set("refresh", "normal")
	if err := a.get(ctx, appPath(name), rq, nil); err != nil {
		if ctx.Err() != nil {
			return nil, waitError(ctx, target, "Argo CD to refresh the application from git", "")
		}
		return nil, explain(target, err)
	}
	w, err := a.watch(ctx, name, o.AppNamespace)
	if err != nil {
		return nil, explain(target, err)
	}
	defer w.stop()
	st, err := a.waitIdle(ctx, w, target)
	if err != nil {
		return nil, err
	}
	before := st.snapshot()
	prev := st.app.Status.Sync.Revision
	if ran, _ := before.runningSince(o.Expect); ran && !o.Restart && st.app.Status.Sync.Status == "Synced" && sameRevision(o.Revision, prev) {
		return nil, nothingRolled(target+" (Synced, not synced again)", prev, before, before, o.Expect)
	}
	id, err := a.requestSync(ctx, w, name, target, o)
	if err != nil {
		return nil, err
	}
	if st, err = w.until(ctx, "the sync operation to finish", ourOperationDone(id)); err != nil {
		return nil, explain(target, err)
	}
	op := st.app.Status.OperationState
	rev := op.SyncResult.Revision
	if op.Phase != "Succeeded" {
		return nil, syncFailure(target, rev, st)
	}
	if o.ApplyOnly && !o.Restart {
		return &Result{Target: target, Revision: rev, PreviousRevision: prev, ImagesBefore: before.images(),
			Images: st.snapshot().images(), Applied: true, Duration: time.Since(start)}, nil
	}
	restarted := snapshot{}
	if o.Restart {
		if restarted, err = a.restart(ctx, name, target, o, st.snapshot()); err != nil {
			return nil, err
		}
	}
	if st, err = w.until(ctx, "the rollout of "+shortRev(rev), rolloutDone(target, rev, before, restarted, o)); err != nil {
		return nil, explain(target, err)
	}
	after := st.snapshot()
	if !o.Restart {
		if err := nothingRolled(target, rev, before, after, o.Expect); err != nil {
			return nil, err
		}
	}
	return &Result{Target: target, Revision: rev, PreviousRevision: prev, ImagesBefore: before.images(),
		Images: after.images(), Restarted: o.Restart, Duration: time.Since(start)}, nil
}

// waitIdle waits until no operation runs on the application.
func (a *ArgoCD) waitIdle(ctx context.Context, w *argoWatch, target string) (argoState, error) {
	st, err := w.until(ctx, "the running sync operation to finish", func(s argoState) (bool, string, error) {
		if running, desc := s.app.operationRunning(); running {
			return false, desc, nil
		}
		return true, "", nil
	})
	if err != nil && errors.Is(err, context.DeadlineExceeded) {
		_, desc := st.app.operationRunning()
		return st, errdefs.WithHint(fmt.Errorf("%s: %w and did not finish in time: %s", target, ErrOperationRunning, desc),
			"wait for it, terminate it (argocd app terminate-op), or allow more time")
	}
	if err != nil {
		return st, explain(target, err)
	}
	return st, nil
}

// operationRunning reports whether an operation is requested or running, and describes it.
func (app *application) operationRunning() (bool, string) {
	op := app.Status.OperationState
	switch {
	case op.running():
		by := op.Operation.InitiatedBy.Username
		if op.Operation.InitiatedBy.Automated {
			by = "automated sync"
		}
		return true, fmt.Sprintf("operation %s since %s (by %s): %s", op.Phase, op.StartedAt.UTC().Format(time.RFC3339), orUnknown(by), orUnknown(op.Message))
	case app.Operation != nil:
		return true, "operation requested, not started yet"
	}
	return false, ""
}

// requestSync asks for a sync marked with a new id. When another operation runs, it waits for
// it to finish and asks again.
func (a *ArgoCD) requestSync(ctx context.Context, w *argoWatch, name, target string, o SyncOptions) (string, error) {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	id := hex.EncodeToString(b)
	req := syncRequest{Name: name, AppNamespace: o.AppNamespace, Revision: o.Revision, Prune: o.Prune,
		Infos: []info{{Name: infoName, Value: id}}}
	delay := a.opts.backoff
	for {
		err := a.post(ctx, appPath(name)+"/sync", nil, req, nil)
		if !operationInProgress(err) {
			return id, explain(target, err)
		}
		a.log.Info("another sync operation is running; waiting for it to finish", "app", name)
		// The watch may not show the operation yet: let it catch up before asking again.
		select {
		case <-ctx.Done():
		case <-time.After(delay):
		}
		delay = min(2*delay, 5*time.Second)
		if _, err := a.waitIdle(ctx, w, target); err != nil {
			return "", err
		}
	}
}

// operationInProgress recognises Argo CD's answer to a sync while an operation runs. Argo CD
// gives no code of its own (util/argo.ErrAnotherOperationInProgress is a FailedPrecondition
// status with this text), so the message is matched, here only.
func operationInProgress(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && strings.Contains(ae.Message, "another operation is already in progress")
}

func ourOperationDone(id string) func(argoState) (bool, string, error) {
	return func(s argoState) (bool, string, error) {
		op := s.app.Status.OperationState
		ours := false
		if op != nil {
			for _, i := range op.Operation.Info {
				ours = ours || (i.Name == infoName && i.Value == id)
			}
		}
		switch {
		case !ours:
			return false, "sync requested, not started yet", nil
		case op.running() || s.app.Operation != nil:
			return false, fmt.Sprintf("operation %s: %s", op.Phase, orUnknown(op.Message)), nil
		case op.SyncResult == nil:
			return true, "", fmt.Errorf("operation %s without a sync result: %s", op.Phase, op.Message)
		}
		return true, "", nil
	}
}

// rolloutDone is the end of a sync: Synced at rev, Healthy, the expected images running on
// rolled-out workloads, restarted pods all new. A failing pod or workload, or a Degraded
// application, ends it with a *RolloutError.
func rolloutDone(target, rev string, before, restarted snapshot, o SyncOptions) func(argoState) (bool, string, error) {
	judge := settled()
	return func(s argoState) (bool, string, error) {
		after := s.snapshot()
		if p := failures(before, after, o.Expect); len(p) > 0 {
			return false, "", &RolloutError{Target: target, Revision: rev, Problems: p}
		}
		app := &s.app
		if app.Status.Health.Status == "Degraded" {
			return false, "", &RolloutError{Target: target, Revision: rev, Reason: "application Degraded", Problems: s.unhealthy()}
		}
		if sync := app.Status.Sync; sync.Status != "Synced" || sync.Revision != rev {
			return false, fmt.Sprintf("sync status %s at %s", orUnknown(sync.Status), shortRev(sync.Revision)), nil
		}
		if waiting, err := judge(notDeployed(target, rev, after, o.Expect)); err != nil || waiting != "" {
			return false, waiting, err
		}
		if p := pending(after, o.Expect); p != "" {
			return false, p, nil
		}
		if p := notRestarted(restarted, after); p != "" {
			return false, p, nil
		}
		if h := app.Status.Health; h.Status != "Healthy" {
			return false, fmt.Sprintf("health %s: %s", h.Status, orUnknown(h.Message)), nil
		}
		for _, img := range o.Expect {
			if !anyMatch(img, app.Status.Summary.Images) {
				return false, img.String() + " not yet in the application's images", nil
			}
		}
		return true, "", nil
	}
}

// notRestarted names a pod that ran, when the restart was asked, in a restarted workload.
func notRestarted(restarted, after snapshot) string {
	old := restarted.uids()
	keys := map[string]bool{}
	for _, w := range restarted.Workloads {
		keys[w.key()] = true
	}
	for _, p := range after.Pods {
		if keys[p.Workload] && old[p.UID] {
			return fmt.Sprintf("pod %s/%s not restarted yet", p.Namespace, p.Name)
		}
	}
	return ""
}

func anyMatch(img Image, images []string) bool {
	for _, i := range images {
		if img.matches(i) {
			return true
		}
	}
	return false
}

// restart runs the "restart" action on the workloads of the expected images (all, without) and
// returns them with their pods at that moment.
func (a *ArgoCD) restart(ctx context.Context, name, target string, o SyncOptions, s snapshot) (snapshot, error) {
	var out snapshot
	for _, w := range s.Workloads {
		if len(o.Expect) > 0 && !s.workloadRuns(w.key(), o.Expect) {
			continue
		}
		q := appQuery(o.AppNamespace)
		for k, v := range map[string]string{"namespace": w.Namespace, "resourceName": w.Name, "group": "apps", "version": "v1", "kind": w.Kind} {
			q.Set(k, v)
		}
		if err := a.post(ctx, appPath(name)+"/resource/actions", q, "restart", nil); err != nil {
			return out, explain(target, fmt.Errorf("restarting %s: %w", w.key(), err))
		}
		a.log.Info("restarted", "app", name, "object", w.key())
		out.Workloads = append(out.Workloads, w)
	}
	if len(out.Workloads) == 0 {
		return out, errdefs.WithHint(fmt.Errorf("%s: %w: no workload to restart", target, ErrImageNotDeployed), "check the expected images")
	}
	out.Pods = s.Pods
	return out, nil
}

// syncFailure describes a failed sync operation: its message, and the resources that failed to
// sync or whose hooks failed.
func syncFailure(target, rev string, s argoState) error {
	op := s.app.Status.OperationState
	e := &RolloutError{Target: target, Revision: rev, Reason: fmt.Sprintf("sync %s: %s", op.Phase, orUnknown(op.Message))}
	for _, r := range op.SyncResult.Resources {
		if r.Status == "SyncFailed" || r.HookPhase == "Failed" || r.HookPhase == "Error" {
			e.Problems = append(e.Problems, Problem{Object: r.Kind + " " + r.Namespace + "/" + r.Name, Status: r.Status, Message: r.Message})
		}
	}
	return e
}

// unhealthy lists the application's resources and pods that Argo CD finds Degraded or Missing.
func (s argoState) unhealthy() []Problem {
	var out []Problem
	for _, r := range s.app.Status.Resources {
		if r.Health != nil && (r.Health.Status == "Degraded" || r.Health.Status == "Missing") {
			out = append(out, Problem{Object: r.Kind + " " + r.Namespace + "/" + r.Name, Status: r.Health.Status, Message: r.Health.Message})
		}
	}
	for _, n := range s.tree.Nodes {
		if n.Kind == "Pod" && n.Health != nil && n.Health.Status == "Degraded" {
			out = append(out, Problem{Object: "Pod " + n.Namespace + "/" + n.Name, Status: n.Health.Status, Message: n.Health.Message})
		}
	}
	return out
}

// sameRevision: the requested revision (empty: the target revision) is the one deployed. Only a
// commit can be compared; a branch or tag asks for a sync.
func sameRevision(requested, deployed string) bool {
	return requested == "" || (len(requested) >= 7 && strings.HasPrefix(deployed, requested))
}

func isForbidden(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.StatusCode == http.StatusForbidden
}

// explain adds the application to an error and the next step for a refused token.
func explain(target string, err error) error {
	switch {
	case err == nil:
		return nil
	case isForbidden(err):
		// Argo CD answers 403 "permission denied" both for an application that does not exist and
		// for one the token may not read or sync, so that a token cannot probe names.
		return errdefs.WithHint(fmt.Errorf("%s: %w (Argo CD denies access to applications that do not exist and to those the token may not use): %w", target, ErrNotFound, err),
			"check the application name (and its namespace), and that the token's role may get and sync it")
	case errors.Is(err, ErrUnauthorized):
		return errdefs.WithHint(fmt.Errorf("%s: Argo CD refused the token: %w", target, err),
			"the token may be expired or revoked, or its role may not get and sync this application: create a new one (argocd account generate-token, or a project role token)")
	case errors.Is(err, ErrNotFound):
		return errdefs.WithHint(fmt.Errorf("%s: %w", target, err), "check the application name (and its namespace)")
	case errors.Is(err, ErrNothingRolled), errors.Is(err, ErrImageNotDeployed), errors.Is(err, ErrRolloutFailed),
		errors.Is(err, ErrOperationRunning), errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return err
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return errdefs.WithHint(fmt.Errorf("%s: %w", target, err), "check the server URL and that Argo CD is reachable from the job")
	}
	return fmt.Errorf("%s: %w", target, err)
}
