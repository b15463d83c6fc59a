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
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/tagrelay/tagrelay/internal/gittest"
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
}

func (d *demo) run() error {
	d.section("Local servers")
	var err error
	if d.git, err = gittest.Start(gittest.WithBasicAuth("oauth2", token)); err != nil {
		return err
	}
	defer d.git.Close()
	reg := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	defer reg.Close()
	d.reg = strings.TrimPrefix(reg.URL, "http://")
	d.say("git server (smart HTTP, basic auth): %s", d.git.URL)
	d.say("OCI registry:                        %s", d.reg)

	d.section("The build pushes the app image under the commit's tag")
	sha := "1a2b3c4d"
	image := d.reg + "/team/app"
	if err := d.pushRandom(image + ":" + sha); err != nil {
		return err
	}
	d.say("pushed %s:%s", image, sha)

	d.section("The infra repository: a kustomization and Helm values")
	if err := d.git.CreateRepo("team/infra"); err != nil {
		return err
	}
	if _, err := d.git.Commit("team/infra", "main", "initial infra", map[string]string{
		"envs/prod/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ../../base\nimages:\n  - name: " + image + "\n    newTag: 0000000a # set by CI\n",
		"chart/values.yaml":            "# app chart\nimage:\n  repository: " + image + "\n  tag: \"0000000a\"\n  pullPolicy: IfNotPresent\n",
	}); err != nil {
		return err
	}
	d.say("%s (envs/prod/kustomization.yaml, chart/values.yaml)", d.git.RepoURL("team/infra"))

	d.section("tagrelay bump: point both files at the new tag, one commit, pushed")
	bump := []string{"bump", "--repo", d.git.RepoURL("team/infra"), "--file", "envs/prod/kustomization.yaml", "--file", "chart/values.yaml",
		"--image", image, "--tag", sha}
	if code, err := d.tagrelay(bump...); err != nil || code != 0 {
		return fmt.Errorf("bump: exit %d: %v", code, err)
	}
	content, _ := d.git.ReadFile("team/infra", "main", "envs/prod/kustomization.yaml")
	d.say("envs/prod/kustomization.yaml on main now reads:\n%s", indent(content))

	d.section("The same tag again: nothing would be deployed, so tagrelay refuses loudly")
	code, err := d.tagrelay(bump...)
	if err != nil {
		return err
	}
	if code != 3 {
		return fmt.Errorf("same-tag bump exited %d, want 3", code)
	}
	d.say("exit code %d: no-op refused, nothing written", code)
	d.section("Done")
	return nil
}

func (d *demo) pushRandom(ref string) error {
	img, err := random.Image(1024, 2)
	if err != nil {
		return err
	}
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		return err
	}
	return remote.Write(r, img, remote.WithTransport(http.DefaultTransport))
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
