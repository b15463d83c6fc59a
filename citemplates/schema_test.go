package citemplates_test

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/tagrelay/tagrelay/citemplates"
)

// gitlabSchema is GitLab's CI schema, app/assets/javascripts/editor/schema/ci.json, as bundled by
// gitlab-ci-local (see testdata/README.md).
var gitlabSchema = sync.OnceValues(func() (*jsonschema.Schema, error) {
	f, err := os.Open("testdata/gitlab-ci.schema.json")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("https://gitlab.com/.gitlab-ci.yml", doc); err != nil {
		return nil, err
	}
	return c.Compile("https://gitlab.com/.gitlab-ci.yml")
})

// validate checks one configuration against GitLab's schema.
func validate(t *testing.T, config any) error {
	t.Helper()
	s, err := gitlabSchema()
	if err != nil {
		t.Fatalf("loading GitLab's CI schema: %v", err)
	}
	b, err := json.Marshal(config)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return s.Validate(doc)
}

// concrete turns every hidden job of config into a real job (extends resolved) in a pipeline
// of its own, because the schema accepts anything under a hidden key.
func concrete(t *testing.T, config map[string]any) map[string]any {
	t.Helper()
	out := map[string]any{}
	for k, v := range config {
		if !strings.HasPrefix(k, ".") {
			out[k] = v
		}
	}
	for _, h := range citemplates.HiddenJobs(config) {
		job, err := citemplates.Resolve(config, h)
		if err != nil {
			t.Fatalf("%s: %v", h, err)
		}
		if _, ok := job["script"]; !ok {
			continue // a fragment, not a job
		}
		out["job"+strings.NewReplacer(".", "-", ":", "-").Replace(h)] = job
	}
	return out
}

func TestIncludeTemplatesPassGitLabSchema(t *testing.T) {
	t.Parallel()
	include, err := citemplates.LoadGitLab(templates, citemplates.GitLabInclude)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{citemplates.GitLabInclude, citemplates.GitLabRepoPullSync} {
		config, err := citemplates.LoadGitLab(templates, p)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if err := validate(t, config); err != nil {
			t.Errorf("%s: as written: %v", p, err)
		}
		if p == citemplates.GitLabRepoPullSync { // its include brings the .tagrelay:* jobs
			for k, v := range include {
				config[k] = v
			}
			delete(config, "include")
		}
		if err := validate(t, concrete(t, config)); err != nil {
			t.Errorf("%s: hidden jobs as real jobs: %v", p, err)
		}
	}
}

func TestComponentsPassGitLabSchema(t *testing.T) {
	t.Parallel()
	comps, err := citemplates.Components(templates)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range comps {
		header, err := citemplates.ParseGitLab(c.Header)
		if err != nil {
			t.Fatalf("%s: %v", c.Path, err)
		}
		if err := validate(t, header); err != nil {
			t.Errorf("%s: spec header: %v", c.Path, err)
		}
		body, err := c.Interpolate(sampleInputs(c))
		if err != nil {
			t.Fatalf("%s: %v", c.Path, err)
		}
		config, err := citemplates.ParseGitLab(body)
		if err != nil {
			t.Fatalf("%s: %v", c.Path, err)
		}
		if err := validate(t, config); err != nil {
			t.Errorf("%s: interpolated with %v: %v\n%s", c.Path, sampleInputs(c), err, body)
		}
	}
	project, err := citemplates.LoadGitLab(templates, citemplates.ComponentProject+"/.gitlab-ci.yml")
	if err != nil {
		t.Fatal(err)
	}
	if err := validate(t, project); err != nil {
		t.Errorf("component project pipeline: %v", err)
	}
}

// The validator must be able to fail: a template broken in ways GitLab refuses is refused.
func TestGitLabSchemaRefusesBrokenJobs(t *testing.T) {
	t.Parallel()
	config, err := citemplates.LoadGitLab(templates, citemplates.GitLabInclude)
	if err != nil {
		t.Fatal(err)
	}
	push, _ := citemplates.Resolve(config, ".tagrelay:push")
	for name, mutate := range map[string]func(j map[string]any){
		"resource_group list": func(j map[string]any) { j["resource_group"] = []any{"a"} },
		"dotenv typo":         func(j map[string]any) { j["artifacts"] = map[string]any{"report": map[string]any{"dotenv": "x"}} },
		"unknown keyword":     func(j map[string]any) { j["scripts"] = j["script"] },
		"image entrypoint":    func(j map[string]any) { j["image"] = map[string]any{"name": "x", "entrypoint": ""} },
	} {
		j := map[string]any{}
		for k, v := range push {
			j[k] = v
		}
		mutate(j)
		if err := validate(t, map[string]any{"push": j}); err == nil {
			t.Errorf("%s: the schema accepted the broken job", name)
		}
	}
}

// sampleInputs gives every required input a value of its type.
func sampleInputs(c *citemplates.Component) map[string]any {
	out := map[string]any{}
	for _, in := range c.Inputs {
		if !in.Required() {
			continue
		}
		switch in.Type {
		case citemplates.TypeBoolean:
			out[in.Name] = true
		case citemplates.TypeNumber:
			out[in.Name] = 1
		case citemplates.TypeArray:
			out[in.Name] = []any{"a"}
		default:
			out[in.Name] = "https://example.test/" + in.Name
		}
	}
	return out
}
