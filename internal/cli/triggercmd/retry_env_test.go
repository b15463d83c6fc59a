package triggercmd

import (
	"net/http"
	"strings"
	"testing"

	"github.com/tagrelay/tagrelay/internal/apitest"
	"github.com/tagrelay/tagrelay/internal/cli/clitest"
	"github.com/tagrelay/tagrelay/internal/fakegithub"
)

// TestTriggerGitHubWaitSurvivesA502: GitHub (or its proxy) answering 502 Bad Gateway while the
// run is followed is retried, and the command exits with the run's success.
func TestTriggerGitHubWaitSurvivesA502(t *testing.T) {
	t.Parallel()
	fake := fakegithub.New(t, fakegithub.Config{Token: cliGitHubToken,
		Faults: []apitest.Fault{{Method: http.MethodGet, Path: "/repos/*/*/actions/runs/*", Status: http.StatusBadGateway, Times: 2}}})
	r := runCLI(t, nil, "trigger", "github", "--github-url", fake.URL, "--repo", "octo-org/app", "--token", cliGitHubToken,
		"--workflow", "deploy.yml", "--ref", "main", "--wait", "--poll-interval", "1ms")
	if r.Code != 0 || !strings.Contains(r.Stdout, "run 30433643 completed (success)") {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.Code, r.Stdout, r.Stderr)
	}
	bad := 0
	for _, req := range fake.Requests() {
		if req.Method == http.MethodGet && strings.HasPrefix(req.Path, "/repos/octo-org/app/actions/runs/30433643") {
			bad++
		}
	}
	if bad < 3 || strings.Count(r.Stderr, "retrying the forge's API") != 2 || !strings.Contains(r.Stderr, "reason=\"502 Bad Gateway\"") {
		t.Errorf("%d reads of the run; stderr:\n%s\nwant the two 502s retried and logged", bad, r.Stderr)
	}
}

// TestTriggerEnvironment: the variables whose meaning differs between commands have a name per
// command; the old names still work where they can only mean this command's value, with a
// warning, and a CI job token goes only to its own server.
func TestTriggerEnvironment(t *testing.T) {
	t.Parallel()
	base := []string{"trigger", "github", "--workflow", "deploy.yml", "--ref", "main", "--poll-interval", "1ms"}
	for _, tc := range []struct {
		name   string
		cfg    fakegithub.Config
		vars   map[string]string
		args   []string
		code   int
		want   []string // in stdout+stderr
		called bool     // the fake got a request
	}{
		{name: "TAGRELAY_REPO holding OWNER/NAME", vars: map[string]string{"TAGRELAY_REPO": "octo-org/app"}, args: []string{"--token", cliGitHubToken},
			want:   []string{"run 30433643", "TAGRELAY_REPO is deprecated for 'tagrelay trigger github': set TAGRELAY_GITHUB_REPO"},
			called: true},
		{name: "TAGRELAY_REPO holding bump's git URL", vars: map[string]string{"TAGRELAY_REPO": "https://gitlab.example/team/infra.git"}, args: []string{"--token", cliGitHubToken},
			code: 2, want: []string{"no repository given"}},
		{name: "GITHUB_REPOSITORY", vars: map[string]string{"GITHUB_REPOSITORY": "octo-org/app"}, args: []string{"--token", cliGitHubToken},
			want: []string{"run 30433643"}, called: true},
		{name: "TAGRELAY_TIMEOUT bounds the wait, deprecated", cfg: fakegithub.Config{Steps: 1 << 30}, vars: map[string]string{"TAGRELAY_TIMEOUT": "200ms"},
			args: []string{"--repo", "octo-org/app", "--token", cliGitHubToken, "--wait"}, code: 1,
			want: []string{"timed out waiting for workflow run 30433643", "TAGRELAY_TIMEOUT is deprecated for 'tagrelay trigger github': set TAGRELAY_WAIT_TIMEOUT"}, called: true},
		{name: "GITHUB_TOKEN of github.com kept from another server", vars: map[string]string{"GITHUB_TOKEN": cliGitHubToken},
			args: []string{"--repo", "octo-org/app"}, code: 2, want: []string{"not sending the CI job token to this API", "no GitHub token given"}},
		{name: "GITHUB_TOKEN of this server, over plain http", args: []string{"--repo", "octo-org/app"}, code: 2,
			want: []string{"refusing to send GITHUB_TOKEN would travel unencrypted"}},
		{name: "GITHUB_TOKEN of this server, --insecure", args: []string{"--repo", "octo-org/app", "--insecure"},
			want: []string{"run 30433643", "TLS verification disabled (--insecure)"}, called: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.cfg.Token = cliGitHubToken
			fake := fakegithub.New(t, tc.cfg)
			vars := tc.vars
			if vars == nil { // the job token of the fake's own server
				vars = map[string]string{"GITHUB_TOKEN": cliGitHubToken, "GITHUB_SERVER_URL": fake.URL, "GITHUB_API_URL": fake.URL}
			}
			r := runCLI(t, vars, append(append(base, "--github-url", fake.URL), tc.args...)...)
			for _, w := range tc.want {
				if !strings.Contains(r.Stdout+r.Stderr, w) {
					t.Errorf("output lacks %q", w)
				}
			}
			if r.Code != tc.code {
				t.Errorf("exit %d, want %d", r.Code, tc.code)
			}
			if called := len(fake.Requests()) > 0; called != tc.called {
				t.Errorf("fake called = %v, want %v", called, tc.called)
			}
			if t.Failed() {
				t.Logf("stdout: %s\nstderr: %s", r.Stdout, r.Stderr)
			}
			clitest.AssertNoSecrets(t, r, cliGitHubToken)
		})
	}
}
