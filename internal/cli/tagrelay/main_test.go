package tagrelay

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tagrelay/tagrelay/internal/clirun"
)

// result is what one in-process run of the CLI produced.
type result struct {
	stdout, stderr string
	code           int
}

// run runs `tagrelay args...` in-process with a fresh app, the given CI variables and working
// directory (for the default tag), and returns its output and exit code.
func run(t *testing.T, vars map[string]string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	env := clirun.NewEnv(strings.NewReader(""), &stdout, &stderr, vars)
	env.Dir = t.TempDir()
	code := clirun.Run(context.Background(), env, NewApp(env), append([]string{"tagrelay"}, args...))
	return result{stdout: stdout.String(), stderr: stderr.String(), code: code}
}

// sharedDir returns ../shared next to the repository, or skips the test when it is absent (a
// clone outside the workplace).
func sharedDir(t *testing.T, sub string) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("go.mod not found")
		}
		dir = parent
	}
	p := filepath.Join(filepath.Dir(dir), "shared", sub)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("%s not present: %v", p, err)
	}
	return p
}

// writeFile writes content to dir/name and returns its path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
