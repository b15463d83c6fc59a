package bumpcmd

import (
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tagrelay/tagrelay/internal/cli/clitest"
	"github.com/tagrelay/tagrelay/internal/gittest"
)

const podinfo = "ghcr.io/stefanprodan/podinfo"

// overridesDir is the podinfo-shaped repository of reconcile/render's tests.
const overridesDir = "../../../reconcile/render/testdata/overrides"

// overrides returns the fixture's files (path → content).
func overrides(t *testing.T) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := fs.WalkDir(os.DirFS(overridesDir), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(filepath.Join(overridesDir, p))
		files[p] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// checkout writes the fixture into a fresh checkout (a directory with .git).
func checkout(t *testing.T) (string, map[string]string) {
	t.Helper()
	dir := t.TempDir()
	files := overrides(t)
	for name, content := range files {
		clitest.WriteFile(t, dir, name, content)
	}
	if err := os.Mkdir(filepath.Join(dir, ".git"), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir, files
}

// absArgs makes the paths of --file, --render and --apps absolute below dir.
func absArgs(dir string, args []string) []string {
	out := append([]string{"bump"}, args...)
	for i := 1; i < len(out); i++ {
		switch out[i-1] {
		case "--file", "--render", "--apps":
			out[i] = filepath.Join(dir, out[i])
		}
	}
	return out
}

// TestBumpRenderRefused: in the podinfo shape, a bump of the file CI usually edits does not
// reach the render — a later values file, an overlay's images:, the app's set, a template that
// writes the image itself. Each is refused with exit 4 naming the overriding file and key and
// the file to bump instead, and nothing is written; bumping that file passes.
func TestBumpRenderRefused(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		args   []string
		want   []string
		passes []string // the bump of the right file, which passes
		edited string   // the file the passing bump changes
	}{
		{name: "later values file",
			args: []string{"--file", "charts/podinfo/values.yaml", "--render", "charts/podinfo", "--values", "values-prod.yaml"},
			want: []string{"the render of charts/podinfo (values values-prod.yaml) runs " + podinfo + ":6.14.1, not " + podinfo + ":6.15.0 (Deployment/podinfo container podinfod)",
				"the tag comes from charts/podinfo/values-prod.yaml key image.tag (6.14.1), which wins over charts/podinfo/values.yaml key image.tag (6.15.0) that this bump changes",
				"bump charts/podinfo/values-prod.yaml (key image.tag) instead; nothing was written"},
			passes: []string{"--file", "charts/podinfo/values-prod.yaml", "--key", "image.tag", "--render", "charts/podinfo", "--values", "values-prod.yaml"},
			edited: "charts/podinfo/values-prod.yaml"},
		{name: "overlay images",
			args: []string{"--file", "kustomize/base/deployment.yaml", "--render", "kustomize/overlays/prod"},
			want: []string{"the tag comes from kustomize/overlays/prod/kustomization.yaml images[name=" + podinfo + "].newTag (6.14.1), which wins over kustomize/base/deployment.yaml line 16 (6.15.0)",
				"bump kustomize/overlays/prod/kustomization.yaml (key images[name=" + podinfo + "].newTag) instead"},
			passes: []string{"--file", "kustomize/overlays/prod/kustomization.yaml", "--render", "kustomize/overlays/prod"},
			edited: "kustomize/overlays/prod/kustomization.yaml"},
		{name: "app set",
			args:   []string{"--file", "charts/podinfo/values.yaml", "--app", "podinfo-set", "--apps", "apps.yaml"},
			want:   []string{"runs " + podinfo + ":6.13.0", "the tag comes from the render's set value image.tag=6.13.0", "change that set value (the app's set) instead"},
			passes: []string{"--file", "charts/podinfo/values-prod.yaml", "--key", "image.tag", "--app", "podinfo", "--apps", "apps.yaml"},
			edited: "charts/podinfo/values-prod.yaml"},
		{name: "hard-coded template",
			args: []string{"--file", "charts/hardcoded/values.yaml", "--render", "charts/hardcoded"},
			want: []string{"runs " + podinfo + ":6.0.0", "the tag comes from charts/hardcoded/templates/deployment.yaml line 16 (6.0.0), a template that writes the image itself",
				"make the template use the values, or bump charts/hardcoded/templates/deployment.yaml instead"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir, files := checkout(t)
			got := runCLI(t, nil, absArgs(dir, append(tc.args, "--image", podinfo, "--tag", "6.15.0"))...)
			if got.Code != 4 {
				t.Fatalf("exit %d, want 4: %s", got.Code, got.Stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(got.Stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, got.Stderr)
				}
			}
			if n := strings.Count(strings.TrimSpace(got.Stderr), "\n"); n != 0 {
				t.Errorf("stderr has %d lines, want one:\n%s", n+1, got.Stderr)
			}
			assertUnchanged(t, dir, files)
			if tc.passes == nil {
				return
			}
			got = runCLI(t, nil, absArgs(dir, append(tc.passes, "--image", podinfo, "--tag", "6.15.0"))...)
			if got.Code != 0 {
				t.Fatalf("bump of the right file: exit %d: %s", got.Code, got.Stderr)
			}
			if after := clitest.ReadFile(t, filepath.Join(dir, tc.edited)); !strings.Contains(after, "6.15.0") || after == files[tc.edited] {
				t.Errorf("%s not bumped:\n%s", tc.edited, after)
			}
		})
	}
}

func assertUnchanged(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		if after := clitest.ReadFile(t, filepath.Join(dir, name)); after != content {
			t.Errorf("%s was written:\n%s", name, after)
		}
	}
}

// TestBumpExplain: --explain prints, for each override, the chain of files and keys in the
// order they apply, the effective one marked, and writes nothing.
func TestBumpExplain(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"later values file", []string{"--render", "charts/podinfo", "--values", "values-prod.yaml"}, []string{
			"runs " + podinfo + ":6.14.1 in Deployment/podinfo container podinfod (charts/podinfo/templates/deployment.yaml)",
			"     charts/podinfo/values.yaml       image.tag   6.14.0",
			"  -> charts/podinfo/values-prod.yaml  image.tag   6.14.1",
			"; bump charts/podinfo/values-prod.yaml (key image.tag) to change it"}},
		{"overlay images", []string{"--render", "kustomize/overlays/prod"}, []string{
			"     kustomize/base/deployment.yaml",
			"  -> kustomize/overlays/prod/kustomization.yaml  images[name=" + podinfo + "].newTag  6.14.1"}},
		{"app set", []string{"--app", "podinfo-set", "--apps", "apps.yaml"}, []string{
			"  -> (set)", "image.tag=6.13.0"}},
		{"hard-coded template", []string{"--render", "charts/hardcoded"}, []string{
			"  -> charts/hardcoded/templates/deployment.yaml  line 16",
			"a template that writes the image itself"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir, files := checkout(t)
			args := absArgs(dir, append(tc.args, "--explain", "--image", podinfo))
			if tc.name == "app set" {
				// --app's path is relative to the checkout of the working directory: use the
				// render directly, with the app's set.
				args = absArgs(dir, []string{"--render", "charts/podinfo", "--render-set", "image.tag=6.13.0", "--explain", "--image", podinfo})
			}
			got := runCLI(t, nil, args...)
			if got.Code != 0 {
				t.Fatalf("exit %d: %s", got.Code, got.Stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(got.Stdout, w) {
					t.Errorf("stdout lacks %q:\n%s", w, got.Stdout)
				}
			}
			assertUnchanged(t, dir, files)
		})
	}
}

// TestBumpRenderBadInput: render settings that cannot work exit with their code and one line,
// and write nothing.
func TestBumpRenderBadInput(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"explain without render", []string{"--explain", "--image", podinfo}, 2, []string{"--explain without a render"}},
		{"app without apps", []string{"--file", "charts/podinfo/values.yaml", "--image", podinfo, "--tag", "6.15.0", "--app", "podinfo"}, 2, []string{"--app without --apps"}},
		{"unknown app", []string{"--file", "charts/podinfo/values.yaml", "--image", podinfo, "--tag", "6.15.0", "--app", "nope", "--apps", "apps.yaml"}, 2, []string{`no such app "nope" in the apps file (it has: podinfo, podinfo-set, podinfo-kustomize)`}},
		{"unknown render type", []string{"--file", "charts/podinfo/values.yaml", "--image", podinfo, "--tag", "6.15.0", "--render", "charts/podinfo", "--render-type", "jsonnet"}, 2, []string{`unknown render type "jsonnet"`}},
		{"unvendored dependencies", []string{"--file", "charts/deps/values.yaml", "--image", podinfo, "--tag", "6.15.0", "--render", "charts/deps"}, 4, []string{
			"chart deps has 2 dependencies not vendored in charts/", `redis 17.x.x from "https://charts.bitnami.com/bitnami"`, `postgresql 12.1.0 from "oci://registry-1.docker.io/bitnamicharts"`, "helm dependency build"}},
		{"jsonnet", []string{"--file", "charts/podinfo/values.yaml", "--image", podinfo, "--tag", "6.15.0", "--render", "jsonnet"}, 2, []string{"holds Jsonnet (jsonnet/main.jsonnet), which is not supported"}},
		{"image not in the render", []string{"--file", "charts/podinfo/values.yaml", "--image", podinfo, "--tag", "6.15.0", "--render", "plain"}, 4, []string{"the render of plain runs no container of " + podinfo + " (it runs ghcr.io/example/other:1.0.0)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir, files := checkout(t)
			got := runCLI(t, nil, absArgs(dir, tc.args)...)
			if got.Code != tc.code {
				t.Errorf("exit %d, want %d: %s", got.Code, tc.code, got.Stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(got.Stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, got.Stderr)
				}
			}
			assertUnchanged(t, dir, files)
		})
	}
}

// TestBumpRenderRemote: with --repo the render check runs on the fetched tip before the
// commit: a refused bump pushes nothing (the git server received no receive-pack request),
// the right file is pushed.
func TestBumpRenderRemote(t *testing.T) {
	t.Parallel()
	s := gittest.New(t, gittest.WithBasicAuth("oauth2", gitToken))
	s.MustCreateRepo(t, "team/podinfo")
	s.MustCommit(t, "team/podinfo", "main", "seed", overrides(t))
	before, _ := s.RevParse("team/podinfo", "main")
	vars := map[string]string{"GITLAB_TOKEN": gitToken}
	args := []string{"bump", "--repo", s.RepoURL("team/podinfo"), "--image", podinfo, "--tag", "6.15.0", "--no-verify-image",
		"--render", "charts/podinfo", "--values", "values-prod.yaml"}

	got := runCLI(t, vars, append(args, "--file", "charts/podinfo/values.yaml")...)
	assertNoToken(t, got)
	if got.Code != 4 || !strings.Contains(got.Stderr, "charts/podinfo/values-prod.yaml key image.tag (6.14.1)") {
		t.Fatalf("exit %d, want 4 naming values-prod.yaml: %s", got.Code, got.Stderr)
	}
	for _, r := range s.Requests() {
		if r.Service == "git-receive-pack" || r.Method == http.MethodPost && strings.HasSuffix(r.Repo, "git-receive-pack") {
			t.Errorf("the refused bump reached receive-pack: %+v", r)
		}
	}
	if after, _ := s.RevParse("team/podinfo", "main"); after != before {
		t.Errorf("main moved from %s to %s", before, after)
	}

	got = runCLI(t, vars, append(args, "--file", "charts/podinfo/values-prod.yaml", "--key", "image.tag")...)
	if got.Code != 0 {
		t.Fatalf("bump of values-prod.yaml: exit %d: %s", got.Code, got.Stderr)
	}
	if v := s.MustReadFile(t, "team/podinfo", "main", "charts/podinfo/values-prod.yaml"); !strings.Contains(v, "tag: 6.15.0") {
		t.Errorf("values-prod.yaml on main:\n%s", v)
	}
}

// TestBumpRenderWithoutEngine: tagrelay-bump links no render engine (internal/depcheck); there
// --render, --app and --explain are refused with exit 2, naming the binary that has them, and
// nothing is written. Not parallel: it takes the engine away while no other test runs.
func TestBumpRenderWithoutEngine(t *testing.T) {
	saved := renderEngine
	SetRenderEngine(nil)
	t.Cleanup(func() { SetRenderEngine(saved) })
	for name, args := range map[string][]string{
		"render":  {"--file", "charts/podinfo/values-prod.yaml", "--image", podinfo, "--tag", "6.15.0", "--render", "charts/podinfo", "--values", "values-prod.yaml"},
		"app":     {"--file", "charts/podinfo/values-prod.yaml", "--image", podinfo, "--tag", "6.15.0", "--app", "podinfo", "--apps", "apps.yaml"},
		"explain": {"--explain", "--image", podinfo, "--render", "charts/podinfo"},
	} {
		dir, files := checkout(t)
		got := runCLI(t, nil, absArgs(dir, args)...)
		if got.Code != 2 || !strings.Contains(got.Stderr, "this binary has no render check") || !strings.Contains(got.Stderr, "tagrelay bump --render") {
			t.Errorf("%s: exit %d, want 2 naming the tagrelay binary:\n%s", name, got.Code, got.Stderr)
		}
		assertUnchanged(t, dir, files)
	}
}
