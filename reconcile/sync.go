package reconcile

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tagrelay/tagrelay/internal/errdefs"
	"github.com/tagrelay/tagrelay/internal/exitcode"
	"github.com/tagrelay/tagrelay/reconcile/api"
)

// Result is what one sync did. It is the wire type of the HTTP API and of the history.
type Result = api.SyncResult

// The triggers of a sync, recorded in its result.
const (
	TriggerCLI  = "cli"
	TriggerAPI  = "api"
	TriggerPoll = "poll"
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
}

// Sync deploys the app once: fetch, render, guard, plan, no-op guard, apply, prune, wait, and
// records the outcome in the app's history (except for dry runs). The error carries an errdefs
// class; the Result is filled as far as the sync got, with its exit code.
func (r *Reconciler) Sync(ctx context.Context, app App, opts SyncOptions) (*Result, error) {
	if opts.Revision != "" {
		app.Revision = opts.Revision
	}
	res := &Result{App: app.Name, Ref: app.Revision, Trigger: opts.Trigger, Started: time.Now().UTC()}
	err := r.sync(ctx, app, opts, res)
	r.readProvenance(ctx, app, res) // a sync that failed before its plan: by the app's path
	finish(res, err, opts.DryRun)
	if !opts.DryRun && ctx.Err() == nil {
		if rerr := r.record(context.WithoutCancel(ctx), res); rerr != nil {
			r.log.Warn("recording the sync in the history failed", "app", app.Name, "error", rerr)
		}
	}
	return res, err
}

func (r *Reconciler) sync(ctx context.Context, app App, opts SyncOptions, res *Result) error {
	rs, err := r.prepare(ctx, app, res)
	if err != nil {
		return err
	}
	previous, err := r.plan(ctx, app, rs, opts, res)
	if err != nil || opts.DryRun {
		return err
	}
	r.readProvenance(ctx, app, res) // before OnApplied: a notifier's pending status needs them
	if opts.Guard {
		if err := r.guardNoop(ctx, app, opts, res); err != nil {
			return err
		}
	}
	if err := r.deploy(ctx, app, rs, previous, opts, res); err != nil {
		return err
	}
	if opts.OnApplied != nil {
		applied := *res
		applied.Status, applied.Duration = api.StatusApplied, api.Duration(time.Since(res.Started))
		opts.OnApplied(applied)
	}
	if opts.NoWait {
		return nil
	}
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = time.Duration(app.Timeout)
	}
	return r.wait(ctx, rs, timeout)
}

// guardNoop refuses a triggered sync that deploys nothing new, unless a poll of the same
// revision deployed that change just before (see pollDeployed).
func (r *Reconciler) guardNoop(ctx context.Context, app App, opts SyncOptions, res *Result) error {
	err := noopGuard(res.Images, opts.ExpectImage, opts.AllowNoop, opts.Restart)
	if err == nil || !errors.Is(err, errdefs.ErrNoop) {
		return err
	}
	history, herr := r.History(ctx, app.Name)
	if herr != nil || !pollDeployed(history, res.Revision, opts.ExpectImage) {
		return err
	}
	res.Message = fmt.Sprintf("already deployed by the %s poll of this revision; waited for its health", history[0].Started.Format(time.RFC3339))
	return nil
}

// prepare fetches and renders the app and runs the tenancy guard.
func (r *Reconciler) prepare(ctx context.Context, app App, res *Result) ([]*resource, error) {
	rev, err := r.git.Resolve(ctx, app)
	if err != nil {
		return nil, err
	}
	res.Revision = rev.Commit.String()
	src, err := r.git.Fetch(ctx, app, rev)
	if err != nil {
		return nil, err
	}
	rs, err := render(ctx, app, src, r.capabilities)
	if err != nil {
		return nil, err
	}
	if err := r.resolve(rs); err != nil {
		return nil, err
	}
	if err := guardTenancy(app, rs); err != nil {
		return nil, err
	}
	applyOrder(rs)
	return rs, nil
}

// plan reads the live state and the inventory, checks ownership and dry-runs every object.
func (r *Reconciler) plan(ctx context.Context, app App, rs []*resource, opts SyncOptions, res *Result) ([]ref, error) {
	if err := r.checkNamespace(ctx, app, opts.DryRun); err != nil {
		return nil, err
	}
	previous, err := r.readInventory(ctx, app.Name)
	if err != nil {
		return nil, err
	}
	if err := r.readLive(ctx, rs); err != nil {
		return nil, err
	}
	if err := guardOwnership(app, rs, opts.Adopt); err != nil {
		return nil, err
	}
	res.Images = imageChanges(rs)
	if err := r.dryRun(ctx, rs, previous); err != nil {
		return nil, err
	}
	res.Objects = objectChanges(rs, opts.DryRun)
	if opts.DryRun {
		res.Objects = append(res.Objects, prunePreview(previous, rs)...)
	}
	return previous, nil
}

// deploy applies, restarts and prunes, keeping the inventory a superset of what exists.
func (r *Reconciler) deploy(ctx context.Context, app App, rs []*resource, previous []ref, opts SyncOptions, res *Result) error {
	current := make([]ref, len(rs))
	for i, x := range rs {
		current[i] = x.ref()
	}
	// Written first: if the sync dies half-way, the next one still knows what to prune.
	if err := r.writeInventory(ctx, app.Name, unionRefs(previous, current)); err != nil {
		return err
	}
	if err := r.apply(ctx, rs); err != nil {
		return err
	}
	if opts.Restart {
		restarted, err := r.restart(ctx, rs, time.Now())
		res.Objects = append(res.Objects, restarted...)
		if err != nil {
			return err
		}
	}
	pruned, kept, err := r.prune(ctx, app, previous, rs)
	res.Objects = append(res.Objects, pruned...)
	for i, x := range rs {
		current[i] = x.fingerprint()
	}
	if ierr := r.writeInventory(ctx, app.Name, unionRefs(kept, current)); ierr != nil && err == nil {
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
