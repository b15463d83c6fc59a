// Command demo runs the whole tagrelay chain on local servers and narrates it: a smart-HTTP git
// server, an OCI registry, a real Kubernetes control plane (internal/kubetest: etcd,
// kube-apiserver, controller-manager, scheduler, kwok as the kubelet) and tagrelay-reconciler
// serving it. The app's commit is pushed, bumped into the infra repository, mirrored into the
// internal one and deployed; every repeat is refused (exit 3); then `tagrelay release v1.0.0`
// rolls the pods to the version and its repeat is refused. The reconciler reports each deploy to
// the app's forge (a fake GitLab): the demo ends with the app commit's recorded deploy/app
// status, linking the reconciler's page of the app. `make demo` builds the binaries into
// bin/ and runs this from the repository root; every process it starts is stopped when it ends,
// fails or is interrupted.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/tagrelay/tagrelay/internal/fakegitlab"
	"github.com/tagrelay/tagrelay/internal/gittest"
	"github.com/tagrelay/tagrelay/internal/kubetest"
	"github.com/tagrelay/tagrelay/internal/reconcilertest"
	"github.com/tagrelay/tagrelay/internal/regtest"
)

const (
	token     = "glpat-demo-0123456789"
	namespace = "team-app"        // where the app runs
	sysNS     = "tagrelay-system" // the reconciler's inventories and histories
	app       = "app"             // the reconciler's app and the name of its Deployment
)

func main() {
	binDir := flag.String("bin", "bin", "directory holding the built tagrelay binaries")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	d := &demo{ctx: ctx, bin: *binDir, out: os.Stdout}
	start := time.Now()
	err := d.run()
	if err != nil {
		if ctx.Err() != nil {
			err = errors.New("interrupted")
		}
		fmt.Fprintln(os.Stderr, "\ndemo failed:", err)
		os.Exit(1)
	}
	fmt.Fprintf(d.out, "  the whole chain in %s; every server and process the demo started is stopped\n", time.Since(start).Round(time.Second))
}

type demo struct {
	ctx        context.Context
	bin        string
	out        io.Writer
	git        *gittest.Server
	reg        string // host:port of the registry
	kube       kubernetes.Interface
	kubeconfig string
	rec        *reconcilertest.Server
	forge      *fakegitlab.Server
	step       int
	tmp        string
	cleanup    []func() // run in reverse order when the demo ends
}

func (d *demo) run() (err error) {
	defer func() {
		for i := len(d.cleanup) - 1; i >= 0; i-- {
			d.cleanup[i]()
		}
	}()
	d.section("Local servers: git, OCI registry, Kubernetes")
	if d.tmp, err = os.MkdirTemp("", "tagrelay-demo-"); err != nil {
		return err
	}
	d.atEnd(func() { os.RemoveAll(d.tmp) })
	if d.git, err = gittest.Start(gittest.WithBasicAuth("oauth2", token)); err != nil {
		return err
	}
	d.atEnd(func() { d.git.Close() })
	reg, err := regtest.Start()
	if err != nil {
		return err
	}
	d.atEnd(func() { reg.Close() })
	d.reg = reg.Host
	d.say("git server (smart HTTP, basic auth): %s", d.git.URL)
	d.say("OCI registry:                        %s", d.reg)
	if err := d.startCluster(); err != nil {
		return err
	}

	d.section("tagrelay-reconciler serve: deploys the internal infra repository to the cluster when triggered")
	if err := d.startReconciler(); err != nil {
		return err
	}

	d.section("tagrelay's own CLI image, built without Docker and pushed with tagrelay push")
	if err := d.exec("go", "run", "./hack/ociimage", "--bin", d.bin, "--version", "demo", "--out", filepath.Join(d.tmp, "cli-image")); err != nil {
		return err
	}
	if err := d.want(0, "pushing the CLI image", "push", "--source", filepath.Join(d.tmp, "cli-image"), "--dest", d.reg+"/tagrelay/tagrelay", "--tag", "demo", "--insecure"); err != nil {
		return err
	}

	image := d.reg + "/team/app"
	d.section("What runs today: the infra repository at tag 0000000a, mirrored inside and deployed")
	for _, r := range []string{"team/infra", "internal/infra"} {
		if err := d.git.CreateRepo(r); err != nil {
			return err
		}
	}
	if _, err := d.git.Commit("team/infra", "main", "initial infra", map[string]string{
		"base/kustomization.yaml":      "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - deployment.yaml\n",
		"base/deployment.yaml":         kubetest.DeploymentYAML(app, image, 2),
		"envs/prod/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ../../base\nimages:\n  - name: " + image + "\n    newTag: 0000000a # set by CI\n",
	}); err != nil {
		return err
	}
	d.say("external: %s (base/deployment.yaml, envs/prod/kustomization.yaml)", d.git.RepoURL("team/infra"))
	d.say("internal: %s", d.git.RepoURL("internal/infra"))
	mirror := []string{"mirror", "--source", d.git.RepoURL("team/infra"), "--dest", d.git.RepoURL("internal/infra"), "--ref", "main",
		"--cache-dir", filepath.Join(d.tmp, "mirror-cache")}
	if err := d.want(0, "mirror", mirror...); err != nil {
		return err
	}
	trigger := []string{"trigger", "reconciler", "--url", d.rec.URL, "--app", app, "--token-file", d.rec.TokenFile, "--wait"}
	if err := d.want(0, "first deploy", trigger...); err != nil {
		return err
	}
	if err := d.showCluster(image + ":0000000a"); err != nil {
		return err
	}

	d.section("A developer commits to the app on the external forge; tagrelay mirror brings it into the internal GitLab")
	commit, err := d.appCommit()
	if err != nil {
		return err
	}
	sha := commit[:8]
	d.mergeRequest(commit)

	d.section("The app's CI (internal GitLab): a multi-arch image (an OCI layout, linux/amd64 + linux/arm64), pushed under CI_COMMIT_SHORT_SHA=" + sha)
	layout, err := d.appImage()
	if err != nil {
		return err
	}
	if err := d.want(0, "push", "push", "--source", layout, "--dest", image, "--tag", sha, "--insecure"); err != nil {
		return err
	}

	d.section("tagrelay bump: the infra files point at the commit's tag, one commit with the app commit in its trailers")
	bump := []string{"bump", "--repo", d.git.RepoURL("team/infra"), "--file", "envs/prod/kustomization.yaml", "--image", image, "--tag", sha, "--insecure",
		"--source-commit", commit, "--source-repo", d.git.RepoURL("github/app")}
	if err := d.want(0, "bump", bump...); err != nil {
		return err
	}

	d.section("tagrelay mirror: the infra repository into the internal GitLab")
	if err := d.want(0, "mirror", mirror...); err != nil {
		return err
	}

	d.section("tagrelay trigger reconciler: it applies the internal repository, the pods roll to " + sha)
	expect := append(append([]string{}, trigger...), "--expect-image", image+":"+sha)
	if err := d.want(0, "deploy", expect...); err != nil {
		return err
	}
	if err := d.showCluster(image + ":" + sha); err != nil {
		return err
	}
	if err := d.showForge(commit, "success"); err != nil {
		return err
	}

	d.section("The same bump again: nothing would be deployed, so tagrelay refuses loudly")
	if err := d.want(3, "same-tag bump", bump...); err != nil {
		return err
	}

	d.section("The same deploy again: " + sha + " already runs, so the reconciler refuses (exit 3)")
	if err := d.refused("same-tag deploy", expect...); err != nil {
		return err
	}

	d.section("tagrelay release v1.0.0 from .tagrelay.yaml: plan, then push -> bump -> mirror -> trigger")
	cfg := filepath.Join(d.tmp, ".tagrelay.yaml")
	if err := os.WriteFile(cfg, []byte("image:\n  repository: "+image+"\ninfra:\n  repo: "+d.git.RepoURL("team/infra")+
		"\n  files: [envs/prod/kustomization.yaml]\nmirrors:\n  - source: "+d.git.RepoURL("team/infra")+"\n    dest: "+d.git.RepoURL("internal/infra")+
		"\n    refs: [main]\n    sourceTokenEnv: GITLAB_TOKEN\n    destTokenEnv: GITLAB_TOKEN\ntrigger:\n  reconciler:\n    url: "+d.rec.URL+
		"\n    app: "+app+"\n    tokenFile: "+d.rec.TokenFile+"\n    timeout: 2m\n"), 0o644); err != nil {
		return err
	}
	content, _ := os.ReadFile(cfg)
	d.say(".tagrelay.yaml:\n%s", indent(string(content)))
	release := []string{"release", "--version", "v1.0.0", "--config", cfg, "--commit", sha, "--yes", "--insecure", "--cache-dir", filepath.Join(d.tmp, "mirror-cache")}
	if err := d.want(0, "release", release...); err != nil {
		return err
	}
	kust, _ := d.git.ReadFile("internal/infra", "main", "envs/prod/kustomization.yaml")
	d.say("envs/prod/kustomization.yaml on the internal main now reads:\n%s", indent(kust))
	if err := d.showCluster(image + ":v1.0.0"); err != nil {
		return err
	}

	d.section("The same release again: every step is already done, so it is refused (exit 3)")
	if err := d.refused("same-tag release", release...); err != nil {
		return err
	}
	d.say("exit code 3: nothing was written, nothing was rolled")

	d.section("The app commit on the forge: the reconciler reported the deploy to it (deploy/" + app + ", linking its page of the app)")
	if err := d.showForge(commit, "success"); err != nil {
		return err
	}
	d.section("Done")
	return nil
}

// atEnd registers f to run when the demo ends, after those registered later.
func (d *demo) atEnd(f func()) { d.cleanup = append(d.cleanup, f) }

// appCommit commits to the app repository on the "external" forge, mirrors it (branches and
// tags) into the internal GitLab, and returns the commit (the internal CI tags the image with its
// short SHA).
func (d *demo) appCommit() (string, error) {
	for _, r := range []string{"github/app", "internal/app"} {
		if err := d.git.CreateRepo(r); err != nil {
			return "", err
		}
	}
	commit, err := d.git.Commit("github/app", "main", "feat: greet in French", map[string]string{
		"main.go":    "package main\n\nfunc main() { println(\"bonjour\") }\n",
		"Dockerfile": "FROM scratch\nCOPY app /app\n",
	})
	if err != nil {
		return "", err
	}
	d.say("external: %s (main at %s)", d.git.RepoURL("github/app"), commit[:8])
	d.say("internal: %s", d.git.RepoURL("internal/app"))
	if err := d.want(0, "mirroring the app", "mirror", "--source", d.git.RepoURL("github/app"), "--dest", d.git.RepoURL("internal/app"),
		"--ref", "main", "--tags", "--cache-dir", filepath.Join(d.tmp, "mirror-cache")); err != nil {
		return "", err
	}
	internal, err := d.git.RevParse("internal/app", "main")
	if err != nil || internal != commit {
		return "", fmt.Errorf("internal/app main = %s (%v), want %s", internal, err, commit)
	}
	return commit, nil
}

// appImage writes the app's build output, an OCI image layout holding a two-platform index, as a
// daemonless multi-arch build would.
func (d *demo) appImage() (string, error) {
	img, err := regtest.NewIndex(1024, 2, "linux/amd64", "linux/arm64")
	if err != nil {
		return "", err
	}
	dir := filepath.Join(d.tmp, "app-image")
	return dir, regtest.WriteLayout(dir, img)
}

// exec runs a helper command, echoing it.
func (d *demo) exec(name string, args ...string) error {
	fmt.Fprintf(d.out, "\n  $ %s %s\n", name, strings.Join(args, " "))
	cmd := exec.CommandContext(d.ctx, name, args...)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err := cmd.Run()
	fmt.Fprint(d.out, indent(buf.String()))
	return err
}

// tagrelay runs the built tagrelay, echoing the command line and its output, and returns its
// exit code. The git token travels in the environment, as in CI, never on the command line.
func (d *demo) tagrelay(args ...string) (int, error) {
	fmt.Fprintf(d.out, "\n  $ tagrelay %s\n", strings.Join(args, " "))
	cmd := exec.CommandContext(d.ctx, filepath.Join(d.bin, "tagrelay"), args...)
	cmd.Env = append(os.Environ(), "GITLAB_TOKEN="+token, "TAGRELAY_SOURCE_TOKEN="+token, "TAGRELAY_DEST_TOKEN="+token)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err := cmd.Run()
	fmt.Fprint(d.out, indent(buf.String()))
	if cmd.ProcessState == nil || d.ctx.Err() != nil {
		return -1, err
	}
	return cmd.ProcessState.ExitCode(), nil
}

// want runs tagrelay and fails the demo unless it exits with code.
func (d *demo) want(code int, what string, args ...string) error {
	got, err := d.tagrelay(args...)
	if err != nil || got != code {
		return fmt.Errorf("%s exited %d (%v), want %d", what, got, err, code)
	}
	if code != 0 {
		d.say("exit code %d", got)
	}
	return nil
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
