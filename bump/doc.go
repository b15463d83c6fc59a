// Package bump points container images at a new tag in infra files — Kustomize kustomizations,
// Helm values (HelmRelease values included) and Kubernetes manifests — changing only the bytes of
// the tag, in a checkout or straight in a git repository. It is what `tagrelay bump` and the bump
// step of `tagrelay release` call.
//
// # Only the tag's bytes change
//
// Files are never decoded and re-encoded. Each is parsed (kyaml's yaml.v3 nodes) only to find
// where the values are; the change is a list of splices on the original bytes, each replacing
// exactly the old tag (or digest) with the new one. Comments, key order, quoting style,
// indentation, blank lines, document separators, anchors, CRLF line ends and a missing final
// newline all come out byte-identical. A new value that would not read back as a string (a commit
// SHA such as 1234e567 is a float to YAML) is double-quoted. A value whose written form is not its
// value — an escaped or block scalar, an alias — is refused (ErrUnsupported) rather than
// re-serialised. Every rewrite is verified before it is returned: the new bytes parse, and
// rewriting them again changes nothing. The reference is the corpus of real files in
// ../shared/corpus/bump.
//
// # Targets and kinds
//
// A Target names an image by repository (matched exactly, after the docker.io defaults: nginx is
// docker.io/library/nginx; a name that is only a prefix of another never matches) and its new
// tag; Digest pins it too, and Key targets one node by dotted path instead of searching. The Kind
// of a file says how it is searched (KindAuto decides per file):
//   - KindKustomize: the images: entries whose name (else newName) matches get newTag, inserted
//     at the siblings' indentation when absent. An image not listed is not found: never appended.
//   - KindHelm: maps whose repository (joined with a sibling registry), image or name matches get
//     their tag (or imageTag); image strings ("repo:tag") under keys named *image get their tag.
//   - KindManifest: every image of containers, initContainers and ephemeralContainers, in every
//     document and workload kind, and the values of a HelmRelease.
//
// A digest pinned next to the tag would make a tag-only bump deploy nothing new: it is
// ErrPinnedDigest unless the target carries the new digest (CheckImages and Pin resolve it).
//
// # Plan, Rewrite, Push
//
// Rewrite edits one file's bytes. Plan edits the files and directories named (every YAML file
// below a directory, hidden directories and symbolic links passed by) of any fs.FS and returns
// the Result without writing anything; WriteFiles then writes a checkout atomically:
//
//	res, err := bump.Plan(os.DirFS(root), []string{"envs/prod"}, targets, bump.KindAuto)
//	if errors.Is(err, bump.ErrUnchanged) { … } // every target already at its tag: a no-op
//	err = bump.WriteFiles(root, res)
//
// Push does the same on a git repository without a worktree: a shallow fetch of the branch tip
// into memory, Plan on its tree, new blobs and trees for the changed files only, one commit, and a
// push that requires the branch to still be at the fetched tip. A push that lost a race with
// another writer is re-applied on the new tip and retried with backoff. PushOptions.CheckImage
// looks every image up in its registry first, so a tag the build has not pushed is never deployed:
//
//	commit, err := bump.Push(ctx, bump.Remote{URL: url, Auth: auth}, paths, targets, bump.PushOptions{
//		CheckImage: func(ctx context.Context, ref string) (string, error) { return reg.Verify(ctx, ref, 10*time.Minute) },
//	})
//
// Symbolic links are never followed nor edited: a path that is (or goes through) a link is
// ErrSymlink, a path that climbs out of the tree ErrOutsideTree. Errors carry an errdefs class, so
// the command line maps them to exit codes: ErrUnchanged is a refused no-op (3), ErrImageNotFound
// and ErrPinnedDigest unmet preconditions (4), ErrInvalidYAML, ErrNoTarget and bad targets input
// errors (2).
package bump
