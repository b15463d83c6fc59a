package reconcile_test

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/tagrelay/tagrelay/internal/kubetest"
	"github.com/tagrelay/tagrelay/reconcile"
)

// TestAtShareWatchesOthersShards: a replica at its share of the shards keeps reading the
// Leases of the shards the other replica holds (its electors stay, refused at acquisition), so
// when the other stops renewing it takes them LeaseDuration after the last renewal it saw.
// Without that, client-go's elector — started only once the share grew — times the expiry
// from its own first read: a whole LeaseDuration more (the benchmark measured 31.7 s for a
// 15 s lease). The other replica "dies" by having every API request of its process hang.
func TestAtShareWatchesOthersShards(t *testing.T) {
	f := newFixture(t)
	c := kubetest.Shared(t)
	app := f.app("web", "")
	lease := reconcile.LeaderElection{LeaseName: "watch", LeaseDuration: 2 * time.Second, RenewDeadline: 1500 * time.Millisecond,
		RetryPeriod: 250 * time.Millisecond, Shards: 2}

	var mu sync.Mutex
	gets := map[string]int{} // Lease → GETs by a
	cfgA := rest.CopyConfig(c.RESTConfig())
	cfgA.WrapTransport = func(next http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if i := strings.Index(r.URL.Path, "/leases/"); i >= 0 && r.Method == http.MethodGet {
				mu.Lock()
				gets[r.URL.Path[i+len("/leases/"):]]++
				mu.Unlock()
			}
			return next.RoundTrip(r)
		})
	}
	dead := make(chan struct{}) // closed: b's requests hang
	gone := make(chan struct{}) // closed at cleanup: they fail
	cfgB := rest.CopyConfig(c.RESTConfig())
	cfgB.WrapTransport = func(next http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			select {
			case <-dead:
				<-gone
				return nil, errors.New("process dead")
			default:
			}
			return next.RoundTrip(r)
		})
	}
	a := f.replica(cfgA, lease, "http://a.invalid", app)
	b := f.replica(cfgB, lease, "http://b.invalid", app)
	t.Cleanup(func() { close(gone) }) // before the servers stop (cleanups run last first): b's stop needs answers
	holders := func() map[string]int {
		out := map[string]int{}
		for _, sh := range a.Status().Shards {
			out[sh.Holder]++
		}
		return out
	}
	waitFor(t, "the shards split 1 and 1", func() bool { h := holders(); return h[a.Identity()] == 1 && h[b.Identity()] == 1 })
	var bShard string
	for _, sh := range a.Status().Shards {
		if sh.Holder == b.Identity() {
			bShard = fmt.Sprintf("watch-shard-%d", sh.Shard)
		}
	}
	mu.Lock()
	clear(gets)
	mu.Unlock()
	waitFor(t, "a, at its share, to read "+bShard+" that b holds", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return gets[bShard] >= 2
	})
	if h := holders(); h[a.Identity()] != 1 {
		t.Fatalf("a took b's shard while b renews: holders %v", h)
	}

	killed := time.Now()
	close(dead)
	waitFor(t, "a to hold both shards", func() bool { return holders()[a.Identity()] == 2 })
	t.Logf("a holds both shards %s after b stopped renewing (lease %s, retry %s)", time.Since(killed).Round(10*time.Millisecond), lease.LeaseDuration, lease.RetryPeriod)
	if a.Status().Shards[0].Holder != a.Identity() || a.Status().Shards[1].Holder != a.Identity() {
		t.Errorf("shards = %+v", a.Status().Shards)
	}
}
