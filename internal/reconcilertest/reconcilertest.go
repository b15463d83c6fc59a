// Package reconcilertest runs a built tagrelay-reconciler binary (`serve`) on 127.0.0.1 for tests
// and for `make demo`, the way a cluster runs it: an apps config, a bearer token file, a
// kubeconfig, polls off unless asked, no leader election unless asked.
//
//	s, err := reconcilertest.Start(ctx, reconcilertest.Options{
//		Binary: "bin/tagrelay-reconciler", Config: "apps.yaml", Kubeconfig: c.Kubeconfig, Namespace: "tagrelay-system"})
//	defer s.Stop()
//	// tagrelay trigger reconciler --url s.URL --token-file s.TokenFile --app web --wait
//
// Replicas: processes started with LeaderElection and the same Namespace elect a leader through
// one Lease, on one host; Kill (SIGKILL) and Signal (SIGTERM) end them the way a node or a
// rolling update does. The package's own tests are the reconciler's high-availability tests.
package reconcilertest

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tagrelay/tagrelay/reconcile/api"
)

// Options configure Start.
type Options struct {
	// Binary is the path of the tagrelay-reconciler binary. Required.
	Binary string
	// Config is the apps config file. Required.
	Config string
	// Kubeconfig is the cluster's kubeconfig file. Required.
	Kubeconfig string
	// Namespace holds the apps' inventories and histories; it must exist. Required.
	Namespace string
	// Dir receives the token file, the git cache and the log (reconciler.log). Default: a new
	// temporary directory, removed by Stop.
	Dir string
	// Token is the API token. Default: random.
	Token string
	// Interval is serve's --interval. Default: -1s (no polls: only triggers deploy).
	Interval time.Duration
	// StartTimeout bounds the start. Default: 1 minute.
	StartTimeout time.Duration
	// LeaderElection runs serve with --leader-elect true and these lease timings (zero: serve's
	// defaults). Default: nil, --leader-elect false.
	LeaderElection *Lease
	// TLSCert and TLSKey serve HTTPS (--tls-cert, --tls-key); CAFile is then trusted by the
	// readiness check and Client. Default: plain HTTP.
	TLSCert, TLSKey, CAFile string
	// ServerName is the name the readiness check and Client check the certificate for.
	// Default: the host they dial, 127.0.0.1.
	ServerName string
	// Listen is serve's --listen address. Default: 127.0.0.1:0 (a free port). A fixed port lets
	// a test pass the --advertise-url the replica is reached at.
	Listen string
	// Args are more serve flags (--gitlab-webhook-secret-file …).
	Args []string
}

// Lease are serve's lease flags.
type Lease struct {
	Duration, RenewDeadline, RetryPeriod time.Duration
}

// Server is a running `tagrelay-reconciler serve`.
type Server struct {
	// URL is the base URL of the API, http://127.0.0.1:PORT.
	URL string
	// Token is the API token; TokenFile holds it.
	Token, TokenFile string
	// Log is the path of the server's log (JSON lines).
	Log string
	// Args are the arguments the binary runs with.
	Args []string
	// Identity is the process's identity (the leader Lease's holder when it leads).
	Identity string

	dir    string
	ownDir bool
	cmd    *exec.Cmd
	http   *http.Client
	done   chan struct{}
	err    error // set when done is closed
	once   sync.Once
}

// Start runs `tagrelay-reconciler serve` on a free 127.0.0.1 port and returns once it answers
// /readyz. The process outlives ctx; call Stop.
func Start(ctx context.Context, o Options) (s *Server, err error) {
	if o.Binary == "" || o.Config == "" || o.Kubeconfig == "" || o.Namespace == "" {
		return nil, errors.New("reconcilertest: Binary, Config, Kubeconfig and Namespace are required")
	}
	if o.Interval == 0 {
		o.Interval = -time.Second
	}
	if o.StartTimeout == 0 {
		o.StartTimeout = time.Minute
	}
	if o.Listen == "" {
		o.Listen = "127.0.0.1:0"
	}
	if o.Token == "" {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		o.Token = "reconciler-" + hex.EncodeToString(b)
	}
	s = &Server{Token: o.Token, dir: o.Dir, done: make(chan struct{})}
	if s.dir == "" {
		if s.dir, err = os.MkdirTemp("", "reconcilertest-"); err != nil {
			return nil, err
		}
		s.ownDir = true
	} else if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			err = fmt.Errorf("starting tagrelay-reconciler serve: %w%s", err, s.tail())
			_ = s.Stop()
		}
	}()
	s.TokenFile = filepath.Join(s.dir, "api-token")
	if err := os.WriteFile(s.TokenFile, []byte(o.Token+"\n"), 0o600); err != nil {
		return s, err
	}
	s.Log = filepath.Join(s.dir, "reconciler.log")
	logFile, err := os.Create(s.Log)
	if err != nil {
		return s, err
	}
	if s.http, err = httpClient(o.CAFile, o.ServerName); err != nil {
		return s, err
	}
	s.Args = append([]string{"serve", "--config", o.Config, "--kubeconfig", o.Kubeconfig, "--namespace", o.Namespace,
		"--token-file", s.TokenFile, "--cache-dir", filepath.Join(s.dir, "cache"), "--listen", o.Listen,
		"--interval", o.Interval.String(), "--log-format", "json"}, o.leaseArgs()...)
	if o.TLSCert != "" {
		s.Args = append(s.Args, "--tls-cert", o.TLSCert, "--tls-key", o.TLSKey)
	}
	s.Args = append(s.Args, o.Args...)
	s.cmd = exec.Command(o.Binary, s.Args...)
	s.cmd.Env = append(os.Environ(), "KUBECONFIG="+o.Kubeconfig)
	// Die with the parent even when it is killed before Stop runs.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		logFile.Close()
		return s, err
	}
	s.cmd.Stdout = logFile
	if err := s.cmd.Start(); err != nil {
		logFile.Close()
		return s, err
	}
	addr, copied := make(chan serving, 1), make(chan struct{})
	go func() {
		s.copyLog(stderr, logFile, addr)
		close(copied)
	}()
	go func() {
		<-copied // Wait closes the pipe: read it to the end first
		s.err = s.cmd.Wait()
		close(s.done)
	}()

	ctx, cancel := context.WithTimeout(ctx, o.StartTimeout)
	defer cancel()
	select {
	case a := <-addr:
		s.URL, s.Identity = "http://"+a.Addr, a.Identity
		if o.TLSCert != "" {
			s.URL = "https://" + a.Addr
		}
	case <-s.done:
		return s, fmt.Errorf("exited: %v", s.err)
	case <-ctx.Done():
		return s, fmt.Errorf("no \"serving\" log line: %w", ctx.Err())
	}
	return s, s.waitReady(ctx)
}

// serving is the "serving" log line.
type serving struct{ Msg, Addr, Identity string }

// copyLog writes the server's stderr to the log and sends its "serving" line.
func (s *Server) copyLog(r io.Reader, w *os.File, addr chan<- serving) {
	defer w.Close()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	sent := false
	for sc.Scan() {
		line := sc.Bytes()
		_, _ = w.Write(append(line, '\n'))
		if sent {
			continue
		}
		var rec serving
		if json.Unmarshal(line, &rec) == nil && rec.Msg == "serving" && rec.Addr != "" {
			addr <- rec
			sent = true
		}
	}
	_, _ = io.Copy(w, r)
}

func (s *Server) waitReady(ctx context.Context) error {
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/readyz", nil)
		resp, err := s.http.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-s.done:
			return fmt.Errorf("exited: %v", s.err)
		case <-ctx.Done():
			return fmt.Errorf("%s/readyz: not ready: %w", s.URL, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Stop ends the server (SIGTERM, then SIGKILL after 10 s) and removes its directory when Start
// created it. It is safe to call more than once.
func (s *Server) Stop() error {
	if s == nil {
		return nil
	}
	var err error
	s.once.Do(func() {
		if s.cmd != nil && s.cmd.Process != nil {
			_ = s.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-s.done:
			case <-time.After(10 * time.Second):
				_ = s.cmd.Process.Kill()
				<-s.done
				err = errors.New("tagrelay-reconciler serve did not stop on SIGTERM; killed")
			}
		}
		if s.ownDir {
			if rmErr := os.RemoveAll(s.dir); err == nil {
				err = rmErr
			}
		}
	})
	return err
}

// Kill ends the process at once (SIGKILL), like a node that dies, and waits for it.
func (s *Server) Kill() {
	_ = s.cmd.Process.Kill()
	<-s.done
}

// Signal sends sig (SIGTERM: a rolling update) without waiting; Done tells when it exited.
func (s *Server) Signal(sig os.Signal) error { return s.cmd.Process.Signal(sig) }

// Done is closed when the process has exited; Err then says how.
func (s *Server) Done() <-chan struct{} { return s.done }

// Err is the process's exit error, once Done is closed.
func (s *Server) Err() error { return s.err }

// Client is an API client of this server with its admin token (and CAFile for HTTPS).
func (s *Server) Client() *api.Client {
	return &api.Client{URL: s.URL, Token: s.Token, HTTP: s.http, Retry: -1}
}

// Ready reports whether the server answers /readyz with 200.
func (s *Server) Ready() bool {
	resp, err := s.http.Get(s.URL + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func (o *Options) leaseArgs() []string {
	if o.LeaderElection == nil {
		return []string{"--leader-elect", "false"}
	}
	args := []string{"--leader-elect", "true"}
	for _, f := range []struct {
		flag string
		d    time.Duration
	}{{"--lease-duration", o.LeaderElection.Duration}, {"--lease-renew-deadline", o.LeaderElection.RenewDeadline},
		{"--lease-retry-period", o.LeaderElection.RetryPeriod}} {
		if f.d > 0 {
			args = append(args, f.flag, f.d.String())
		}
	}
	return args
}

// httpClient trusts caFile (alone: a test's CA) and checks certificates for serverName (when set).
func httpClient(caFile, serverName string) (*http.Client, error) {
	client := &http.Client{Timeout: 5 * time.Minute}
	if caFile == "" {
		return client, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("no certificate in %s", caFile)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, ServerName: serverName, MinVersion: tls.VersionTLS12}
	client.Transport = tr
	return client, nil
}

// Pid is the server's process id (to read its /proc/PID/status).
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// Logs returns the server's log so far.
func (s *Server) Logs() string {
	b, _ := os.ReadFile(s.Log)
	return string(b)
}

// tail returns the end of the log, for errors.
func (s *Server) tail() string {
	if s.Log == "" {
		return ""
	}
	l := strings.TrimSpace(s.Logs())
	if l == "" {
		return ""
	}
	if len(l) > 2000 {
		l = "…" + l[len(l)-2000:]
	}
	return "\n" + l
}
