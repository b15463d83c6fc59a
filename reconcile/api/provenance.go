package api

// AppCommit is a commit of an app repository that a deploy carries: the commit its images were
// built from, read from the provenance trailers (Tagrelay-Image, Tagrelay-Source-Commit,
// Tagrelay-Source-Repo) that tagrelay bump writes on the infra commits deployed. It is what the
// notifications mark (commit statuses, GitHub deployments, merge request notes) and what the
// console links to.
type AppCommit struct {
	// Commit is the app commit's full SHA.
	Commit string `json:"commit"`
	// Repo is the app repository's URL, without credentials; "" when the trailers do not say.
	Repo string `json:"repo,omitempty"`
	// Images are the images built from the commit that the deploy runs, NAME:TAG.
	Images []string `json:"images"`
	// InfraCommit is the newest infra commit that names it.
	InfraCommit string `json:"infraCommit"`
}
