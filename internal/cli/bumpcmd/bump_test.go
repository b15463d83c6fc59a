package bumpcmd

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/tagrelay/tagrelay/internal/cli/clitest"
)

const deployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
spec:
  template:
    spec:
      initContainers:
        - name: migrate
          image: harbor.example/team/api:0.9.0
      containers:
        - name: api
          image: harbor.example/team/api:0.9.0 # app
        - name: sidecar
          image: harbor.example/team/api-proxy:0.9.0
`

const values = `image:
  registry: harbor.example
  repository: team/web
  tag: "1.0.0"
  digest: ""
`

// TestBumpBadInput: each bad input exits with its code, says what was wrong, and writes nothing.
func TestBumpBadInput(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		files map[string]string
		args  []string
		code  int
		msg   string
	}{
		{"unparsable YAML", map[string]string{"d.yaml": "a: [1, 2\nb: 3\n"}, []string{"--file", "d.yaml", "--image", "nginx", "--tag", "1"}, 2, "invalid YAML: d.yaml"},
		{"tag with a space", map[string]string{"d.yaml": deployment}, []string{"--file", "d.yaml", "--image", "harbor.example/team/api", "--tag", "bad tag"}, 2, `invalid tag "bad tag"`},
		{"tag of 129 characters", map[string]string{"d.yaml": deployment}, []string{"--file", "d.yaml", "--image", "harbor.example/team/api", "--tag", strings.Repeat("a", 129)}, 2, "invalid tag"},
		{"tag starting with a dot", map[string]string{"d.yaml": deployment}, []string{"--file", "d.yaml", "--image", "harbor.example/team/api", "--tag", ".v1"}, 2, "invalid tag"},
		{"uppercase repository", map[string]string{"d.yaml": deployment}, []string{"--file", "d.yaml", "--image", "harbor.example/Team/API", "--tag", "v1"}, 2, `invalid image "harbor.example/Team/API"`},
		{"image with a tag", map[string]string{"d.yaml": deployment}, []string{"--file", "d.yaml", "--image", "harbor.example/team/api:v1", "--tag", "v2"}, 2, "without a tag"},
		{"bad --set", map[string]string{"d.yaml": deployment}, []string{"--file", "d.yaml", "--set", "harbor.example/team/api"}, 2, "want IMAGE=TAG"},
		{"unknown kind", map[string]string{"d.yaml": deployment}, []string{"--file", "d.yaml", "--image", "nginx", "--tag", "1", "--kind", "jsonnet"}, 2, `unknown kind "jsonnet"`},
		{"missing file", map[string]string{"d.yaml": deployment}, []string{"--file", "nope.yaml", "--image", "nginx", "--tag", "1"}, 2, "nope.yaml: no such file"},
		{"no file", nil, []string{"--image", "nginx", "--tag", "1"}, 2, "no file given"},
		{"image absent", map[string]string{"d.yaml": deployment}, []string{"--file", "d.yaml", "--image", "harbor.example/team/ap", "--tag", "1"}, 4, "image not found: harbor.example/team/ap in"},
		{"directory with no match", map[string]string{"a/d.yaml": deployment, "a/b/v.yaml": values}, []string{"--file", "a", "--image", "docker.io/library/nginx", "--tag", "1"}, 4, "image not found: docker.io/library/nginx in a (0 files read)"},
		{"tag already current", map[string]string{"d.yaml": deployment}, []string{"--file", "d.yaml", "--image", "harbor.example/team/api", "--tag", "0.9.0"}, 3, "tag already current: harbor.example/team/api:0.9.0 in d.yaml; nothing was written; the deploy would not change"},
		{"pinned digest", map[string]string{"d.yaml": strings.Replace(deployment, "api:0.9.0 # app", "api:0.9.0@sha256:"+strings.Repeat("a", 64)+" # app", 1)}, []string{"--file", "d.yaml", "--image", "harbor.example/team/api", "--tag", "1.0.0"}, 4, "is pinned to sha256:aaaa"},
		{"pinned digest in values", map[string]string{"v.yaml": strings.Replace(values, `digest: ""`, "digest: sha256:"+strings.Repeat("b", 64), 1)}, []string{"--file", "v.yaml", "--image", "harbor.example/team/web", "--tag", "1.0.1"}, 4, "pass --digest"},
		{"yaml anchor", map[string]string{"v.yaml": "x: &t 1.0\nimage:\n  repository: nginx\n  tag: *t\n"}, []string{"--file", "v.yaml", "--image", "nginx", "--tag", "1.1"}, 4, "anchor or alias"},
		{"key holds another image", map[string]string{"v.yaml": "app:\n  image: nginx:1.0\n"}, []string{"--file", "v.yaml", "--image", "redis", "--tag", "1.1", "--key", "app.image"}, 4, "key app.image holds image nginx, not redis"},
		{"unexpected argument", map[string]string{"d.yaml": deployment}, []string{"--file", "d.yaml", "--image", "nginx", "--tag", "1", "extra"}, 2, `unexpected argument "extra"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			for name, content := range tc.files {
				clitest.WriteFile(t, dir, name, content)
			}
			args := append([]string{"bump"}, tc.args...)
			for i, a := range args {
				if i > 0 && args[i-1] == "--file" {
					args[i] = filepath.Join(dir, a)
				}
			}
			got := runCLI(t, nil, args...)
			if got.Code != tc.code || !strings.Contains(got.Stderr, tc.msg) {
				t.Errorf("exit %d, stderr %q; want %d containing %q", got.Code, got.Stderr, tc.code, tc.msg)
			}
			if n := strings.Count(strings.TrimSpace(got.Stderr), "\n"); n != 0 {
				t.Errorf("stderr has %d lines, want one:\n%s", n+1, got.Stderr)
			}
			for name, content := range tc.files {
				if after := clitest.ReadFile(t, filepath.Join(dir, name)); after != content {
					t.Errorf("%s was written:\n%s", name, after)
				}
			}
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				if strings.Contains(e.Name(), ".tagrelay-") {
					t.Errorf("temporary file left behind: %s", e.Name())
				}
			}
		})
	}
}

func TestBumpLocal(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	d := clitest.WriteFile(t, dir, "app/deployment.yaml", deployment)
	v := clitest.WriteFile(t, dir, "app/values.yaml", values)
	clitest.WriteFile(t, dir, "app/templates/broken.yaml", "image: {{ .Values.image.repository }}:{{ .Values.image.tag }}\n")
	clitest.WriteFile(t, dir, "app/.git/config.yaml", "image: harbor.example/team/api:0.9.0\n")

	got := runCLI(t, map[string]string{"CI_COMMIT_SHORT_SHA": "1234e567"},
		"bump", "--file", filepath.Join(dir, "app"), "--set", "harbor.example/team/web=2.0.0", "--image", "harbor.example/team/api", "--output", "json")
	if got.Code != 0 {
		t.Fatalf("exit %d: %s", got.Code, got.Stderr)
	}
	wantDeploy := strings.NewReplacer("team/api:0.9.0", "team/api:1234e567").Replace(deployment)
	if diff := cmp.Diff(wantDeploy, clitest.ReadFile(t, d)); diff != "" {
		t.Errorf("deployment (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(strings.Replace(values, `tag: "1.0.0"`, `tag: "2.0.0"`, 1), clitest.ReadFile(t, v)); diff != "" {
		t.Errorf("values (-want +got):\n%s", diff)
	}
	var res struct {
		Files []struct {
			Path    string
			Changes []struct{ Image, From, To string }
		}
	}
	if err := json.Unmarshal([]byte(got.Stdout), &res); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, got.Stdout)
	}
	if len(res.Files) != 2 || res.Files[0].Path != "app/deployment.yaml" || len(res.Files[0].Changes) != 2 || res.Files[0].Changes[0].To != "1234e567" {
		t.Errorf("JSON result = %+v", res)
	}
}

func TestBumpQuotesNonStringTags(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	k := clitest.WriteFile(t, dir, "kustomization.yaml", "images:\n- name: app\n  newTag: v1\n- name: other\n")
	if got := runCLI(t, nil, "bump", "--file", k, "--set", "app=12345e67", "--set", "other=0777"); got.Code != 0 {
		t.Fatalf("exit %d: %s", got.Code, got.Stderr)
	}
	want := "images:\n- name: app\n  newTag: \"12345e67\"\n- name: other\n  newTag: \"0777\"\n"
	if diff := cmp.Diff(want, clitest.ReadFile(t, k)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestBumpDryRunWritesNothing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	v := clitest.WriteFile(t, dir, "values.yaml", values)
	got := runCLI(t, nil, "bump", "--file", v, "--image", "harbor.example/team/web", "--tag", "1.1.0", "--dry-run")
	if got.Code != 0 || !strings.Contains(got.Stdout, "-  tag: \"1.0.0\"\n+  tag: \"1.1.0\"") {
		t.Errorf("exit %d, stdout:\n%s\nstderr: %s", got.Code, got.Stdout, got.Stderr)
	}
	if clitest.ReadFile(t, v) != values {
		t.Errorf("dry run wrote the file")
	}
}

func TestBumpAllowNoop(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	v := clitest.WriteFile(t, dir, "values.yaml", values)
	got := runCLI(t, nil, "bump", "--file", v, "--image", "harbor.example/team/web", "--tag", "1.0.0", "--allow-noop")
	if got.Code != 0 || !strings.Contains(got.Stderr, "no-op accepted") {
		t.Errorf("exit %d, stderr %q; want 0 and a warning", got.Code, got.Stderr)
	}
}

func TestBumpDefaultTag(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		vars map[string]string
		want string
		code int
	}{
		{map[string]string{"CI_COMMIT_SHORT_SHA": "abcd1234", "GITHUB_SHA": "ffffffffffff"}, "abcd1234", 0},
		{map[string]string{"GITHUB_SHA": "0123456789abcdef"}, "01234567", 0},
		{nil, "", 2},
	} {
		dir := t.TempDir()
		v := clitest.WriteFile(t, dir, "values.yaml", values)
		got := runCLI(t, tc.vars, "bump", "--file", v, "--image", "harbor.example/team/web")
		if got.Code != tc.code {
			t.Errorf("vars %v: exit %d (%s), want %d", tc.vars, got.Code, got.Stderr, tc.code)
			continue
		}
		if tc.code == 0 && !strings.Contains(clitest.ReadFile(t, v), `tag: "`+tc.want+`"`) {
			t.Errorf("vars %v: tag not %s:\n%s", tc.vars, tc.want, clitest.ReadFile(t, v))
		}
		if tc.code == 2 && !strings.Contains(got.Stderr, "no tag given") {
			t.Errorf("stderr = %q", got.Stderr)
		}
	}
}
