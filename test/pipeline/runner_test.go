package pipeline

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// action is the part of action.yml a runner reads.
type action struct {
	Inputs map[string]struct {
		Default  string `yaml:"default"`
		Required bool   `yaml:"required"`
	} `yaml:"inputs"`
	Outputs map[string]struct {
		Value string `yaml:"value"`
	} `yaml:"outputs"`
	Runs struct {
		Using string       `yaml:"using"`
		Steps []actionStep `yaml:"steps"`
	} `yaml:"runs"`
}

type actionStep struct {
	Name             string            `yaml:"name"`
	ID               string            `yaml:"id"`
	Shell            string            `yaml:"shell"`
	Run              string            `yaml:"run"`
	Env              map[string]string `yaml:"env"`
	WorkingDirectory string            `yaml:"working-directory"`
}

// actionRun is what one use of the action did.
type actionRun struct {
	Stdout   string            // every step's stdout, in order
	Stderr   string            // every step's stderr
	Failed   string            // name of the step that failed, "" if none
	Code     int               // its exit code
	Outputs  map[string]string // the action's outputs
	Steps    map[string]map[string]string
	Summary  string // $GITHUB_STEP_SUMMARY
	PathDirs []string
}

var expr = regexp.MustCompile(`\$\{\{\s*([^}]*?)\s*\}\}`)

// runAction runs the composite action's steps as a GitHub runner does: bash with
// `--noprofile --norc -eo pipefail`, ${{ inputs.* }} expanded (defaults plus with), a fresh
// $GITHUB_OUTPUT per step, $GITHUB_PATH and $GITHUB_ENV applied to the following steps, one
// $GITHUB_STEP_SUMMARY, and the outputs computed from the steps' outputs. env is the
// environment of the step that uses the action (its `env:`), added to a minimal runner one.
func runAction(t *testing.T, dir string, with, env map[string]string) actionRun {
	t.Helper()
	actionPath := filepath.Join(root, "ci-templates", "github")
	var a action
	data, err := os.ReadFile(filepath.Join(actionPath, "action.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, &a); err != nil {
		t.Fatal(err)
	}
	if a.Runs.Using != "composite" {
		t.Fatalf("action runs using %q, want composite", a.Runs.Using)
	}
	inputs := map[string]string{}
	for k, in := range a.Inputs {
		inputs[k] = in.Default
	}
	for k, v := range with {
		if _, ok := a.Inputs[k]; !ok {
			t.Fatalf("input %q is not defined in action.yml", k)
		}
		inputs[k] = v
	}
	for k, in := range a.Inputs {
		if in.Required && inputs[k] == "" {
			t.Fatalf("required input %q not given", k)
		}
	}
	runner := t.TempDir()
	summary := filepath.Join(runner, "summary.md")
	arch := map[string]string{"amd64": "X64", "arm64": "ARM64"}[runtime.GOARCH]
	base := map[string]string{
		"PATH": os.Getenv("PATH"), "HOME": os.Getenv("HOME"), "GOCACHE": goEnv(t, "GOCACHE"), "GOPATH": goEnv(t, "GOPATH"),
		"GOFLAGS": os.Getenv("GOFLAGS"), "GOPROXY": os.Getenv("GOPROXY"),
		"CI": "true", "GITHUB_ACTIONS": "true", "GITHUB_SERVER_URL": "https://github.com", "GITHUB_ACTION_PATH": actionPath,
		"GITHUB_WORKSPACE": dir, "GITHUB_SHA": "1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b", "GITHUB_STEP_SUMMARY": summary,
		"RUNNER_OS": "Linux", "RUNNER_ARCH": arch, "RUNNER_TEMP": filepath.Join(runner, "temp"), "RUNNER_TOOL_CACHE": filepath.Join(runner, "toolcache"),
	}
	for _, d := range []string{base["RUNNER_TEMP"], base["RUNNER_TOOL_CACHE"]} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for k, v := range env {
		base[k] = v
	}
	res := actionRun{Steps: map[string]map[string]string{}}
	var stdout, stderr strings.Builder
	for i, s := range a.Runs.Steps {
		if s.Shell != "bash" {
			t.Fatalf("step %q: shell %q; this runner knows bash", s.Name, s.Shell)
		}
		expand := func(v string) string { return expandExpr(t, v, inputs, res.Steps) }
		files := map[string]string{}
		for _, f := range []string{"GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_PATH"} {
			files[f] = filepath.Join(runner, fmt.Sprintf("%s-%d", f, i))
			if err := os.WriteFile(files[f], nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		stepEnv := map[string]string{}
		for k, v := range base {
			stepEnv[k] = v
		}
		for k, v := range s.Env {
			stepEnv[k] = expand(v)
		}
		for k, v := range files {
			stepEnv[k] = v
		}
		if len(res.PathDirs) > 0 {
			stepEnv["PATH"] = strings.Join(res.PathDirs, ":") + ":" + stepEnv["PATH"]
		}
		script := filepath.Join(runner, fmt.Sprintf("step-%d.sh", i))
		if err := os.WriteFile(script, []byte(expand(s.Run)), 0o755); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("bash", "--noprofile", "--norc", "-eo", "pipefail", script)
		cmd.Dir = dir
		if s.WorkingDirectory != "" {
			cmd.Dir = filepath.Join(dir, expand(s.WorkingDirectory))
		}
		for k, v := range stepEnv {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		var so, se bytes.Buffer
		cmd.Stdout, cmd.Stderr = &so, &se
		err := cmd.Run()
		stdout.WriteString(so.String())
		stderr.WriteString(se.String())
		if s.ID != "" {
			res.Steps[s.ID] = readOutputs(t, files["GITHUB_OUTPUT"])
		}
		for _, l := range lines(t, files["GITHUB_PATH"]) {
			res.PathDirs = append([]string{l}, res.PathDirs...)
		}
		for k, v := range readOutputs(t, files["GITHUB_ENV"]) {
			base[k] = v
		}
		if err != nil {
			res.Failed, res.Code = s.Name, cmd.ProcessState.ExitCode()
			break
		}
	}
	res.Stdout, res.Stderr = stdout.String(), stderr.String()
	res.Outputs = map[string]string{}
	for k, o := range a.Outputs {
		res.Outputs[k] = expandExpr(t, o.Value, inputs, res.Steps)
	}
	if b, err := os.ReadFile(summary); err == nil {
		res.Summary = string(b)
	}
	return res
}

// expandExpr expands the expressions an action may use: inputs.NAME and steps.ID.outputs.NAME
// (output names are case-insensitive, as in GitHub). Anything else fails the test, so the
// action cannot silently depend on something this runner does not provide.
func expandExpr(t *testing.T, s string, inputs map[string]string, steps map[string]map[string]string) string {
	t.Helper()
	return expr.ReplaceAllStringFunc(s, func(m string) string {
		e := expr.FindStringSubmatch(m)[1]
		if name, ok := strings.CutPrefix(e, "inputs."); ok {
			v, ok := inputs[name]
			if !ok {
				t.Fatalf("expression %s: no input %q", m, name)
			}
			return v
		}
		if rest, ok := strings.CutPrefix(e, "steps."); ok {
			id, name, _ := strings.Cut(rest, ".outputs.")
			for k, v := range steps[id] {
				if strings.EqualFold(k, name) {
					return v
				}
			}
			return ""
		}
		t.Fatalf("expression %s is not supported by the test runner", m)
		return ""
	})
}

// readOutputs parses $GITHUB_OUTPUT / $GITHUB_ENV: NAME=value lines and NAME<<DELIMITER blocks.
func readOutputs(t *testing.T, path string) map[string]string {
	t.Helper()
	out := map[string]string{}
	ls := lines(t, path)
	for i := 0; i < len(ls); i++ {
		if k, delim, ok := strings.Cut(ls[i], "<<"); ok && !strings.Contains(k, "=") {
			var v []string
			for i++; i < len(ls) && ls[i] != delim; i++ {
				v = append(v, ls[i])
			}
			out[k] = strings.Join(v, "\n")
			continue
		}
		if k, v, ok := strings.Cut(ls[i], "="); ok {
			out[k] = v
		}
	}
	return out
}

func lines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

func goEnv(t *testing.T, name string) string {
	t.Helper()
	out, err := exec.Command("go", "env", name).Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}
