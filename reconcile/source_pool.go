package reconcile

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/storage/memory"
)

// Apps that share a repository share its source: one listing of its refs (git ls-remote) serves
// every app of the repository and credential that asks while it runs, and one bare cache holds
// its objects (fetcher.cachePath). The server polls a repository once per interval for all its
// apps (server_schedule.go) and hands the commit it found to the syncs it starts, so a poll round
// costs one ls-remote per repository, not one per app.

// sourceKey identifies a repository as its apps reach it: the URL (normalised: scheme, case of
// the host, ".git" and a trailing slash do not matter) and the credential. Apps with different
// credentials for one URL share nothing: a listing or a cache filled with one credential is
// never read with another.
type sourceKey struct {
	repo       string
	credential string // a hash of user and password, "" without credentials
}

func sourceKeyOf(app App) sourceKey {
	k := sourceKey{repo: normalizeRepo(app.Repo)}
	if !app.Credentials.Empty() {
		sum := sha256.Sum256([]byte(app.Credentials.Username + "\x00" + app.Credentials.Password))
		k.credential = hex.EncodeToString(sum[:12])
	}
	return k
}

// listTimeout bounds one shared listing by default (DefaultGitTimeout); a caller with a shorter deadline stops waiting for it
// at its own deadline, and the others keep it.
const listTimeout = DefaultGitTimeout

// refLister runs the listings of refs. A caller always gets a listing that started after it
// asked (a push just before a trigger is never missed), but callers that ask while one runs
// share the next one: a burst of N triggers and webhooks for a repository costs at most two
// listings. The zero value is ready to use.
type refLister struct {
	mu      sync.Mutex
	entries map[sourceKey]*listState
	// list is the listing itself; nil is git ls-remote (lsRemote). Tests count through it.
	list func(ctx context.Context, app App) ([]*plumbing.Reference, error)
	// timeout bounds a listing whose app sets no limits.gitTimeout; 0 is listTimeout.
	timeout time.Duration
}

type listState struct {
	running *listCall // in flight
	queued  *listCall // starts when running ends: callers that came after it started
}

type listCall struct {
	app  App
	done chan struct{}
	refs []*plumbing.Reference
	err  error
}

// refs returns the refs of app's repository, from a listing that started after the call.
func (l *refLister) refs(ctx context.Context, app App) ([]*plumbing.Reference, error) {
	key := sourceKeyOf(app)
	l.mu.Lock()
	if l.entries == nil {
		l.entries = map[sourceKey]*listState{}
	}
	st := l.entries[key]
	if st == nil {
		st = &listState{}
		l.entries[key] = st
	}
	var c *listCall
	switch {
	case st.running == nil:
		c = &listCall{app: app, done: make(chan struct{})}
		st.running = c
		go l.run(key, st, c)
	case st.queued == nil:
		c = &listCall{app: app, done: make(chan struct{})}
		st.queued = c
	default:
		c = st.queued
	}
	l.mu.Unlock()
	select {
	case <-c.done:
		return c.refs, c.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (l *refLister) run(key sourceKey, st *listState, c *listCall) {
	for c != nil {
		t := time.Duration(c.app.Limits.GitTimeout)
		if t <= 0 {
			t = l.timeout
		}
		if t <= 0 {
			t = listTimeout
		}
		ctx, cancel := context.WithTimeoutCause(context.Background(), t, fmt.Errorf("%w after %s", errGitTimeout, t))
		list := l.list
		if list == nil {
			list = lsRemote
		}
		c.refs, c.err = list(ctx, c.app)
		if cause := context.Cause(ctx); c.err != nil && errors.Is(cause, errGitTimeout) {
			c.err = cause // go-git reports the cancelled request; say why it was cancelled
		}
		cancel()
		close(c.done)
		l.mu.Lock()
		c, st.running, st.queued = st.queued, st.queued, nil
		if c == nil {
			delete(l.entries, key)
		}
		l.mu.Unlock()
	}
}

// lsRemote lists the refs of app's repository (one small request; no object is transferred).
func lsRemote(ctx context.Context, app App) ([]*plumbing.Reference, error) {
	remote := git.NewRemote(memory.NewStorage(), &config.RemoteConfig{Name: "origin", URLs: []string{app.Repo}})
	return remote.ListContext(ctx, &git.ListOptions{Auth: app.Credentials.GoGit()})
}

// resolvedKey carries, in the context of a sync a poll started, the commit that poll found:
// the sync deploys that commit without listing the refs again.
type resolvedKey struct{}

type resolved struct {
	key      sourceKey
	revision string
	rev      Revision
}

// withResolved returns ctx carrying rev as the resolution of app's revision.
func withResolved(ctx context.Context, app App, rev Revision) context.Context {
	return context.WithValue(ctx, resolvedKey{}, resolved{key: sourceKeyOf(app), revision: app.Revision, rev: rev})
}

// resolvedIn returns the revision ctx carries for app, if any (see withResolved).
func resolvedIn(ctx context.Context, app App) (Revision, bool) {
	r, ok := ctx.Value(resolvedKey{}).(resolved)
	if !ok || r.key != sourceKeyOf(app) || r.revision != app.Revision {
		return Revision{}, false
	}
	return r.rev, true
}
