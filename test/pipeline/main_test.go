// Package pipeline runs the CI templates for real: the GitHub composite action's steps as a
// runner would, actionlint over the action and the example workflows, and the GitLab templates
// with gitlab-ci-local (shell executor) against local git, registry and cluster servers: the
// deploy jobs trigger a tagrelay-reconciler serving the kubetest cluster shared by the package.
// Tools it needs (actionlint, shellcheck, gitlab-ci-local, rsync) are installed on first use and
// cached under ~/.cache/tagrelay/tools; tests that need npm or the cluster skip under -short.
package pipeline

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/tagrelay/tagrelay/internal/kubetest"
)

// version is what the built binaries report, the version the templates pin.
const version = "v0.1.0"

// bin holds the binaries built once for the whole package; root is the repository.
var bin, root string

func TestMain(m *testing.M) {
	code, err := run(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(code)
}

func run(m *testing.M) (int, error) {
	var err error
	if root, err = filepath.Abs("../.."); err != nil {
		return 0, err
	}
	if bin, err = os.MkdirTemp("", "tagrelay-pipeline-"); err != nil {
		return 0, err
	}
	defer os.RemoveAll(bin)
	if err := build(bin, "./cmd/..."); err != nil {
		return 0, err
	}
	return kubetest.Run(m), nil // stops the shared test cluster, if a test started it
}

// build compiles packages into dir with the flags of a release, so that the action's
// `install: go` finds them in the build cache.
func build(dir string, pkgs ...string) error {
	cmd := exec.Command("go", append([]string{"build", "-trimpath", "-ldflags",
		"-s -w -X github.com/tagrelay/tagrelay/internal/clirun.Version=" + version, "-o", dir + string(filepath.Separator)}, pkgs...)...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("building %v: %w", pkgs, err)
	}
	return nil
}
