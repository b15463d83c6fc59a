package pushcmd

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/tagrelay/tagrelay/internal/cli/clitest"
	"github.com/tagrelay/tagrelay/internal/clirun"
	"github.com/tagrelay/tagrelay/internal/regtest"
)

const (
	robotUser = "robot$team+ci"
	robotPass = "Xk9-robot-secret-2024"
)

// ciVars are the variables of a GitLab job pushing with the robot account from env.
func ciVars(extra ...string) map[string]string {
	vars := map[string]string{
		"CI_COMMIT_SHORT_SHA":  "1a2b3c4d",
		"CI_REGISTRY_USER":     robotUser,
		"CI_REGISTRY_PASSWORD": robotPass,
	}
	for i := 0; i+1 < len(extra); i += 2 {
		vars[extra[i]] = extra[i+1]
	}
	return vars
}

// newRegistry starts an in-process registry with the robot account, over TLS when tls.
func newRegistry(t *testing.T, tls bool, opts ...regtest.Option) *regtest.Server {
	t.Helper()
	opts = append(opts, regtest.WithBasicAuth(robotUser, robotPass))
	if tls {
		opts = append(opts, regtest.WithTLS())
	}
	return regtest.New(t, opts...)
}

// tlsArgs returns --ca-file for a TLS server.
func tlsArgs(srv *regtest.Server) []string {
	if srv.CA == nil {
		return nil
	}
	return []string{"--ca-file", srv.CA.CertFile}
}

func digestOf(t *testing.T, m interface{ Digest() (v1.Hash, error) }) string {
	t.Helper()
	d, err := m.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

func args(srv *regtest.Server, a ...string) []string {
	return append(append([]string{"push"}, a...), tlsArgs(srv)...)
}

func TestPushOutputs(t *testing.T) {
	t.Parallel()
	srv := newRegistry(t, false)
	idx := regtest.Index(t, 512, 1, "linux/amd64", "linux/arm64")
	want := digestOf(t, idx)
	dir := t.TempDir()
	dotenv, ghOut := filepath.Join(dir, "push.env"), filepath.Join(dir, "gh-output")
	r := runCLI(t, ciVars("GITHUB_OUTPUT", ghOut), args(srv, "--source", regtest.Layout(t, idx), "--dest", srv.Host+"/team/app", "--tag", "v1.0.0", "--tag", "latest-release", "--dotenv", dotenv)...)
	if r.Code != 0 {
		t.Fatalf("push = %d, stderr:\n%s", r.Code, r.Stderr)
	}
	if got := strings.TrimSpace(r.Stdout); got != want {
		t.Errorf("stdout = %q, want the digest %q", got, want)
	}
	wantEnv := fmt.Sprintf("IMAGE=%s/team/app\nIMAGE_TAG=v1.0.0\nIMAGE_DIGEST=%s\n", srv.Host, want)
	for _, p := range []string{dotenv, ghOut} {
		if diff := cmp.Diff(wantEnv, clitest.ReadFile(t, p)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", filepath.Base(p), diff)
		}
	}
	for _, tag := range []string{"v1.0.0", "latest-release"} {
		if got := srv.Digest(t, "team/app:"+tag); got != want {
			t.Errorf("team/app:%s = %q, want %q", tag, got, want)
		}
	}
}

func TestPushJSONAndDefaultTag(t *testing.T) {
	t.Parallel()
	srv := newRegistry(t, true)
	img := regtest.Image(t, 256, 2)
	r := runCLI(t, ciVars(), args(srv, "--source", regtest.Layout(t, img), "--dest", srv.Host+"/team/app", "--output", "json")...)
	if r.Code != 0 {
		t.Fatalf("push = %d, stderr:\n%s", r.Code, r.Stderr)
	}
	var got struct {
		Image, Digest, Mode string
		Tags                []struct{ Tag, Action string }
		Stats               struct{ BlobsUploaded int }
	}
	if err := json.Unmarshal([]byte(r.Stdout), &got); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, r.Stdout)
	}
	if got.Digest != digestOf(t, img) || got.Image != srv.Host+"/team/app" || got.Mode != "upload" {
		t.Errorf("JSON = %+v, want digest %s, image %s/team/app, mode upload", got, digestOf(t, img), srv.Host)
	}
	if diff := cmp.Diff([]struct{ Tag, Action string }{{"1a2b3c4d", "create"}}, got.Tags); diff != "" {
		t.Errorf("tags (-want +got):\n%s", diff)
	}
	if got.Stats.BlobsUploaded != 3 { // 2 layers + config
		t.Errorf("stats.blobsUploaded = %d, want 3", got.Stats.BlobsUploaded)
	}
}

// TestPushTransfers uses the recording front to prove what went over the wire.
func TestPushTransfers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		refuse  bool
		seedApp bool // the image is already in team/app under another tag
		source  func(srv *regtest.Server, dir string) string
		uploads int // completed blob uploads
		mounts  int // mount attempts
		puts    int // manifest PUTs
	}{
		{"retag in the same repository is one manifest PUT", false, true,
			func(srv *regtest.Server, _ string) string { return srv.Host + "/team/app:1a2b3c4d" }, 0, 0, 1},
		{"re-push of an image already present uploads no blob", false, true,
			func(_ *regtest.Server, dir string) string { return dir }, 0, 0, 1},
		{"copy to another repository mounts every blob", false, false,
			func(srv *regtest.Server, _ string) string { return srv.Host + "/team/build:1a2b3c4d" }, 0, 3, 1},
		{"refused mount (Harbor 401) falls back to upload", true, false,
			func(srv *regtest.Server, _ string) string { return srv.Host + "/team/build:1a2b3c4d" }, 3, 3, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var opts []regtest.Option
			if tc.refuse {
				opts = append(opts, regtest.WithRefusedMounts())
			}
			srv := newRegistry(t, false, opts...)
			img := regtest.Image(t, 1024, 2)
			want := srv.Write(t, "team/build:1a2b3c4d", img)
			if tc.seedApp {
				srv.Write(t, "team/app:1a2b3c4d", img)
			}
			r := runCLI(t, ciVars(), args(srv, "--source", tc.source(srv, regtest.Layout(t, img)), "--dest", srv.Host+"/team/app", "--tag", "v2")...)
			if r.Code != 0 {
				t.Fatalf("push = %d, stderr:\n%s", r.Code, r.Stderr)
			}
			if got := srv.Digest(t, "team/app:v2"); got != want {
				t.Errorf("team/app:v2 = %q, want %q", got, want)
			}
			got := [3]int{srv.Count(regtest.Request.BlobUpload), srv.Count(regtest.Request.MountAttempt), srv.Count(regtest.Request.ManifestPut)}
			if want := [3]int{tc.uploads, tc.mounts, tc.puts}; got != want {
				t.Errorf("blob uploads, mount attempts, manifest PUTs = %v, want %v\nrequests: %+v", got, want, srv.Requests())
			}
		})
	}
}

func TestPushCopyBetweenRegistriesKeepsIndexDigest(t *testing.T) {
	t.Parallel()
	from, to := newRegistry(t, true), newRegistry(t, false, regtest.WithRefusedMounts())
	idx := regtest.Index(t, 2048, 2, "linux/amd64", "linux/arm64", "linux/arm/v7")
	want := from.Write(t, "team/app:1a2b3c4d", idx)
	// One client config for both: config.json holds the robot for both registries.
	cfg := dockerConfig(t, map[string]string{from.Host: robotUser + ":" + robotPass, to.Host: robotUser + ":" + robotPass})
	vars := map[string]string{"DOCKER_CONFIG": cfg}
	r := runCLI(t, vars, "push", "--source", from.Host+"/team/app:1a2b3c4d", "--dest", to.Host+"/prod/app", "--tag", "v1.0.0", "--ca-file", from.CA.CertFile)
	if r.Code != 0 {
		t.Fatalf("push = %d, stderr:\n%s", r.Code, r.Stderr)
	}
	if got := to.Digest(t, "prod/app:v1.0.0"); got != want {
		t.Errorf("copied index digest = %q, want %q", got, want)
	}
	if got := to.Count(regtest.Request.BlobUpload); got != 9 { // 3 × (2 layers + config)
		t.Errorf("blob uploads = %d, want 9", got)
	}
}

// dockerConfig writes a config.json with base64 "auth" entries (host → user:password) and
// returns its directory.
func dockerConfig(t *testing.T, auths map[string]string) string {
	t.Helper()
	entries := map[string]map[string]string{}
	for host, up := range auths {
		entries[host] = map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte(up))}
	}
	b, err := json.Marshal(map[string]any{"auths": entries})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	clitest.WriteFile(t, dir, "config.json", string(b))
	return dir
}

func TestPushRobotAccount(t *testing.T) {
	t.Parallel()
	for _, tls := range []bool{false, true} {
		srv := newRegistry(t, tls)
		img := regtest.Image(t, 128, 1)
		src := regtest.Layout(t, img)
		pwFile := clitest.WriteFile(t, t.TempDir(), "pw", robotPass+"\n")
		for i, tc := range []struct {
			name string
			vars map[string]string
			args []string
		}{
			{"config.json", map[string]string{"DOCKER_CONFIG": dockerConfig(t, map[string]string{srv.Host: robotUser + ":" + robotPass})}, nil},
			{"CI_REGISTRY_USER and CI_REGISTRY_PASSWORD", ciVars(), nil},
			{"CI_REGISTRY_USER for CI_REGISTRY", ciVars("CI_REGISTRY", srv.Host), nil},
			{"--registry-user and --registry-password-file", nil, []string{"--registry-user", robotUser, "--registry-password-file", pwFile}},
		} {
			t.Run(fmt.Sprintf("%s/tls=%v", tc.name, tls), func(t *testing.T) {
				tag := fmt.Sprintf("case%d-tls-%v", i, tls)
				a := append(args(srv, "--source", src, "--dest", srv.Host+"/team/app", "--tag", tag, "--log-level", "debug"), tc.args...)
				r := runCLI(t, tc.vars, a...)
				if r.Code != 0 {
					t.Fatalf("push = %d, stderr:\n%s", r.Code, r.Stderr)
				}
				if srv.Count(func(r regtest.Request) bool { return r.User != "" && r.User != robotUser }) != 0 {
					t.Errorf("a request authenticated as another user than %q", robotUser)
				}
				assertNoSecret(t, r)
			})
		}
	}
}

func assertNoSecret(t *testing.T, r clitest.Result) {
	t.Helper()
	for _, s := range []string{robotPass, base64.StdEncoding.EncodeToString([]byte(robotUser + ":" + robotPass))} {
		if strings.Contains(r.Stdout+r.Stderr, s) {
			t.Errorf("a secret was printed:\nstdout: %s\nstderr: %s", r.Stdout, r.Stderr)
		}
	}
}

func TestPushCheck(t *testing.T) {
	t.Parallel()
	srv := newRegistry(t, true)
	want := srv.Write(t, "team/app:1a2b3c4d", regtest.Image(t, 64, 1))
	for _, tc := range []struct {
		ref    string
		code   int
		stdout string
		stderr string
	}{
		{"team/app:1a2b3c4d", 0, want + "\n", ""},
		{"team/app@" + want, 0, want + "\n", ""},
		{"team/app:absent", 4, "", "looking up " + srv.Host + "/team/app:absent: image not found"},
		{"team/nothing:1a2b3c4d", 4, "", "image not found"},
	} {
		t.Run(tc.ref, func(t *testing.T) {
			t.Parallel()
			r := runCLI(t, ciVars(), args(srv, "--check", srv.Host+"/"+tc.ref)...)
			if r.Code != tc.code || r.Stdout != tc.stdout || !strings.Contains(r.Stderr, tc.stderr) {
				t.Errorf("push --check %s = %d, stdout %q, stderr %q; want %d, %q, containing %q", tc.ref, r.Code, r.Stdout, r.Stderr, tc.code, tc.stdout, tc.stderr)
			}
		})
	}
}

func TestPushArchives(t *testing.T) {
	t.Parallel()
	srv := newRegistry(t, false)
	img := regtest.Image(t, 512, 2)
	idx := regtest.Index(t, 256, 1, "linux/amd64", "linux/arm64")
	dir := t.TempDir()
	dockerTar := filepath.Join(dir, "kaniko.tar")
	tag, err := name.NewTag("build/app:x")
	if err != nil {
		t.Fatal(err)
	}
	if err := tarball.WriteToFile(dockerTar, tag, img); err != nil {
		t.Fatal(err)
	}
	ociTar := filepath.Join(dir, "buildah.tar")
	tarDir(t, regtest.Layout(t, idx), ociTar)
	for _, tc := range []struct {
		name, source, want string
	}{
		// A docker tarball's digest is the one ggcr computes from it, as crane push does.
		{"docker tarball", dockerTar, ""},
		{"OCI archive keeps the index digest", ociTar, digestOf(t, idx)},
		{"oci-archive: prefix", "oci-archive:" + ociTar, digestOf(t, idx)},
		{"OCI layout", regtest.Layout(t, idx), digestOf(t, idx)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tg := strings.ToLower(strings.ReplaceAll(strings.ReplaceAll(tc.name, " ", "-"), ":", ""))
			r := runCLI(t, ciVars(), args(srv, "--source", tc.source, "--dest", srv.Host+"/team/"+tg, "--tag", "t1")...)
			if r.Code != 0 {
				t.Fatalf("push = %d, stderr:\n%s", r.Code, r.Stderr)
			}
			got := srv.Digest(t, "team/"+tg+":t1")
			if got != strings.TrimSpace(r.Stdout) || (tc.want != "" && got != tc.want) {
				t.Errorf("pushed %s, stdout %q; want %q", got, r.Stdout, tc.want)
			}
		})
	}
}

// tarDir writes the files below dir into a tar at dst, as buildah's oci-archive does.
func tarDir(t *testing.T, dir, dst string) {
	t.Helper()
	f, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(f)
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Name: filepath.ToSlash(rel), Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err = tw.Write(b)
		return err
	})
	if err == nil {
		err = tw.Close()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
}

// TestPushBadInput: each bad input exits with its code and a one-line message naming the input
// and the next step, and leaves the registry as it was.
func TestPushBadInput(t *testing.T) {
	t.Parallel()
	srv := newRegistry(t, true)
	other := newRegistry(t, true) // another CA
	img := regtest.Image(t, 256, 1)
	current := srv.Write(t, "team/app:v1", regtest.Image(t, 256, 1))
	srv.Write(t, "team/app:1a2b3c4d", img)
	good := regtest.Layout(t, img)
	dir := t.TempDir()
	garbage := clitest.WriteFile(t, dir, "garbage.tar", "this is not a tar archive at all, just text that is long enough to fill a header block")
	truncated := filepath.Join(dir, "truncated.tar")
	full := filepath.Join(dir, "full.tar")
	tarDir(t, regtest.Layout(t, regtest.Image(t, 4096, 1)), full)
	b, err := os.ReadFile(full)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(truncated, b[:len(b)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	wrongPw := clitest.WriteFile(t, dir, "wrong-pw", "not-the-password\n")
	dest := srv.Host + "/team/app"
	ca := []string{"--ca-file", srv.CA.CertFile}
	for _, tc := range []struct {
		name string
		vars map[string]string
		args []string
		code int
		msg  []string // substrings of stderr
	}{
		{"malformed destination", ciVars(), []string{"--source", good, "--dest", srv.Host + "/Team/App!"}, 2,
			[]string{"invalid image reference", "Team/App!"}},
		{"malformed tag", ciVars(), []string{"--source", good, "--dest", dest, "--tag", "bad tag"}, 2,
			[]string{`tag "bad tag"`}},
		{"malformed source reference", ciVars(), []string{"--source", srv.Host + "/team/app:bad tag", "--dest", dest, "--tag", "v9"}, 2,
			[]string{"invalid image reference"}},
		{"missing source", ciVars(), []string{"--source", "./build/image.tar", "--dest", dest}, 2,
			[]string{"invalid source ./build/image.tar: no such file or directory", "check --source"}},
		{"missing remote source", ciVars(), append([]string{"--source", srv.Host + "/team/app:absent", "--dest", dest, "--tag", "v9"}, ca...), 4,
			[]string{"reading source " + srv.Host + "/team/app:absent: image not found"}},
		{"not an archive", ciVars(), []string{"--source", garbage, "--dest", dest}, 2,
			[]string{"garbage.tar", "not a tar archive"}},
		{"truncated OCI archive", ciVars(), []string{"--source", truncated, "--dest", dest}, 2,
			[]string{"truncated.tar", "corrupt"}},
		{"wrong password", nil, append([]string{"--source", good, "--dest", dest, "--tag", "v9", "--registry-user", robotUser, "--registry-password-file", wrongPw}, ca...), 1,
			[]string{"authentication failed", "check --registry-user and --registry-password-file"}},
		{"tag clash", ciVars(), append([]string{"--source", good, "--dest", dest, "--tag", "v9", "--tag", "v1"}, ca...), 4,
			[]string{"tag exists with another digest", "v1 is " + current, digestOf(t, img), "or pass --force to move it"}},
		{"same digest again", ciVars(), append([]string{"--source", good, "--dest", dest}, ca...), 3,
			[]string{"image already pushed", "--allow-noop"}},
		{"unreachable registry", ciVars(), []string{"--source", good, "--dest", "127.0.0.1:1/team/app"}, 1,
			[]string{"registry unavailable", "reachable"}},
		{"registry not answering", ciVars(), []string{"--source", good, "--dest", silentRegistry(t) + "/team/app", "--timeout", "2s"}, 1,
			[]string{"registry unavailable", "did not answer in time", "raise --timeout"}},
		{"CA mismatch", ciVars(), []string{"--source", good, "--dest", dest, "--tag", "v9", "--ca-file", other.CA.CertFile}, 1,
			[]string{"TLS certificate not trusted", "pass the registry's CA certificate with --ca-file (or CA_BUNDLE)"}},
		{"no CA", ciVars(), []string{"--source", good, "--dest", dest, "--tag", "v9"}, 1,
			[]string{"TLS certificate not trusted", "pass the registry's CA certificate with --ca-file (or CA_BUNDLE)"}},
		{"no tag anywhere", nil, []string{"--source", good, "--dest", dest}, 2,
			[]string{"no tag given", "--tag"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := srv.Tags(t, "team/app")
			srv.Reset()
			r := runCLI(t, tc.vars, append([]string{"push"}, tc.args...)...)
			t.Logf("exit %d: %s", r.Code, r.Stderr)
			if r.Code != tc.code {
				t.Errorf("exit code = %d, want %d; stderr:\n%s", r.Code, tc.code, r.Stderr)
			}
			for _, m := range tc.msg {
				if !strings.Contains(r.Stderr, m) {
					t.Errorf("stderr does not contain %q:\n%s", m, r.Stderr)
				}
			}
			if lines := strings.Count(strings.TrimSpace(r.Stderr), "\n") + 1; lines != 1 {
				t.Errorf("stderr has %d lines, want one:\n%s", lines, r.Stderr)
			}
			if n := srv.Count(func(r regtest.Request) bool { return r.Method != "GET" && r.Method != "HEAD" }); n != 0 {
				t.Errorf("%d writing requests reached the registry: %+v", n, srv.Requests())
			}
			if diff := cmp.Diff(before, srv.Tags(t, "team/app")); diff != "" {
				t.Errorf("tags changed (-before +after):\n%s", diff)
			}
			assertNoSecret(t, r)
		})
	}
}

func TestPushForceAndAllowNoop(t *testing.T) {
	t.Parallel()
	srv := newRegistry(t, false)
	img := regtest.Image(t, 256, 1)
	old := srv.Write(t, "team/app:v1", regtest.Image(t, 256, 1))
	src := regtest.Layout(t, img)
	r := runCLI(t, ciVars(), "push", "--source", src, "--dest", srv.Host+"/team/app", "--tag", "v1", "--force")
	if r.Code != 0 || !strings.Contains(r.Stderr, "moving tag") || !strings.Contains(r.Stderr, old) {
		t.Fatalf("push --force = %d, stderr:\n%s", r.Code, r.Stderr)
	}
	if got := srv.Digest(t, "team/app:v1"); got != digestOf(t, img) {
		t.Errorf("team/app:v1 = %s after --force, want %s", got, digestOf(t, img))
	}
	srv.Reset()
	r = runCLI(t, ciVars(), "push", "--source", src, "--dest", srv.Host+"/team/app", "--tag", "v1", "--allow-noop")
	if r.Code != 0 || strings.TrimSpace(r.Stdout) != digestOf(t, img) || !strings.Contains(r.Stderr, "no-op accepted") {
		t.Errorf("push --allow-noop = %d, stdout %q, stderr:\n%s", r.Code, r.Stdout, r.Stderr)
	}
	if n := srv.Count(regtest.Request.ManifestPut); n != 0 {
		t.Errorf("--allow-noop wrote %d manifests, want 0", n)
	}
}

// TestPushProgressOnTTY: a terminal gets a progress line on stderr; CI (no terminal) does not.
func TestPushProgressOnTTY(t *testing.T) {
	t.Parallel()
	srv := newRegistry(t, false)
	for _, tty := range []bool{true, false} {
		var stdout, stderr bytes.Buffer
		env := clirun.NewEnv(strings.NewReader(""), &stdout, &stderr, ciVars())
		env.TTY = tty
		tag := fmt.Sprintf("tty-%v", tty)
		code := clirun.Run(context.Background(), env, clitest.App(env, NewCommand), []string{"tagrelay", "push", "--source", regtest.Layout(t, regtest.Image(t, 64<<10, 2)),
			"--dest", srv.Host + "/team/app", "--tag", tag})
		if code != 0 {
			t.Fatalf("push (tty=%v) = %d, stderr:\n%s", tty, code, stderr.String())
		}
		if got := strings.Contains(stderr.String(), "\rpushed "); got != tty {
			t.Errorf("push (tty=%v): progress line shown = %v, stderr:\n%q", tty, got, stderr.String())
		}
	}
}

// TestPushCredentialsStayWithTheirRegistry: --registry-user goes to the destination only, and
// GitLab's CI_REGISTRY_* only to $CI_REGISTRY, never to another registry of the copy.
func TestPushCredentialsStayWithTheirRegistry(t *testing.T) {
	t.Parallel()
	from := regtest.New(t) // anonymous: records any credentials it is sent
	to := newRegistry(t, false)
	from.Write(t, "team/app:1a2b3c4d", regtest.Image(t, 256, 1))
	pw := clitest.WriteFile(t, t.TempDir(), "pw", robotPass)
	for _, tc := range []struct {
		name string
		vars map[string]string
		args []string
		code int
	}{
		{"--registry-user", nil, []string{"--registry-user", robotUser, "--registry-password-file", pw}, 0},
		{"CI_REGISTRY_USER for CI_REGISTRY", ciVars("CI_REGISTRY", to.Host), nil, 0},
		// The GitLab job token is not for this destination: not sent there, so refused.
		{"CI_REGISTRY_USER for another CI_REGISTRY", ciVars("CI_REGISTRY", "gitlab-registry.example"), nil, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tag := strings.ReplaceAll(strings.ReplaceAll(tc.name, " ", "-"), "_", "-")[:14]
			r := runCLI(t, tc.vars, append([]string{"push", "--source", from.Host + "/team/app:1a2b3c4d", "--dest", to.Host + "/team/app", "--tag", tag}, tc.args...)...)
			if r.Code != tc.code {
				t.Errorf("push = %d, want %d; stderr:\n%s", r.Code, tc.code, r.Stderr)
			}
			if n := from.Count(func(r regtest.Request) bool { return r.User != "" }); n != 0 {
				t.Errorf("%d requests to the source registry carried credentials meant for the destination", n)
			}
		})
	}
}

// silentRegistry is a TCP server that accepts connections and never answers, as a registry
// behind a broken proxy does.
func silentRegistry(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conns := make(chan net.Conn, 64)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				close(conns)
				return
			}
			conns <- c
		}
	}()
	t.Cleanup(func() {
		l.Close()
		for c := range conns {
			c.Close()
		}
	})
	return l.Addr().String()
}
