package peertest

import (
	"fmt"
	"os"
	"sync"
	"testing"
)

// Shared is the one instance of a peer (Flux, Argo CD) that the tests of a test binary share:
// started by the first Get, stopped by Stop when the binary's tests end, its logs kept when one
// failed.
type Shared[P any] struct {
	// Name names the peer's package in messages ("fluxtest").
	Name string
	// Group returns the peer's processes.
	Group func(P) *Group

	once sync.Once
	peer P
	err  error
	ok   bool
}

// Get returns the shared peer, starting it with start on first use. It fails the test when the
// peer could not start or one of its processes exited since.
func (s *Shared[P]) Get(t testing.TB, start func() (P, error)) P {
	t.Helper()
	s.once.Do(func() {
		s.peer, s.err = start()
		s.ok = s.err == nil
	})
	if s.err != nil {
		t.Fatalf("%s: %v", s.Name, s.err)
	}
	if err := s.Group(s.peer).Exited(); err != nil {
		t.Fatalf("%s: %v", s.Name, err)
	}
	return s.peer
}

// Stop stops the shared peer, if one was started, keeping (and printing the path of) its logs
// when keep.
func (s *Shared[P]) Stop(keep bool) {
	if !s.ok {
		return
	}
	g := s.Group(s.peer)
	if keep {
		fmt.Fprintf(os.Stderr, "%s: logs kept in %s/logs\n", s.Name, g.Dir)
	}
	if err := g.Stop(keep); err != nil {
		fmt.Fprintf(os.Stderr, "%s: stopping: %v\n", s.Name, err)
	}
}
