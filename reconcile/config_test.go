package reconcile_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tagrelay/tagrelay/internal/errdefs"
	"github.com/tagrelay/tagrelay/internal/gitauth"
	"github.com/tagrelay/tagrelay/reconcile"
)

func TestParseConfig(t *testing.T) {
	t.Parallel()
	cfg, err := reconcile.ParseConfig([]byte(`apps:
- name: web
  repo: https://git.example/infra.git
  path: /apps/web/
  namespace: team-web
  valuesFiles: [a.yaml]
  timeout: 90s
  auth: {tokenEnv: GITLAB_TOKEN}
  sourceRepo: https://gitlab.example/team/web
`))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.ResolveCredentials(func(k string) string { return map[string]string{"GITLAB_TOKEN": "glpat-123456"}[k] }); err != nil {
		t.Fatal(err)
	}
	want := reconcile.App{Name: "web", Repo: "https://git.example/infra.git", Revision: "main", Path: "apps/web",
		Namespace: "team-web", ValuesFiles: []string{"a.yaml"}, Timeout: reconcile.Duration(90 * time.Second),
		Auth: reconcile.Auth{TokenEnv: "GITLAB_TOKEN"}, SourceRepo: "https://gitlab.example/team/web",
		Credentials: gitauth.Credentials{Username: "oauth2", Password: "glpat-123456"}}
	if diff := cmp.Diff(want, cfg.Apps[0]); diff != "" {
		t.Errorf("ParseConfig() app (-want +got):\n%s", diff)
	}
	if got := cfg.Secrets(); !cmp.Equal(got, []string{"glpat-123456"}) {
		t.Errorf("Secrets() = %v", got)
	}
}

func TestParseConfigErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, yaml, want string }{
		{"empty", "apps: []\n", "no apps"},
		{"not yaml", "apps: [\n", "parsing"},
		{"unknown field", "apps:\n- {name: a, repo: r, namespace: n, paht: x}\n", `unknown field "paht"`},
		{"bad name", "apps:\n- {name: A_b, repo: r, namespace: n}\n", `name "A_b"`},
		{"no namespace", "apps:\n- {name: a, repo: r}\n", `namespace ""`},
		{"no repo", "apps:\n- {name: a, namespace: n}\n", "repo is required"},
		{"credentials in url", "apps:\n- {name: a, repo: 'https://u:p@h/r.git', namespace: n}\n", "must not carry credentials"},
		{"bad type", "apps:\n- {name: a, repo: r, namespace: n, type: jsonnet}\n", `type "jsonnet"`},
		{"values without helm", "apps:\n- {name: a, repo: r, namespace: n, type: plain, valuesFiles: [v.yaml]}\n", "valuesFiles need type helm"},
		{"duplicate", "apps:\n- {name: a, repo: r, namespace: n}\n- {name: a, repo: r, namespace: n}\n", `duplicate name "a"`},
		{"bad timeout", "apps:\n- {name: a, repo: r, namespace: n, timeout: soon}\n", "invalid duration"},
		{"sourceRepo not a web URL", "apps:\n- {name: a, repo: r, namespace: n, sourceRepo: 'javascript:alert(1)'}\n", "sourceRepo: want the http(s) web URL"},
		{"sourceRepo with credentials", "apps:\n- {name: a, repo: r, namespace: n, sourceRepo: 'https://u:s3cret@gitlab.example/a'}\n", "without credentials"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := reconcile.ParseConfig([]byte(tc.yaml))
			if !errors.Is(err, errdefs.ErrInvalid) || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "s3cret") {
				t.Errorf("ParseConfig(%q) = %v, want an invalid-input error containing %q", tc.yaml, err, tc.want)
			}
		})
	}
}
