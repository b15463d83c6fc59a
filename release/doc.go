// Package release is `tagrelay release`: one manual release of an app, from a small file in its
// repository (.tagrelay.yaml), as a sequence of steps run in order and stopped at the first
// failure:
//
//	push     promote the commit's image (REPOSITORY:COMMIT, what CI pushed) to the version tag
//	bump     point the infra repository's files at the released tag, one commit
//	mirror   copy the repositories (app, infra) into the internal GitLab
//	trigger  sync the app on tagrelay-reconciler and wait for the rollout
//
// Plan is read-only: it asks the registry, the infra repository and the destinations what each
// step would change, so the plan can be shown and confirmed before anything is written. Run
// executes the steps. Each step recognises that it is already done from the state of what it
// writes to — a tag that already points at the digest, files that already hold the tag, a
// destination that already has the refs, a reconciler that already runs the image — so a release
// interrupted anywhere and run again finishes without writing anything twice: no second commit,
// no moved tag. When every step was already done, Run returns ErrAlreadyReleased (exit 3, the
// same-tag release refusal). A failure is a *StepError that says which steps were done and which
// were not.
//
// The package is CLI-free: credentials and clients come in Options, secrets are looked up
// through Options.Secret by the names the configuration gives.
package release
