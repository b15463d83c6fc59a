package tagrelay

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/tagrelay/tagrelay/internal/clirun"
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
		var stdout, stderr bytes.Buffer
		env := clirun.NewEnv(strings.NewReader(""), &stdout, &stderr, nil)
		code := clirun.Run(context.Background(), env, NewApp(env), append([]string{"tagrelay"}, tc.args...))
		if code != tc.code || !strings.Contains(stdout.String(), tc.stdout) || !strings.Contains(stderr.String(), tc.stderr) {
			t.Errorf("tagrelay %v: exit %d, stdout %.200q, stderr %q; want %d, %q, %q", tc.args, code, stdout.String(), stderr.String(), tc.code, tc.stdout, tc.stderr)
		}
	}
}
