package bumpcmd

import (
	"strings"
	"testing"

	"github.com/tagrelay/tagrelay/internal/gittest"
)

// TestCIJobTokenStaysHome: GitLab's CI_JOB_TOKEN goes only to the CI server's own host, and never
// over plain HTTP without --insecure. The git server records the user of every request: a request
// that carried the token is one with a user.
func TestCIJobTokenStaysHome(t *testing.T) {
	t.Parallel()
	const jobToken = "glcbt-64_jobToken-0123456789"
	s := gittest.New(t, gittest.WithBasicAuth("gitlab-ci-token", jobToken))
	s.MustCreateRepo(t, "team/infra")
	s.MustCommit(t, "team/infra", "main", "seed", map[string]string{"chart/values.yaml": values})
	args := []string{"bump", "--repo", s.RepoURL("team/infra"), "--file", "chart/values.yaml", "--image", "harbor.example/team/web", "--tag", "2b2b2b2b", "--no-verify-image"}
	for _, tc := range []struct {
		name      string
		host      string
		extra     []string
		code      int
		msg       string
		tokenSent bool
	}{
		{"foreign host", "gitlab.example.com", nil, 1, "authentication required", false},
		{"own host over plain http", "127.0.0.1", nil, 2, "refusing to send CI_JOB_TOKEN would travel unencrypted to " + strings.TrimPrefix(s.URL, "http://"), false},
		{"own host, --insecure", "127.0.0.1", []string{"--insecure"}, 0, "", true},
	} {
		// One at a time: the server's request log is shared.
		s.ResetRequests()
		got := runCLI(t, map[string]string{"CI_JOB_TOKEN": jobToken, "CI_SERVER_HOST": tc.host}, append(args, tc.extra...)...)
		if got.Code != tc.code || !strings.Contains(got.Stderr, tc.msg) {
			t.Errorf("%s: exit %d, stderr %q; want %d containing %q", tc.name, got.Code, got.Stderr, tc.code, tc.msg)
		}
		if strings.Contains(got.Stdout+got.Stderr, jobToken) {
			t.Errorf("%s: the token shows in the output", tc.name)
		}
		sent := false
		for _, r := range s.Requests() {
			sent = sent || r.User == "gitlab-ci-token"
		}
		if sent != tc.tokenSent {
			t.Errorf("%s: token sent = %v, want %v (requests %+v)", tc.name, sent, tc.tokenSent, s.Requests())
		}
		if tc.name == "foreign host" && !strings.Contains(got.Stderr, "not sending the CI job token") {
			t.Errorf("%s: no warning that the token was held back:\n%s", tc.name, got.Stderr)
		}
	}
}
