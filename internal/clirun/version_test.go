package clirun_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestBinariesPrintTheBuildVersion builds every binary under cmd/ with the -X flag of the
// Makefile's LDFLAGS (read from the Makefile, so a renamed variable fails here) and checks that
// --version prints the version given at build time, not "dev".
func TestBinariesPrintTheBuildVersion(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every binary; skipped under -short")
	}
	root := filepath.Join("..", "..")
	mk, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^LDFLAGS :=.*-X (\S+)=\$\(VERSION\)`).FindSubmatch(mk)
	if m == nil {
		t.Fatal("the Makefile's LDFLAGS sets no -X …=$(VERSION)")
	}
	const version = "v0.0.0-versiontest"
	bins, err := filepath.Glob(filepath.Join(root, "cmd", "*"))
	if err != nil || len(bins) < 5 {
		t.Fatalf("cmd/*: %v %v", bins, err)
	}
	out := t.TempDir()
	args := []string{"build", "-ldflags", "-X " + string(m[1]) + "=" + version, "-o", out + string(filepath.Separator)}
	for _, b := range bins {
		args = append(args, "./cmd/"+filepath.Base(b))
	}
	build := exec.Command("go", args...)
	build.Dir = root
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, b)
	}
	for _, b := range bins {
		name := filepath.Base(b)
		got, err := exec.Command(filepath.Join(out, name), "--version").CombinedOutput()
		if err != nil || !strings.Contains(string(got), version) {
			t.Errorf("%s --version = %q (%v), want it to name %s", name, got, err, version)
		}
	}
}
