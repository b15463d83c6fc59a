package notify_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tagrelay/tagrelay/internal/apitest"
	"github.com/tagrelay/tagrelay/internal/fakegitlab"
	"github.com/tagrelay/tagrelay/reconcile/api"
	"github.com/tagrelay/tagrelay/reconcile/notify"
)

// TestForgeDown: a forge answering 500, or refusing connections, makes the notification fail:
// the failure is reported (OnDelivery, a warning naming app and target), counted, and carries no
// token; the other targets of the same event are still sent.
func TestForgeDown(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, url string
		want      string
	}{
		{"500s", fakegitlab.New(t, fakegitlab.Config{Project: "team/web", APIToken: gitlabToken, Commits: []string{appSHA},
			Faults: []apitest.Fault{{Path: "/projects/*/statuses/*", Status: http.StatusInternalServerError, Times: 100}}}).URL, "500 Internal Server Error"},
		{"connection refused", "http://127.0.0.1:1", "connection refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var hooks atomic.Int32
			hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hooks.Add(1) }))
			t.Cleanup(hook.Close)
			h := newHarness(t, notify.Options{})
			cfg := &notify.Config{GitLab: &notify.GitLab{URL: tc.url, Project: "team/web", TokenFile: secretFile(t, gitlabToken)},
				Webhook: &notify.Webhook{URL: hook.URL}}
			h.n.Started(cfg, result(api.StatusApplied, ""))
			h.n.Finished(cfg, result(api.StatusSucceeded, ""), nil)
			ds := h.flush(t)
			f := failedOf(ds)
			if len(f) != 2 || !strings.Contains(f[0], tc.want) || !strings.HasPrefix(f[0], "gitlab: ") {
				t.Errorf("failures = %q, want the two GitLab notifications failing with %q", f, tc.want)
			}
			if got := h.count("gitlab", "failed"); got != 2 {
				t.Errorf("tagrelay_reconciler_notifications_total{gitlab,failed} = %v, want 2", got)
			}
			if hooks.Load() != 2 || h.count("webhook", "sent") != 2 {
				t.Errorf("webhook got %d posts (%v counted), want 2: one target down stops no other", hooks.Load(), h.count("webhook", "sent"))
			}
			if !strings.Contains(h.log.String(), `"msg":"notification failed; the deploy goes on"`) || !strings.Contains(h.log.String(), `"app":"web"`) {
				t.Errorf("no warning logged:\n%s", h.log.String())
			}
			h.assertNoSecret(t, gitlabToken)
		})
	}
}

// TestQueueNeverBlocks: with a forge that hangs, Send returns at once; past the queue's bound,
// notifications are dropped and counted; each one is cut at its deadline.
func TestQueueNeverBlocks(t *testing.T) {
	t.Parallel()
	arrived := make(chan struct{}, 1)
	release := make(chan struct{})
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case arrived <- struct{}{}:
		default:
		}
		<-release
	}))
	t.Cleanup(func() { close(release); hung.Close() })
	h := newHarness(t, notify.Options{Queue: 2, Workers: 1, Timeout: 100 * time.Millisecond})
	cfg := &notify.Config{Webhook: &notify.Webhook{URL: hung.URL}}
	h.n.Started(cfg, result(api.StatusApplied, ""))
	<-arrived // the worker is stuck on the first
	for i := 0; i < 9; i++ {
		h.n.Started(cfg, result(api.StatusApplied, ""))
	}
	if got := h.count("webhook", "dropped"); got != 7 {
		t.Errorf("dropped = %v, want 7 (1 in flight, 2 queued)", got)
	}
	f := failedOf(h.flush(t))
	timeouts := 0
	for _, x := range f {
		if strings.Contains(x, "deadline exceeded") || strings.Contains(x, "Timeout exceeded") {
			timeouts++
		}
	}
	if len(f) != 10 || timeouts != 3 {
		t.Errorf("failures = %q, want 7 drops and 3 timeouts", f)
	}
}

// TestHostileForge: a forge that answers without end, or drips its answer, costs a notification
// its bound (the response size, the deadline), never more memory or time; the failure is counted.
func TestHostileForge(t *testing.T) {
	t.Parallel()
	endless := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"id":1,"description":"`)
		chunk := []byte(strings.Repeat("A", 64<<10))
		for i := 0; i < 4096; i++ { // 256 MiB unless the client stops reading
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	t.Cleanup(endless.Close)
	stop := make(chan struct{})
	drip := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"id":1,`)
		for {
			select {
			case <-stop:
				return
			case <-r.Context().Done():
				return
			case <-time.After(20 * time.Millisecond):
				io.WriteString(w, " ")
				w.(http.Flusher).Flush()
			}
		}
	}))
	t.Cleanup(func() { close(stop); drip.Close() })
	for _, tc := range []struct {
		name, url, want string
	}{
		{"endless body", endless.URL, "response body over the notifier's bound"},
		{"dripping body", drip.URL, "deadline exceeded|request canceled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, notify.Options{Timeout: 2 * time.Second})
			cfg := &notify.Config{GitLab: &notify.GitLab{URL: tc.url, Project: "team/web", TokenFile: secretFile(t, gitlabToken)}}
			start := time.Now()
			h.n.Started(cfg, result(api.StatusApplied, ""))
			f := failedOf(h.flush(t))
			if len(f) != 1 || !regexp.MustCompile(tc.want).MatchString(f[0]) {
				t.Errorf("failures = %q, want one with %q", f, tc.want)
			}
			if h.count("gitlab", "failed") != 1 {
				t.Errorf("failed = %v, want 1", h.count("gitlab", "failed"))
			}
			t.Logf("the notification failed after %s", time.Since(start).Round(time.Millisecond))
			h.assertNoSecret(t, gitlabToken)
		})
	}
}
