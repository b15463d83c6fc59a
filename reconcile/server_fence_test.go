package reconcile_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/tagrelay/tagrelay/internal/kubetest"
	"github.com/tagrelay/tagrelay/reconcile"
	"github.com/tagrelay/tagrelay/reconcile/api"
)

// TestDeposedLeaderFenced: replica A leads and starts a sync; the whole process freezes (all its
// API requests held, lease renewals included) right as it sends its first inventory write, past
// the lease. Replica B takes over and runs the sync A left in flight. When A thaws, the API
// server refuses its inventory write (resourceVersion conflict): A's sync stops there and
// records nothing; B's result stands. Freezing is done at the RoundTripper seam of A's client,
// the one place a whole process can be paused and resumed in a chosen order.
func TestDeposedLeaderFenced(t *testing.T) {
	f := newFixture(t)
	c := kubetest.Shared(t)
	app := f.app("web", "")
	f.commit(map[string]string{"d.yaml": deploymentYAML("web", "example.com/web:v1")})
	f.mustSync(app, reconcile.SyncOptions{}) // the inventory exists: A's write is an update
	v2 := f.commit(map[string]string{"d.yaml": deploymentYAML("web", "example.com/web:v2")})

	freezer := &freezer{match: "/configmaps/tagrelay-inventory-web", thaw: make(chan struct{}), frozen: make(chan struct{})}
	cfgA := rest.CopyConfig(c.RESTConfig())
	cfgA.WrapTransport = freezer.wrap
	lease := &reconcile.LeaderElection{LeaseName: "fence", LeaseDuration: 2 * time.Second, RenewDeadline: 1500 * time.Millisecond, RetryPeriod: 250 * time.Millisecond}
	a := f.replica(cfgA, *lease, "http://a.invalid", app)
	t.Cleanup(freezer.release) // before the servers stop: A must not stay frozen
	waitFor(t, "A to lead", func() bool { return a.Status().Leading })
	b := f.replica(c.RESTConfig(), *lease, "http://b.invalid", app)

	answer := make(chan api.SyncResult, 1)
	hsA := httptest.NewServer(a.Handler())
	t.Cleanup(hsA.Close)
	go func() {
		_, res := post(t, hsA.URL+api.SyncPath("web"), apiToken, api.SyncRequest{Wait: true})
		answer <- res
	}()
	select {
	case <-freezer.frozen:
	case <-time.After(45 * time.Second):
		t.Fatal("A never sent its inventory write")
	}
	waitFor(t, "B to take over and finish A's sync", func() bool {
		hist, _ := f.r.History(context.Background(), "web")
		return b.Status().Leading && len(hist) == 2 && hist[0].Status == api.StatusSucceeded
	})
	before := f.inventory()
	freezer.release()

	res := <-answer
	// Fenced either way: the API server refused A's write (the conflict reached A), or A lost
	// the lease before it read the answer, its sync cancelled mid-write (the lease renewals
	// were frozen too, so which comes first depends on the machine's load).
	if res.ExitCode != 4 || !strings.Contains(res.Message, "fenced: the inventory of app web changed") && !strings.Contains(res.Message, "fenced: this replica lost the leader lease while writing the inventory of app web") {
		t.Errorf("A's sync = exit %d %q; want refused (fenced)", res.ExitCode, res.Message)
	}
	hist, _ := f.r.History(context.Background(), "web")
	if len(hist) != 2 || hist[0].ID != res.ID || hist[0].Replica != b.Identity() || hist[0].ResumedFrom != a.Identity() || hist[0].Revision != v2 {
		t.Errorf("history after A thawed: %+v; want B's run of A's sync %s on top, and nothing of A's", hist, res.ID)
	}
	if after := f.inventory(); after.ResourceVersion != before.ResourceVersion {
		t.Errorf("A's inventory write went through: version %s -> %s", before.ResourceVersion, after.ResourceVersion)
	}
	if got := f.readyImages(); got["example.com/web:v2"] != 2 {
		t.Errorf("ready pods = %v, want 2 on v2", got)
	}
	waitFor(t, "A to stop leading", func() bool { return !a.Status().Leading })
}

// freezer holds every request of a client from the first one whose path contains match: the
// client's process stands still. release lets the matching request through first and waits
// for its answer, then the others.
type freezer struct {
	match  string
	once   sync.Once
	frozen chan struct{} // closed when the freeze starts
	thaw   chan struct{} // closed by release once the matching request returned

	mu      sync.Mutex
	isFroze bool
	first   chan struct{} // closed by release: the matching request goes
	firstRT chan struct{} // closed when the matching request returned
}

func (fr *freezer) wrap(next http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		fr.mu.Lock()
		if !fr.isFroze && (r.Method == http.MethodPut || r.Method == http.MethodPost) && strings.Contains(r.URL.Path, fr.match) {
			fr.isFroze, fr.first, fr.firstRT = true, make(chan struct{}), make(chan struct{})
			fr.mu.Unlock()
			close(fr.frozen)
			<-fr.first
			defer close(fr.firstRT)
			return next.RoundTrip(r)
		}
		frozen := fr.isFroze
		fr.mu.Unlock()
		if frozen {
			<-fr.thaw
		}
		return next.RoundTrip(r)
	})
}

func (fr *freezer) release() {
	fr.once.Do(func() {
		fr.mu.Lock()
		first, firstRT := fr.first, fr.firstRT
		fr.mu.Unlock()
		if first != nil {
			close(first)
			<-firstRT
		}
		close(fr.thaw)
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// inventory returns the app web's inventory ConfigMap.
func (f *fixture) inventory() *corev1.ConfigMap {
	f.t.Helper()
	cm, err := f.cs.CoreV1().ConfigMaps(f.sys).Get(context.Background(), "tagrelay-inventory-web", metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return cm
}
