// Package console is tagrelay-reconciler's web console: which image tag runs in every app of
// every project, from which commit, whether the last deploy really rolled anything, the
// live-vs-desired diff, the resource tree, events and pod logs, and the actions (sync, restart,
// roll back, unpin) behind a confirmation.
//
// The pages are rendered on the server with html/template from the wire types of package
// reconcile/api; the stylesheet and a small hand-written script are embedded (no Node build).
// The console talks to the reconciler only through a Backend (the server implements it) and
// never to Kubernetes itself.
//
//	GET  /login, POST /login, POST /logout     a project or admin token → a session cookie
//	GET  /                                     the apps, grouped by project, ?project= &status=
//	GET  /apps/NAME                            resource tree (?node=ID: its details and events)
//	GET  /apps/NAME/diff|history|events|logs   the other tabs
//	GET  /apps/NAME/sync|restart|rollback|unpin   the confirmation (dry run first for sync)
//	POST /apps/NAME/sync|restart|rollback|unpin   the action
//	GET  /stream, /apps/NAME/stream            the page's live updates (server-sent events)
//
// Live updates: the server calls Console.Publish with an app's new state; every open page has
// one event stream and gets the states it shows, as HTML fragments it swaps in. Pages do not
// poll.
//
// Security: nothing but /login and the assets is readable without a session. A session is a
// signed cookie (HMAC-SHA256 with Options.SessionKey; HttpOnly, SameSite=Strict, Secure under
// TLS) that carries the principal, never the token. Every form carries a CSRF token derived
// from the session, and a POST without it is refused. A project's member sees and acts on the
// project's apps only: an app of another project is answered 404, like one that does not exist.
// Everything from the cluster, a repository or a caller is escaped by html/template, and the
// Content-Security-Policy allows only the console's own script.
package console
