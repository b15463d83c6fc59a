package console

import (
	"sync"

	"github.com/tagrelay/tagrelay/reconcile/api"
)

// hub fans app states out to the open pages' streams. The server publishes; each stream gets
// the states of the apps its principal may see (and, on an app's page, of that app only).
// Publishing never blocks: a stream that falls behind is told to reload its page.
type hub struct {
	mu   sync.Mutex
	subs map[*subscriber]struct{}
	max  int
}

type subscriber struct {
	p   api.Principal
	app string // "" for every app
	ch  chan api.AppState
	// behind is closed when the stream missed a state: its page must reload.
	behind chan struct{}
	once   sync.Once
}

// subscriberBuffer is how many states a stream may lag behind before it reloads.
const subscriberBuffer = 256

func newHub(max int) *hub { return &hub{subs: map[*subscriber]struct{}{}, max: max} }

// subscribe registers a stream; ok is false when MaxStreams are open.
func (h *hub) subscribe(p api.Principal, app string) (*subscriber, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.subs) >= h.max {
		return nil, false
	}
	s := &subscriber{p: p, app: app, ch: make(chan api.AppState, subscriberBuffer), behind: make(chan struct{})}
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
	for s := range h.subs {
		if !s.p.Allows(st.Project) || (s.app != "" && s.app != st.Name) {
			continue
		}
		select {
		case s.ch <- st:
		default:
			s.once.Do(func() { close(s.behind) })
		}
	}
}

// reloadAll tells every stream to reload its page.
func (h *hub) reloadAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		s.once.Do(func() { close(s.behind) })
	}
}
