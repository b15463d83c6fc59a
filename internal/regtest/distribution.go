package regtest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// DistributionBinary is Debian's name of the distribution registry.
const DistributionBinary = "docker-registry"

var installOnce sync.Once

// FindDistribution returns the path of docker-registry, installing Debian's package with
// apt-get when install is true, it is missing and this process is root. It returns an error
// saying why when it cannot be had.
func FindDistribution(install bool) (string, error) {
	if p, err := exec.LookPath(DistributionBinary); err == nil {
		return p, nil
	}
	if !install {
		return "", fmt.Errorf("%s %w (apt-get install docker-registry)", DistributionBinary, errNoBinary)
	}
	var out []byte
	installOnce.Do(func() {
		if os.Geteuid() != 0 {
			out = []byte("not root")
			return
		}
		if _, err := exec.LookPath("apt-get"); err != nil {
			out = []byte("no apt-get")
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "apt-get", "install", "-y", "--no-install-recommends", "-o", "DPkg::Lock::Timeout=120", DistributionBinary)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		out, _ = cmd.CombinedOutput()
	})
	if p, err := exec.LookPath(DistributionBinary); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("%s %w and apt-get could not install it: %s", DistributionBinary, errNoBinary, lastLine(string(out)))
}

// StartDistribution starts Debian's docker-registry (the distribution project's registry) on a
// free port of 127.0.0.1 with filesystem storage in a temporary directory, behind the recording
// front. WithBasicAuth becomes an htpasswd file the registry itself checks; WithTLS makes both
// the registry and the front serve the same CA's certificate. Close stops the process.
func StartDistribution(bin string, opts ...Option) (*Server, error) {
	o := options{creds: map[string]string{}}
	for _, opt := range opts {
		opt(&o)
	}
	dir, err := os.MkdirTemp("", "regtest-distribution-")
	if err != nil {
		return nil, err
	}
	cleanup := func() { os.RemoveAll(dir) }
	proc, target, tlsCfg, ca, err := runDistribution(bin, dir, o)
	if err != nil {
		cleanup()
		return nil, err
	}
	creds := o.creds
	o.creds = map[string]string{} // the registry checks them
	o.caForUpstream = ca
	s, err := start(o, proxy(target, tlsCfg))
	if err != nil {
		proc.Process.Kill()
		proc.Wait()
		cleanup()
		return nil, err
	}
	s.opts.creds = creds
	s.cleanup = append(s.cleanup, cleanup, func() {
		proc.Process.Kill()
		proc.Wait()
	})
	return s, nil
}

func runDistribution(bin, dir string, o options) (*exec.Cmd, *url.URL, *tls.Config, *CA, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, nil, nil, nil, err
	}
	cfg := fmt.Sprintf("version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\nhttp:\n  addr: %s\n", filepath.Join(dir, "data"), addr)
	scheme := "http"
	var tlsCfg *tls.Config
	var ca *CA
	if o.tls {
		if ca, err = NewCA(dir); err != nil {
			return nil, nil, nil, nil, err
		}
		pool, err := ca.Pool()
		if err != nil {
			return nil, nil, nil, nil, err
		}
		tlsCfg = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		cfg += fmt.Sprintf("  tls:\n    certificate: %s\n    key: %s\n", ca.ServerCertFile, ca.ServerKeyFile)
		scheme = "https"
	}
	if len(o.creds) > 0 {
		htpasswd, err := writeHtpasswd(dir, o.creds)
		if err != nil {
			return nil, nil, nil, nil, err
		}
		cfg += fmt.Sprintf("auth:\n  htpasswd:\n    realm: regtest\n    path: %s\n", htpasswd)
	}
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return nil, nil, nil, nil, err
	}
	cmd := exec.Command(bin, "serve", cfgPath)
	logf, err := os.Create(filepath.Join(dir, "registry.log"))
	if err != nil {
		return nil, nil, nil, nil, err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, nil, nil, nil, err
	}
	target := &url.URL{Scheme: scheme, Host: addr}
	if err := waitReady(target, tlsCfg); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		log, _ := os.ReadFile(logf.Name())
		return nil, nil, nil, nil, fmt.Errorf("starting %s: %w: %s", bin, err, lastLine(string(log)))
	}
	return cmd, target, tlsCfg, ca, nil
}

// writeHtpasswd writes bcrypt entries, the only hash distribution accepts.
func writeHtpasswd(dir string, creds map[string]string) (string, error) {
	var b strings.Builder
	for user, pass := range creds {
		h, err := bcrypt.GenerateFromPassword([]byte(pass), bcrypt.MinCost)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "%s:%s\n", user, h)
	}
	p := filepath.Join(dir, "htpasswd")
	return p, os.WriteFile(p, []byte(b.String()), 0o600)
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// waitReady polls /v2/ until the registry answers (200 or 401), for at most 10 s.
func waitReady(target *url.URL, tlsCfg *tls.Config) error {
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{TLSClientConfig: tlsCfg}}
	deadline := time.Now().Add(10 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		resp, err := client.Get(target.String() + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized {
				return nil
			}
			err = fmt.Errorf("GET /v2/: %s", resp.Status)
		}
		last = err
		time.Sleep(50 * time.Millisecond)
	}
	return errors.Join(errors.New("registry not ready after 10s"), last)
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
