package console

import (
	"context"

	"github.com/tagrelay/tagrelay/reconcile/api"
)

// Backend is what the console needs from the reconciler's server. Every method but
// Authenticate takes the principal the request acts as; a backend answers an app the principal
// may not see like an app that does not exist (an error of class errdefs.ErrNotFound), and the
// console checks api.Principal.Allows on every app it gets as well.
type Backend interface {
	Authenticator
	Reader
	Inspector
	Actor
}

// Authenticator maps a token typed into the login form to a principal.
type Authenticator interface {
	// Authenticate returns the principal of a project token or the admin token; any other
	// token is an error.
	Authenticate(ctx context.Context, token string) (api.Principal, error)
}

// Reader reads the apps' states and histories.
type Reader interface {
	// Apps returns one page of the apps p sees that pass the filter, by project then name.
	Apps(ctx context.Context, p api.Principal, f api.AppFilter) (*api.AppPage, error)
	// App returns one app's state.
	App(ctx context.Context, p api.Principal, name string) (*api.AppState, error)
	// History returns the app's recorded syncs, newest first.
	History(ctx context.Context, p api.Principal, name string) ([]api.SyncResult, error)
}

// Inspector reads an app's live objects.
type Inspector interface {
	// Tree returns the app's resource tree with the health of each object.
	Tree(ctx context.Context, p api.Principal, name string) (*api.Tree, error)
	// Preview dry-runs a sync: the live-vs-desired diff of each object (Secrets masked) and
	// the no-op guard's verdict.
	Preview(ctx context.Context, p api.Principal, name string) (*api.Preview, error)
	// Events returns the events of the app's objects, newest first.
	Events(ctx context.Context, p api.Principal, name string) ([]api.Event, error)
	// Logs sends the log lines of a container of one of the app's pods to emit, following
	// them with q.Follow until ctx ends.
	Logs(ctx context.Context, p api.Principal, name string, q api.LogQuery, emit func(api.LogLine) error) error
}

// Actor acts on an app, with the same guards as the API and the CLI; p is recorded as the
// caller.
type Actor interface {
	// Sync runs a triggered sync (no-op guard on); req.Restart restarts the workloads.
	Sync(ctx context.Context, p api.Principal, name string, req api.SyncRequest) (*api.SyncResult, error)
	// Rollback re-deploys the commit of history entry to (1 is the newest) and pins the app
	// to it until a new commit or Unpin.
	Rollback(ctx context.Context, p api.Principal, name string, to int) (*api.SyncResult, error)
	// Unpin ends a rollback's pin: the app follows its ref again.
	Unpin(ctx context.Context, p api.Principal, name string) error
}
