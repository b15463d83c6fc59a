package citemplates

import (
	"io/fs"
	"path"
	"sort"
)

// Paths of the templates inside the ci-templates directory.
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

// ActionWorkflows returns the paths of the example workflows in fsys, the ci-templates
// directory, sorted.
func ActionWorkflows(fsys fs.FS) ([]string, error) {
	m, err := fs.Glob(fsys, path.Join(ActionExamples, "*.yml"))
	sort.Strings(m)
	return m, err
}
