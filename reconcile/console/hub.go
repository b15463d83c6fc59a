package console

import (
	"cmp"
	"slices"
	"sync"

	"github.com/tagrelay/tagrelay/reconcile/api"
)

// hub fans app states out to the open pages' streams. The server publishes; each stream gets
// the states of the apps its principal may see (and, on an app's page, of that app only).
// Publishing never blocks: a stream that falls behind is told to reload its page.
//
// Every published state gets the next sequence number, and the hub keeps each app's last one.
// A page is rendered with the sequence number of its start (cursor) and its stream asks for
// what was published since (the SSE event ID, sent back by the browser as Last-Event-ID when
// it reconnects): a sync that ends between the page's render and its stream's connection —
// a fast sync behind an action's redirect — still reaches the page.
type hub struct {
	mu   sync.Mutex
	subs map[*subscriber]struct{}
	max  int
	seq  uint64
	last map[string]published // by app name
}

// published is an app's state with its sequence number.
type published struct {
	seq uint64
	st  api.AppState
}

type subscriber struct {
	p   api.Principal
	app string // "" for every app
	ch  chan published
	// behind is closed when the stream missed a state: its page must reload.
	behind chan struct{}
	once   sync.Once
}

// subscriberBuffer is how many states a stream may lag behind before it reloads.
const subscriberBuffer = 256

func newHub(max int) *hub {
	return &hub{subs: map[*subscriber]struct{}{}, max: max, last: map[string]published{}}
}

// cursor returns the sequence number of the last published state: a page rendered from states
// read after it asks its stream for what comes after.
func (h *hub) cursor() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.seq
}

// subscribe registers a stream; ok is false when MaxStreams are open. The stream first gets
// the last state of each app it shows that was published after since (oldest first), then
// what is published next: nothing falls between the two.
func (h *hub) subscribe(p api.Principal, app string, since uint64) (*subscriber, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.subs) >= h.max {
		return nil, false
	}
	s := &subscriber{p: p, app: app, ch: make(chan published, subscriberBuffer), behind: make(chan struct{})}
	if since < h.seq {
		var missed []published
		for _, e := range h.last {
			if e.seq > since && s.shows(e.st) {
				missed = append(missed, e)
			}
		}
		slices.SortFunc(missed, func(a, b published) int { return cmp.Compare(a.seq, b.seq) })
		for _, e := range missed {
			s.send(e)
		}
	}
	h.subs[s] = struct{}{}
	return s, true
}

func (h *hub) unsubscribe(s *subscriber) {
	h.mu.Lock()
	delete(h.subs, s)
	h.mu.Unlock()
}

// streams counts the open streams.
func (h *hub) streams() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

func (h *hub) publish(st api.AppState) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seq++
	e := published{seq: h.seq, st: st}
	h.last[st.Name] = e
	for s := range h.subs {
		if s.shows(st) {
			s.send(e)
		}
	}
}

// forget drops what the hub keeps of an app (removed from the config).
func (h *hub) forget(name string) {
	h.mu.Lock()
	delete(h.last, name)
	h.mu.Unlock()
}

// reloadAll tells every stream to reload its page.
func (h *hub) reloadAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		s.once.Do(func() { close(s.behind) })
	}
}

// shows says whether the stream shows st.
func (s *subscriber) shows(st api.AppState) bool {
	return s.p.Allows(st.Project) && (s.app == "" || s.app == st.Name)
}

// send queues e, or tells the stream it fell behind.
func (s *subscriber) send(e published) {
	select {
	case s.ch <- e:
	default:
		s.once.Do(func() { close(s.behind) })
	}
}
