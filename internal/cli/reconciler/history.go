package reconciler

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/tagrelay/tagrelay/internal/clirun"
	"github.com/tagrelay/tagrelay/internal/errdefs"
	"github.com/tagrelay/tagrelay/reconcile"
	"github.com/tagrelay/tagrelay/reconcile/api"
)

func newHistoryCommand(env *clirun.Env) *cli.Command {
	o := &clusterOptions{}
	limit := 0
	return &cli.Command{
		Name:      "history",
		Usage:     "list an app's recorded syncs, newest first: revision, images before -> after, result, duration",
		ArgsUsage: "APP",
		Flags: append(clusterFlags(o),
			&cli.IntFlag{Name: "limit", Usage: "show at most `N` entries (0: all)", EnvVars: []string{"TAGRELAY_LIMIT"}, Destination: &limit}),
		Action: func(c *cli.Context) error {
			app, r, _, err := o.setupApp(c, env)
			if err != nil {
				return err
			}
			hist, err := r.History(c.Context, app.Name)
			if err != nil {
				return err
			}
			if limit > 0 && len(hist) > limit {
				hist = hist[:limit]
			}
			return env.Emit(&o.common, hist, historyTable(hist), nil)
		},
	}
}

func historyTable(hist []reconcile.Result) string {
	if len(hist) == 0 {
		return "no syncs recorded"
	}
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "#\tSTARTED\tTRIGGER\tSTATUS\tREVISION\tDURATION\tIMAGES\tMESSAGE")
	for i, h := range hist {
		var imgs []string
		for _, c := range h.Images {
			if c.Changed() {
				imgs = append(imgs, fmt.Sprintf("%s: %s -> %s", c.Container, orNone(c.Before), c.After))
			}
		}
		msg := h.Message
		if len(msg) > 120 {
			msg = msg[:117] + "..."
		}
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", i+1, h.Started.Local().Format(time.DateTime), h.Trigger, h.Status,
			api.ShortRevision(h.Revision), time.Duration(h.Duration).Round(100*time.Millisecond), orNone(strings.Join(imgs, ", ")), msg)
	}
	w.Flush()
	return b.String()
}

func orNone(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func newRollbackCommand(env *clirun.Env) *cli.Command {
	o := &syncOptions{}
	to := 0
	return &cli.Command{
		Name:      "rollback",
		Usage:     "sync the revision of an earlier successful sync (default: the one before the last)",
		ArgsUsage: "APP",
		Description: "Polls deploy only new commits, so the rollback stays until the next commit or trigger.\n" +
			"The no-op guard applies: rolling back to what runs already exits 3.",
		Flags: append([]cli.Flag{
			&cli.IntFlag{Name: "to", Usage: "history entry `N` to return to (as listed by history)", EnvVars: []string{"TAGRELAY_ROLLBACK_TO"}, Destination: &to},
			&cli.BoolFlag{Name: "allow-noop", Usage: "apply even when no image changes", EnvVars: []string{"TAGRELAY_ALLOW_NOOP"}, Destination: &o.allowNoop},
			&cli.DurationFlag{Name: "timeout", Usage: "bound the wait for health", EnvVars: []string{"TAGRELAY_TIMEOUT"}, Destination: &o.timeout},
		}, clusterFlags(&o.cluster)...),
		Action: func(c *cli.Context) error {
			app, r, log, err := o.cluster.setupApp(c, env)
			if err != nil {
				return err
			}
			hist, err := r.History(c.Context, app.Name)
			if err != nil {
				return err
			}
			rev, err := rollbackTarget(hist, to)
			if err != nil {
				return err
			}
			return syncApp(c.Context, env, o.cluster, r, app, log, reconcile.SyncOptions{Trigger: reconcile.TriggerCLI,
				Guard: true, AllowNoop: o.allowNoop, Timeout: o.timeout, Revision: rev})
		},
	}
}

// rollbackTarget picks the commit of history entry to (1-based), or the newest successfully
// synced commit other than the one of the newest successful sync.
func rollbackTarget(hist []reconcile.Result, to int) (string, error) {
	if to > 0 {
		if to > len(hist) || hist[to-1].Revision == "" {
			return "", clirun.Usagef("pick an entry listed by 'history'", "no history entry %d with a revision", to)
		}
		return hist[to-1].Revision, nil
	}
	current := ""
	for _, h := range hist {
		switch {
		case h.ExitCode != 0 || h.Revision == "" || h.Status != "Succeeded":
		case current == "":
			current = h.Revision
		case h.Revision != current:
			return h.Revision, nil
		}
	}
	return "", errdefs.WithHint(errdefs.NotFound(fmt.Errorf("no earlier successful sync to roll back to")), "pass --to N")
}
