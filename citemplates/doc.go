// Package citemplates understands tagrelay's CI templates (the ci-templates directory, data
// only) enough to check them: GitLab CI include templates, GitLab CI/CD components with their
// `spec: inputs:` header and `$[[ inputs.NAME ]]` interpolation, and the GitHub composite
// action. It reads them from any fs.FS: tests pass os.DirFS("../ci-templates"); a tool that
// ships them would pass an embed.FS of its own.
//
//	fsys := os.DirFS("ci-templates")
//	comps, _ := citemplates.Components(fsys)       // templates/<name>.yml of the component project
//	body, _ := comps[0].Interpolate(map[string]any{"dest": "harbor.example/team/app"})
//
// Interpolate follows GitLab's rules for the subset the components use: every input used must be
// declared, inputs without a default are required, values must match the declared type and
// options, and unknown inputs are refused.
package citemplates
