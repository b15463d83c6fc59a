package pipeline

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/tagrelay/tagrelay/internal/gittest"
	"github.com/tagrelay/tagrelay/internal/kubetest"
	"github.com/tagrelay/tagrelay/internal/regtest"
)

const gitToken = "glpat-pipeline-0123456789"

// appProject is a checkout of the app repository as a GitLab runner has it: the templates
// included locally, origin pointing at the local git server (the templates' outdated-pipeline
// guard asks it), and gcl-origin giving gitlab-ci-local its project path.
func appProject(t *testing.T, git *gittest.Server, ci string, extra map[string]string) string {
	t.Helper()
	files := map[string]string{".gitlab-ci.yml": ci, "Dockerfile": "FROM scratch\n"}
	for p, c := range extra {
		files[p] = c
	}
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

// pipelineServers skips the test under -short or when gitlab-ci-local cannot be installed,
// before starting anything, and starts the git server and the registry a pipeline runs against.
func pipelineServers(t *testing.T) (*gittest.Server, *regtest.Server) {
	t.Helper()
	if testing.Short() {
		t.Skip("gitlab-ci-local (npm) pipeline on the test cluster: runs without -short")
	}
	gitlabCILocal(t)
	t.Parallel()
	return gittest.New(t, gittest.WithBasicAuth("oauth2", gitToken)), regtest.New(t)
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

// TestGitLabIncludePipeline runs the include template's jobs push -> bump -> mirror -> deploy:
// the image goes to the registry under the commit's tag, the external infra repository is
// bumped and mirrored into the internal one, and the deploy job triggers tagrelay-reconciler,
// which applies the internal repository to the test cluster and waits: the Deployment rolls to
// a new ReplicaSet whose pods run the new tag. The same pipeline again fails at the refused push
// (exit 3), and the deploy job alone is refused too: nothing is rolled twice. A tag pipeline's
// release job (.tagrelay:release, from the app's .tagrelay.yaml) rolls the pods to the version;
// its re-run is refused (exit 3).
func TestGitLabIncludePipeline(t *testing.T) {
	git, reg := pipelineServers(t)
	image := reg.Host + "/team/app"
	layout := regtest.Layout(t, regtest.Image(t, 2048, 2))
	git.MustCreateRepo(t, "team/infra")
	git.MustCommit(t, "team/infra", "main", "infra", map[string]string{
		"apps/app/kustomization.yaml": "resources: [deployment.yaml]\nimages:\n  - name: " + image + "\n    newTag: 0000000a  # set by CI\n",
		"apps/app/deployment.yaml":    kubetest.DeploymentYAML(appName, image, 2),
	})
	git.MustCreateRepo(t, "internal/infra")

	// What runs before this commit: the infra repository mirrored and deployed once.
	tg := newTarget(t, git, "internal/infra", "apps/app", "kustomize")
	mirror := exec.Command(filepath.Join(bin, "tagrelay"), "mirror", "--source", git.RepoURL("team/infra"), "--dest", git.RepoURL("internal/infra"),
		"--ref", "main", "--source-token", gitToken, "--dest-token", gitToken, "--cache-dir", t.TempDir())
	if out, err := mirror.CombinedOutput(); err != nil {
		t.Fatalf("initial mirror: %v\n%s", err, out)
	}
	if code, out := tg.trigger(t); code != 0 {
		t.Fatalf("initial deploy: exit %d\n%s", code, out)
	}
	before := tg.rolledOut(t, image+":0000000a")

	dir := appProject(t, git, `include:
  - local: ci-templates/gitlab/tagrelay.gitlab-ci.yml

stages: [build, push, bump, mirror, deploy]

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

deploy:
  extends: .tagrelay:deploy
  stage: deploy
  needs: [push, mirror]                 # IMAGE and IMAGE_TAG come from push's dotenv
  variables:
    TAGRELAY_RECONCILER_URL: $RECONCILER_URL
    TAGRELAY_APP: app

release:                                # tag pipelines only (rules of .tagrelay:release)
  extends: .tagrelay:release
  stage: deploy
  needs: []
  variables:
    TAGRELAY_CACHE_DIR: $CI_PROJECT_DIR/.tagrelay-release-cache
`, map[string]string{".tagrelay.yaml": "image:\n  repository: " + image + "\ninfra:\n  repo: " + git.RepoURL("team/infra") +
		"\n  files: [apps/app/kustomization.yaml]\nmirrors:\n  - source: " + git.RepoURL("team/infra") + "\n    dest: " + git.RepoURL("internal/infra") +
		"\n    refs: [main]\n    sourceTokenEnv: GITLAB_TOKEN\n    destTokenEnv: GITLAB_TOKEN\ntrigger:\n  reconciler:\n    url: " + tg.rec.URL +
		"\n    app: " + appName + "\n    timeout: 2m\n"})
	vars := map[string]string{"IMAGE_LAYOUT": layout, "REGISTRY": reg.Host, "GIT_SERVER": strings.TrimSuffix(git.RepoURL("x"), "/x.git"),
		"GITLAB_TOKEN": gitToken, "TAGRELAY_INSECURE": "true", "RECONCILER_URL": tg.rec.URL, "TAGRELAY_RECONCILER_TOKEN": tg.rec.Token}
	out, ok := gitlabCI(t, dir, vars)
	if !ok {
		t.Fatalf("pipeline failed:\n%s", out)
	}
	head, _ := exec.Command("git", "-C", dir, "rev-parse", "--short=8", "HEAD").Output()
	tag := strings.TrimSpace(string(head))
	kust := git.MustReadFile(t, "team/infra", "main", "apps/app/kustomization.yaml")
	// An all-digit tag is quoted (a number would not be a tag); the style then stays quoted.
	if !regexp.MustCompile(`newTag: "?` + tag + `"?  # set by CI`).MatchString(kust) {
		t.Errorf("infra kustomization after the pipeline (want tag %s):\n%s", tag, kust)
	}
	infraTip, _ := git.RevParse("team/infra", "main")
	if mirrored, _ := git.RevParse("internal/infra", "main"); mirrored != infraTip {
		t.Errorf("internal/infra main = %q, want the bump commit %q", mirrored, infraTip)
	}
	for _, want := range []string{"app: Succeeded at " + infraTip[:8], image + ":0000000a -> " + image + ":" + tag, "PASS  deploy"} {
		if !strings.Contains(out, want) {
			t.Errorf("pipeline output lacks %q:\n%s", want, out)
		}
	}
	for _, secret := range []string{gitToken, tg.rec.Token} {
		if strings.Contains(out, secret) {
			t.Errorf("a token appears in the pipeline output")
		}
	}
	// The deploy job waited for the rollout: a new ReplicaSet runs the commit's tag, Ready.
	after := tg.rolledOut(t, image+":"+tag)
	if after == before {
		t.Errorf("the deploy rolled no new ReplicaSet (still %s)", before)
	}
	replicaSets := tg.replicaSets(t)
	if len(replicaSets) != 2 {
		t.Errorf("ReplicaSets after the deploy: %v, want the initial one and the new one", replicaSets)
	}
	generation := tg.deployment(t).Generation
	t.Logf("after the pipeline:\n%s", tg.describe(t))

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

	// The deploy job alone, for the same commit, as GitLab retries it (with push's dotenv,
	// which gitlab-ci-local lost when the re-run's push failed): the reconciler finds the tag
	// already running and refuses (exit 3) before applying anything.
	retry := map[string]string{"IMAGE": image, "IMAGE_TAG": tag}
	for k, v := range vars {
		retry[k] = v
	}
	out, ok = gitlabCI(t, dir, retry, "deploy")
	if ok {
		t.Fatalf("the deploy re-run passed:\n%s", out)
	}
	for _, want := range []string{"FAIL  deploy", "no-op refused", image + ":" + tag + " is already running", "FAIL 3"} {
		if !strings.Contains(out, want) {
			t.Errorf("deploy re-run output lacks %q:\n%s", want, out)
		}
	}
	if rs := tg.replicaSets(t); len(rs) != len(replicaSets) {
		t.Errorf("ReplicaSets after the refused re-runs: %v, want still %v", rs, replicaSets)
	}
	if g := tg.deployment(t).Generation; g != generation {
		t.Errorf("the refused re-runs changed the Deployment (generation %d -> %d)", generation, g)
	}
	tg.rolledOut(t, image+":"+tag)

	// A tag pipeline for v1.0.0 runs the release job: the commit's image is promoted to v1.0.0,
	// the infra repository bumped and mirrored, and the reconciler rolls the pods to v1.0.0.
	tagged := map[string]string{"CI_COMMIT_TAG": "v1.0.0"}
	for k, v := range vars {
		tagged[k] = v
	}
	out, ok = gitlabCI(t, dir, tagged, "release")
	if !ok {
		t.Fatalf("the release job failed:\n%s", out)
	}
	for _, want := range []string{"PASS  release", "4. trigger [will run]", "released " + image + ":v1.0.0", image + ":" + tag + " -> " + image + ":v1.0.0"} {
		if !strings.Contains(out, want) {
			t.Errorf("release job output lacks %q:\n%s", want, out)
		}
	}
	if kust := git.MustReadFile(t, "internal/infra", "main", "apps/app/kustomization.yaml"); !regexp.MustCompile(`newTag: "?v1\.0\.0"?  # set by CI`).MatchString(kust) {
		t.Errorf("internal kustomization after the release:\n%s", kust)
	}
	if released := tg.rolledOut(t, image+":v1.0.0"); released == after {
		t.Errorf("the release rolled no new ReplicaSet (still %s)", after)
	}
	replicaSets = tg.replicaSets(t)
	generation = tg.deployment(t).Generation

	// The same release again: every step is done, refused with exit 3; nothing rolls.
	out, ok = gitlabCI(t, dir, tagged, "release")
	if ok {
		t.Fatalf("the release re-run passed:\n%s", out)
	}
	for _, want := range []string{"FAIL  release", "4. trigger [already done]", "already released: " + image + ":v1.0.0", "FAIL 3"} {
		if !strings.Contains(out, want) {
			t.Errorf("release re-run output lacks %q:\n%s", want, out)
		}
	}
	if rs := tg.replicaSets(t); len(rs) != len(replicaSets) || tg.deployment(t).Generation != generation {
		t.Errorf("the refused release changed the Deployment: ReplicaSets %v, want %v", rs, replicaSets)
	}
	if strings.Contains(out, tg.rec.Token) || strings.Contains(out, gitToken) {
		t.Errorf("a token appears in the release job's output")
	}
}

// TestGitLabComponentsPipeline includes the components as GitLab recommends in the component
// project's own pipeline ($CI_SERVER_FQDN/$CI_PROJECT_PATH/NAME@$CI_COMMIT_SHA) and runs push ->
// bump -> mirror -> deploy with typed inputs: a Helm chart's values are bumped, mirrored, and
// the deploy component's trigger makes tagrelay-reconciler render the chart onto the test
// cluster and wait until the new tag's pods are Ready.
func TestGitLabComponentsPipeline(t *testing.T) {
	git, reg := pipelineServers(t)
	image := reg.Host + "/team/app"
	git.MustCreateRepo(t, "team/infra")
	git.MustCommit(t, "team/infra", "main", "infra", map[string]string{
		"charts/app/Chart.yaml":  "apiVersion: v2\nname: app\nversion: 0.1.0\n",
		"charts/app/values.yaml": "replicaCount: 2\nimage:\n  repository: " + image + "\n  tag: \"0000000a\"\n",
		"charts/app/templates/deployment.yaml": strings.Replace(strings.Replace(kubetest.DeploymentYAML(appName, `"{{ .Values.image.repository }}:{{ .Values.image.tag }}"`, 2),
			"replicas: 2", "replicas: {{ .Values.replicaCount }}", 1), "name: "+appName+"\n", "name: {{ .Release.Name }}\n", 1),
	})
	git.MustCreateRepo(t, "internal/infra")
	tg := newTarget(t, git, "internal/infra", "charts/app", "helm")

	files := map[string]string{"README.md": readRoot(t, "ci-templates/gitlab/components/README.md"), ".gitlab-ci.yml": `include:
  - component: $CI_SERVER_FQDN/$CI_PROJECT_PATH/push@$CI_COMMIT_SHA
    inputs:
      source: $IMAGE_LAYOUT
      dest: ` + image + `
  - component: $CI_SERVER_FQDN/$CI_PROJECT_PATH/bump@$CI_COMMIT_SHA
    inputs:
      repo: ` + git.RepoURL("team/infra") + `
      files: charts/app/values.yaml
      allow_outdated: true
  - component: $CI_SERVER_FQDN/$CI_PROJECT_PATH/mirror@$CI_COMMIT_SHA
    inputs:
      source: ` + git.RepoURL("team/infra") + `
      dest: ` + git.RepoURL("internal/infra") + `
      ref: main
  - component: $CI_SERVER_FQDN/$CI_PROJECT_PATH/deploy@$CI_COMMIT_SHA
    inputs:
      reconciler_url: ` + tg.rec.URL + `
      app: ` + appName + `

stages: [build, deploy]

tagrelay-bump:
  needs: [tagrelay-push]
tagrelay-mirror:
  needs: [tagrelay-bump]
tagrelay-deploy:
  needs: [tagrelay-push, tagrelay-mirror]
`}
	for _, c := range []string{"push", "bump", "mirror", "deploy"} {
		files["templates/"+c+".yml"] = readRoot(t, "ci-templates/gitlab/components/templates/"+c+".yml")
	}
	dir := project(t, git, "tagrelay/components", files)
	vars := map[string]string{"IMAGE_LAYOUT": regtest.Layout(t, regtest.Image(t, 1024, 1)), "GITLAB_TOKEN": gitToken, "TAGRELAY_INSECURE": "true",
		"TAGRELAY_SOURCE_TOKEN": gitToken, "TAGRELAY_DEST_TOKEN": gitToken, "TAGRELAY_RECONCILER_TOKEN": tg.rec.Token}
	out, ok := gitlabCI(t, dir, vars)
	if !ok {
		t.Fatalf("pipeline failed:\n%s", out)
	}
	head, _ := exec.Command("git", "-C", dir, "rev-parse", "--short=8", "HEAD").Output()
	tag := strings.TrimSpace(string(head))
	values := git.MustReadFile(t, "internal/infra", "main", "charts/app/values.yaml")
	if want := "tag: \"" + tag + "\""; !strings.Contains(values, want) {
		t.Errorf("values.yaml of the internal infra repository after the pipeline lacks %s:\n%s", want, values)
	}
	for _, want := range []string{"PASS  tagrelay-deploy", "(new) -> " + image + ":" + tag} {
		if !strings.Contains(out, want) {
			t.Errorf("pipeline output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, tg.rec.Token) || strings.Contains(out, gitToken) {
		t.Errorf("a token appears in the pipeline output")
	}
	tg.rolledOut(t, image+":"+tag)
	if rs := tg.replicaSets(t); len(rs) != 1 {
		t.Errorf("ReplicaSets after the first deploy: %v, want one", rs)
	}
}
