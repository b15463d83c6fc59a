package peertest

import (
	"bytes"
	"context"
	"errors"
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
	if dir == "" {
		dir = os.Getenv(env)
	}
	if dir == "" {
		script, err := findScript()
		if err != nil {
			return "", fmt.Errorf("%w; or set %s", err, env)
		}
		cmd := exec.CommandContext(ctx, script, "bindir", peer)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("running %s bindir %s: %w: %s", script, peer, err, strings.TrimSpace(stderr.String()))
		}
		dir = strings.TrimSpace(string(out))
	}
	for _, name := range want {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			return "", fmt.Errorf("%s: %s missing in %s; run hack/peers.sh build %s", peer, name, dir, peer)
		}
	}
	return dir, nil
}

// findScript looks for hack/peers.sh in the working directory and its parents (go test runs in
// the package directory; benchmarks run at the repository root).
func findScript() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, "hack", "peers.sh")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("hack/peers.sh not found above the working directory")
		}
		dir = parent
	}
}
