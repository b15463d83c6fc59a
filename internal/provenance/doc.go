// Package provenance is the one format of the git trailers that tie an infra commit to the app
// commit its images were built from. tagrelay bump writes them after the commit message; the
// reconciler reads them back, so every deploy knows the app commits it carries:
//
//	deploy: harbor.example/team/web:1a2b3c4d
//
//	envs/prod/kustomization.yaml:7: harbor.example/team/web 0f9e8d7c -> 1a2b3c4d
//
//	Tagrelay-Image: harbor.example/team/web:1a2b3c4d
//	Tagrelay-Source-Commit: 1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d
//	Tagrelay-Source-Repo: https://gitlab.example.com/team/web
//
// The block follows git interpret-trailers: the trailers join the message's last paragraph when it
// already is a trailer block (Signed-off-by, the pipeline's Source:), else they open a new one, so
// `git log --format=%(trailers)` and GitLab's commit API (trailers=true) show them.
//
// Writing is strict — a commit that is not a full hexadecimal SHA, or a value with a line break,
// is an error, and a repository URL loses its user info, query and fragment (a token never lands
// in a commit). Reading is lenient and bounded, because the infra repository is written by project
// teams: values that do not parse are dropped, never trusted, and at most MaxImages images are
// kept. The package imports the standard library only: bump (CLI side) and the reconciler both use
// it.
package provenance
