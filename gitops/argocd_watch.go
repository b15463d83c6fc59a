package gitops

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// argoState is an application and its resource tree as last seen.
type argoState struct {
	app  application
	tree resourceTree
}

// argoWatch keeps the latest state of one application from Argo CD's two watch streams
// (/api/v1/stream/applications and …/resource-tree), reconnecting when they end and re-reading
// the state after each reconnect and every resync interval, in case a stream stalls silently.
type argoWatch struct {
	a    *ArgoCD
	name string
	q    url.Values

	mu      sync.Mutex
	st      argoState
	fatal   error // an answer that ends the wait: token refused, application deleted
	changed chan struct{}

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// watch starts following app. Call stop.
func (a *ArgoCD) watch(ctx context.Context, name, ns string) (*argoWatch, error) {
	w := &argoWatch{a: a, name: name, q: appQuery(ns), changed: make(chan struct{}, 1)}
	if err := w.resync(ctx); err != nil {
		return nil, err
	}
	ctx, w.cancel = context.WithCancel(ctx)
	aq := appQuery(ns)
	aq.Set("name", name)
	w.follow(ctx, "/api/v1/stream/applications", aq, w.applyApp)
	w.follow(ctx, "/api/v1/stream/applications/"+url.PathEscape(name)+"/resource-tree", w.q, w.applyTree)
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		t := time.NewTicker(a.opts.resync)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := w.resync(ctx); err != nil && ctx.Err() == nil {
					a.log.Debug("argocd resync failed", "app", name, "error", err)
				}
			}
		}
	}()
	return w, nil
}

func (w *argoWatch) stop() {
	w.cancel()
	w.wg.Wait()
}

// resync reads the application and its tree.
func (w *argoWatch) resync(ctx context.Context) error {
	var app application
	if err := w.a.get(ctx, appPath(w.name), w.q, &app); err != nil {
		w.fail(err)
		return err
	}
	var tree resourceTree
	if err := w.a.get(ctx, appPath(w.name)+"/resource-tree", w.q, &tree); err != nil {
		w.fail(err)
		return err
	}
	w.mu.Lock()
	w.st = argoState{app: app, tree: tree}
	w.mu.Unlock()
	w.notify()
	return nil
}

func (w *argoWatch) notify() {
	select {
	case w.changed <- struct{}{}:
	default:
	}
}

// fail records an answer that no retry fixes.
func (w *argoWatch) fail(err error) {
	if errors.Is(err, ErrUnauthorized) || errors.Is(err, ErrNotFound) {
		w.mu.Lock()
		w.fatal = err
		w.mu.Unlock()
		w.notify()
	}
}

func (w *argoWatch) applyApp(line []byte) error {
	var ev watchEvent
	if err := json.Unmarshal(line, &ev); err != nil {
		return err
	}
	if ev.Error != nil {
		return &APIError{StatusCode: http.StatusInternalServerError, Code: ev.Error.Code, Message: ev.Error.Message, Request: "watch"}
	}
	if ev.Result == nil || ev.Result.Application.Metadata.Name != w.name {
		return nil
	}
	w.mu.Lock()
	if ev.Result.Type == "DELETED" {
		w.fatal = fmt.Errorf("%w: argocd app %s was deleted while waiting", ErrNotFound, w.name)
	} else {
		w.st.app = ev.Result.Application
	}
	w.mu.Unlock()
	w.notify()
	return nil
}

func (w *argoWatch) applyTree(line []byte) error {
	var ev treeEvent
	if err := json.Unmarshal(line, &ev); err != nil {
		return err
	}
	if ev.Error != nil {
		return &APIError{StatusCode: http.StatusInternalServerError, Code: ev.Error.Code, Message: ev.Error.Message, Request: "watch tree"}
	}
	if ev.Result == nil {
		return nil
	}
	w.mu.Lock()
	w.st.tree = *ev.Result
	w.mu.Unlock()
	w.notify()
	return nil
}

// follow reads a stream in the background until ctx ends, reconnecting with backoff and
// re-reading the state after every reconnect (a stream resends nothing it missed).
func (w *argoWatch) follow(ctx context.Context, path string, q url.Values, apply func([]byte) error) {
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		delay := w.a.opts.backoff
		for {
			err := w.read(ctx, path, q, apply)
			if ctx.Err() != nil {
				return
			}
			w.fail(err)
			w.a.log.Debug("argocd watch stream ended, reconnecting", "stream", path, "error", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(delay):
			}
			delay = min(2*delay, 5*time.Second)
			if w.resync(ctx) == nil {
				delay = w.a.opts.backoff
			}
		}
	}()
}

// read follows one stream connection: newline-delimited JSON objects, each bounded by maxBody.
func (w *argoWatch) read(ctx context.Context, path string, q url.Values, apply func([]byte) error) error {
	resp, err := w.a.do(ctx, http.MethodGet, path, q, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), maxBody)
	for sc.Scan() {
		if len(sc.Bytes()) == 0 {
			continue
		}
		if err := apply(sc.Bytes()); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return errors.New("stream closed by the server")
}

// until waits for cond to hold on the latest state, re-checking it on every change. It logs
// each new description of what it waits for; on ctx's end it returns an error naming what and
// the last state.
func (w *argoWatch) until(ctx context.Context, what string, cond func(argoState) (done bool, waiting string, err error)) (argoState, error) {
	last := ""
	for {
		w.mu.Lock()
		st, fatal := w.st, w.fatal
		w.mu.Unlock()
		if fatal != nil {
			return st, fatal
		}
		done, waiting, err := cond(st)
		if err != nil || done {
			return st, err
		}
		if waiting != last {
			w.a.log.Info("waiting", "app", w.name, "for", what, "state", waiting)
			last = waiting
		}
		select {
		case <-w.changed:
		case <-time.After(time.Second): // re-judge the same state: some verdicts wait for it to settle
		case <-ctx.Done():
			return st, waitError(ctx, "argocd app "+w.name, what, waiting)
		}
	}
}
