// Command bump benchmarks `tagrelay bump --repo` end to end against the git CLI way a pipeline
// would otherwise do it (git clone --depth 1 --single-branch, kustomize edit set image,
// git commit, git push), on an infra repository of 5,000 commits and 2,000 YAML files served by
// the local smart-HTTP git server. Both push a real commit on every run.
//
// It also measures what --render adds (issue 16): the same bump of a Kustomize overlay
// (apps/web) and of a chart's values-prod.yaml (chart/, Helm templates in the render worker),
// with and without --render, alternating in the same run.
//
//	go run ./bench/bump [-runs 5] [-commits 5000] [-files 2000]
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/tagrelay/tagrelay/internal/gittest"
	"github.com/tagrelay/tagrelay/internal/measure"
)

const (
	image = "harbor.example/team/app"
	token = "bench-token-0123456789"
)

func main() {
	runs := flag.Int("runs", 5, "measured runs per tool")
	commits := flag.Int("commits", 5000, "commits in the infra repository")
	files := flag.Int("files", 2000, "YAML files in the infra repository")
	flag.Parse()
	if err := run(*runs, *commits, *files); err != nil {
		fmt.Fprintln(os.Stderr, "bench/bump:", err)
		os.Exit(1)
	}
}

func run(runs, commits, files int) error {
	kustomize, err := measure.GoInstall("sigs.k8s.io/kustomize/kustomize/v5", "v5.8.2")
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "bench-bump-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	tagrelay := filepath.Join(work, "tagrelay")
	if out, err := exec.Command("go", "build", "-o", tagrelay, "./cmd/tagrelay").CombinedOutput(); err != nil {
		return fmt.Errorf("building tagrelay: %v\n%s", err, out)
	}
	seed, err := infraRepo(commits, files)
	if err != nil {
		return err
	}
	root := filepath.Join(work, "srv")
	if err := os.MkdirAll(filepath.Join(root, "team"), 0o755); err != nil {
		return err
	}
	if out, err := exec.Command("cp", "-a", seed, filepath.Join(root, "team", "infra.git")).CombinedOutput(); err != nil {
		return fmt.Errorf("copying the seed repository: %v\n%s", err, out)
	}
	srv, err := gittest.Start(gittest.WithRoot(root), gittest.WithBasicAuth("oauth2", token))
	if err != nil {
		return err
	}
	defer srv.Close()
	url := srv.RepoURL("team/infra")
	authURL := strings.Replace(url, "http://", "http://oauth2:"+token+"@", 1)
	fmt.Printf("infra repository: %d commits, %d YAML files, served at %s\n", commits, files+1, url)

	tr := &measure.Series{Name: "tagrelay bump --repo"}
	cli := &measure.Series{Name: "git clone --depth 1 + kustomize edit set image + git commit + git push"}
	for i := -1; i < runs; i++ { // run -1 warms caches and is not recorded
		cmd := exec.Command(tagrelay, "bump", "--repo", url, "--file", "apps/prod/kustomization.yaml",
			"--image", image, "--tag", fmt.Sprintf("tr%06d", i+1), "--log-level", "warn", "--no-verify-image")
		cmd.Env = append(os.Environ(), "GITLAB_TOKEN="+token)
		s, err := measure.Run(cmd)
		if err != nil {
			return err
		}
		if i >= 0 {
			tr.Add(s)
		}
		dir := filepath.Join(work, fmt.Sprintf("clone%d", i+1))
		git := func(args ...string) *exec.Cmd {
			c := exec.Command("git", append([]string{"-c", "user.name=ci", "-c", "user.email=ci@example.com"}, args...)...)
			c.Dir = work
			return c
		}
		edit := exec.Command(kustomize, "edit", "set", "image", fmt.Sprintf("%s=%s:cli%06d", image, image, i+1))
		edit.Dir = filepath.Join(dir, "apps", "prod")
		s, err = measure.Steps(
			git("clone", "--quiet", "--depth", "1", "--single-branch", "--branch", "main", authURL, dir),
			edit,
			git("-C", dir, "commit", "--quiet", "-am", "deploy"),
			git("-C", dir, "push", "--quiet", "origin", "main"),
		)
		if err != nil {
			return err
		}
		os.RemoveAll(dir)
		if i >= 0 {
			cli.Add(s)
		}
	}
	renderRows, err := renderSeries(tagrelay, url, runs)
	if err != nil {
		return err
	}
	var t measure.Table
	t.Compare("bump one image, push one commit", tr, cli)
	for _, r := range renderRows {
		t.Compare(r.scenario, r.base, r.render)
	}
	t.Write(os.Stdout)
	return nil
}

type renderRow struct {
	scenario     string
	base, render *measure.Series
}

// renderSeries measures bump --repo with and without --render, alternating, on the bench's
// repository: a Kustomize overlay and a Helm chart deployed with values-prod.yaml.
func renderSeries(tagrelay, url string, runs int) ([]renderRow, error) {
	cases := []struct {
		scenario, image string
		file, key       string
		render          []string
	}{
		{"bump a Kustomize overlay (apps/web)", "harbor.example/team/web", "apps/web/kustomization.yaml", "", []string{"--render", "apps/web"}},
		{"bump a chart's values-prod.yaml (chart/)", "harbor.example/team/api", "chart/values-prod.yaml", "image.tag", []string{"--render", "chart", "--values", "values-prod.yaml"}},
	}
	var rows []renderRow
	n := 0
	for _, c := range cases {
		row := renderRow{scenario: c.scenario, base: &measure.Series{Name: "tagrelay bump --repo"}, render: &measure.Series{Name: "tagrelay bump --repo --render"}}
		for i := -1; i < runs; i++ {
			for _, withRender := range []bool{false, true} {
				n++
				args := []string{"bump", "--repo", url, "--file", c.file, "--image", c.image, "--tag", fmt.Sprintf("r%06d", n),
					"--log-level", "warn", "--no-verify-image"}
				if c.key != "" {
					args = append(args, "--key", c.key)
				}
				if withRender {
					args = append(args, c.render...)
				}
				cmd := exec.Command(tagrelay, args...)
				cmd.Env = append(os.Environ(), "GITLAB_TOKEN="+token)
				s, err := measure.Run(cmd)
				if err != nil {
					return nil, err
				}
				switch {
				case i < 0: // warm-up
				case withRender:
					row.render.Add(s)
				default:
					row.base.Add(s)
				}
			}
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// infraRepo returns a bare repository of commits commits and files deployment files plus one
// kustomization, generated with git fast-import and cached.
func infraRepo(commits, files int) (string, error) {
	dir, err := measure.CacheDir("bench")
	if err != nil {
		return "", err
	}
	repo := filepath.Join(dir, fmt.Sprintf("infra-%dx%d-r2.git", commits, files)) // r2: apps/web and chart/ for --render
	if _, err := os.Stat(filepath.Join(repo, "packed-refs")); err == nil {
		return repo, nil
	}
	tmp := repo + ".tmp"
	os.RemoveAll(tmp)
	if out, err := exec.Command("git", "init", "--bare", "--quiet", "--initial-branch=main", tmp).CombinedOutput(); err != nil {
		return "", fmt.Errorf("git init: %v\n%s", err, out)
	}
	cmd := exec.Command("git", "fast-import", "--quiet")
	cmd.Dir = tmp
	in, err := cmd.StdinPipe()
	if err != nil {
		return "", err
	}
	if err := cmd.Start(); err != nil {
		return "", err
	}
	w := bufio.NewWriter(in)
	data := func(s string) { fmt.Fprintf(w, "data %d\n%s\n", len(s), s) }
	for c := 0; c < commits; c++ {
		fmt.Fprintf(w, "commit refs/heads/main\nmark :%d\ncommitter ci <ci@example.com> %d +0000\n", c+1, 1700000000+c*60)
		data(fmt.Sprintf("change %d", c))
		if c > 0 {
			fmt.Fprintf(w, "from :%d\n", c)
		}
		if c == 0 {
			var k strings.Builder
			k.WriteString("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n")
			for f := 0; f < files; f++ {
				fmt.Fprintf(&k, "  - ../svc%04d\n", f)
			}
			fmt.Fprintf(&k, "images:\n  - name: %s\n    newTag: v0\n", image)
			fmt.Fprintf(w, "M 100644 inline apps/prod/kustomization.yaml\n")
			data(k.String())
			for f := 0; f < files; f++ {
				fmt.Fprintf(w, "M 100644 inline apps/svc%04d/deployment.yaml\n", f)
				data(deployment(f, 0))
			}
			for name, content := range renderApps {
				fmt.Fprintf(w, "M 100644 inline %s\n", name)
				data(content)
			}
			continue
		}
		f := c % files
		fmt.Fprintf(w, "M 100644 inline apps/svc%04d/deployment.yaml\n", f)
		data(deployment(f, c))
	}
	if err := w.Flush(); err != nil {
		return "", err
	}
	in.Close()
	if err := cmd.Wait(); err != nil {
		return "", fmt.Errorf("git fast-import: %w", err)
	}
	for _, args := range [][]string{{"gc", "--quiet", "--aggressive"}, {"config", "http.receivepack", "true"}, {"pack-refs", "--all"}} {
		c := exec.Command("git", args...)
		c.Dir = tmp
		if out, err := c.CombinedOutput(); err != nil {
			return "", fmt.Errorf("git %s: %v\n%s", args[0], err, out)
		}
	}
	return repo, os.Rename(tmp, repo)
}

func deployment(f, rev int) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: svc%04d
  labels: {app: svc%04d, team: platform}
  annotations:
    revision: "%d"
spec:
  replicas: %d
  selector:
    matchLabels: {app: svc%04d}
  template:
    metadata:
      labels: {app: svc%04d}
    spec:
      containers:
        - name: app
          image: harbor.example/team/svc%04d:v%d
          ports: [{containerPort: 8080}]
          resources:
            requests: {cpu: 10m, memory: 32Mi}
`, f, f, rev, 1+rev%3, f, f, f, rev)
}

// renderApps are the apps the --render series bump: a Kustomize overlay and a Helm chart
// deployed with values-prod.yaml.
var renderApps = map[string]string{
	"apps/web/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - deployment.yaml\nimages:\n  - name: harbor.example/team/web\n    newTag: v0\n",
	"apps/web/deployment.yaml":    strings.Replace(deployment(9999, 0), "harbor.example/team/svc9999:v0", "harbor.example/team/web:v0", 1),
	"chart/Chart.yaml":            "apiVersion: v2\nname: api\nversion: 1.0.0\nappVersion: v0\n",
	"chart/values.yaml":           "replicaCount: 1\nimage:\n  repository: harbor.example/team/api\n  tag: v0\n",
	"chart/values-prod.yaml":      "replicaCount: 3\nimage:\n  tag: v0\n",
	"chart/templates/deployment.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
spec:
  replicas: {{ .Values.replicaCount }}
  selector:
    matchLabels: {app: {{ .Release.Name }}}
  template:
    metadata:
      labels: {app: {{ .Release.Name }}}
    spec:
      containers:
        - name: api
          image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
`,
}
