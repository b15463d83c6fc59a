package pipeline

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/tagrelay/tagrelay/citemplates"
	"github.com/tagrelay/tagrelay/internal/regtest"
)

// lintRepo lays out a repository where actionlint checks the action through local `uses:`
// (input names, metadata) and, through a reusable workflow holding the action's own steps,
// the expressions and (with shellcheck) the scripts of action.yml.
func lintRepo(t *testing.T, extra map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	action, err := os.ReadFile(filepath.Join(root, "ci-templates", "github", "action.yml"))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{"ci-templates/github/action.yml": string(action), ".github/workflows/action-steps.yml": stepsWorkflow(t, action)}
	examples, err := citemplates.ActionWorkflows(os.DirFS(filepath.Join(root, "ci-templates")))
	if err != nil || len(examples) < 2 {
		t.Fatalf("example workflows: %v, %v", examples, err)
	}
	for _, p := range examples {
		data, err := os.ReadFile(filepath.Join(root, "ci-templates", p))
		if err != nil {
			t.Fatal(err)
		}
		local := regexp.MustCompile(`tagrelay/tagrelay/ci-templates/github@v[0-9.]+`).ReplaceAllString(string(data), "./ci-templates/github")
		if local == string(data) {
			t.Fatalf("%s does not use tagrelay/tagrelay/ci-templates/github@vX", p)
		}
		files[".github/workflows/"+filepath.Base(p)] = local
	}
	for k, v := range extra {
		files[k] = v
	}
	for p, content := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, p), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command("git", "init", "-q", dir).CombinedOutput(); err != nil {
		t.Fatalf("git init: %v\n%s", err, out)
	}
	return dir
}

// stepsWorkflow turns the composite action into a reusable workflow with the same inputs and
// steps, which actionlint checks like any workflow.
func stepsWorkflow(t *testing.T, action []byte) string {
	t.Helper()
	s := string(action)
	at := strings.Index(s, "\n  steps:\n")
	in := strings.Index(s, "\ninputs:\n")
	out := strings.Index(s, "\noutputs:\n")
	if at < 0 || in < 0 || out < 0 {
		t.Fatal("action.yml: no inputs, outputs or steps")
	}
	var inputs strings.Builder
	for _, l := range strings.Split(s[in+len("\ninputs:\n"):out], "\n") {
		if strings.HasPrefix(l, "  ") && !strings.HasPrefix(l, "   ") {
			inputs.WriteString("    " + l + "\n        type: string\n")
		}
	}
	steps := strings.ReplaceAll(s[at+len("\n  steps:\n"):], "\n    ", "\n        ")
	return "name: action steps\non:\n  workflow_call:\n    inputs:\n" + inputs.String() +
		"jobs:\n  steps:\n    runs-on: ubuntu-latest\n    steps:\n        " + strings.TrimPrefix(steps, "    ")
}

func TestActionlint(t *testing.T) {
	t.Parallel()
	lint := actionlint(t)
	if !aptInstall(t, "shellcheck", "shellcheck") {
		t.Log("shellcheck is not installed: actionlint checks the scripts' expressions but not their shell")
	}
	dir := lintRepo(t, nil)
	cmd := exec.Command(lint, "-color=false")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("actionlint: %v\n%s", err, out)
	}

	// The check can fail: an undefined input, a wrong expression, a shell bug.
	dir = lintRepo(t, map[string]string{".github/workflows/bad.yml": `on: push
jobs:
  bad:
    runs-on: ubuntu-latest
    steps:
      - uses: ./ci-templates/github
        with:
          comand: push
      - run: echo ${{ steps.nope.outputs.x.y }}
`})
	cmd = exec.Command(lint, "-color=false")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), `input "comand" is not defined`) {
		t.Errorf("actionlint on a broken workflow: %v\n%s", err, out)
	}
}

// releaseServer serves a release as GitHub does: /VERSION/tagrelay-linux-ARCH and SHA256SUMS.
// tamper serves other bytes than the checksum says.
func releaseServer(t *testing.T, tamper bool) (string, string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(bin, "tagrelay"))
	if err != nil {
		t.Fatal(err)
	}
	asset := "tagrelay-linux-" + runtime.GOARCH
	sum := sha256.Sum256(data)
	sums := hex.EncodeToString(sum[:]) + "  " + asset + "\n" + strings.Repeat("0", 64) + "  tagrelay-darwin-arm64\n"
	if tamper {
		data = append(data, 0)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/"+version+"/"+asset, func(w http.ResponseWriter, _ *http.Request) { w.Write(data) })
	mux.HandleFunc("/"+version+"/SHA256SUMS", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte(sums)) })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL, hex.EncodeToString(sum[:])
}

func TestActionPush(t *testing.T) {
	t.Parallel()
	reg := regtest.New(t)
	layout := regtest.Layout(t, regtest.Image(t, 1024, 2))
	url, sum := releaseServer(t, false)
	work := t.TempDir()
	with := map[string]string{"command": "push", "args": "--source '" + layout + "' --dest " + reg.Host + "/team/app --insecure",
		"download-url": url, "checksum": sum}

	r := runAction(t, work, with, nil)
	if r.Failed != "" {
		t.Fatalf("step %q failed (%d)\nstdout:\n%s\nstderr:\n%s", r.Failed, r.Code, r.Stdout, r.Stderr)
	}
	digest := r.Outputs["image-digest"]
	if !strings.HasPrefix(digest, "sha256:") || r.Outputs["image"] != reg.Host+"/team/app" || r.Outputs["image-tag"] != "1a2b3c4d" || r.Outputs["exit-code"] != "0" {
		t.Errorf("outputs = %v\nstdout:\n%s\nstderr:\n%s", r.Outputs, r.Stdout, r.Stderr)
	}
	if !strings.Contains(r.Outputs["result"], digest) {
		t.Errorf("result output %q does not hold the digest %s", r.Outputs["result"], digest)
	}
	if !strings.Contains(r.Summary, "### tagrelay push: done") || !strings.Contains(r.Summary, "| exit code | 0 |") {
		t.Errorf("summary:\n%s", r.Summary)
	}

	// Same commit again: nothing would change; the step fails with an annotation and exit 3.
	r = runAction(t, work, with, nil)
	if r.Failed != "Run tagrelay ${{ inputs.command }}" || r.Code != 3 {
		t.Fatalf("second push: failed step %q, code %d\n%s%s", r.Failed, r.Code, r.Stdout, r.Stderr)
	}
	if !regexp.MustCompile(`(?m)^::error title=tagrelay::.*already`).MatchString(r.Stdout) {
		t.Errorf("no ::error:: annotation on stdout:\n%s", r.Stdout)
	}
	if r.Outputs["exit-code"] != "3" || !strings.Contains(r.Summary, "no-op refused") || !strings.Contains(r.Summary, "error: ") {
		t.Errorf("outputs %v, summary:\n%s", r.Outputs, r.Summary)
	}
}

func TestActionInstallRefusesTamperedBinary(t *testing.T) {
	t.Parallel()
	url, _ := releaseServer(t, true)
	r := runAction(t, t.TempDir(), map[string]string{"command": "push", "download-url": url}, nil)
	if r.Failed != "Install tagrelay" || !strings.Contains(r.Stdout, "::error title=tagrelay install::checksum mismatch") {
		t.Fatalf("failed step %q (%d)\n%s%s", r.Failed, r.Code, r.Stdout, r.Stderr)
	}

	url, _ = releaseServer(t, false)
	r = runAction(t, t.TempDir(), map[string]string{"command": "push", "download-url": url, "checksum": strings.Repeat("ab", 32)}, nil)
	if r.Failed != "Install tagrelay" || !strings.Contains(r.Stdout, "not the pinned "+strings.Repeat("ab", 32)) {
		t.Fatalf("pinned checksum: failed step %q (%d)\n%s%s", r.Failed, r.Code, r.Stdout, r.Stderr)
	}
}

func TestActionGoInstallAndBadInput(t *testing.T) {
	t.Parallel()
	reg := regtest.New(t)
	ref := reg.Host + "/team/app:1a2b3c4d"
	layout := regtest.Layout(t, regtest.Image(t, 512, 1))
	if out, err := exec.Command(filepath.Join(bin, "tagrelay"), "push", "--source", layout, "--dest", ref, "--insecure").CombinedOutput(); err != nil {
		t.Fatalf("pushing the fixture: %v\n%s", err, out)
	}
	r := runAction(t, t.TempDir(), map[string]string{"command": "push", "install": "go", "args": "--check " + ref},
		map[string]string{"TAGRELAY_INSECURE": "true"})
	if r.Failed != "" || !strings.HasPrefix(r.Outputs["image-digest"], "sha256:") {
		t.Fatalf("install: go: failed step %q (%d), outputs %v\n%s%s", r.Failed, r.Code, r.Outputs, r.Stdout, r.Stderr)
	}
	if !strings.Contains(r.Stdout, "tagrelay version "+version) {
		t.Errorf("the installed binary does not report %s:\n%s", version, r.Stdout)
	}

	r = runAction(t, t.TempDir(), map[string]string{"command": "push", "install": "go", "args": "--dest 'unterminated"}, nil)
	if r.Code != 2 || !strings.Contains(r.Stdout, "::error title=tagrelay::cannot split the args input") {
		t.Errorf("unmatched quote: failed step %q (%d)\n%s", r.Failed, r.Code, r.Stdout)
	}
	r = runAction(t, t.TempDir(), map[string]string{"command": "deploy", "install": "go"}, nil)
	if r.Code != 2 || !strings.Contains(r.Stdout, "command must be push, bump, mirror, trigger or release") {
		t.Errorf("unknown command: failed step %q (%d)\n%s", r.Failed, r.Code, r.Stdout)
	}
}
