package citemplates

import (
	"io/fs"
	"path"
	"sort"

	"github.com/tagrelay/tagrelay"
)

// Paths of the templates inside FS.
const (
	// GitLabInclude is the include template with the .tagrelay:* hidden jobs.
	GitLabInclude = "gitlab/tagrelay.gitlab-ci.yml"
	// GitLabRepoPullSync is the drop-in for Cloud π Native's .repo_pull_sync.
	GitLabRepoPullSync = "gitlab/repo-pull-sync.gitlab-ci.yml"
	// ComponentProject is the root of the component project, published as a project of its own.
	ComponentProject = "gitlab/components"
	// Action is the GitHub composite action.
	Action = "github/action.yml"
	// ActionExamples holds example workflows that use the action.
	ActionExamples = "github/examples"
)

// FS returns the ci-templates directory.
func FS() fs.FS {
	sub, err := fs.Sub(tagrelay.CITemplates, "ci-templates")
	if err != nil {
		panic(err) // the embed pattern guarantees the directory
	}
	return sub
}

// ActionWorkflows returns the paths of the example workflows, sorted.
func ActionWorkflows() ([]string, error) {
	m, err := fs.Glob(FS(), path.Join(ActionExamples, "*.yml"))
	sort.Strings(m)
	return m, err
}
