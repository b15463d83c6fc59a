package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/tagrelay/tagrelay/internal/measure"
)

// craneVersion is the crane built for the comparison: the go-containerregistry tagrelay uses.
const craneVersion = "v0.22.1"

// tools are the binaries compared; "" when unavailable.
type tools struct {
	tagrelay, crane, skopeo string
}

// findTools builds tagrelay-push, and finds or installs crane and skopeo. It returns notes on
// what could not be had.
func findTools(ctx context.Context, work string) (tools, []string) {
	var t tools
	var notes []string
	t.tagrelay = filepath.Join(work, "tagrelay-push")
	// Built as `make build` ships it; crane gets the same flags.
	if out, err := exec.CommandContext(ctx, "go", "build", "-trimpath", "-tags", "urfave_cli_no_docs", "-ldflags", "-s -w", "-o", t.tagrelay, "./cmd/tagrelay-push").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building tagrelay-push: %v\n%s", err, out)
		os.Exit(1)
	}
	var err error
	if t.crane, err = crane(); err != nil {
		notes = append(notes, "crane skipped: "+err.Error())
	}
	if t.skopeo, err = skopeo(ctx); err != nil {
		notes = append(notes, "skopeo skipped: "+err.Error())
	}
	return t, notes
}

// crane is built as tagrelay-push is: stripped, without paths.
func crane() (string, error) {
	return measure.GoInstall("github.com/google/go-containerregistry/cmd/crane", craneVersion, "-trimpath", "-ldflags", "-s -w")
}

func skopeo(ctx context.Context) (string, error) {
	if p, err := exec.LookPath("skopeo"); err == nil {
		return p, nil
	}
	if os.Geteuid() != 0 {
		return "", fmt.Errorf("not installed and not root (apt-get install skopeo)")
	}
	cmd := exec.CommandContext(ctx, "apt-get", "install", "-y", "--no-install-recommends", "-o", "DPkg::Lock::Timeout=120", "skopeo")
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("apt-get install skopeo: %v: %s", err, lastLine(out))
	}
	return exec.LookPath("skopeo")
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}
