package reconcile

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tagrelay/tagrelay/internal/errdefs"
	"github.com/tagrelay/tagrelay/internal/exitcode"
	"github.com/tagrelay/tagrelay/reconcile/api"
	"github.com/tagrelay/tagrelay/reconcile/render"
)

// Result is what one sync did. It is the wire type of the HTTP API and of the history.
type Result = api.SyncResult

// The triggers of a sync, recorded in its result.
const (
	TriggerCLI  = "cli"
	TriggerAPI  = "api"
	TriggerPoll = "poll"
	// TriggerRollback: a rollback (CLI or API); the result has Rollback set.
	TriggerRollback = "rollback"
)

// SyncOptions are the knobs of one sync. The zero value is a poll: no no-op guard, wait for
// health with the app's timeout.
type SyncOptions struct {
	// Trigger is recorded in the history: cli, api or poll.
	Trigger string
	// Guard refuses a sync that changes no container image (ErrNoImageChange). Triggered
	// syncs set it; polls do not (they repair drift).
	Guard bool
	// ExpectImage (NAME:TAG) must be deployed by the render, and be new (ErrExpectedImage).
	ExpectImage string
	// AllowNoop lets a sync that changes no image through.
	AllowNoop bool
	// Restart rolls the app's Deployments, StatefulSets and DaemonSets after applying.
	Restart bool
	// Adopt takes over existing objects that are unlabelled or another app's.
	Adopt bool
	// ForcePrune lets a sync prune more than the app's limits.maxPrune share of its inventory.
	ForcePrune bool
	// DryRun stops after the diff: Result.Objects carry diffs, nothing is written.
	DryRun bool
	// NoWait returns after apply and prune, without waiting for health.
	NoWait bool
	// Timeout bounds the wait for health. Default: the app's timeout.
	Timeout time.Duration
	// Revision overrides the app's revision (a commit, for a rollback).
	Revision string
	// OnApplied, when set, is called with the result after apply and prune, before the wait.
	OnApplied func(Result)

	// Caller is recorded in the history: who asked for the sync.
	Caller *api.Caller
	// Rollback pins the app at Revision once the sync applies, over the commit PinOver (see
	// api.Pin); Reconciler.Rollback sets both.
	Rollback bool
	PinOver  string
	// State, when set, fences the sync (a server's): it marks itself in flight in the app's
	// state before applying and records its result there, each write on the condition that the
	// state is still the version read (State), so a replica that lost the lead cannot
	// overwrite the new leader's (ErrFenced). Unset (the CLI), the history is read again and
	// retried on conflicts.
	State *State
	// ID names the sync in the history. Default: random. ResumedFrom is the replica whose
	// in-flight sync this one runs again.
	ID, ResumedFrom string
	// resumed is that sync's in-flight mark (the server's resume): its restarts are repeated.
	resumed *InFlight
}

// Sync deploys the app once: fetch, render, guard, plan, no-op guard, apply, prune, wait, and
// records the outcome in the app's history (except for dry runs). The error carries an errdefs
// class; the Result is filled as far as the sync got, with its exit code.
//
// A sync stops before its next write (in-flight mark, inventory, apply, prune) once ctx ends: a
// server derives ctx from its leadership, so a replica that loses the lead stops there. A
// cancelled sync records nothing; a server's next leader runs it again (State.InFlight).
func (r *Reconciler) Sync(ctx context.Context, app App, opts SyncOptions) (*Result, error) {
	if opts.Revision != "" {
		app.Revision = opts.Revision
	}
	app.Limits = app.Limits.Or(r.opts.Limits)
	if opts.ID == "" {
		opts.ID = newSyncID()
	}
	trigger := opts.Trigger
	if opts.Rollback {
		trigger = TriggerRollback
	}
	res := &Result{App: app.Name, Ref: app.Revision, Trigger: trigger, Started: time.Now().UTC(), ID: opts.ID,
		Replica: r.opts.Identity, Caller: opts.Caller, Rollback: opts.Rollback, ResumedFrom: opts.ResumedFrom}
	run := &syncRun{res: res}
	if opts.State != nil {
		v := opts.State.version
		run.version = &v
	}
	err := r.sync(ctx, app, opts, run)
	if trigger != TriggerPreview {
		// a sync that failed before its plan: by the app's path. Not for a preview (the
		// console's Diff, every drift check): it deploys nothing, and reading the history and
		// walking the commits was a third of a drift check's CPU
		r.readProvenance(ctx, app, res)
	}
	finish(res, err, opts.DryRun)
	if !opts.DryRun && ctx.Err() == nil {
		o := outcome{applied: run.applied, pinOver: opts.PinOver, hooks: run.hooks.ranSpecs(),
			handled: res.Revision != "" && (res.ExitCode != exitcode.Failure || errors.Is(err, ErrRollout))}
		if rerr := r.record(context.WithoutCancel(ctx), res, o, run.version); rerr != nil {
			res.Message = joinMessage(res.Message, "not recorded in the history: "+rerr.Error())
			r.log.Warn("recording the sync in the history failed", "app", app.Name, "error", rerr)
		}
	}
	r.notifyFinished(ctx, app, opts, res, err)
	return res, err
}

// syncRun is one sync on its way through the phases.
type syncRun struct {
	res *Result
	// version is the fence of a server's sync: the version of the app's state it holds; nil
	// for the CLI.
	version *string
	// applied is set once the sync passed its guards and wrote its inventory: it applies.
	applied bool
	// config is what the config-aware guard planned (configref.go).
	config *configPlan
	// candidates are the rendered hooks, hooks what the sync does with them (hooks.go), waves
	// the app's objects and Sync hooks by sync wave (waves.go).
	candidates []hookCandidate
	hooks      *hookPlan
	waves      []wave
}

func (r *Reconciler) sync(ctx context.Context, app App, opts SyncOptions, run *syncRun) error {
	res := run.res
	rs, err := r.prepare(ctx, app, run)
	if err != nil {
		return err
	}
	inv, err := r.plan(ctx, app, rs, opts, res)
	if err != nil {
		return err
	}
	if run.hooks, err = r.planHooks(ctx, withServiceAccounts(app, resourceServiceAccounts(rs)), run.candidates, res.Revision, opts.Adopt); err != nil {
		return err
	}
	warn(res, run.hooks.summary())
	res.Objects = append(res.Objects, run.hooks.skippedChanges()...)
	if run.waves, err = planWaves(rs, run.hooks); err != nil {
		return err
	}
	pruning, err := r.planPrune(ctx, app, inv.refs, rs, opts.ForcePrune)
	if err != nil {
		return err
	}
	run.config = planConfig(rs, !app.restartsOnConfigChange())
	if opts.resumed != nil {
		run.config.resume(rs, opts.resumed.Restarts)
	}
	if opts.Restart {
		run.config.restarts = nil // every workload restarts
	}
	if opts.DryRun {
		res.Objects = append(res.Objects, pruning.preview()...)
		warn(res, pruning.warning())
		warn(res, run.config.summary(true))
		warn(res, run.hooks.planned())
		return nil
	}
	r.readProvenance(ctx, app, res) // before OnApplied: a notifier's pending status needs them
	if opts.Guard {
		if err := r.guardNoop(ctx, app, opts, run); err != nil {
			return err
		}
	}
	if err := r.markInFlight(ctx, app, opts, run); err != nil {
		return err
	}
	r.notifyStarted(app, opts, res)
	err = r.rollout(ctx, app, inv, pruning, opts, run)
	if err != nil && run.applied {
		r.syncFailed(ctx, run, syncTimeout(app, opts))
	}
	return err
}

// rollout deploys (PreSync hooks, the waves, prune), waits for health and runs the PostSync
// hooks.
func (r *Reconciler) rollout(ctx context.Context, app App, inv *inventory, pruning *prunePlan, opts SyncOptions, run *syncRun) error {
	res := run.res
	if err := r.deploy(ctx, app, inv, pruning, opts, run); err != nil {
		return err
	}
	if opts.OnApplied != nil {
		applied := *res
		applied.Status, applied.Duration = api.StatusApplied, api.Duration(time.Since(res.Started))
		opts.OnApplied(applied)
	}
	post := run.hooks.inPhase(phasePostSync, nil)
	if opts.NoWait {
		if len(post) > 0 {
			warn(res, fmt.Sprintf("%d PostSync hook(s) not run: the sync did not wait for health", len(post)))
		}
		return nil
	}
	timeout := syncTimeout(app, opts)
	if err := r.wait(ctx, run.waves[len(run.waves)-1].rs, timeout); err != nil {
		return err
	}
	ran, err := r.runHooks(ctx, post, timeout)
	res.Objects = append(res.Objects, ran...)
	return err
}

// syncTimeout bounds the wait for health and each phase of hooks: --timeout, else the app's.
func syncTimeout(app App, opts SyncOptions) time.Duration {
	switch {
	case opts.Timeout > 0:
		return opts.Timeout
	case app.Timeout > 0:
		return time.Duration(app.Timeout)
	}
	return 5 * time.Minute
}

// syncFailed runs the SyncFail hooks of a sync that failed after it began to apply, unless the
// sync was stopped (the next leader runs it again). What they did joins the result; their own
// failure does not replace the sync's error.
func (r *Reconciler) syncFailed(ctx context.Context, run *syncRun, timeout time.Duration) {
	hooks := run.hooks.inPhase(phaseSyncFail, nil)
	if len(hooks) == 0 || ctx.Err() != nil {
		return
	}
	ran, err := r.runHooks(ctx, hooks, timeout)
	run.res.Objects = append(run.res.Objects, ran...)
	if err != nil {
		r.log.Warn("a SyncFail hook failed", "app", run.res.App, "error", err)
	}
}

// markInFlight is a fenced sync's first write: the app's state says which sync is applying
// what, so that the next leader runs it again if this replica dies before recording it. It is
// refused (ErrFenced) when the state changed since the sync read it: nothing is applied then.
func (r *Reconciler) markInFlight(ctx context.Context, app App, opts SyncOptions, run *syncRun) error {
	if err := stopped(ctx); err != nil {
		return err
	}
	if run.version == nil {
		return nil
	}
	res := run.res
	mark := &InFlight{ID: res.ID, Replica: res.Replica, Started: restartStamp(opts, res), Trigger: opts.Trigger, Caller: res.Caller,
		Revision: res.Revision, Rollback: opts.Rollback, PinOver: opts.PinOver, Restart: opts.Restart, Restarts: run.config.marked()}
	v, err := r.writeState(ctx, app.Name, run.version, func(st *State) error {
		st.InFlight = mark
		return nil
	})
	if err != nil {
		return err
	}
	*run.version = v
	return nil
}

// restartStamp is the restartedAt of the sync's restarts, and the Started of its in-flight
// mark: the start of the sync, or of the sync it runs again.
func restartStamp(opts SyncOptions, res *Result) time.Time {
	if opts.resumed != nil && !opts.resumed.Started.IsZero() {
		return opts.resumed.Started
	}
	return res.Started
}

// stopped is the error of a sync whose context ended (the replica lost the lead, or drained):
// it stops before its next write.
func stopped(ctx context.Context) error {
	if ctx.Err() == nil {
		return nil
	}
	return errdefs.WithHint(errdefs.Unavailable(fmt.Errorf("sync stopped before its next write: %w", context.Cause(ctx))),
		"the replica that leads now runs the sync again")
}

// newSyncID returns a random sync ID.
func newSyncID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func joinMessage(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// warn adds a line to the result's message: what a successful sync did not do (a hook not run,
// an object kept instead of pruned). An error replaces the message.
func warn(res *Result, msg string) {
	if msg != "" {
		res.Message = joinMessage(res.Message, msg)
	}
}

// guardNoop refuses a triggered sync that deploys nothing new, unless a poll of the same
// revision deployed that change just before (see pollDeployed). Without an expected image, a
// change of a pod template, a ConfigMap or a Secret is new (configPlan.real), and so is a hook
// that would run with a spec the last successful sync did not run (hooksGuard).
func (r *Reconciler) guardNoop(ctx context.Context, app App, opts SyncOptions, run *syncRun) error {
	res := run.res
	if opts.ExpectImage == "" && run.config.real() {
		return nil
	}
	err := noopGuard(res.Images, opts.ExpectImage, opts.AllowNoop, opts.Restart)
	err = r.diagnoseNotDeployed(ctx, app, res.Revision, err)
	if err == nil || !errors.Is(err, errdefs.ErrNoop) {
		return err
	}
	st, serr := r.State(ctx, app.Name)
	if serr != nil {
		return err
	}
	if opts.ExpectImage == "" {
		why, note := hooksGuard(run.hooks, st.Hooks, opts.NoWait)
		if why != "" {
			warn(res, why)
			return nil
		}
		if note != "" {
			err = fmt.Errorf("%w; %s", err, note)
		}
	}
	if !pollDeployed(st.History, res.Revision, opts.ExpectImage) {
		return err
	}
	warn(res, fmt.Sprintf("already deployed by the %s sync of this revision; waited for its health", st.History[0].Started.Format(time.RFC3339)))
	return nil
}

// prepare fetches and renders the app, takes its hooks apart (run.candidates) and runs the
// tenancy guard.
func (r *Reconciler) prepare(ctx context.Context, app App, run *syncRun) ([]*resource, error) {
	res := run.res
	if err := app.reservedNamespace(r.opts.Namespace); err != nil {
		return nil, errdefs.WithHint(errdefs.Precondition(err), "give the app a namespace of its own; nothing was fetched or applied")
	}
	rev, err := r.git.Resolve(ctx, app)
	if err != nil {
		return nil, err
	}
	res.Revision = rev.Commit.String()
	src, err := r.git.Fetch(ctx, app, rev)
	if err != nil {
		return nil, err
	}
	var caps *render.Capabilities
	if app.Type == TypeHelm || app.Type == TypeAuto && render.Detect(src.Files, app.Path) == TypeHelm {
		caps = r.capabilities()
	}
	out, err := renderApp(ctx, app, src, render.Options{Capabilities: caps, Git: r.git.Files, Isolation: r.opts.RenderIsolation})
	if err != nil {
		return nil, err
	}
	rs, candidates, notApplied := splitHooks(out, resources(out))
	run.candidates = candidates
	warn(res, strings.Join(notApplied, "; "))
	if err := r.resolve(rs); err != nil {
		return nil, err
	}
	// The app's workloads may run as a ServiceAccount its hooks create, and the reverse.
	if err := guardTenancy(withServiceAccounts(app, candidateServiceAccounts(candidates)), rs); err != nil && !(r.tenancyOff && errors.Is(err, ErrTenancy)) {
		return nil, err
	}
	applyOrder(rs)
	return rs, nil
}

// plan reads the live state and the inventory, checks ownership and dry-runs every object.
func (r *Reconciler) plan(ctx context.Context, app App, rs []*resource, opts SyncOptions, res *Result) (*inventory, error) {
	if err := r.checkNamespace(ctx, app, opts.DryRun); err != nil {
		return nil, err
	}
	inv, err := r.readInventory(ctx, app.Name)
	if err != nil {
		return nil, err
	}
	previous := inv.refs
	if err := r.readLive(ctx, rs); err != nil {
		return nil, err
	}
	if err := guardOwnership(app, rs, opts.Adopt); err != nil {
		return nil, err
	}
	bindingsToNewRoles(rs)
	res.Images = imageChanges(rs)
	if err := r.dryRun(ctx, rs, previous); err != nil {
		return nil, err
	}
	res.Objects = objectChanges(rs, opts.DryRun)
	return inv, nil
}

// deploy runs the PreSync hooks, applies the waves, restarts and prunes, keeping the inventory a
// superset of what exists. Each step first checks that the sync may go on (stopped), and each
// inventory write is fenced.
func (r *Reconciler) deploy(ctx context.Context, app App, inv *inventory, pruning *prunePlan, opts SyncOptions, run *syncRun) error {
	res, previous := run.res, inv.refs
	var rs []*resource
	for _, w := range run.waves {
		rs = append(rs, w.rs...)
	}
	current := make([]ref, len(rs))
	for i, x := range rs {
		current[i] = x.ref()
	}
	// Written first: if the sync dies half-way, the next one still knows what to prune.
	if err := r.writeInventory(ctx, app.Name, inv, unionRefs(previous, current)); err != nil {
		return err
	}
	run.applied = true
	timeout := syncTimeout(app, opts)
	ran, err := r.runHooks(ctx, run.hooks.inPhase(phasePreSync, nil), timeout)
	res.Objects = append(res.Objects, ran...)
	if err != nil {
		return err
	}
	ran, err = r.applyWaves(ctx, run.waves, timeout)
	res.Objects = append(res.Objects, ran...)
	if err != nil {
		return err
	}
	if opts.Restart {
		if err := stopped(ctx); err != nil {
			return err
		}
		restarted, err := r.restart(ctx, rs, restartStamp(opts, res))
		res.Objects = append(res.Objects, restarted...)
		if err != nil {
			return err
		}
	}
	if err := stopped(ctx); err != nil {
		return err
	}
	restarted, err := r.restartForConfig(ctx, run.config, restartStamp(opts, res))
	res.Objects = append(res.Objects, restarted...)
	warn(res, run.config.summary(false))
	if err != nil {
		return err
	}
	if err := stopped(ctx); err != nil {
		return err
	}
	pruned, kept, err := r.prune(ctx, pruning)
	res.Objects = append(res.Objects, pruned...)
	warn(res, pruning.warning())
	for i, x := range rs {
		current[i] = x.fingerprint()
	}
	if ierr := r.writeInventory(ctx, app.Name, inv, unionRefs(kept, current)); ierr != nil && err == nil {
		err = ierr
	}
	return err
}

// finish sets the status, exit code and message of a result from the sync's error.
func finish(res *Result, err error, dryRun bool) {
	res.Duration = api.Duration(time.Since(res.Started))
	res.ExitCode = exitcode.Code(err)
	switch {
	case err == nil && dryRun:
		res.Status = api.StatusDryRun
	case err == nil:
		res.Status = api.StatusSucceeded
	case res.ExitCode == exitcode.Noop:
		res.Status = api.StatusNoopRefused
	case res.ExitCode == exitcode.Precondition:
		res.Status = api.StatusRefused
	default:
		res.Status = api.StatusFailed
	}
	if err != nil {
		res.Message, res.Hint = err.Error(), errdefs.Hint(err)
	}
}
