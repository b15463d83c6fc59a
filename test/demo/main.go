// Command demo runs the whole tagrelay chain on local servers and narrates it: a smart-HTTP git
// server, an OCI registry, (later stages) a real kube-apiserver. `make demo` builds the binaries
// into bin/ and runs this.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/tagrelay/tagrelay/internal/gittest"
	"github.com/tagrelay/tagrelay/internal/regtest"
)

const token = "glpat-demo-0123456789"

func main() {
	binDir := flag.String("bin", "bin", "directory holding the built tagrelay binaries")
	flag.Parse()
	d := &demo{bin: *binDir, out: os.Stdout}
	if err := d.run(); err != nil {
		fmt.Fprintln(os.Stderr, "\ndemo failed:", err)
		os.Exit(1)
	}
}

type demo struct {
	bin  string
	out  io.Writer
	git  *gittest.Server
	reg  string // host:port of the registry
	step int
	tmp  string
}

func (d *demo) run() error {
	d.section("Local servers")
	var err error
	if d.tmp, err = os.MkdirTemp("", "tagrelay-demo-"); err != nil {
		return err
	}
	defer os.RemoveAll(d.tmp)
	if d.git, err = gittest.Start(gittest.WithBasicAuth("oauth2", token)); err != nil {
		return err
	}
	defer d.git.Close()
	reg := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	defer reg.Close()
	d.reg = strings.TrimPrefix(reg.URL, "http://")
	d.say("git server (smart HTTP, basic auth): %s", d.git.URL)
	d.say("OCI registry:                        %s", d.reg)

	d.section("tagrelay's own CLI image, built without Docker and pushed with tagrelay push")
	if err := d.exec("go", "run", "./hack/ociimage", "--bin", d.bin, "--version", "demo", "--out", filepath.Join(d.tmp, "cli-image")); err != nil {
		return err
	}
	if code, err := d.tagrelay("push", "--source", filepath.Join(d.tmp, "cli-image"), "--dest", d.reg+"/tagrelay/tagrelay", "--tag", "demo", "--insecure"); err != nil || code != 0 {
		return fmt.Errorf("pushing the CLI image: exit %d: %v", code, err)
	}

	d.section("The app's CI: build, push the image under the commit's tag")
	sha := "1a2b3c4d"
	image := d.reg + "/team/app"
	layout, err := d.appImage()
	if err != nil {
		return err
	}
	if code, err := d.tagrelay("push", "--source", layout, "--dest", image, "--tag", sha, "--insecure"); err != nil || code != 0 {
		return fmt.Errorf("push: exit %d: %v", code, err)
	}

	d.section("The infra repository (external) and its internal copy")
	for _, r := range []string{"team/infra", "internal/infra"} {
		if err := d.git.CreateRepo(r); err != nil {
			return err
		}
	}
	if _, err := d.git.Commit("team/infra", "main", "initial infra", map[string]string{
		"envs/prod/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ../../base\nimages:\n  - name: " + image + "\n    newTag: 0000000a # set by CI\n",
	}); err != nil {
		return err
	}
	d.say("external: %s", d.git.RepoURL("team/infra"))
	d.say("internal: %s (empty)", d.git.RepoURL("internal/infra"))

	d.section("tagrelay bump: the infra files point at the commit's tag, one commit")
	bump := []string{"bump", "--repo", d.git.RepoURL("team/infra"), "--file", "envs/prod/kustomization.yaml", "--image", image, "--tag", sha, "--insecure"}
	if code, err := d.tagrelay(bump...); err != nil || code != 0 {
		return fmt.Errorf("bump: exit %d: %v", code, err)
	}

	d.section("tagrelay mirror: the infra repository into the internal GitLab")
	mirror := []string{"mirror", "--source", d.git.RepoURL("team/infra"), "--dest", d.git.RepoURL("internal/infra"), "--ref", "main",
		"--source-token", token, "--dest-token", token, "--cache-dir", filepath.Join(d.tmp, "mirror-cache")}
	if code, err := d.tagrelay(mirror...); err != nil || code != 0 {
		return fmt.Errorf("mirror: exit %d: %v", code, err)
	}

	d.section("The same bump again: nothing would be deployed, so tagrelay refuses loudly")
	if code, err := d.tagrelay(bump...); err != nil || code != 3 {
		return fmt.Errorf("same-tag bump exited %d (%v), want 3", code, err)
	}

	d.section("tagrelay release v1.0.0 from .tagrelay.yaml: plan, then push -> bump -> mirror")
	cfg := filepath.Join(d.tmp, ".tagrelay.yaml")
	if err := os.WriteFile(cfg, []byte("image:\n  repository: "+image+"\ninfra:\n  repo: "+d.git.RepoURL("team/infra")+
		"\n  files: [envs/prod/kustomization.yaml]\nmirrors:\n  - source: "+d.git.RepoURL("team/infra")+"\n    dest: "+d.git.RepoURL("internal/infra")+
		"\n    refs: [main]\n    sourceTokenEnv: GITLAB_TOKEN\n    destTokenEnv: GITLAB_TOKEN\n"), 0o644); err != nil {
		return err
	}
	content, _ := os.ReadFile(cfg)
	d.say(".tagrelay.yaml:\n%s", indent(string(content)))
	release := []string{"release", "--version", "v1.0.0", "--config", cfg, "--commit", sha, "--yes", "--insecure", "--cache-dir", filepath.Join(d.tmp, "mirror-cache")}
	if code, err := d.tagrelay(release...); err != nil || code != 0 {
		return fmt.Errorf("release: exit %d: %v", code, err)
	}
	kust, _ := d.git.ReadFile("internal/infra", "main", "envs/prod/kustomization.yaml")
	d.say("envs/prod/kustomization.yaml on the internal main now reads:\n%s", indent(kust))

	d.section("The same release again: every step is already done, so it is refused (exit 3)")
	if code, err := d.tagrelay(release...); err != nil || code != 3 {
		return fmt.Errorf("same-tag release exited %d (%v), want 3", code, err)
	}
	d.say("exit code 3: nothing was written")
	d.section("Done")
	return nil
}

// appImage writes the app's build output, an OCI image layout, as a daemonless build would.
func (d *demo) appImage() (string, error) {
	img, err := random.Image(1024, 2)
	if err != nil {
		return "", err
	}
	dir := filepath.Join(d.tmp, "app-image")
	return dir, regtest.WriteLayout(dir, img)
}

// exec runs a helper command, echoing it.
func (d *demo) exec(name string, args ...string) error {
	fmt.Fprintf(d.out, "\n  $ %s %s\n", name, strings.Join(args, " "))
	cmd := exec.Command(name, args...)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err := cmd.Run()
	fmt.Fprint(d.out, indent(buf.String()))
	return err
}

// tagrelay runs a built binary, echoing the command line and its output, and returns its exit
// code. The git token travels in the environment, as in CI.
func (d *demo) tagrelay(args ...string) (int, error) {
	fmt.Fprintf(d.out, "\n  $ tagrelay %s\n", strings.Join(args, " "))
	cmd := exec.Command(filepath.Join(d.bin, "tagrelay"), args...)
	cmd.Env = append(os.Environ(), "GITLAB_TOKEN="+token)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err := cmd.Run()
	fmt.Fprint(d.out, indent(buf.String()))
	if cmd.ProcessState == nil {
		return -1, err
	}
	return cmd.ProcessState.ExitCode(), nil
}

func (d *demo) section(title string) {
	d.step++
	fmt.Fprintf(d.out, "\n== %d. %s\n", d.step, title)
}

func (d *demo) say(format string, args ...any) {
	fmt.Fprintf(d.out, "  "+format+"\n", args...)
}

func indent(s string) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return ""
	}
	return "    " + strings.ReplaceAll(s, "\n", "\n    ") + "\n"
}
