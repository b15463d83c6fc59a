package pipeline

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tagrelay/tagrelay/internal/gittest"
	"github.com/tagrelay/tagrelay/internal/regtest"
)

const gitToken = "glpat-pipeline-0123456789"

// appProject is a checkout of the app repository as a GitLab runner has it: the templates
// included locally, origin pointing at the local git server (the templates' outdated-pipeline
// guard asks it), and gcl-origin giving gitlab-ci-local its project path.
func appProject(t *testing.T, git *gittest.Server, ci string) string {
	t.Helper()
	files := map[string]string{".gitlab-ci.yml": ci, "Dockerfile": "FROM scratch\n"}
	for _, p := range []string{"ci-templates/gitlab/tagrelay.gitlab-ci.yml", "ci-templates/gitlab/repo-pull-sync.gitlab-ci.yml"} {
		files[p] = readRoot(t, p)
	}
	return project(t, git, "team/app", files)
}

func readRoot(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, p))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// project commits files to a new repository of the git server and returns its checkout.
func project(t *testing.T, git *gittest.Server, name string, files map[string]string) string {
	t.Helper()
	git.MustCreateRepo(t, name)
	dir := filepath.Join(t.TempDir(), filepath.Base(name))
	for p, c := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, p), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	origin := strings.Replace(git.RepoURL(name), "://", "://oauth2:"+gitToken+"@", 1)
	for _, args := range [][]string{
		{"init", "-q", "-b", "main"}, {"add", "-A"}, {"-c", "user.name=dev", "-c", "user.email=dev@example.test", "commit", "-qm", "app"},
		{"remote", "add", "origin", origin}, {"remote", "add", "gcl-origin", "https://gitlab.example.test/" + name + ".git"},
		{"push", "-q", "origin", "main"},
	} {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	return dir
}

// gitlabCI runs gitlab-ci-local in dir with the shell executor and returns its output and
// whether the pipeline passed. Only PATH (with the built binaries first) and HOME come from
// the test's environment: gitlab-ci-local lets process variables win over job variables.
func gitlabCI(t *testing.T, dir string, vars map[string]string, args ...string) (string, bool) {
	t.Helper()
	cmdArgs := []string{"--force-shell-executor", "--no-color"}
	for k, v := range vars {
		cmdArgs = append(cmdArgs, "--variable", k+"="+v)
	}
	cmd := exec.Command(gitlabCILocal(t), append(cmdArgs, args...)...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + bin + ":" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	out, err := cmd.CombinedOutput()
	return string(out), err == nil
}

func TestGitLabIncludePipeline(t *testing.T) {
	if testing.Short() {
		t.Skip("gitlab-ci-local (npm) pipeline: runs without -short")
	}
	t.Parallel()
	git := gittest.New(t, gittest.WithBasicAuth("oauth2", gitToken))
	reg := regtest.New(t)
	image := reg.Host + "/team/app"
	layout := regtest.Layout(t, regtest.Image(t, 2048, 2))
	git.MustCreateRepo(t, "team/infra")
	git.MustCommit(t, "team/infra", "main", "infra", map[string]string{
		"apps/app/kustomization.yaml": "resources: [deployment.yaml]\nimages:\n  - name: " + image + "\n    newTag: 0000000a  # set by CI\n",
	})
	git.MustCreateRepo(t, "internal/infra")

	dir := appProject(t, git, `include:
  - local: ci-templates/gitlab/tagrelay.gitlab-ci.yml

stages: [build, push, bump, mirror]

build:
  stage: build
  script:
    - cp -r "$IMAGE_LAYOUT" image
  artifacts:
    paths: [image/]

push:
  extends: .tagrelay:push
  stage: push
  needs: [build]
  variables:
    TAGRELAY_SOURCE: image
    TAGRELAY_DEST: $REGISTRY/team/app

bump:
  extends: .tagrelay:bump
  stage: bump
  needs: [push]
  variables:
    TAGRELAY_REPO: $GIT_SERVER/team/infra.git
    TAGRELAY_FILE: apps/app/kustomization.yaml

mirror:
  extends: .tagrelay:mirror
  stage: mirror
  needs: [bump]
  variables:
    GIT_INPUT_URL: $GIT_SERVER/team/infra.git
    GIT_INPUT_USER: oauth2
    GIT_INPUT_PASSWORD: $GITLAB_TOKEN
    GIT_OUTPUT_URL: $GIT_SERVER/internal/infra.git
    GIT_OUTPUT_USER: oauth2
    GIT_OUTPUT_PASSWORD: $GITLAB_TOKEN
    GIT_BRANCH_DEPLOY: main
`)
	vars := map[string]string{"IMAGE_LAYOUT": layout, "REGISTRY": reg.Host, "GIT_SERVER": strings.TrimSuffix(git.RepoURL("x"), "/x.git"),
		"GITLAB_TOKEN": gitToken, "TAGRELAY_INSECURE": "true"}
	out, ok := gitlabCI(t, dir, vars)
	if !ok {
		t.Fatalf("pipeline failed:\n%s", out)
	}
	head, _ := exec.Command("git", "-C", dir, "rev-parse", "--short=8", "HEAD").Output()
	tag := strings.TrimSpace(string(head))
	kust := git.MustReadFile(t, "team/infra", "main", "apps/app/kustomization.yaml")
	if !strings.Contains(kust, "newTag: "+tag+"  # set by CI") {
		t.Errorf("infra kustomization after the pipeline (want tag %s):\n%s", tag, kust)
	}
	infraTip, _ := git.RevParse("team/infra", "main")
	if mirrored, _ := git.RevParse("internal/infra", "main"); mirrored != infraTip {
		t.Errorf("internal/infra main = %q, want the bump commit %q", mirrored, infraTip)
	}
	if strings.Contains(out, gitToken) {
		t.Errorf("the token appears in the pipeline output")
	}

	// The same pipeline again, no new commit: it fails at the first no-op, loudly.
	out, ok = gitlabCI(t, dir, vars)
	if ok {
		t.Fatalf("the re-run passed:\n%s", out)
	}
	for _, want := range []string{"FAIL  push", "image already pushed", "FAIL 3", "nothing was pushed"} {
		if !strings.Contains(out, want) {
			t.Errorf("re-run output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "bump   starting") {
		t.Errorf("the re-run went on after the refused push:\n%s", out)
	}
	if again := git.MustReadFile(t, "team/infra", "main", "apps/app/kustomization.yaml"); again != kust {
		t.Errorf("the failed re-run changed the infra repository")
	}
}

// The components, included as GitLab recommends in the component project's own pipeline
// ($CI_SERVER_FQDN/$CI_PROJECT_PATH/NAME@$CI_COMMIT_SHA), run push -> bump with typed inputs.
func TestGitLabComponentsPipeline(t *testing.T) {
	if testing.Short() {
		t.Skip("gitlab-ci-local (npm) pipeline: runs without -short")
	}
	t.Parallel()
	git := gittest.New(t, gittest.WithBasicAuth("oauth2", gitToken))
	reg := regtest.New(t)
	image := reg.Host + "/team/app"
	git.MustCreateRepo(t, "team/infra")
	git.MustCommit(t, "team/infra", "main", "infra", map[string]string{
		"values.yaml": "image:\n  repository: " + image + "\n  tag: \"0000000a\"\n",
	})
	files := map[string]string{"README.md": readRoot(t, "ci-templates/gitlab/components/README.md"), ".gitlab-ci.yml": `include:
  - component: $CI_SERVER_FQDN/$CI_PROJECT_PATH/push@$CI_COMMIT_SHA
    inputs:
      source: $IMAGE_LAYOUT
      dest: ` + image + `
  - component: $CI_SERVER_FQDN/$CI_PROJECT_PATH/bump@$CI_COMMIT_SHA
    inputs:
      repo: ` + git.RepoURL("team/infra") + `
      files: values.yaml
      allow_outdated: true

stages: [build, deploy]

tagrelay-bump:
  needs: [tagrelay-push]
`}
	for _, c := range []string{"push", "bump"} {
		files["templates/"+c+".yml"] = readRoot(t, "ci-templates/gitlab/components/templates/"+c+".yml")
	}
	dir := project(t, git, "tagrelay/components", files)
	vars := map[string]string{"IMAGE_LAYOUT": regtest.Layout(t, regtest.Image(t, 1024, 1)), "GITLAB_TOKEN": gitToken, "TAGRELAY_INSECURE": "true"}
	out, ok := gitlabCI(t, dir, vars)
	if !ok {
		t.Fatalf("pipeline failed:\n%s", out)
	}
	head, _ := exec.Command("git", "-C", dir, "rev-parse", "--short=8", "HEAD").Output()
	values := git.MustReadFile(t, "team/infra", "main", "values.yaml")
	if want := "tag: \"" + strings.TrimSpace(string(head)) + "\""; !strings.Contains(values, want) {
		t.Errorf("values.yaml after the pipeline lacks %s:\n%s", want, values)
	}
}
