package pushcmd

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tagrelay/tagrelay/internal/cli/clitest"
	"github.com/tagrelay/tagrelay/internal/regtest"
)

// harborAPI answers Harbor's artifact endpoint for project "team", repository "app": every
// artifact has been scanned by Trivy (status: Success, or Running for a scan that never ends)
// and has two High and five Medium findings.
func harborAPI(t *testing.T, status string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ref, ok := strings.CutPrefix(r.URL.Path, "/api/v2.0/projects/team/repositories/app/artifacts/")
		if user, pass, _ := r.BasicAuth(); !ok || user != robotUser || pass != robotPass {
			http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"unauthorized"}]}`, http.StatusUnauthorized)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{
			"digest": ref, "manifest_media_type": "application/vnd.oci.image.manifest.v1+json",
			"scan_overview": map[string]any{
				"application/vnd.security.vulnerability.report; version=1.1": map[string]any{
					"report_id": "0c9d4b6e", "scan_status": status, "severity": "High", "duration": 9,
					"summary":          map[string]any{"total": 7, "fixable": 4, "summary": map[string]int{"High": 2, "Medium": 5}},
					"scanner":          map[string]string{"name": "Trivy", "vendor": "Aqua Security", "version": "v0.50.1"},
					"complete_percent": 100,
				},
			},
		})
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestPushRequireScan(t *testing.T) {
	t.Parallel()
	reg := newRegistry(t, false)
	harbor, running := harborAPI(t, "Success"), harborAPI(t, "Running")
	for _, tc := range []struct {
		flag   string
		harbor string
		extra  []string
		code   int
		msg    string
	}{
		{"--require-scan", harbor.URL, nil, 0, ""}, // critical
		{"--require-scan=medium", harbor.URL, nil, 4, "vulnerabilities found"},
		{"--require-scan=HIGH", harbor.URL, nil, 4, "High findings (2 high, 5 medium); fix or upgrade the vulnerable packages and push a new build, or raise --require-scan=SEVERITY"},
		{"--require-scan=severe", harbor.URL, nil, 2, "unknown severity"},
		{"--require-scan=low", running.URL, []string{"--scan-timeout", "300ms"}, 4, "(status Running): context deadline exceeded; check the scanner in Harbor, or raise --scan-timeout"},
	} {
		t.Run(tc.flag, func(t *testing.T) {
			t.Parallel()
			tag := strings.NewReplacer("=", "-", "--", "").Replace(tc.flag)
			args := append([]string{"push", "--source", regtest.Layout(t, regtest.Image(t, 128, 1)), "--dest", reg.Host + "/team/app", "--tag", tag,
				tc.flag, "--harbor-url", tc.harbor, "--scan-interval", "1ms", "--output", "json"}, tc.extra...)
			r := runCLI(t, ciVars(), args...)
			if r.Code != tc.code || !strings.Contains(r.Stderr, tc.msg) {
				t.Errorf("push %s = %d, stderr %q; want %d containing %q", tc.flag, r.Code, r.Stderr, tc.code, tc.msg)
			}
			if tc.code == 0 && !strings.Contains(r.Stdout, `"severity": "High"`) {
				t.Errorf("JSON result has no scan report:\n%s", r.Stdout)
			}
		})
	}
}

// TestPushCredentialHelper uses docker's credential-helper protocol from config.json
// ("credHelpers"), through a docker-credential-* program on PATH. Not parallel: it sets PATH.
func TestPushCredentialHelper(t *testing.T) {
	reg := newRegistry(t, true)
	bin := t.TempDir()
	helper := fmt.Sprintf("#!/bin/sh\ncat >/dev/null\nprintf '%%s' '{\"ServerURL\":\"%s\",\"Username\":\"%s\",\"Secret\":\"%s\"}'\n", reg.Host, robotUser, robotPass)
	if err := os.WriteFile(filepath.Join(bin, "docker-credential-tagrelaytest"), []byte(helper), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	cfg := t.TempDir()
	clitest.WriteFile(t, cfg, "config.json", fmt.Sprintf(`{"credHelpers":{%q:"tagrelaytest"}}`, reg.Host))
	r := runCLI(t, map[string]string{"DOCKER_CONFIG": cfg}, "push", "--source", regtest.Layout(t, regtest.Image(t, 64, 1)), "--dest", reg.Host+"/team/app",
		"--tag", "v1", "--ca-file", reg.CA.CertFile)
	if r.Code != 0 {
		t.Fatalf("push = %d, stderr:\n%s", r.Code, r.Stderr)
	}
	if n := reg.Count(func(r regtest.Request) bool { return r.User == robotUser }); n == 0 {
		t.Errorf("no request authenticated as %s", robotUser)
	}
}

func TestPushDryRun(t *testing.T) {
	t.Parallel()
	reg := newRegistry(t, false)
	reg.Write(t, "team/app:v1", regtest.Image(t, 64, 1))
	r := runCLI(t, ciVars(), "push", "--source", regtest.Layout(t, regtest.Image(t, 64, 1)), "--dest", reg.Host+"/team/app", "--tag", "v1", "--tag", "v2",
		"--force", "--dry-run", "--output", "json")
	if r.Code != 0 {
		t.Fatalf("push --dry-run = %d, stderr:\n%s", r.Code, r.Stderr)
	}
	var got struct {
		DryRun bool
		Tags   []struct{ Tag, Action string }
	}
	if err := json.Unmarshal([]byte(r.Stdout), &got); err != nil || !got.DryRun || len(got.Tags) != 2 || got.Tags[0].Action != "overwrite" || got.Tags[1].Action != "create" {
		t.Errorf("push --dry-run JSON = %+v (%v), want dryRun with v1 overwrite, v2 create:\n%s", got, err, r.Stdout)
	}
	if n := reg.Count(func(r regtest.Request) bool { return r.Method != http.MethodGet && r.Method != http.MethodHead }); n != 0 {
		t.Errorf("--dry-run sent %d writing requests", n)
	}
}

func TestPushDryRunText(t *testing.T) {
	t.Parallel()
	reg := newRegistry(t, false)
	old := reg.Write(t, "team/app:v1", regtest.Image(t, 64, 1))
	img := regtest.Image(t, 64, 1)
	r := runCLI(t, ciVars(), "push", "--source", regtest.Layout(t, img), "--dest", reg.Host+"/team/app", "--tag", "v1", "--tag", "v2", "--force", "--dry-run")
	d := digestOf(t, img)
	want := fmt.Sprintf("%[1]s/team/app:v1 overwrite %[2]s (upload), was %[3]s\n%[1]s/team/app:v2 create %[2]s (upload)\n", reg.Host, d, old)
	if r.Code != 0 || r.Stdout != want {
		t.Errorf("push --dry-run = %d, stdout:\n%s\nwant:\n%s", r.Code, r.Stdout, want)
	}
}
