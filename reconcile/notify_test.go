package reconcile_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/tagrelay/tagrelay/internal/fakegitlab"
	"github.com/tagrelay/tagrelay/internal/forge"
	"github.com/tagrelay/tagrelay/internal/kubetest"
	"github.com/tagrelay/tagrelay/internal/provenance"
	"github.com/tagrelay/tagrelay/reconcile"
	"github.com/tagrelay/tagrelay/reconcile/api"
	"github.com/tagrelay/tagrelay/reconcile/notify"
)

const (
	notifyToken = "glpat-reconcile-Notify-0123456789"
	consoleBase = "https://deploy.example.com/tagrelay"
)

// notified is a Notifier wired into a fixture's Reconciler, with its log and deliveries kept.
type notified struct {
	n   *notify.Notifier
	mu  sync.Mutex
	log bytes.Buffer
	ds  []notify.Delivery
}

func (x *notified) Write(p []byte) (int, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.log.Write(p)
}

func notifyFixture(t *testing.T, f *fixture) *notified {
	t.Helper()
	x := &notified{}
	x.n = notify.New(notify.Options{ConsoleURL: consoleBase, Timeout: 5 * time.Second,
		Retry:  forge.Retry{Attempts: 2, Base: time.Millisecond, Max: 5 * time.Millisecond},
		Logger: slog.New(slog.NewJSONHandler(x, &slog.HandlerOptions{Level: slog.LevelDebug})),
		OnDelivery: func(d notify.Delivery) {
			x.mu.Lock()
			x.ds = append(x.ds, d)
			x.mu.Unlock()
		}})
	t.Cleanup(func() { x.n.Close(context.Background()) })
	f.r.SetNotifier(x.n)
	return x
}

// flush waits for the notifications queued so far and returns every delivery as
// "target state: error or ok".
func (x *notified) flush(t *testing.T) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := x.n.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	var out []string
	for _, d := range x.ds {
		s := d.Target + " " + string(d.State) + ": ok"
		if d.Err != nil {
			s = d.Target + " " + string(d.State) + ": " + d.Err.Error()
		}
		out = append(out, s)
	}
	return out
}

func (x *notified) counter(target, result string) float64 {
	for _, c := range x.n.Collectors() {
		if v, ok := c.(*prometheus.CounterVec); ok {
			var m dto.Metric
			if err := v.WithLabelValues(target, result).Write(&m); err == nil {
				return m.GetCounter().GetValue()
			}
		}
	}
	return -1
}

// bumpWithProvenance commits the Deployment web at image registry.example/web:TAG as tagrelay
// bump does: with the trailers naming the app commit src.
func bumpWithProvenance(t *testing.T, f *fixture, tag, src string) string {
	t.Helper()
	rec := provenance.Record{Images: []string{"registry.example/web:" + tag},
		Source: provenance.Source{Commit: src, Repo: "https://gitlab.example.com/team/web"}}
	trailers, err := rec.Trailers()
	if err != nil {
		t.Fatal(err)
	}
	return f.git.MustCommit(t, f.repo, "main", provenance.Append("deploy: registry.example/web:"+tag, trailers),
		map[string]string{"deploy.yaml": deploymentYAML("web", "registry.example/web:"+tag)})
}

func tokenFile(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "gitlab-token")
	if err := os.WriteFile(p, []byte(notifyToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSyncNotifiesGitLab: through real syncs on the cluster, the app commit named by the infra
// commit's trailers gets deploy/web pending when the sync applies, then success, linking the
// console's page of the app; a broken image fails twice: the status says failed and one note on
// the merge request that brought the commit holds the failing Deployment, its reason, its pods'
// events and the end of the container's log, updated by the second attempt, not posted again.
// The token appears in no request URL, log line or result.
func TestSyncNotifiesGitLab(t *testing.T) {
	f := newFixture(t)
	x := notifyFixture(t, f)
	good, bad := strings.Repeat("a1", 20), strings.Repeat("b2", 20)
	gl := fakegitlab.New(t, fakegitlab.Config{Project: "team/web", APIToken: notifyToken})
	mrGood := gl.AddMergeRequest(fakegitlab.MergeRequest{Source: "feature-a", Target: "main", Title: "A", Commits: []string{good}})
	mrBad := gl.AddMergeRequest(fakegitlab.MergeRequest{Source: "feature-b", Target: "main", Title: "B", Commits: []string{bad}})
	app := f.app("web", "")
	app.Notify = &notify.Config{GitLab: &notify.GitLab{URL: gl.URL, Project: "team/web", TokenFile: tokenFile(t)}, LogLines: 50}

	bumpWithProvenance(t, f, "1", good)
	var pendingSeen []map[string]any
	res := f.mustSync(app, reconcile.SyncOptions{OnApplied: func(reconcile.Result) {
		// the pending status was queued before the apply: it is on the commit while the sync waits
		x.n.Flush(context.Background())
		pendingSeen = gl.Statuses(good)
	}})
	if len(pendingSeen) != 1 || pendingSeen[0]["status"] != "pending" || pendingSeen[0]["name"] != "deploy/web" {
		t.Errorf("statuses of the app commit while the sync waits = %v, want deploy/web pending", pendingSeen)
	}
	if got := x.flush(t); strings.Join(got, "; ") != "gitlab pending: ok; gitlab success: ok" {
		t.Errorf("deliveries = %q", got)
	}
	sts := gl.Statuses(good)
	if len(sts) != 1 || sts[0]["status"] != "success" || sts[0]["target_url"] != consoleBase+"/apps/web" ||
		!strings.Contains(sts[0]["description"].(string), "deployed to web") {
		t.Errorf("statuses of %s after sync %s = %v, want deploy/web success linking the console", good[:8], res.Status, sts)
	}
	if n := gl.Notes(mrGood); len(n) != 0 {
		t.Errorf("notes on a success: %v", n)
	}

	marker := "panic: cannot reach the database (" + f.ns + ")"
	if err := kubetest.Shared(t).AppendLog(marker); err != nil {
		t.Fatal(err)
	}
	bumpWithProvenance(t, f, "broken", bad)
	for attempt := 1; attempt <= 2; attempt++ {
		res, err := f.sync(app, reconcile.SyncOptions{AllowNoop: true, Timeout: 20 * time.Second})
		if !errors.Is(err, reconcile.ErrRollout) {
			t.Fatalf("attempt %d: %v (%s), want a failed rollout", attempt, err, res.Status)
		}
		x.flush(t)
	}
	sts = gl.Statuses(bad)
	if len(sts) != 2 || sts[0]["status"] != "failed" || sts[1]["status"] != "failed" || sts[1]["target_url"] != consoleBase+"/apps/web" {
		t.Errorf("statuses of the broken commit = %v, want deploy/web failed, once per attempt", sts)
	}
	notes := gl.Notes(mrBad)
	if len(notes) != 1 {
		t.Fatalf("%d notes on !%d, want one, updated by the retry: %v", len(notes), mrBad, notes)
	}
	if notes[0]["updated_at"] == notes[0]["created_at"] {
		t.Errorf("the note was not updated by the second attempt: %v", notes[0])
	}
	body := notes[0]["body"].(string)
	for _, want := range []string{"<!-- tagrelay:deploy/web -->", "Deploy of `web` failed", "Deployment/" + f.ns + "/web",
		"ProgressDeadlineExceeded", "CrashLoopBackOff", "BackOff", "Log of `web-", marker, consoleBase + "/apps/web", bad[:12]} {
		if !strings.Contains(body, want) {
			t.Errorf("the note lacks %q:\n%s", want, body)
		}
	}
	if n := gl.Notes(mrGood); len(n) != 0 {
		t.Errorf("the good commit's merge request got a note: %v", n)
	}
	for _, r := range gl.Requests() {
		if strings.Contains(r.Path+"?"+r.Query.Encode()+r.Body, notifyToken) {
			t.Errorf("token in request %s %s", r.Method, r.Path)
		}
	}
	if strings.Contains(x.log.String(), notifyToken) {
		t.Errorf("token in the notifier's log:\n%s", x.log.String())
	}
}

// TestSyncForgeDown: a GitLab that refuses connections fails the notifications, not the deploy:
// the sync succeeds, the failures are counted and logged without the token.
func TestSyncForgeDown(t *testing.T) {
	f := newFixture(t)
	x := notifyFixture(t, f)
	app := f.app("web", "")
	app.Notify = &notify.Config{GitLab: &notify.GitLab{URL: "http://127.0.0.1:1", Project: "team/web", TokenFile: tokenFile(t)}}
	bumpWithProvenance(t, f, "1", strings.Repeat("c3", 20))
	res := f.mustSync(app, reconcile.SyncOptions{})
	if res.Status != api.StatusSucceeded || res.ExitCode != 0 {
		t.Errorf("sync with the forge down = %s (exit %d), want Succeeded", res.Status, res.ExitCode)
	}
	got := x.flush(t)
	if len(got) != 2 || !strings.Contains(got[0], "gitlab pending: ") || !strings.Contains(got[1], "connection refused") {
		t.Errorf("deliveries = %q, want the pending and success notifications failing", got)
	}
	if c := x.counter("gitlab", "failed"); c != 2 {
		t.Errorf("tagrelay_reconciler_notifications_total{target=gitlab,result=failed} = %v, want 2", c)
	}
	log := x.log.String()
	if !strings.Contains(log, "notification failed; the deploy goes on") || strings.Contains(log, notifyToken) ||
		strings.Contains(res.Message, notifyToken) {
		t.Errorf("want a warning without the token; log:\n%s", log)
	}
}
