package tagrelay

import (
	"strings"
	"testing"
)

func TestAppHelpAndUnknownCommands(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{[]string{"--help"}, 0, "push     push an image", ""},
		{[]string{"help", "bump"}, 0, "tagrelay bump - point an image", ""},
		{[]string{"help", "nope"}, 0, "COMMANDS:", ""},
		{[]string{"bump", "--help"}, 0, "--wait-for-image DURATION", ""},
		{[]string{"nope"}, 2, "", `unknown command "nope"`},
		{[]string{"bump", "--nope"}, 2, "", "flag provided but not defined: -nope; see 'tagrelay bump --help'"},
	} {
		got := run(t, nil, tc.args...)
		if got.code != tc.code || !strings.Contains(got.stdout, tc.stdout) || !strings.Contains(got.stderr, tc.stderr) {
			t.Errorf("tagrelay %v: exit %d, stdout %.200q, stderr %q; want %d, %q, %q", tc.args, got.code, got.stdout, got.stderr, tc.code, tc.stdout, tc.stderr)
		}
	}
}
