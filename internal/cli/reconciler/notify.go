package reconciler

import (
	"context"
	"log/slog"
	"net/url"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/tagrelay/tagrelay/internal/clirun"
	"github.com/tagrelay/tagrelay/reconcile"
	"github.com/tagrelay/tagrelay/reconcile/notify"
)

// notifyOptions are serve's flags for the notifications of the apps' notify: sections.
type notifyOptions struct {
	externalURL string
	timeout     time.Duration
}

func notifyFlags(o *notifyOptions) []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "external-url", Usage: "`URL` at which people reach this server; commit statuses, deployments and notes link its page of the app (URL/apps/APP). Unset: no link",
			EnvVars: []string{"TAGRELAY_EXTERNAL_URL"}, Destination: &o.externalURL},
		&cli.DurationFlag{Name: "notify-timeout", Value: 30 * time.Second, Usage: "bound of one notification to a forge, webhook or chat (its calls and retries); notifications run in the background and never fail a sync",
			EnvVars: []string{"TAGRELAY_NOTIFY_TIMEOUT"}, Destination: &o.timeout},
	}
}

// check refuses a bad --external-url or --notify-timeout before anything starts.
func (o *notifyOptions) check() error {
	if o.externalURL != "" {
		u, err := url.Parse(o.externalURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
			return clirun.Usagef("pass --external-url as http(s)://HOST[/PATH], without credentials", "--external-url is not an http(s) URL")
		}
	}
	if o.timeout <= 0 {
		return clirun.Usagef("pass a positive --notify-timeout", "--notify-timeout %s", o.timeout)
	}
	return nil
}

// start runs the Notifier of the apps' notify: sections, wired into r's syncs and s's metrics;
// the returned stop sends what is queued (within 10 seconds) when the server stops.
func (o *notifyOptions) start(r *reconcile.Reconciler, s *reconcile.Server, log *slog.Logger) (stop func()) {
	n := notify.New(notify.Options{ConsoleURL: o.externalURL, Timeout: o.timeout, Logger: log})
	r.SetNotifier(n)
	s.Registry().MustRegister(n.Collectors()...)
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = n.Close(ctx)
	}
}
