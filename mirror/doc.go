// Package mirror synchronises the branches and tags of one git remote into another, incrementally
// and safely: the GitOps hop from an external repository into an internal GitLab.
//
//	res, err := mirror.Sync(ctx,
//		mirror.Remote{URL: "https://github.com/org/app.git"},
//		mirror.Remote{URL: "https://gitlab.internal/team/app.git", Credentials: creds},
//		mirror.Options{All: true, Tags: true, Prune: true, CacheDir: dir})
//
// One Sync lists the destination (go-git, one ref advertisement) while it fetches what the source
// has that a persistent bare cache lacks (the git CLI; when the refs cannot be known up front, the
// source is listed with go-git first), plans every ref (create, fast-forward update, delete, or
// refuse), checks the commits it will push for Git LFS pointers (and with Options.LFS copies the
// missing objects between the two LFS servers), pushes the plan with the git CLI and returns what
// changed.
//
// Why two git implementations: go-git plans (listing, ancestry over the cache's object graph,
// state), the git CLI transfers. Measured on a 158 MB / 17k-commit repository over smart HTTP,
// go-git was 2.3× slower to clone, 4.3× slower (1.6 GB RSS) to push to an empty remote and 31×
// slower to push one commit; its Prune with a force refspec deletes the destination's refs
// (go-git #172, #520). The git CLI (≥ 2.31) is therefore required.
//
// Safety rules, each enforced by the plan:
//   - Only refs/heads/* and refs/tags/* are read and pushed; hidden refs such as
//     refs/merge-requests/*, refs/pipelines/* and refs/keep-around/* never are.
//   - Every push carries the destination value it was planned against (--force-with-lease with an
//     explicit old value), so a concurrent writer is never overwritten.
//   - A branch that would move backwards or sideways, or a tag that would move, is refused unless
//     Options.Force; the other refs are still pushed, and Sync returns ErrNonFastForward with the
//     refused refs in Result.RefusedRefs, the protected (deploy) refs first. Options.Atomic makes
//     it all or nothing (git push --atomic).
//   - Commits holding Git LFS pointers are pushed only with their objects: Options.LFS copies the
//     objects the destination's LFS server lacks first (each checked against its pointer), and
//     without it the sync is refused (ErrLFSPointers, nothing pushed).
//   - Options.Prune deletes only refs that this tool mirrored from the source before and that the
//     destination has not changed since (state kept in the cache); internal-only refs are never
//     deleted.
//   - A sync that would change nothing pushes nothing and returns ErrUnchanged.
//
// Credentials travel to git as an http.extraHeader through environment variables
// (internal/gitauth), and to each side's own LFS server as an Authorization header, never in a URL,
// argv or a log line. The cache is readable by its owner only.
package mirror
