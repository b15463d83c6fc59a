package reconcile

import (
	"context"
	"sync"
)

// The sync pool bounds the syncs that hold memory at once — their source files, rendered
// objects and diffs — over all apps and shards of the process: a sync takes a slot before it
// reads its state and gives it back once applied (or done). Its health wait holds none: it costs
// an informer lookup per event. Waiting syncs are served in order, triggers and webhooks
// (priority) before polls, so a deploy someone waits for does not queue behind a poll round
// of a thousand apps.

// syncPool is a counting semaphore with two FIFO queues.
type syncPool struct {
	mu      sync.Mutex
	size    int
	used    int
	prio    []chan struct{}
	normal  []chan struct{}
	metrics *metrics
}

func newSyncPool(size int, m *metrics) *syncPool {
	m.poolSize.Set(float64(size))
	return &syncPool{size: size, metrics: m}
}

// slot is a sync's place in the pool. It may be given back early (once applied) and taken
// again (a resumed sync, then the job's own).
type slot struct {
	p    *syncPool
	mu   sync.Mutex
	held bool
}

// acquire waits for a slot while ctx lasts.
func (p *syncPool) acquire(ctx context.Context, prio bool) (*slot, error) {
	sl := &slot{p: p}
	return sl, sl.hold(ctx, prio)
}

// hold takes a slot for sl unless it holds one.
func (sl *slot) hold(ctx context.Context, prio bool) error {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	if sl.held {
		return nil
	}
	if err := sl.p.take(ctx, prio); err != nil {
		return err
	}
	sl.held = true
	return nil
}

// release gives the slot back, if held. It is safe to call more than once.
func (sl *slot) release() {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	if sl.held {
		sl.held = false
		sl.p.give()
	}
}

// onApplied returns a SyncOptions.OnApplied that gives the slot back, then calls next.
func (sl *slot) onApplied(next func(Result)) func(Result) {
	return func(res Result) {
		sl.release()
		if next != nil {
			next(res)
		}
	}
}

func (p *syncPool) take(ctx context.Context, prio bool) error {
	p.mu.Lock()
	if p.used < p.size && len(p.prio) == 0 && (prio || len(p.normal) == 0) {
		p.used++
		p.metrics.poolUsed.Set(float64(p.used))
		p.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	if prio {
		p.prio = append(p.prio, ch)
	} else {
		p.normal = append(p.normal, ch)
	}
	p.metrics.poolQueued.Set(float64(len(p.prio) + len(p.normal)))
	p.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		p.mu.Lock()
		defer p.mu.Unlock()
		if removeWaiter(&p.prio, ch) || removeWaiter(&p.normal, ch) {
			p.metrics.poolQueued.Set(float64(len(p.prio) + len(p.normal)))
			return ctx.Err()
		}
		// Handed a slot as ctx ended: give it on.
		p.used--
		p.handOff()
		return ctx.Err()
	}
}

func (p *syncPool) give() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.used--
	p.handOff()
}

// handOff gives free slots to the waiters, priority first. p.mu is held.
func (p *syncPool) handOff() {
	for p.used < p.size {
		var ch chan struct{}
		switch {
		case len(p.prio) > 0:
			ch, p.prio = p.prio[0], p.prio[1:]
		case len(p.normal) > 0:
			ch, p.normal = p.normal[0], p.normal[1:]
		default:
			p.metrics.poolUsed.Set(float64(p.used))
			p.metrics.poolQueued.Set(0)
			return
		}
		p.used++
		close(ch)
	}
	p.metrics.poolUsed.Set(float64(p.used))
	p.metrics.poolQueued.Set(float64(len(p.prio) + len(p.normal)))
}

func removeWaiter(q *[]chan struct{}, ch chan struct{}) bool {
	for i, c := range *q {
		if c == ch {
			*q = append((*q)[:i], (*q)[i+1:]...)
			return true
		}
	}
	return false
}
