package bumpcmd

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/tagrelay/tagrelay/internal/cli/clitest"
)

type corpusCase struct {
	Kind         string `json:"kind"`
	Image        string `json:"image"`
	Tag          string `json:"tag"`
	Key          string `json:"key"`
	ExpectNoop   bool   `json:"expect_noop"`
	ExpectError  string `json:"expect_error"`
	Notes        string `json:"notes"`
	ChangedLines []int  `json:"changed_lines"`
}

// TestBumpCorpus runs every case of ../shared/corpus/bump through the CLI and compares the
// result byte for byte.
func TestBumpCorpus(t *testing.T) {
	cases, err := filepath.Glob(filepath.Join(clitest.SharedDir(t, "corpus/bump"), "cases", "*"))
	if err != nil || len(cases) == 0 {
		t.Fatalf("no corpus cases: %v", err)
	}
	for _, dir := range cases {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			t.Parallel()
			var c corpusCase
			if err := json.Unmarshal([]byte(clitest.ReadFile(t, filepath.Join(dir, "case.json"))), &c); err != nil {
				t.Fatal(err)
			}
			input := clitest.ReadFile(t, filepath.Join(dir, "input.yaml"))
			file := clitest.WriteFile(t, t.TempDir(), "input.yaml", input)
			args := []string{"bump", "--file", file, "--image", c.Image, "--tag", c.Tag, "--kind", c.Kind}
			if c.Key != "" {
				args = append(args, "--key", c.Key)
			}
			got := runCLI(t, nil, args...)
			after := clitest.ReadFile(t, file)
			switch {
			case c.ExpectNoop:
				if got.Code != 3 || !strings.Contains(got.Stderr, "tag already current") {
					t.Errorf("exit %d, stderr %q; want 3 and 'tag already current'", got.Code, got.Stderr)
				}
				if after != input {
					t.Errorf("file changed on a no-op")
				}
			case c.ExpectError != "":
				if got.Code != 4 || !strings.Contains(got.Stderr, c.ExpectError) {
					t.Errorf("exit %d, stderr %q; want 4 and %q", got.Code, got.Stderr, c.ExpectError)
				}
				if after != input {
					t.Errorf("file changed on an error")
				}
			default:
				if got.Code != 0 {
					t.Fatalf("exit %d, stderr %q; want 0", got.Code, got.Stderr)
				}
				want := clitest.ReadFile(t, filepath.Join(dir, "expected.yaml"))
				if diff := cmp.Diff(want, after); diff != "" {
					t.Errorf("bump %s (%s) mismatch (-want +got):\n%s", c.Image, c.Notes, diff)
				}
				if n := strings.Count(got.Stdout, "\n"); n != len(c.ChangedLines) {
					t.Errorf("reported %d changes, want %d:\n%s", n, len(c.ChangedLines), got.Stdout)
				}
			}
		})
	}
}

// TestBumpCorpusIdempotent bumps each changed case a second time with the same tag: the loud
// refusal (exit 3) and an untouched file.
func TestBumpCorpusIdempotent(t *testing.T) {
	cases, _ := filepath.Glob(filepath.Join(clitest.SharedDir(t, "corpus/bump"), "cases", "*"))
	for _, dir := range cases {
		if _, err := os.Stat(filepath.Join(dir, "expected.yaml")); err != nil {
			continue
		}
		t.Run(filepath.Base(dir), func(t *testing.T) {
			t.Parallel()
			var c corpusCase
			if err := json.Unmarshal([]byte(clitest.ReadFile(t, filepath.Join(dir, "case.json"))), &c); err != nil {
				t.Fatal(err)
			}
			expected := clitest.ReadFile(t, filepath.Join(dir, "expected.yaml"))
			file := clitest.WriteFile(t, t.TempDir(), "input.yaml", expected)
			args := []string{"bump", "--file", file, "--image", c.Image, "--tag", c.Tag, "--kind", c.Kind}
			if c.Key != "" {
				args = append(args, "--key", c.Key)
			}
			if got := runCLI(t, nil, args...); got.Code != 3 {
				t.Errorf("second bump: exit %d, stderr %q; want 3", got.Code, got.Stderr)
			}
			if clitest.ReadFile(t, file) != expected {
				t.Errorf("second bump changed the file")
			}
		})
	}
}
