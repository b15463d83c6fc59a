// Package forge talks to the GitLab and GitHub APIs for tagrelay: start the next stage of a
// delivery chain and follow it to its end, and open (or update) the merge request or pull request
// of a pushed branch.
//
// GitLab (gitlab.com/gitlab-org/api/client-go):
//
//	gl, _ := forge.NewGitLab("https://gitlab.example.com", apiToken)
//	run, _ := gl.TriggerPipeline(ctx, "group/app", "main", vars, triggerToken) // or CreatePipeline
//	run, err := gl.WaitPipeline(ctx, "group/app", run.ID, forge.WithProgress(print))
//	var f *forge.RunFailure // errors.As(err, &f): f.Jobs are the failed jobs, with URLs
//	mr, _ := gl.OpenMergeRequest(ctx, "group/infra", forge.ChangeRequest{SourceBranch: "bump", TargetBranch: "main", Title: "…"})
//
// GitHub (github.com/google/go-github):
//
//	gh, _ := forge.NewGitHub("", token) // "" is api.github.com; a GHES URL otherwise
//	run, _ := gh.DispatchWorkflow(ctx, "org/app", "deploy.yml", "main", inputs)
//	run, err = gh.WaitRun(ctx, "org/app", run.ID)
//	_ = gh.DispatchEvent(ctx, "org/app", "deploy", payload)
//	pr, _ := gh.OpenPullRequest(ctx, "org/infra", forge.ChangeRequest{…})
//
// A merge or pull request of a pushed branch, from the branch's clone URL:
//
//	repo, _ := forge.RepositoryOf(forge.KindGitLab, "https://gitlab.example.com/group/infra.git", "", "")
//	change, _ := forge.OpenChange(ctx, repo, token, forge.ChangeRequest{…}, forge.WithHTTPClient(c))
//
// Tokens are sent as headers (or, for GitLab trigger tokens, in the request body), never in a URL,
// so no error message or log line can show them. Waits poll until the run ends or ctx is done; a
// run that ends in anything but success is a *RunFailure naming the failed jobs.
//
// WithHTTPClient carries the TLS configuration (a private CA) and proxies. Both forges share one
// retry policy (Retry): 429, 5xx answers and network errors are tried again with backoff, a POST
// only when the forge cannot have acted on it; a wait polls through a few failed reads as well.
// A failed call is a *Error with the HTTP status, and its hint says what happened in the forge's
// terms; which flag to change is the command line's to say.
package forge
