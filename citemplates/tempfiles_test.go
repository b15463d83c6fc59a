package citemplates_test

import (
	"bufio"
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/tagrelay/tagrelay/citemplates"
)

// sharedTemp is a directory every user of a machine may write to (a shell runner's /tmp).
var sharedTemp = regexp.MustCompile(`\$\{?TMPDIR\b|(^|[^\w.$])/(var/)?tmp\b|/dev/shm\b`)

// mktempCall is a mktemp call with its template: the one place a shared directory may appear.
var mktempCall = regexp.MustCompile(`mktemp( -[dtpu]+)* "[^"]*"`)

// No template writes a fixed name in a shared temporary directory: on a shared runner another
// job could have put a symlink there first. Temporary files come from mktemp.
func TestNoFixedTempPath(t *testing.T) {
	t.Parallel()
	err := fs.WalkDir(templates, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(templates, p)
		if err != nil {
			return err
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		for n := 1; sc.Scan(); n++ {
			if line := mktempCall.ReplaceAllString(sc.Text(), ""); sharedTemp.MatchString(line) {
				t.Errorf("%s:%d: a fixed path in a shared temporary directory; use mktemp:\n%s", p, n, sc.Text())
			}
		}
		return sc.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
}

// The jobs' setup writes CA_BUNDLE and DOCKER_AUTH_CONFIG into one new private directory with
// an unpredictable name, never through what another user planted at the old fixed names, and
// writes nothing when neither is set. It runs in sh (dash) as in the CLI image's shell.
func TestSetupWritesAPrivateTempDir(t *testing.T) {
	t.Parallel()
	include, err := citemplates.LoadGitLab(templates, citemplates.GitLabInclude)
	if err != nil {
		t.Fatal(err)
	}
	base, err := citemplates.Resolve(include, ".tagrelay:base")
	if err != nil {
		t.Fatal(err)
	}
	setup, ok := strings.CutSuffix(strings.TrimSpace(base["before_script"].([]any)[0].(string)), "tagrelay --version")
	if !ok {
		t.Fatalf("the setup no longer ends with `tagrelay --version`:\n%s", setup)
	}
	const pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"
	const auth = `{"auths":{"harbor.example":{"auth":"cm9ib3QkdGVhbStjaTpzM2NyM3Q="}}}`
	run := func(t *testing.T, tmp string, env ...string) map[string]string {
		t.Helper()
		cmd := exec.Command("sh", "-c", setup+"\nenv")
		cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "TMPDIR=" + tmp}, env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("setup: %v\n%s", err, out)
		}
		vars := map[string]string{}
		for _, l := range strings.Split(string(out), "\n") {
			if k, v, ok := strings.Cut(l, "="); ok {
				vars[k] = v
			}
		}
		return vars
	}

	t.Run("CA_BUNDLE and DOCKER_AUTH_CONFIG", func(t *testing.T) {
		t.Parallel()
		tmp := t.TempDir()
		victim := filepath.Join(t.TempDir(), "victim")
		if err := os.WriteFile(victim, []byte("untouched"), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, old := range []string{"tagrelay-ca.pem", "tagrelay-ca-bundle.pem", "tagrelay-docker"} {
			if err := os.Symlink(victim, filepath.Join(tmp, old)); err != nil {
				t.Fatal(err)
			}
		}
		var dirs []string
		for range 2 {
			vars := run(t, tmp, "CA_BUNDLE="+pem, "DOCKER_AUTH_CONFIG="+auth)
			dir := filepath.Dir(vars["DOCKER_CONFIG"])
			if filepath.Dir(dir) != tmp {
				t.Fatalf("DOCKER_CONFIG=%s, want a new directory in TMPDIR %s", vars["DOCKER_CONFIG"], tmp)
			}
			dirs = append(dirs, dir)
			for p, want := range map[string]string{vars["TAGRELAY_CA_FILE"]: pem + "\n", filepath.Join(vars["DOCKER_CONFIG"], "config.json"): auth} {
				if got, err := os.ReadFile(p); err != nil || string(got) != want || !strings.HasPrefix(p, dir+"/") {
					t.Errorf("%s = %q, %v; want %q in %s", p, got, err, want, dir)
				}
			}
			for _, k := range []string{"SSL_CERT_FILE", "GIT_SSL_CAINFO"} {
				got, err := os.ReadFile(vars[k])
				if err != nil || filepath.Dir(vars[k]) != dir || !strings.HasSuffix(string(got), pem+"\n") {
					t.Errorf("%s=%s: %v; want a bundle ending with CA_BUNDLE in %s", k, vars[k], err, dir)
				}
			}
			if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
				t.Errorf("%s: %v, %v; want a directory only its owner can enter", dir, fi.Mode(), err)
			}
		}
		if dirs[0] == dirs[1] {
			t.Errorf("two jobs used the same directory %s", dirs[0])
		}
		if got, _ := os.ReadFile(victim); string(got) != "untouched" {
			t.Errorf("the setup wrote through a symlink planted in TMPDIR: %q", got)
		}
	})

	t.Run("CA_BUNDLE as a file", func(t *testing.T) {
		t.Parallel()
		ca := filepath.Join(t.TempDir(), "ca.pem")
		if err := os.WriteFile(ca, []byte(pem+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		vars := run(t, t.TempDir(), "CA_BUNDLE="+ca)
		if vars["TAGRELAY_CA_FILE"] != ca {
			t.Errorf("TAGRELAY_CA_FILE=%s, want the file variable's path %s", vars["TAGRELAY_CA_FILE"], ca)
		}
	})

	t.Run("neither", func(t *testing.T) {
		t.Parallel()
		tmp := t.TempDir()
		vars := run(t, tmp, "DOCKER_CONFIG=/kept", "DOCKER_AUTH_CONFIG="+auth)
		if left, _ := os.ReadDir(tmp); len(left) != 0 || vars["DOCKER_CONFIG"] != "/kept" {
			t.Errorf("TMPDIR holds %v, DOCKER_CONFIG=%s; want nothing written and DOCKER_CONFIG kept", left, vars["DOCKER_CONFIG"])
		}
	})
}
