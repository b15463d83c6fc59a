// Package notify tells the forges and chats how an app's syncs went: per app, an optional notify:
// section of apps.yaml (Config).
//
//   - GitLab: the commit status deploy/APP on each app commit the deploy carries (pending when the
//     sync applies, success or failed when it ends), linking the console's page of the app; on a
//     failure, a note on the merge request that brought the commit, with the failing objects, their
//     reasons, last events and the end of their logs — updated, not posted again, on each retry
//     (found by a hidden marker), and marked resolved once a later sync succeeds.
//   - GitHub: a deployment of each app commit to the environment APP, with in_progress then
//     success or failure statuses; on a failure, the same note as a pull request comment.
//   - Webhook: the event as JSON (Payload), signed with HMAC-SHA256 when a secret is set.
//   - Chat: a Slack or Mattermost incoming webhook, the text from a Go template (Message).
//
// The app commits come from the provenance trailers tagrelay bump writes on the infra commits
// (api.SyncResult.AppCommits): the notifications reach the commit developers made, not the infra
// commit Argo CD's and Flux's notifications can only mark.
//
// A Notifier runs in the background with a bounded queue, a few workers (one app's
// notifications stay in order) and a deadline per notification; calls retry as the forge calls
// do (forge.Retry). Nothing it does blocks or fails a sync: a full queue drops, a failed call is
// logged and counted in tagrelay_reconciler_notifications_total{target,result}. Tokens, webhook
// secrets and webhook URLs are read from files when a notification is sent (a rotated Secret is
// picked up) and never appear in a log line or an error.
//
//	n := notify.New(notify.Options{ConsoleURL: "https://deploy.example.com", Logger: log})
//	registry.MustRegister(n.Collectors()...)
//	opts.OnApplied = func(res reconcile.Result) { n.Started(app.Notify, res) }
//	res, err := r.Sync(ctx, app, opts)
//	n.Finished(app.Notify, *res, diagnosis) // the RolloutError's objects, pods, events, logs
//	defer n.Close(ctx)
package notify
