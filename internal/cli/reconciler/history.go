package reconciler

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/tagrelay/tagrelay/internal/clirun"
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
	fmt.Fprintln(w, "#\tSTARTED\tTRIGGER\tCALLER\tSTATUS\tREVISION\tDURATION\tIMAGES\tMESSAGE")
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
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", i+1, h.Started.Local().Format(time.DateTime), h.Trigger, orNone(h.Caller.String()), h.Status,
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
	to := ""
	return &cli.Command{
		Name:      "rollback",
		Usage:     "sync the revision of an earlier successful sync (default: the one before the last) and pin the app there",
		ArgsUsage: "APP",
		Description: "The app stays pinned: a server's polls do not deploy the commit it was pinned over again; a new\n" +
			"commit, or DELETE /api/v1/apps/APP/pin, ends the pin. The no-op guard applies: rolling back to what\n" +
			"runs already exits 3. A running server sees the pin when it next starts or becomes the leader, or\n" +
			"when the app's revision moves; prefer the API (tagrelay trigger reconciler --rollback) when one runs.",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "to", Usage: "history entry `N` to return to (as listed by history), or a commit", EnvVars: []string{"TAGRELAY_ROLLBACK_TO"}, Destination: &to},
			&cli.BoolFlag{Name: "allow-noop", Usage: "apply even when no image changes", EnvVars: []string{"TAGRELAY_ALLOW_NOOP"}, Destination: &o.allowNoop},
			&cli.DurationFlag{Name: "timeout", Usage: "bound the wait for health", EnvVars: []string{"TAGRELAY_TIMEOUT"}, Destination: &o.timeout},
		}, clusterFlags(&o.cluster)...),
		Action: func(c *cli.Context) error {
			target, err := api.ParseRollbackTarget(to)
			if err != nil {
				return clirun.Usagef("pass --to N (a history entry) or a commit hash", "%v", err)
			}
			app, r, log, err := o.cluster.setupApp(c, env)
			if err != nil {
				return err
			}
			res, err := r.Rollback(c.Context, app, target, reconcile.SyncOptions{Trigger: reconcile.TriggerCLI,
				AllowNoop: o.allowNoop, Timeout: o.timeout, Caller: cliCaller(env)})
			return emitSync(env, o.cluster, app, log, res, err, o.allowNoop, false)
		},
	}
}

// cliCaller is the caller the CLI records: the OS user running it.
func cliCaller(env *clirun.Env) *api.Caller {
	return &api.Caller{Kind: api.CallerCLI, Name: env.Getenv("USER")}
}
