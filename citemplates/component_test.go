package citemplates_test

import (
	"io/fs"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tagrelay/tagrelay/citemplates"
)

// templates is the ci-templates directory of this checkout, as the package reads it.
var templates = os.DirFS("../ci-templates")

var jobs = []string{"bump", "deploy", "deploy-argocd", "deploy-flux", "mirror", "push", "release"}

// GitLab's rules for a component project: https://docs.gitlab.com/ci/components/#directory-structure
func TestComponentProjectLayout(t *testing.T) {
	t.Parallel()
	fsys := templates
	for _, f := range []string{"README.md", "templates", ".gitlab-ci.yml"} {
		if _, err := fs.Stat(fsys, path.Join(citemplates.ComponentProject, f)); err != nil {
			t.Errorf("component project lacks %s: %v", f, err)
		}
	}
	comps, err := citemplates.Components(templates)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range comps {
		names = append(names, c.Name)
	}
	if diff := cmp.Diff(jobs, names); diff != "" {
		t.Errorf("components (-want +got):\n%s", diff)
	}
	readme, _ := fs.ReadFile(fsys, path.Join(citemplates.ComponentProject, "README.md"))
	for _, n := range names {
		if !strings.Contains(string(readme), "`"+n+"`") {
			t.Errorf("README.md does not document the component %s", n)
		}
	}
}

var inputName = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

func TestComponentInputs(t *testing.T) {
	t.Parallel()
	comps, err := citemplates.Components(templates)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range comps {
		used, err := c.Used()
		if err != nil {
			t.Fatal(err)
		}
		var declared []string
		for _, in := range c.Inputs {
			declared = append(declared, in.Name)
			if !inputName.MatchString(in.Name) {
				t.Errorf("%s: input %q: use lowercase snake_case", c.Path, in.Name)
			}
			if in.Description == "" {
				t.Errorf("%s: input %s has no description", c.Path, in.Name)
			}
		}
		slices.Sort(declared)
		if diff := cmp.Diff(declared, used); diff != "" {
			t.Errorf("%s: declared inputs vs used ones (-declared +used):\n%s", c.Path, diff)
		}
		for _, want := range []string{"job_name", "stage", "cli_image", "cli_version"} {
			if !slices.Contains(declared, want) {
				t.Errorf("%s: no %s input", c.Path, want)
			}
		}
		if strings.Contains(string(c.Body), "include:") {
			t.Errorf("%s: a component must be self-contained", c.Path)
		}
	}
}

func TestInterpolate(t *testing.T) {
	t.Parallel()
	c, err := citemplates.ParseComponent("x", "templates/x.yml", []byte(`spec:
  inputs:
    name: {default: job}
    flag: {type: boolean, default: false}
    list: {type: array, default: [a, b]}
    need: {description: required}
    level: {default: low, options: [low, high]}
---
"$[[ inputs.name ]]-1":
  variables:
    FLAG: "$[[ inputs.flag ]]"
    TEXT: "flag is $[[ inputs.flag ]] for $[[ inputs.need ]]"
    LEVEL: $[[ inputs.level ]]
  needs: $[[ inputs.list ]]
`))
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Interpolate(map[string]any{"need": "me", "flag": true})
	if err != nil {
		t.Fatal(err)
	}
	want := `job-1:
    variables:
        FLAG: true
        TEXT: flag is true for me
        LEVEL: low
    needs:
        - a
        - b
`
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Errorf("Interpolate() (-want +got):\n%s", diff)
	}
	for name, values := range map[string]map[string]any{
		"missing required": {},
		"unknown input":    {"need": "x", "nope": 1},
		"wrong type":       {"need": "x", "flag": "yes"},
		"not an option":    {"need": "x", "level": "medium"},
	} {
		if _, err := c.Interpolate(values); err == nil {
			t.Errorf("Interpolate(%s) = nil error", name)
		}
	}
	if _, err := citemplates.ParseComponent("x", "x.yml", []byte("job: {script: [a]}\n")); err == nil {
		t.Error("ParseComponent(no header) = nil error")
	}
	if _, err := citemplates.ParseComponent("x", "x.yml", []byte("spec:\n  inputs:\n    a: {type: boolean, default: maybe}\n---\nj: {}\n")); err == nil {
		t.Error("ParseComponent(bad default) = nil error")
	}
}

// The include template and the components are two spellings of the same jobs: what runs must be
// the same.
func TestComponentsRunWhatTheIncludeRuns(t *testing.T) {
	t.Parallel()
	include, err := citemplates.LoadGitLab(templates, citemplates.GitLabInclude)
	if err != nil {
		t.Fatal(err)
	}
	comps, err := citemplates.Components(templates)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range comps {
		inc, err := citemplates.Resolve(include, ".tagrelay:"+c.Name)
		if err != nil {
			t.Fatal(err)
		}
		body, err := c.Interpolate(sampleInputs(c))
		if err != nil {
			t.Fatal(err)
		}
		config, _ := citemplates.ParseGitLab(body)
		job := config["tagrelay-"+c.Name].(map[string]any)
		for _, key := range []string{"before_script", "script", "artifacts", "rules", "interruptible"} {
			want, got := inc[key], job[key]
			if key == "script" && c.Name == "mirror" { // the component unsets false booleans first
				got = job[key].([]any)[1:]
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s: %s differs from the include's .tagrelay:%s (-include +component):\n%s", c.Path, key, c.Name, diff)
			}
		}
		if (inc["resource_group"] == nil) != (job["resource_group"] == nil) {
			t.Errorf("%s: resource_group %v, the include's %v", c.Path, job["resource_group"], inc["resource_group"])
		}
	}
}

// Product rules every job follows.
func TestJobRules(t *testing.T) {
	t.Parallel()
	include, err := citemplates.LoadGitLab(templates, citemplates.GitLabInclude)
	if err != nil {
		t.Fatal(err)
	}
	writers := map[string]bool{"bump": true, "mirror": true, "deploy": true, "deploy-argocd": true, "deploy-flux": true, "release": true}
	for _, name := range jobs {
		job, err := citemplates.Resolve(include, ".tagrelay:"+name)
		if err != nil {
			t.Fatal(err)
		}
		if writers[name] && job["resource_group"] == nil {
			t.Errorf(".tagrelay:%s writes to a repository or a cluster but has no resource_group", name)
		}
		dotenv, _ := job["artifacts"].(map[string]any)["reports"].(map[string]any)["dotenv"].(string)
		if !strings.Contains(strings.Join(scripts(job["script"]), "\n"), "--dotenv "+dotenv) {
			t.Errorf(".tagrelay:%s: its dotenv report %q is not what the command writes", name, dotenv)
		}
		image := job["image"].(map[string]any)["name"].(string)
		if !strings.Contains(image, "${TAGRELAY_CLI_VERSION}") {
			t.Errorf(".tagrelay:%s: image %q is not pinned by TAGRELAY_CLI_VERSION", name, image)
		}
	}
	data, _ := fs.ReadFile(templates, citemplates.GitLabInclude)
	for _, bad := range []string{":latest", "CI_COMMIT_REF_NAME", "CI_COMMIT_BRANCH}"} {
		if strings.Contains(string(data), bad) {
			t.Errorf("%s uses %s: tags must be the commit's", citemplates.GitLabInclude, bad)
		}
	}
}

func scripts(v any) []string {
	var out []string
	for _, s := range v.([]any) {
		out = append(out, s.(string))
	}
	return out
}
