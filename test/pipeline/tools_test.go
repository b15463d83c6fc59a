package pipeline

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tagrelay/tagrelay/internal/measure"
)

// Pinned tool versions. gitlab-ci-local 4.74 and later need Node 22 (Set.prototype.union).
const (
	actionlintVersion    = "v1.7.12"
	gitlabCILocalVersion = "4.73.0"
)

func toolsDir(t testing.TB) string {
	t.Helper()
	dir, err := measure.CacheDir("tools")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

var installMu sync.Mutex

// actionlint returns the path of actionlint, go-installed once into the tools cache.
func actionlint(t testing.TB) string {
	t.Helper()
	installMu.Lock()
	defer installMu.Unlock()
	p := filepath.Join(toolsDir(t), "actionlint-"+actionlintVersion)
	if _, err := os.Stat(p); err == nil {
		return p
	}
	tmp := t.TempDir()
	cmd := exec.Command("go", "install", "github.com/rhysd/actionlint/cmd/actionlint@"+actionlintVersion)
	cmd.Env = append(os.Environ(), "GOBIN="+tmp, "GOFLAGS=-mod=mod")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("installing actionlint %s: %v\n%s", actionlintVersion, err, out)
	}
	if err := os.Rename(filepath.Join(tmp, "actionlint"), p); err != nil {
		t.Fatal(err)
	}
	return p
}

// aptInstall makes sure a command exists, installing its Debian package when running as root.
// It returns false when the command is missing and cannot be installed.
func aptInstall(t testing.TB, command, pkg string) bool {
	t.Helper()
	installMu.Lock()
	defer installMu.Unlock()
	if _, err := exec.LookPath(command); err == nil {
		return true
	}
	if os.Getuid() != 0 {
		return false
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		return false
	}
	install := func() error {
		cmd := exec.Command("apt-get", "install", "-y", "-qq", pkg)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		return cmd.Run()
	}
	if install() != nil {
		_ = exec.Command("apt-get", "update", "-qq").Run()
		if err := install(); err != nil {
			t.Logf("apt-get install %s: %v", pkg, err)
			return false
		}
	}
	_, err := exec.LookPath(command)
	return err == nil
}

// gitlabCILocal returns the path of gitlab-ci-local, npm-installed once into the tools cache,
// with rsync (which its shell executor needs) and npm installed with apt-get when missing. It
// skips the test, saying why, only when npm cannot be installed or its registry cannot be
// reached; an install that fails otherwise fails the test.
func gitlabCILocal(t testing.TB) string {
	t.Helper()
	if !aptInstall(t, "rsync", "rsync") {
		t.Fatal("gitlab-ci-local's shell executor needs rsync: apt-get install rsync")
	}
	aptInstall(t, "npm", "npm") // Debian's npm when the machine has none (NodeSource's node brings its own)
	installMu.Lock()
	defer installMu.Unlock()
	dir := filepath.Join(toolsDir(t), "gitlab-ci-local-"+gitlabCILocalVersion)
	p := filepath.Join(dir, "node_modules", ".bin", "gitlab-ci-local")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Skipf("npm is not installed, so gitlab-ci-local %s cannot be installed (apt-get install npm, or put it in %s)", gitlabCILocalVersion, dir)
	}
	cmd := exec.Command(npm, "install", "--no-audit", "--no-fund", "--prefix", dir, "gitlab-ci-local@"+gitlabCILocalVersion)
	if out, err := cmd.CombinedOutput(); err != nil {
		if ping, perr := exec.Command(npm, "ping").CombinedOutput(); perr != nil {
			t.Skipf("the npm registry is unreachable (npm ping: %v: %s), so gitlab-ci-local %s cannot be installed",
				perr, strings.TrimSpace(string(ping)), gitlabCILocalVersion)
		}
		t.Fatalf("npm install gitlab-ci-local@%s: %v\n%s", gitlabCILocalVersion, err, out)
	}
	return p
}
