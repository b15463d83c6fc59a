package peertest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// BinDir returns the directory of a peer's binaries: dir when set, else the environment variable
// env when set, else the output of `hack/peers.sh bindir <peer>` (which builds the peer from the
// Go module proxy on first use, a few minutes), the script found in the working directory or
// above it. Every name in want must exist in the directory.
func BinDir(ctx context.Context, dir, env, peer string, want ...string) (string, error) {
	return ScriptBinDir(ctx, dir, env, "peers.sh", []string{peer}, want...)
}

// ScriptBinDir returns dir when set, else the environment variable env when set, else the
// output of `hack/<script> bindir args...` (which builds what is missing), the script found in
// the working directory or above it (go test runs in the package directory; benchmarks and the
// demo at the repository root). Every name in want must exist in the directory.
func ScriptBinDir(ctx context.Context, dir, env, script string, args []string, want ...string) (string, error) {
	if dir == "" {
		dir = os.Getenv(env)
	}
	what := strings.TrimSpace(script + " " + strings.Join(args, " "))
	if dir == "" {
		path, err := findScript(script)
		if err != nil {
			return "", fmt.Errorf("%w; or set %s", err, env)
		}
		cmd := exec.CommandContext(ctx, path, append([]string{"bindir"}, args...)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("running %s bindir %s: %w: %s", path, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
		}
		dir = strings.TrimSpace(string(out))
	}
	for _, name := range want {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			return "", fmt.Errorf("%s missing in %s; run hack/%s", name, dir, strings.Replace(what, script, script+" build", 1))
		}
	}
	return dir, nil
}

// findScript looks for hack/<name> in the working directory and its parents.
func findScript(name string) (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, "hack", name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("hack/%s not found above the working directory", name)
		}
		dir = parent
	}
}
