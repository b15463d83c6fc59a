package reconcile_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tagrelay/tagrelay/internal/errdefs"
	"github.com/tagrelay/tagrelay/reconcile"
)

func TestProjectsConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("team-a-token-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	good := `apps:
- {name: web, repo: https://git.example/infra.git, namespace: team-a}
- {name: ops, repo: https://git.example/infra.git, namespace: ops}
projects:
- name: team-a
  namespaces: [team-a, team-a-staging]
  tokenFile: ` + tokenFile + `
  gitlabProjects: [team-a/*]
`
	cfg, err := reconcile.ParseConfig([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Projects.ResolveTokens(); err != nil || cfg.Projects[0].Token != "team-a-token-0123456789" {
		t.Fatalf("ResolveTokens() = %v, token %q", err, cfg.Projects[0].Token)
	}
	if p := cfg.Projects.Of(cfg.Apps[0]); p == nil || p.Name != "team-a" {
		t.Errorf("Of(web) = %v, want team-a", p)
	}
	if p := cfg.Projects.Of(cfg.Apps[1]); p != nil {
		t.Errorf("Of(ops) = %v, want none (admin only)", p)
	}
	if got := cfg.Projects.ForGitLab("team-a/infra"); len(got) != 1 {
		t.Errorf("ForGitLab(team-a/infra) = %d projects", len(got))
	}
	if got := cfg.Projects.ForGitLab("team-a/sub/infra"); len(got) != 0 {
		t.Errorf("ForGitLab(team-a/sub/infra) = %d projects; * must not cross /", len(got))
	}

	for _, tc := range []struct{ projects, want string }{
		{"- {name: Team_A, namespaces: [a], tokenFile: x}", `name "Team_A"`},
		{"- {name: a, namespaces: [], tokenFile: x}", "no namespaces"},
		{"- {name: a, namespaces: [x], tokenFile: t}\n- {name: b, namespaces: [x], tokenFile: u}", "namespace x is already project a's"},
		{"- {name: a, namespaces: [x]}", "no way in"},
		{"- {name: a, namespaces: [x], gitlabProjects: ['[']}", "gitlabProjects pattern"},
		{"- {name: a, namespaces: [x], tokenFile: t, token: inline}", "unknown field"},
	} {
		_, err := reconcile.ParseConfig([]byte("apps:\n- {name: web, repo: https://git.example/x.git, namespace: x}\nprojects:\n" + tc.projects + "\n"))
		if !errors.Is(err, errdefs.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("projects %q: error %v, want invalid input naming %q", tc.projects, err, tc.want)
		}
	}
	short := filepath.Join(dir, "short")
	_ = os.WriteFile(short, []byte("abc"), 0o600)
	ps := reconcile.Projects{{Name: "a", Namespaces: []string{"a"}, TokenFile: short}}
	if err := ps.ResolveTokens(); err == nil || !strings.Contains(err.Error(), "shorter than 16") {
		t.Errorf("a 3-character token: %v", err)
	}
}
