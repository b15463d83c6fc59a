package notify_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/tagrelay/tagrelay/internal/forge"
	"github.com/tagrelay/tagrelay/reconcile/api"
	"github.com/tagrelay/tagrelay/reconcile/notify"
)

const (
	appSHA      = "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d"
	gitlabToken = "glpat-notify-Secret-0123456789"
	githubToken = "ghp_notifySecret0123456789abcdefghijkl"
	consoleURL  = "https://deploy.example.com"
)

// harness is a Notifier with its log and deliveries captured.
type harness struct {
	n   *notify.Notifier
	log *bytes.Buffer

	mu         sync.Mutex
	deliveries []notify.Delivery
}

func newHarness(t *testing.T, opts notify.Options) *harness {
	t.Helper()
	h := &harness{log: &bytes.Buffer{}}
	logMu := &sync.Mutex{}
	opts.Logger = slog.New(slog.NewJSONHandler(lockedWriter{logMu, h.log}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts.OnDelivery = func(d notify.Delivery) {
		h.mu.Lock()
		h.deliveries = append(h.deliveries, d)
		h.mu.Unlock()
	}
	if opts.ConsoleURL == "" {
		opts.ConsoleURL = consoleURL
	}
	if opts.Retry == (forge.Retry{}) {
		opts.Retry = forge.Retry{Attempts: 3, Base: time.Millisecond, Max: 5 * time.Millisecond}
	}
	h.n = notify.New(opts)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		h.n.Close(ctx)
	})
	return h
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// flush waits for every queued notification and returns the deliveries so far.
func (h *harness) flush(t *testing.T) []notify.Delivery {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := h.n.Flush(ctx); err != nil {
		t.Fatalf("Flush() = %v", err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]notify.Delivery(nil), h.deliveries...)
}

// failed returns the deliveries that failed, as "target: error".
func failedOf(ds []notify.Delivery) []string {
	var out []string
	for _, d := range ds {
		if d.Err != nil {
			out = append(out, d.Target+": "+d.Err.Error())
		}
	}
	return out
}

// count reads tagrelay_reconciler_notifications_total{target, result}.
func (h *harness) count(target, result string) float64 {
	for _, c := range h.n.Collectors() {
		if v, ok := c.(*prometheus.CounterVec); ok {
			var m dto.Metric
			if err := v.WithLabelValues(target, result).Write(&m); err != nil {
				return -1
			}
			return m.GetCounter().GetValue()
		}
	}
	return -1
}

// assertNoSecret fails when a secret appears in the log or a delivery's error.
func (h *harness) assertNoSecret(t *testing.T, secrets ...string) {
	t.Helper()
	h.mu.Lock()
	var errs []string
	for _, d := range h.deliveries {
		if d.Err != nil {
			errs = append(errs, d.Err.Error())
		}
	}
	h.mu.Unlock()
	out := h.log.String() + strings.Join(errs, "\n")
	for _, s := range secrets {
		if s != "" && strings.Contains(out, s) {
			t.Errorf("secret %q in the output:\n%s", s, out)
		}
	}
}

func secretFile(t *testing.T, value string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte(value+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// result is a sync result of app web carrying the app commit.
func result(status api.Status, msg string) api.SyncResult {
	return api.SyncResult{App: "web", Revision: strings.Repeat("f", 40), Trigger: "api", Status: status, Message: msg,
		Started: time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC), Duration: api.Duration(42 * time.Second),
		Images: []api.ImageChange{{Object: "Deployment/team-web/web", Container: "web", Before: "harbor.example/team/web:0f0f0f0f", After: "harbor.example/team/web:1a2b3c4d"}},
		AppCommits: []api.AppCommit{{Commit: appSHA, Repo: "https://gitlab.example.com/team/web", Images: []string{"harbor.example/team/web:1a2b3c4d"},
			InfraCommit: strings.Repeat("e", 40)}}}
}

// crashLoop is the diagnosis of a crash-looping rollout, with a log tail whose last line is
// marked, and hostile text (a mention, a backtick fence).
func crashLoop(attempt string) *notify.Diagnosis {
	var lines []string
	for i := 1; i <= 40; i++ {
		lines = append(lines, "log line "+strings.Repeat("x", i%3))
	}
	lines = append(lines, "panic: cannot connect to db ("+attempt+") @channel ``` injected")
	return &notify.Diagnosis{Objects: []notify.FailedObject{{
		Object: "Deployment/team-web/web",
		Reason: "ProgressDeadlineExceeded: ReplicaSet \"web-6dd\" has timed out progressing.",
		Pods:   []string{"web-6dd-abcde: container web (harbor.example/team/web:1a2b3c4d) CrashLoopBackOff: back-off 10s restarting failed container"},
		Events: []string{"Warning Pod/web-6dd-abcde BackOff: Back-off restarting failed container web"},
		Logs:   []notify.LogTail{{Pod: "web-6dd-abcde", Container: "web", Lines: lines}},
	}}}
}
