package releasecmd

import (
	"os"
	"strings"
	"testing"

	"github.com/tagrelay/tagrelay/internal/cli/bumpcmd/renderengine"
	"github.com/tagrelay/tagrelay/internal/cli/clitest"
	"github.com/tagrelay/tagrelay/internal/gittest"
	"github.com/tagrelay/tagrelay/internal/regtest"
)

// TestMain doubles as the Helm template worker of infra.render (the test binary is
// os.Executable).
func TestMain(m *testing.M) {
	if len(os.Args) == 2 && os.Args[1] == renderengine.WorkerCommand {
		os.Exit(renderengine.RunWorker(os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// TestReleaseRenderCheck: with infra.render, a release that bumps values.yaml of a chart
// deployed with values-prod.yaml (which sets the tag too) is refused in its plan (exit 4),
// naming values-prod.yaml and image.tag; nothing is pushed to the registry or the infra
// repository. Bumping values-prod.yaml releases.
func TestReleaseRenderCheck(t *testing.T) {
	t.Parallel()
	const token = "glpat-release-render-0123456789"
	git := gittest.New(t, gittest.WithBasicAuth("oauth2", token))
	reg := regtest.New(t)
	image := reg.Host + "/team/app"
	reg.Write(t, "team/app:1a2b3c4d", regtest.Image(t, 256, 1))
	git.MustCreateRepo(t, "team/infra")
	git.MustCommit(t, "team/infra", "main", "infra", map[string]string{
		"chart/Chart.yaml":       "apiVersion: v2\nname: app\nversion: 1.0.0\n",
		"chart/values.yaml":      "image:\n  repository: " + image + "\n  tag: \"0000000a\"\n",
		"chart/values-prod.yaml": "image:\n  repository: " + image + "\n  tag: \"0000000b\"\n",
		"chart/templates/deployment.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: app}\nspec:\n  selector: {matchLabels: {app: app}}\n" +
			"  template:\n    metadata: {labels: {app: app}}\n    spec:\n      containers:\n        - name: app\n          image: \"{{ .Values.image.repository }}:{{ .Values.image.tag }}\"\n",
	})
	before, _ := git.RevParse("team/infra", "main")
	dir := t.TempDir()
	config := func(file string) string {
		return clitest.WriteFile(t, dir, file+".tagrelay.yaml", "image:\n  repository: "+image+"\ninfra:\n  repo: "+git.RepoURL("team/infra")+
			"\n  files: [chart/"+file+"]\n  render:\n    path: chart\n    valuesFiles: [values-prod.yaml]\n")
	}
	vars := map[string]string{"GITLAB_TOKEN": token, "CI_COMMIT_SHORT_SHA": "1a2b3c4d"}

	r := runCLI(t, vars, "release", "--version", "v2.0.0", "--config", config("values.yaml"), "--insecure", "--yes")
	if r.Code != 4 || !strings.Contains(r.Stderr, "chart/values-prod.yaml key image.tag (0000000b)") {
		t.Fatalf("exit %d, want 4 naming values-prod.yaml\nstdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
	}
	if after, _ := git.RevParse("team/infra", "main"); after != before || reg.Digest(t, "team/app:v2.0.0") != "" {
		t.Fatal("the refused release wrote something")
	}

	r = runCLI(t, vars, "release", "--version", "v2.0.0", "--config", config("values-prod.yaml"), "--insecure", "--yes")
	if r.Code != 0 || !strings.Contains(git.MustReadFile(t, "team/infra", "main", "chart/values-prod.yaml"), `tag: "v2.0.0"`) {
		t.Fatalf("release of values-prod.yaml: exit %d\nstdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
	}
}
