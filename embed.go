// Package tagrelay is the module root. It holds nothing but the CI templates as embedded data.
// An embed directive cannot reach a parent directory, and ci-templates/ must stay where users
// point `include: project` and `uses:` at, so the files are embedded here and served by the
// citemplates package.
package tagrelay

import "embed"

// CITemplates is the ci-templates directory: GitLab include templates and components, and the
// GitHub Action. Use the citemplates package to read it.
//
//go:embed all:ci-templates
var CITemplates embed.FS
