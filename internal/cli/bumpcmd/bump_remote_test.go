package bumpcmd

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tagrelay/tagrelay/internal/cli/clitest"
	"github.com/tagrelay/tagrelay/internal/gittest"
	"github.com/tagrelay/tagrelay/internal/regtest"
)

const gitToken = "glpat-Remote-T0ken-xyz"

func infraServer(t *testing.T, opts ...gittest.Option) *gittest.Server {
	t.Helper()
	s := gittest.New(t, append([]gittest.Option{gittest.WithBasicAuth("oauth2", gitToken)}, opts...)...)
	s.MustCreateRepo(t, "team/infra")
	s.MustCommit(t, "team/infra", "main", "seed", map[string]string{"chart/values.yaml": values, "prod/deployment.yaml": deployment})
	return s
}

func assertNoToken(t *testing.T, got clitest.Result) {
	t.Helper()
	if strings.Contains(got.Stdout+got.Stderr, gitToken) || strings.Contains(got.Stdout+got.Stderr, strings.ToLower(gitToken)) {
		t.Errorf("token leaked:\nstdout: %s\nstderr: %s", got.Stdout, got.Stderr)
	}
}

func TestBumpRemote(t *testing.T) {
	t.Parallel()
	s := infraServer(t)
	before, _ := s.RevParse("team/infra", "main")
	dotenv := filepath.Join(t.TempDir(), "bump.env")
	got := runCLI(t, map[string]string{
		"GITLAB_TOKEN": gitToken, "GITLAB_USER_NAME": "Jane Dev", "GITLAB_USER_EMAIL": "jane@example.com",
		"CI_PROJECT_PATH": "team/app", "CI_COMMIT_SHA": "1a2b3c4d5e6f", "CI_PIPELINE_URL": "https://gitlab.example/team/app/-/pipelines/42",
	}, "bump", "--repo", s.RepoURL("team/infra"), "--file", "chart/values.yaml", "--image", "harbor.example/team/web",
		"--tag", "1a2b3c4d", "--dotenv", dotenv, "--log-level", "debug", "--no-verify-image")
	assertNoToken(t, got)
	if got.Code != 0 {
		t.Fatalf("exit %d: %s", got.Code, got.Stderr)
	}
	after, _ := s.RevParse("team/infra", "main")
	if !strings.Contains(got.Stdout, "pushed "+after+" to main of "+s.RepoURL("team/infra")) {
		t.Errorf("stdout = %q, want the pushed commit %s", got.Stdout, after)
	}
	msg, _ := s.Git("team/infra", "log", "-1", "--format=%an <%ae>%n%P%n%B", "main")
	for _, want := range []string{"Jane Dev <jane@example.com>", before, "deploy: harbor.example/team/web:1a2b3c4d",
		"chart/values.yaml:4: harbor.example/team/web 1.0.0 -> 1a2b3c4d", "Source: team/app@1a2b3c4d5e6f", "Pipeline: https://gitlab.example/team/app/-/pipelines/42"} {
		if !strings.Contains(msg, want) {
			t.Errorf("commit %q lacks %q", msg, want)
		}
	}
	env := clitest.ReadFile(t, dotenv)
	if !strings.Contains(env, "TAGRELAY_BUMP_COMMIT="+after+"\n") || !strings.Contains(env, "TAGRELAY_BUMPED_TAGS=1a2b3c4d\n") {
		t.Errorf("dotenv = %q", env)
	}
}

// TestBumpRemoteBadInput: each failure exits with its code and message, pushes nothing, and
// never prints the token — also when it arrives in the URL or in a server's error text.
func TestBumpRemoteBadInput(t *testing.T) {
	t.Parallel()
	// A server that rejects pushes with a message quoting the credentials it received.
	echo := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Query().Get("service") == "git-receive-pack" || strings.HasSuffix(r.URL.Path, "/git-receive-pack") {
				_, pass, _ := r.BasicAuth()
				http.Error(w, "push denied for http://oauth2:"+pass+"@"+r.Host+r.URL.Path, http.StatusForbidden)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	s := infraServer(t)
	denying := infraServer(t, gittest.WithMiddleware(echo))
	url := s.RepoURL("team/infra")
	tokenURL := strings.Replace(url, "http://", "http://oauth2:"+gitToken+"@", 1)
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(gitToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		vars map[string]string
		args []string
		code int
		msg  string
	}{
		{"wrong token", map[string]string{"GITLAB_TOKEN": "glpat-wrong-token"}, []string{"--repo", url}, 1, "authenticating to " + url},
		{"no token", nil, []string{"--repo", url}, 1, "authentication required"},
		{"unreachable remote", map[string]string{"GITLAB_TOKEN": gitToken}, []string{"--repo", "http://127.0.0.1:1/team/infra.git"}, 1, "reaching http://127.0.0.1:1/team/infra.git"},
		{"missing repository", map[string]string{"GITLAB_TOKEN": gitToken}, []string{"--repo", s.RepoURL("team/nope")}, 4, "not found"},
		{"missing branch", map[string]string{"GITLAB_TOKEN": gitToken}, []string{"--repo", url, "--branch", "release"}, 4, `branch "release" not found`},
		{"token in URL, file absent", nil, []string{"--repo", tokenURL, "--file", "nope.yaml"}, 2, "nope.yaml: no such file"},
		{"token file, image absent", nil, []string{"--repo", url, "--token-file", tokenFile, "--image", "harbor.example/team/absent"}, 4, "image not found"},
		{"tag already current", map[string]string{"GITLAB_TOKEN": gitToken}, []string{"--repo", url, "--tag", "1.0.0"}, 3, "tag already current"},
		{"push denied, echoing the token", map[string]string{"GITLAB_TOKEN": gitToken}, []string{"--repo", denying.RepoURL("team/infra")}, 1, "push denied for http://oauth2:***@"},
		{"bad message template", map[string]string{"GITLAB_TOKEN": gitToken}, []string{"--repo", url, "--message", "{{.Nope"}, 2, "parsing commit message template"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args := []string{"bump", "--file", "chart/values.yaml", "--image", "harbor.example/team/web", "--tag", "2.0.0", "--log-level", "debug", "--no-verify-image"}
			args = append(args, tc.args...)
			got := runCLI(t, tc.vars, args...)
			assertNoToken(t, got)
			if got.Code != tc.code || !strings.Contains(got.Stderr, tc.msg) {
				t.Errorf("exit %d, stderr %q; want %d containing %q", got.Code, got.Stderr, tc.code, tc.msg)
			}
		})
	}
	for _, srv := range []*gittest.Server{s, denying} {
		if log, _ := srv.Log("team/infra", "main"); len(log) != 1 {
			t.Errorf("%s: %d commits on main, want the seed only", srv.URL, len(log))
		}
	}
}

// registryInfra is an infra repository whose values point at an image of a real registry with
// basic auth, where tag 1a2b3c4d exists and tag 9f9f9f9f does not.
func registryInfra(t *testing.T) (*gittest.Server, *regtest.Server, string, map[string]string) {
	t.Helper()
	reg := regtest.New(t, regtest.WithBasicAuth("robot$team+ci", "reg-Passw0rd"))
	image := reg.Host + "/team/web"
	digest := reg.Write(t, "team/web:1a2b3c4d", regtest.Image(t, 512, 1))
	s := gittest.New(t, gittest.WithBasicAuth("oauth2", gitToken))
	s.MustCreateRepo(t, "team/infra")
	s.MustCommit(t, "team/infra", "main", "seed", map[string]string{
		"chart/values.yaml":       strings.Replace(values, "harbor.example", reg.Host, 1),
		"prod/kustomization.yaml": "images:\n  - name: " + image + "\n    newTag: 0a0a0a0a\n    digest: sha256:" + strings.Repeat("0", 64) + "\n",
	})
	vars := map[string]string{"GITLAB_TOKEN": gitToken, "CI_REGISTRY_USER": "robot$team+ci", "CI_REGISTRY_PASSWORD": "reg-Passw0rd"}
	return s, reg, digest, vars
}

func TestBumpRemoteRegistryCheck(t *testing.T) {
	t.Parallel()
	s, reg, digest, vars := registryInfra(t)
	image := reg.Host + "/team/web"
	url := s.RepoURL("team/infra")
	for _, tc := range []struct {
		name string
		vars map[string]string
		args []string
		code int
		msg  string
	}{
		{"tag absent from the registry", vars, []string{"--file", "chart/values.yaml", "--tag", "9f9f9f9f"}, 4, "--wait-for-image"},
		{"tag never appears", vars, []string{"--file", "chart/values.yaml", "--tag", "9f9f9f9f", "--wait-for-image", "600ms"}, 4, "did not appear within 600ms"},
		{"wrong registry password", map[string]string{"GITLAB_TOKEN": gitToken, "CI_REGISTRY_USER": "robot$team+ci", "CI_REGISTRY_PASSWORD": "wrong"}, []string{"--file", "chart/values.yaml", "--tag", "1a2b3c4d"}, 1, "looking up " + image + ":1a2b3c4d"},
		{"pinned digest without --digest", vars, []string{"--file", "prod/kustomization.yaml", "--tag", "1a2b3c4d"}, 4, "pass --digest"},
		{"--digest with --no-verify-image", vars, []string{"--file", "prod/kustomization.yaml", "--tag", "1a2b3c4d", "--digest", "--no-verify-image"}, 2, "--digest needs the registry"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := runCLI(t, tc.vars, append([]string{"bump", "--repo", url, "--image", image}, tc.args...)...)
			if got.Code != tc.code || !strings.Contains(got.Stderr, tc.msg) {
				t.Errorf("exit %d, stderr %q; want %d containing %q", got.Code, got.Stderr, tc.code, tc.msg)
			}
			if strings.Contains(got.Stdout+got.Stderr, "reg-Passw0rd") {
				t.Errorf("registry password leaked")
			}
		})
	}
	if log, _ := s.Log("team/infra", "main"); len(log) != 1 {
		t.Errorf("%d commits on main, want the seed only", len(log))
	}

	// --digest resolves the digest and writes it next to the tag.
	got := runCLI(t, vars, "bump", "--repo", url, "--image", image, "--file", "prod/kustomization.yaml", "--tag", "1a2b3c4d", "--digest")
	if got.Code != 0 {
		t.Fatalf("--digest: exit %d: %s", got.Code, got.Stderr)
	}
	want := "images:\n  - name: " + image + "\n    newTag: 1a2b3c4d\n    digest: " + digest + "\n"
	if k := s.MustReadFile(t, "team/infra", "main", "prod/kustomization.yaml"); k != want {
		t.Errorf("kustomization = %q, want %q", k, want)
	}
}

// TestBumpWaitForImage: the bump waits until the build pushes the tag, then commits.
func TestBumpWaitForImage(t *testing.T) {
	t.Parallel()
	s, reg, _, vars := registryInfra(t)
	image := reg.Host + "/team/web"
	go func() {
		time.Sleep(700 * time.Millisecond)
		reg.Write(t, "team/web:2b2b2b2b", regtest.Image(t, 256, 1))
	}()
	got := runCLI(t, vars, "bump", "--repo", s.RepoURL("team/infra"), "--image", image, "--file", "chart/values.yaml", "--tag", "2b2b2b2b", "--wait-for-image", "1m")
	if got.Code != 0 {
		t.Fatalf("exit %d: %s", got.Code, got.Stderr)
	}
	if v := s.MustReadFile(t, "team/infra", "main", "chart/values.yaml"); !strings.Contains(v, `tag: "2b2b2b2b"`) {
		t.Errorf("values = %s", v)
	}
}

// TestInsecureWarnsOnEveryUse: --insecure is logged as a warning for each server it weakens.
func TestInsecureWarnsOnEveryUse(t *testing.T) {
	t.Parallel()
	s, reg, _, vars := registryInfra(t)
	got := runCLI(t, vars, "bump", "--repo", s.RepoURL("team/infra"), "--image", reg.Host+"/team/web", "--file", "chart/values.yaml",
		"--tag", "1a2b3c4d", "--insecure")
	if got.Code != 0 {
		t.Fatalf("exit %d: %s", got.Code, got.Stderr)
	}
	for _, want := range []string{"TLS verification of the git server disabled (--insecure)", "TLS verification disabled and plain HTTP allowed (--insecure)\" registry=" + reg.Host} {
		if !strings.Contains(got.Stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, got.Stderr)
		}
	}
}
