// Package depcheck asserts which modules a package may pull in, so the fences of the layout hold:
// bump and registry stay free of Kubernetes and forge clients, and the CI-side binaries stay
// small. The fences themselves are one table, in fences_test.go. After ggcr's internal/depcheck.
package depcheck

import (
	"os/exec"
	"strings"
	"testing"
)

// Deps returns every package pkg (a pattern for go list) depends on, itself included. It skips
// the test under -short: go list is slow.
func Deps(t *testing.T, pkg string) []string {
	t.Helper()
	if testing.Short() {
		t.Skip("runs go list")
	}
	out, err := exec.Command("go", "list", "-deps", pkg).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	return strings.Fields(string(out))
}
