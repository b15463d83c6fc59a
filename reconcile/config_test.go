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
		Namespace: "team-web", ValuesFiles: []string{"a.yaml"}, Timeout: reconcile.Duration(90 * time.Second), PodSecurity: "baseline",
		Auth: reconcile.Auth{TokenEnv: "GITLAB_TOKEN"}, SourceRepo: "https://gitlab.example/team/web",
		Credentials: gitauth.Credentials{Username: "oauth2", Password: "glpat-123456"}}
	if diff := cmp.Diff(want, cfg.Apps[0]); diff != "" {
		t.Errorf("ParseConfig() app (-want +got):\n%s", diff)
	}
	if got := cfg.Secrets(); !cmp.Equal(got, []string{"glpat-123456"}) {
		t.Errorf("Secrets() = %v", got)
	}
}

// TestParseConfigDriftInterval: driftInterval sits at the top of the apps file; absent, it is 0
// (the server's default); a negative one disables the drift check.
func TestParseConfigDriftInterval(t *testing.T) {
	for in, want := range map[string]time.Duration{"": 0, "driftInterval: 2m\n": 2 * time.Minute, "driftInterval: -1s\n": -time.Second} {
		cfg, err := reconcile.ParseConfig([]byte(in + "apps:\n- {name: a, repo: r, namespace: n}\n"))
		if err != nil || time.Duration(cfg.DriftInterval) != want {
			t.Errorf("ParseConfig(%q): driftInterval %v, %v; want %v", in, cfg.DriftInterval, err, want)
		}
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
		{"kube-system", "apps:\n- {name: a, repo: r, namespace: kube-system}\n", "destination namespace refused: kube-system is a Kubernetes system namespace"},
		{"kube-public", "apps:\n- {name: a, repo: r, namespace: kube-public}\n", "kube-public is a Kubernetes system namespace"},
		{"namespace of another app", "apps:\n- {name: a, repo: r, namespace: team}\n- {name: b, repo: r, namespace: team, sharedNamespace: true}\n",
			"apps a, b all target namespace team; set sharedNamespace: true on each of them"},
		{"bad pod security", "apps:\n- {name: a, repo: r, namespace: n, podSecurity: lax}\n", `podSecurity "lax"`},
		{"unprotected allowPrune", "apps:\n- {name: a, repo: r, namespace: n, allowPrune: [ConfigMap]}\n", `allowPrune "ConfigMap"`},
		{"host with a scheme", "apps:\n- {name: a, repo: r, namespace: n, allowedHosts: ['https://github.com']}\n", `allowedHosts "https://github.com"`},
		{"bad size", "apps:\n- {name: a, repo: r, namespace: n, limits: {maxRenderBytes: lots}}\n", "invalid size"},
		{"bad max prune", "limits: {maxPrune: 150}\napps:\n- {name: a, repo: r, namespace: n}\n", "limits.maxPrune 150"},
		{"generator with dir and git", "generators:\n- {dir: /d, git: {repo: r, directories: ['*']}, template: {name: '{{path}}'}}\n", "generator 1: set exactly one of dir and git"},
		{"generator with neither", "generators:\n- {prune: true}\n", "generator 1: set exactly one of dir and git"},
		{"dir generator with a template", "generators:\n- {dir: /d, template: {name: x}}\n", "template goes with git, not dir"},
		{"git generator without placeholder", "generators:\n- {git: {repo: r, directories: ['*']}, template: {name: web, namespace: n}}\n", "template.name must contain a {{path...}} placeholder"},
		{"git generator bad pattern", "generators:\n- {git: {repo: r, directories: ['[']}, template: {name: '{{path.basename}}'}}\n", `invalid pattern "["`},
		{"git generator no patterns", "generators:\n- {git: {repo: r}, template: {name: '{{path.basename}}'}}\n", "list at least one pattern"},
		{"git generator credentials in url", "generators:\n- {git: {repo: 'https://u:p@h/r.git', directories: ['*']}, template: {name: '{{path}}'}}\n", "git.repo must not carry credentials"},
		{"bad hooks", "apps:\n- {name: a, repo: r, namespace: n, hooks: later}\n", `invalid hooks "later" (use run or skip)`},
		{"bad restartOnConfigChange", "apps:\n- {name: a, repo: r, namespace: n, restartOnConfigChange: sometimes}\n", "restartOnConfigChange"},
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

func TestConfigLimitsAndNamespaces(t *testing.T) {
	t.Parallel()
	cfg, err := reconcile.ParseConfig([]byte(`limits: {renderTimeout: 30s, maxRenderBytes: 8Mi, maxPrune: 20}
apps:
- {name: a, repo: r, namespace: shared, sharedNamespace: true, limits: {renderTimeout: 5s, maxObjects: 10}}
- {name: b, repo: r, namespace: shared, sharedNamespace: true}
- {name: c, repo: r, namespace: tagrelay-system}
`))
	if err != nil {
		t.Fatal(err)
	}
	want := reconcile.Limits{RenderTimeout: reconcile.Duration(5 * time.Second), MaxRenderBytes: 8 << 20, MaxObjects: 10, MaxPrune: 20}
	if diff := cmp.Diff(want, cfg.Apps[0].Limits); diff != "" {
		t.Errorf("app a's limits: the app's win over the config's (-want +got):\n%s", diff)
	}
	if got := cfg.Apps[1].Limits.RenderTimeout; got != reconcile.Duration(30*time.Second) {
		t.Errorf("app b's renderTimeout = %v, want the config's 30s", got)
	}
	err = cfg.CheckNamespaces("tagrelay-system")
	if !errors.Is(err, errdefs.ErrInvalid) || !errors.Is(err, reconcile.ErrNamespace) || !strings.Contains(err.Error(), "app c: destination namespace refused: tagrelay-system is the reconciler's own namespace") {
		t.Errorf("CheckNamespaces() = %v, want app c refused", err)
	}
	if err := cfg.CheckNamespaces("elsewhere"); err != nil {
		t.Errorf("CheckNamespaces(elsewhere) = %v", err)
	}
}

// FuzzParseConfig: any input is either refused with an invalid-input error or gives apps that
// keep the config's invariants, and never panics.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte("apps:\n- {name: web, repo: https://git.example/i.git, namespace: team, limits: {maxRenderBytes: 1Mi}}\n"))
	f.Add([]byte("limits: {maxPrune: 10}\napps:\n- {name: a, repo: r, namespace: n, sharedNamespace: true}\n- {name: b, repo: r, namespace: n, sharedNamespace: true}\n"))
	f.Add([]byte("apps:\n- {name: a, repo: r, namespace: kube-system}\n"))
	f.Add([]byte("apps: &a [*a]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := reconcile.ParseConfig(data)
		if err != nil {
			if !errors.Is(err, errdefs.ErrInvalid) {
				t.Fatalf("ParseConfig() = %v, not an invalid-input error", err)
			}
			return
		}
		byNS := map[string]int{}
		for _, a := range cfg.Apps {
			byNS[a.Namespace]++
		}
		for _, a := range cfg.Apps {
			switch {
			case a.Name == "" || a.Repo == "" || a.Revision == "" || a.PodSecurity == "":
				t.Fatalf("app %+v lacks a required field or default", a)
			case strings.HasPrefix(a.Namespace, "kube-"):
				t.Fatalf("app %s targets %s", a.Name, a.Namespace)
			case byNS[a.Namespace] > 1 && !a.SharedNamespace:
				t.Fatalf("app %s shares namespace %s without saying so", a.Name, a.Namespace)
			case a.Limits.MaxPrune < 0 || a.Limits.MaxPrune > 100:
				t.Fatalf("app %s: maxPrune %d", a.Name, a.Limits.MaxPrune)
			}
		}
	})
}
