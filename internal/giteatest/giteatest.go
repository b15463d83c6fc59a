// Package giteatest runs a real Gitea — a forge with a Git LFS server — on 127.0.0.1 for tests
// that need an LFS server git-lfs itself talks to (the mirror's LFS copy).
//
//	srv := giteatest.Start(t)               // skipped under -short, or with the reason when Gitea cannot be built
//	url := srv.CreateRepo(t, "app")         // http://127.0.0.1:PORT/tagrelay/app.git, private
//	creds := srv.Credentials()              // the admin's API token, for git, LFS and the API
//	oids := srv.LFSObjects(t)               // what its LFS store holds
//
// The binary is built once from the Go module proxy by hack/gitea.sh (cached under
// ~/.cache/tagrelay/gitea/<version>). Each Start gets its own work directory, sqlite database,
// free port and admin user, and is stopped when the test ends.
package giteatest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tagrelay/tagrelay/internal/gitauth"
)

// Admin is the user every server is created with; repositories live under it.
const Admin = "tagrelay"

// Server is one running Gitea.
type Server struct {
	// URL is the root URL, with a trailing slash: http://127.0.0.1:PORT/.
	URL string
	// Token is the admin's API token (scopes: repository and user, read and write).
	Token string
	// Dir is the work directory (database, repositories, LFS store, log).
	Dir      string
	password string
	cmd      *exec.Cmd
	exited   chan struct{}
	logPath  string
}

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

// binary returns the directory holding gitea, options/ and templates/ ($TAGRELAY_GITEA_DIR, or
// hack/gitea.sh dir, which builds on first use), once per test binary.
func binary() (string, error) {
	buildOnce.Do(func() {
		if d := os.Getenv("TAGRELAY_GITEA_DIR"); d != "" {
			buildDir = d
			return
		}
		script, err := findScript()
		if err != nil {
			buildErr = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, script, "dir")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			buildErr = fmt.Errorf("%s dir: %v: %s", script, err, lastLines(stderr.String(), 5))
			return
		}
		buildDir = strings.TrimSpace(string(out))
	})
	if buildErr != nil {
		return "", buildErr
	}
	if _, err := os.Stat(filepath.Join(buildDir, "gitea")); err != nil {
		return "", fmt.Errorf("gitea binary missing in %s: %v", buildDir, err)
	}
	return buildDir, nil
}

// Start runs a new Gitea and stops it when t ends. It skips t under -short, and when Gitea
// cannot be built here, saying why; a Gitea that was built but does not start fails t.
func Start(t testing.TB) *Server {
	t.Helper()
	return StartN(t, 1)[0]
}

// StartN runs n Giteas at once (each with its own store, like two forges), as Start does.
func StartN(t testing.TB, n int) []*Server {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a real Gitea (LFS server); skipped under -short")
	}
	dir, err := binary()
	if err != nil {
		t.Skipf("Gitea is not available here: %v", err)
	}
	servers := make([]*Server, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		work := t.TempDir()
		wg.Add(1)
		go func() {
			defer wg.Done()
			servers[i], errs[i] = start(dir, work)
		}()
	}
	wg.Wait()
	for _, s := range servers {
		if s != nil {
			t.Cleanup(s.stop)
		}
	}
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("Gitea did not start: %v", err)
	}
	return servers
}

// Run starts a Gitea in the directory work outside a test (benchmarks), building it first when
// needed; Close stops it.
func Run(work string) (*Server, error) {
	dir, err := binary()
	if err != nil {
		return nil, err
	}
	return start(dir, work)
}

// Close stops the server.
func (s *Server) Close() { s.stop() }

func start(binDir, work string) (s *Server, err error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s = &Server{URL: fmt.Sprintf("http://127.0.0.1:%d/", port), Dir: work, password: randomHex(16),
		logPath: filepath.Join(work, "gitea.log")}
	conf := filepath.Join(work, "app.ini")
	if err := os.WriteFile(conf, []byte(appIni(binDir, work, port)), 0o600); err != nil {
		return nil, err
	}
	bin := filepath.Join(binDir, "gitea")
	env := append(os.Environ(), "GITEA_WORK_DIR="+work, "HOME="+work, "GITEA_I_AM_BEING_UNSAFE_RUNNING_AS_ROOT=true")
	run := func(args ...string) error {
		cmd := exec.Command(bin, append(args, "--config", conf, "--work-path", work)...)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("gitea %s: %v: %s", args[0], err, lastLines(string(out), 5))
		}
		return nil
	}
	if err := run("migrate"); err != nil {
		return nil, err
	}
	if err := run("admin", "user", "create", "--admin", "--username", Admin, "--password", s.password,
		"--email", Admin+"@example.invalid", "--must-change-password=false"); err != nil {
		return nil, err
	}
	logf, err := os.Create(s.logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	s.cmd = exec.Command(bin, "web", "--config", conf, "--work-path", work)
	s.cmd.Env = env
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	s.exited = make(chan struct{})
	go func() { s.cmd.Wait(); close(s.exited) }()
	defer func() {
		if err != nil {
			s.stop()
		}
	}()
	if err := s.waitReady(90 * time.Second); err != nil {
		return nil, err
	}
	var tok struct {
		SHA1 string `json:"sha1"`
	}
	err = s.api(http.MethodPost, "users/"+Admin+"/tokens", gitauth.Credentials{Username: Admin, Password: s.password},
		map[string]any{"name": "tagrelay-test", "scopes": []string{"write:repository", "write:user"}}, &tok)
	if err != nil {
		return nil, fmt.Errorf("creating a token: %w", err)
	}
	s.Token = tok.SHA1
	return s, nil
}

func appIni(binDir, work string, port int) string {
	runUser := "root"
	if u, err := user.Current(); err == nil {
		runUser = u.Username
	}
	jwt := base64.RawURLEncoding.EncodeToString([]byte(randomHex(16)))
	return fmt.Sprintf(`APP_NAME = tagrelay test
RUN_MODE = prod
RUN_USER = %[4]s
WORK_PATH = %[2]s
I_AM_BEING_UNSAFE_RUNNING_AS_ROOT = true

[server]
PROTOCOL = http
HTTP_ADDR = 127.0.0.1
HTTP_PORT = %[3]d
ROOT_URL = http://127.0.0.1:%[3]d/
DISABLE_SSH = true
START_SSH_SERVER = false
LFS_START_SERVER = true
LFS_JWT_SECRET = %[5]s
OFFLINE_MODE = true
STATIC_ROOT_PATH = %[1]s
APP_DATA_PATH = %[2]s/data

[database]
DB_TYPE = sqlite3
PATH = %[2]s/data/gitea.db

[repository]
ROOT = %[2]s/repos

[lfs]
PATH = %[2]s/data/lfs

[security]
INSTALL_LOCK = true
SECRET_KEY = %[6]s
INTERNAL_TOKEN = %[7]s

[oauth2]
ENABLED = false

[service]
DISABLE_REGISTRATION = true

[session]
PROVIDER = memory

[cache]
ADAPTER = memory

[indexer]
ISSUE_INDEXER_TYPE = db
REPO_INDEXER_ENABLED = false

[cron]
ENABLED = false

[cron.update_checker]
ENABLED = false

[mailer]
ENABLED = false

[picture]
DISABLE_GRAVATAR = true

[log]
MODE = console
LEVEL = Warn
ROOT_PATH = %[2]s/log
`, binDir, work, port, runUser, jwt, randomHex(32), randomHex(40))
}

// waitReady polls the version endpoint until Gitea answers, it exits, or the time is up.
func (s *Server) waitReady(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			return fmt.Errorf("gitea web exited: %s", s.logTail())
		default:
		}
		resp, err := http.Get(s.URL + "api/v1/version")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("gitea web not ready after %s: %s", limit, s.logTail())
}

func (s *Server) stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(15 * time.Second):
		syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.exited
	}
}

func (s *Server) logTail() string {
	b, _ := os.ReadFile(s.logPath)
	return lastLines(string(b), 8)
}

// Credentials are the admin's user name and API token, as git, git-lfs and the mirror send them.
func (s *Server) Credentials() gitauth.Credentials {
	return gitauth.Credentials{Username: Admin, Password: s.Token}
}

// CreateRepo creates an empty private repository of the admin and returns its clone URL.
func (s *Server) CreateRepo(t testing.TB, name string) string {
	t.Helper()
	url, err := s.NewRepo(name)
	if err != nil {
		t.Fatal(err)
	}
	return url
}

// NewRepo creates an empty private repository of the admin and returns its clone URL.
func (s *Server) NewRepo(name string) (string, error) {
	var repo struct {
		CloneURL string `json:"clone_url"`
	}
	if err := s.api(http.MethodPost, "user/repos", s.Credentials(), map[string]any{"name": name, "private": true}, &repo); err != nil {
		return "", fmt.Errorf("creating Gitea repository %s: %w", name, err)
	}
	return repo.CloneURL, nil
}

// DeleteRepo deletes a repository of the admin, with its LFS objects.
func (s *Server) DeleteRepo(name string) error {
	return s.api(http.MethodDelete, "repos/"+Admin+"/"+name, s.Credentials(), nil, nil)
}

// LFSObjects returns the oids in the LFS store, sorted.
func (s *Server) LFSObjects(t testing.TB) []string {
	t.Helper()
	oids, err := s.Objects()
	if err != nil {
		t.Fatal(err)
	}
	return oids
}

// Objects returns the oids in the LFS store, sorted. The store lays objects out as
// aa/bb/rest-of-oid.
func (s *Server) Objects() ([]string, error) {
	root := filepath.Join(s.Dir, "data", "lfs")
	var oids []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if oid := strings.ReplaceAll(rel, string(filepath.Separator), ""); len(oid) == 64 {
			oids = append(oids, oid)
		}
		return nil
	})
	sort.Strings(oids)
	return oids, err
}

// api calls Gitea's REST API and decodes the answer into out (when not nil).
func (s *Server) api(method, path string, creds gitauth.Credentials, body, out any) error {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.URL+"api/v1/"+path, r)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", creds.Header())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(b)))
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "; ")
}

// findScript looks for hack/gitea.sh in the working directory and its parents (go test runs in
// the package directory).
func findScript() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, "hack", "gitea.sh")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("hack/gitea.sh not found above the working directory; set TAGRELAY_GITEA_DIR")
		}
		dir = parent
	}
}
