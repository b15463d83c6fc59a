package kubetest

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
)

// process is one component of the cluster.
type process struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error // set when done is closed
}

// start runs bin/name with args, its output in logs/<name>.log.
func (c *Cluster) start(bin, name string, args ...string) (*process, error) {
	logPath := filepath.Join(c.Dir, "logs", name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(filepath.Join(bin, name), args...)
	cmd.Stdout, cmd.Stderr = f, f
	// Die with the test binary even when it is killed before Stop runs.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := c.spawn(cmd.Start); err != nil {
		f.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	c.procs = append(c.procs, p)
	return p, nil
}

// spawn runs start on the cluster's own OS thread. Pdeathsig fires when the thread that forked
// the child exits, not the process (golang/go#27505), and Go retires a thread whose locked
// goroutine ends; this one stays locked and alive until Stop.
func (c *Cluster) spawn(start func() error) error {
	if c.spawner == nil {
		c.spawner = make(chan func())
		go func() {
			runtime.LockOSThread()
			for f := range c.spawner {
				f()
			}
		}()
	}
	errc := make(chan error, 1)
	c.spawner <- func() { errc <- start() }
	return <-errc
}

// exited returns an error naming the first component that is no longer running, with the end
// of its log.
func (c *Cluster) exited() error {
	for _, p := range c.procs {
		select {
		case <-p.done:
			return fmt.Errorf("%s exited (%v): %s", p.name, p.err, p.tail())
		default:
		}
	}
	return nil
}

// waitHTTP polls url until it answers 200, the process exits or ctx ends.
func (p *process) waitHTTP(ctx context.Context, client *http.Client, url string) error {
	err := wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		select {
		case <-p.done:
			return false, fmt.Errorf("%s exited (%v): %s", p.name, p.err, p.tail())
		default:
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := client.Do(req)
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for %s: %w", p.name, err)
	}
	return nil
}

// tail returns the last lines of the process's log, on one line.
func (p *process) tail() string {
	b, _ := os.ReadFile(p.log)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 5 {
		lines = lines[len(lines)-5:]
	}
	return strings.Join(lines, " | ")
}

func (p *process) stop(grace time.Duration) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	return nil
}

func insecureTransport(token string) http.RoundTripper {
	return bearer{token: token, next: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // readiness probe before the CA exists
}

type bearer struct {
	token string
	next  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(r)
}

// binDir finds the cluster binaries: dir, $TAGRELAY_TESTCLUSTER_BIN, or hack/testcluster.sh
// bindir (which builds them on first use).
func binDir(ctx context.Context, dir string) (string, error) {
	if dir == "" {
		dir = os.Getenv("TAGRELAY_TESTCLUSTER_BIN")
	}
	if dir == "" {
		script, err := findScript()
		if err != nil {
			return "", err
		}
		cmd := exec.CommandContext(ctx, script, "bindir")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("running %s bindir: %w: %s", script, err, strings.TrimSpace(stderr.String()))
		}
		dir = strings.TrimSpace(string(out))
	}
	for _, name := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			return "", fmt.Errorf("test cluster binary %s missing in %s; run hack/testcluster.sh build", name, dir)
		}
	}
	return dir, nil
}

// findScript looks for hack/testcluster.sh in the working directory and its parents (go test
// runs in the package directory; the demo runs at the repository root).
func findScript() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, "hack", "testcluster.sh")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("hack/testcluster.sh not found above the working directory; set TAGRELAY_TESTCLUSTER_BIN")
		}
		dir = parent
	}
}
