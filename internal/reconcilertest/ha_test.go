package reconcilertest_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tagrelay/tagrelay/internal/reconcilertest"
	"github.com/tagrelay/tagrelay/internal/regtest"
	"github.com/tagrelay/tagrelay/reconcile/api"
)

// TestReplicasOnOneHost: two serve processes on one host elect exactly one leader (identities
// are unique per process, not per host), both are ready, and a trigger sent to the follower
// runs on the leader and returns its result.
func TestReplicasOnOneHost(t *testing.T) {
	f := newFixture(t)
	v1 := f.commit("v1", 0, "ConfigMap/a")
	key := f.write("session-key", "one-console-session-key-for-both-replicas")
	r1 := f.start("one", reconcilertest.Options{LeaderElection: lease, Args: []string{"--session-key-file", key}})
	r2 := f.start("two", reconcilertest.Options{LeaderElection: lease, Args: []string{"--session-key-file", key}})
	host, _ := os.Hostname()
	if r1.Identity == r2.Identity || !strings.HasPrefix(r1.Identity, host+"_") || !strings.HasPrefix(r2.Identity, host+"_") {
		t.Fatalf("identities %q and %q: want hostname_suffix, distinct", r1.Identity, r2.Identity)
	}
	leaderOf(t, r1, r2)
	time.Sleep(2 * lease.RetryPeriod) // a follower that wrongly led would show it by now
	leader, followers := leaderOf(t, r1, r2)
	follower := followers[0]
	if !r1.Ready() || !r2.Ready() {
		t.Fatalf("ready: %s %v, %s %v; want both", r1.Identity, r1.Ready(), r2.Identity, r2.Ready())
	}
	res, err := follower.Client().Sync(context.Background(), "web", api.SyncRequest{ExpectImage: "example.com/web:v1", Wait: true})
	if err != nil || res.Status != api.StatusSucceeded || res.Replica != leader.Identity || res.Revision != v1 {
		t.Fatalf("trigger via the follower = %+v, %v; want Succeeded at %s on the leader %s", res, err, v1, leader.Identity)
	}
	if f.readyImages()["example.com/web:v1"] != 2 {
		t.Errorf("ready pods = %v", f.readyImages())
	}
	st, err := follower.Client().Status(context.Background(), "web")
	if err != nil || st.LastSync == nil || st.LastSync.ID != res.ID {
		t.Errorf("status via the follower = %+v, %v; want the leader's last sync %s", st, err, res.ID)
	}
	// the console: a login made on the follower holds on both replicas (one session key), and
	// the follower's pages come from the leader, which read the app's tree after the sync
	// (the follower alone knows no health)
	cl := consoleLogin(t, follower.URL, apiToken)
	for _, base := range []string{follower.URL, leader.URL} {
		resp, err := cl.Get(base + "/")
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), `id="app-web"`) || !strings.Contains(string(page), "Healthy") {
			t.Errorf("console overview via %s = %d, want web Healthy:\n%.3000s", base, resp.StatusCode, page)
		}
	}
	if !strings.Contains(follower.Logs(), `"leader"`) || strings.Contains(follower.Logs(), `"msg":"leading"`) {
		t.Errorf("the follower's log should name the leader and never say leading:\n%s", follower.Logs())
	}
}

// consoleLogin logs a browser-like client in to the console at base with token.
func consoleLogin(t *testing.T, base, token string) *http.Client {
	t.Helper()
	return consoleLoginVia(t, base, token, nil)
}

// consoleLoginVia is consoleLogin through transport (nil: the default; an HTTPS server's
// client transport, which trusts its CA).
func consoleLoginVia(t *testing.T, base, token string, transport http.RoundTripper) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	cl := &http.Client{Jar: jar, Transport: transport}
	resp, err := cl.Get(base + "/login")
	if err != nil {
		t.Fatal(err)
	}
	form, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(form)
	if m == nil {
		t.Fatalf("no login form at %s: %s", base, form)
	}
	resp, err = cl.PostForm(base+"/login", url.Values{"csrf": {string(m[1])}, "token": {token}, "next": {"/"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/" {
		t.Fatalf("console login at %s = %d at %s, want the overview", base, resp.StatusCode, resp.Request.URL)
	}
	return cl
}

// TestKilledLeaderFailover: the leader is killed (SIGKILL) while its sync waits for the
// rollout; the follower takes over within the lease, runs the sync again from its in-flight
// mark, and the app ends Ready at the triggered revision with one history entry for it, the
// inventory exact and only the object the commit dropped pruned.
func TestKilledLeaderFailover(t *testing.T) {
	f := newFixture(t)
	f.commit("v1", 0, "ConfigMap/a", "ConfigMap/b")
	r1 := f.start("one", reconcilertest.Options{LeaderElection: lease})
	r2 := f.start("two", reconcilertest.Options{LeaderElection: lease})
	leader, followers := leaderOf(t, r1, r2)
	follower := followers[0]
	first, err := leader.Client().Sync(context.Background(), "web", api.SyncRequest{Wait: true})
	if err != nil || first.Status != api.StatusSucceeded {
		t.Fatalf("v1 = %+v, %v", first, err)
	}

	v2 := f.commit("v2", 6, "ConfigMap/a", "Service/s") // b dropped; each new pod takes 6 s to count
	go func() { _, _ = follower.Client().Sync(context.Background(), "web", api.SyncRequest{Wait: true}) }()
	var inFlight struct{ ID, Replica, Revision string }
	waitFor(t, "the sync to be waiting for its rollout", func() bool {
		_, rec := f.state()
		live, _ := f.objects()
		return json.Unmarshal(rec["inFlight"], &inFlight) == nil && inFlight.ID != "" &&
			slices.Contains(live, "Service/s") && !slices.Contains(live, "ConfigMap/b")
	})
	d, err := f.cs.AppsV1().Deployments(f.ns).Get(context.Background(), "web", metav1.GetOptions{})
	if err != nil || d.Status.AvailableReplicas == 2 && d.Status.UpdatedReplicas == 2 {
		t.Fatalf("the rollout ended before the kill (%v): lengthen minReadySeconds", err)
	}
	killed := time.Now()
	leader.Kill()
	waitFor(t, "the follower to lead", func() bool {
		st, err := follower.Client().Server(context.Background())
		return err == nil && st.Leading
	})
	takeover := time.Since(killed)
	t.Logf("takeover %s after SIGKILL (lease %s, retry %s)", takeover.Round(10*time.Millisecond), lease.Duration, lease.RetryPeriod)
	if bound := lease.Duration + 2*lease.RetryPeriod + time.Second; takeover > bound {
		t.Errorf("takeover took %s, more than the lease duration allows (%s)", takeover, bound)
	}

	var hist []api.SyncResult
	waitFor(t, "the resumed sync's entry", func() bool { hist, _ = f.state(); return len(hist) == 2 })
	got := hist[0]
	if got.ID != inFlight.ID || got.Status != api.StatusSucceeded || got.Revision != v2 || got.Replica != follower.Identity || got.ResumedFrom != leader.Identity {
		t.Errorf("entry = %+v; want sync %s Succeeded at %s, run by %s, resumed from %s", got, inFlight.ID, v2, follower.Identity, leader.Identity)
	}
	if hist[1].ID != first.ID || hist[0].ID == hist[1].ID {
		t.Errorf("history IDs %s, %s; want the v2 sync then v1's %s, no duplicate", hist[0].ID, hist[1].ID, first.ID)
	}
	if _, rec := f.state(); string(rec["inFlight"]) != "" && string(rec["inFlight"]) != "null" {
		t.Errorf("in-flight mark left: %s", rec["inFlight"])
	}
	if ready := f.readyImages(); ready["example.com/web:v2"] != 2 || len(ready) != 1 {
		t.Errorf("ready pods = %v, want 2 on v2", ready)
	}
	want := []string{"ConfigMap/a", "Deployment/web", "Service/s"}
	live, inventory := f.objects()
	if diff := cmp.Diff(want, live); diff != "" {
		t.Errorf("live objects (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, inventory); diff != "" {
		t.Errorf("inventory (-want +got):\n%s", diff)
	}
}

// TestSIGTERMDrains: a leader sent SIGTERM while its sync waits for the rollout finishes that
// sync (its client gets the result), records it, and only then releases the Lease: the
// follower's acquire time comes after the sync ended.
func TestSIGTERMDrains(t *testing.T) {
	f := newFixture(t)
	v1 := f.commit("v1", 4, "ConfigMap/a")
	r1 := f.start("one", reconcilertest.Options{LeaderElection: lease})
	r2 := f.start("two", reconcilertest.Options{LeaderElection: lease})
	leader, followers := leaderOf(t, r1, r2)
	answer := make(chan *api.SyncResult, 1)
	go func() {
		res, err := leader.Client().Sync(context.Background(), "web", api.SyncRequest{Wait: true})
		if err != nil {
			t.Errorf("trigger on the draining leader: %v", err)
		}
		answer <- res
	}()
	waitFor(t, "the sync to wait for its rollout", func() bool { _, rec := f.state(); return len(rec["inFlight"]) > 4 })
	if err := leader.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the leader to stop being ready", func() bool { return !leader.Ready() })
	res := <-answer
	if res == nil || res.Status != api.StatusSucceeded || res.Revision != v1 || res.Replica != leader.Identity {
		t.Fatalf("drained sync = %+v; want Succeeded at %s by the leader", res, v1)
	}
	<-leader.Done()
	if err := leader.Err(); err != nil {
		t.Errorf("leader exit: %v", err)
	}
	finished := res.Started.Add(time.Duration(res.Duration))
	follower := followers[0]
	waitFor(t, "the follower to lead", func() bool { l := f.lease(); return l != nil && l.holder == follower.Identity })
	if l := f.lease(); l.acquired.Before(finished) {
		t.Errorf("the follower acquired the lease at %s, before the leader's sync ended at %s", l.acquired, finished)
	}
	hist, _ := f.state()
	if len(hist) != 1 || hist[0].ID != res.ID || hist[0].ResumedFrom != "" {
		t.Errorf("history = %+v; want the drained sync once, not resumed", hist)
	}
	logs := leader.Logs()
	if i, j := strings.Index(logs, `"msg":"sync"`), strings.Index(logs, "released the leader lease"); i < 0 || j < i {
		t.Errorf("the leader's log should show the sync, then the lease released:\n%s", logs)
	}
}

// TestRollbackHolds: over HTTPS (the api client trusting the CA file), a rollback through the
// API puts the pods back on the old image and pins the app; a restarted server rebuilds the pin
// from the history and its polls leave the app pinned; rolling back to what runs is refused
// (409); a new commit ends the pin and the status says so. A certificate renewed on disk is
// served without a restart.
func TestRollbackHolds(t *testing.T) {
	f := newFixture(t)
	certs, err := regtest.NewCA(f.dir)
	if err != nil {
		t.Fatal(err)
	}
	opts := reconcilertest.Options{Interval: 300 * time.Millisecond, TLSCert: certs.ServerCertFile, TLSKey: certs.ServerKeyFile, CAFile: certs.CertFile}
	v1 := f.commit("v1", 0)
	s := f.start("first", opts)
	ctx := context.Background()
	lastRevision := func(s *reconcilertest.Server) string {
		st, err := s.Client().Status(ctx, "web")
		if err != nil || st.LastSync == nil {
			return ""
		}
		return st.LastSync.Revision
	}
	waitFor(t, "the poll of v1", func() bool { return lastRevision(s) == v1 })
	v2 := f.commit("v2", 0)
	waitFor(t, "the poll of v2", func() bool { return lastRevision(s) == v2 })

	res, err := s.Client().Rollback(ctx, "web", api.RollbackRequest{Wait: true})
	if err != nil || res.Status != api.StatusSucceeded || res.Revision != v1 || !res.Rollback || res.Caller.Kind != api.CallerAdmin {
		t.Fatalf("rollback = %+v, %v; want Succeeded at %s", res, err, v1)
	}
	if ready := f.readyImages(); ready["example.com/web:v1"] != 2 || len(ready) != 1 {
		t.Fatalf("after the rollback, ready pods = %v", ready)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}

	s = f.start("second", opts)
	st, err := s.Client().Status(ctx, "web")
	if err != nil || !st.Pin.Active() || st.Pin.Revision != v1 || st.Pin.Over != v2 || st.LastSync == nil || st.LastSync.ID != res.ID {
		t.Fatalf("status after restart = %+v, %v; want pinned at %s over %s, last sync %s", st, err, v1, v2, res.ID)
	}
	waitFor(t, "three pinned polls", func() bool { return pinnedPolls(t, s) >= 3 })
	if hist, _ := f.state(); len(hist) != 3 || f.readyImages()["example.com/web:v1"] != 2 {
		t.Fatalf("polls while pinned: history %d entries, ready %v; want 3 and v1", len(hist), f.readyImages())
	}
	res, err = s.Client().Rollback(ctx, "web", api.RollbackRequest{To: api.RollbackTarget{Revision: v1[:10]}})
	if err != nil || res.ExitCode != 3 || res.Status != api.StatusNoopRefused {
		t.Errorf("rollback to what runs = %+v, %v; want refused, exit 3", res, err)
	}

	if err := certs.Rotate(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the renewed certificate", func() bool {
		serial, err := servedSerial(s.URL, certs.CertFile)
		return err == nil && serial == certs.Serial.String()
	})

	v3 := f.commit("v3", 0)
	waitFor(t, "the poll of v3", func() bool { return lastRevision(s) == v3 })
	st, _ = s.Client().Status(ctx, "web")
	if st.Pin == nil || st.Pin.Active() || st.Pin.EndedBy != "new commit "+api.ShortRevision(v3) {
		t.Errorf("pin after a new commit = %+v; want ended by it", st.Pin)
	}
	waitFor(t, "pods on v3", func() bool { return f.readyImages()["example.com/web:v3"] == 2 })
}

// pinnedPolls reads tagrelay_reconciler_polls_total{app="web",result="pinned"} from /metrics
// (on the API listener, for the admin token only).
func pinnedPolls(t *testing.T, s *reconcilertest.Server) float64 {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.URL+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.Token)
	resp, err := s.Client().HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, `tagrelay_reconciler_polls_total{app="web",result="pinned"} `) {
			var v float64
			_ = json.Unmarshal([]byte(strings.Fields(line)[1]), &v)
			return v
		}
	}
	return 0
}
