package gitops

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/tagrelay/tagrelay/internal/errdefs"
	"github.com/tagrelay/tagrelay/internal/redact"
)

// The Flux trigger speaks to the Kubernetes API with net/http and the few JSON shapes it reads,
// not client-go: the CI-side binary stays free of client-go and apimachinery (internal/depcheck),
// and a trigger needs GET, PATCH and a list, nothing of client-go's caches.

// KubeConfig says how to reach a Kubernetes API server: what a kubeconfig context or a pod's
// service account gives.
type KubeConfig struct {
	// Server is the API server's URL: https://HOST[:PORT].
	Server string
	// CAData is the PEM of the authorities that sign the server's certificate; nil: the system's.
	CAData []byte
	// Insecure skips the verification of the server's certificate.
	Insecure bool
	// TLSServerName is the name to verify the certificate against, when not the URL's host.
	TLSServerName string
	// Token is a bearer token (a service account's, the GitLab agent's).
	Token string
	// CertData and KeyData are a client certificate and its key, PEM.
	CertData, KeyData []byte
	// Username and Password are basic auth credentials (old clusters).
	Username, Password string
}

// kubeconfig is the part of a kubeconfig file a trigger reads.
type kubeconfig struct {
	CurrentContext string `yaml:"current-context"`
	Clusters       []struct {
		Name    string `yaml:"name"`
		Cluster struct {
			Server        string `yaml:"server"`
			CA            string `yaml:"certificate-authority"`
			CAData        string `yaml:"certificate-authority-data"`
			Insecure      bool   `yaml:"insecure-skip-tls-verify"`
			TLSServerName string `yaml:"tls-server-name"`
		} `yaml:"cluster"`
	} `yaml:"clusters"`
	Users []struct {
		Name string `yaml:"name"`
		User struct {
			Token        string         `yaml:"token"`
			TokenFile    string         `yaml:"tokenFile"`
			Cert         string         `yaml:"client-certificate"`
			CertData     string         `yaml:"client-certificate-data"`
			Key          string         `yaml:"client-key"`
			KeyData      string         `yaml:"client-key-data"`
			Username     string         `yaml:"username"`
			Password     string         `yaml:"password"`
			Exec         map[string]any `yaml:"exec"`
			AuthProvider map[string]any `yaml:"auth-provider"`
		} `yaml:"user"`
	} `yaml:"users"`
	Contexts []struct {
		Name    string `yaml:"name"`
		Context struct {
			Cluster string `yaml:"cluster"`
			User    string `yaml:"user"`
		} `yaml:"context"`
	} `yaml:"contexts"`
}

// maxKubeconfig bounds a kubeconfig file.
const maxKubeconfig = 4 << 20

// LoadKubeconfig reads the context (the current one when "") of the kubeconfig files, merged as
// kubectl merges the files of KUBECONFIG: the first file that names a cluster, user, context or
// the current context wins. Relative file paths in a file are relative to its directory.
// Credential plugins (exec, auth-provider) are not run: such a user is an input error that says
// to give a token.
func LoadKubeconfig(files []string, context string) (*KubeConfig, error) {
	type from struct {
		dir string
		kc  *kubeconfig
		i   int
	}
	clusters, users, contexts := map[string]from{}, map[string]from{}, map[string]from{}
	current := ""
	read := 0
	for _, f := range files {
		b, err := readBounded(f, maxKubeconfig)
		if errors.Is(err, os.ErrNotExist) && len(files) > 1 {
			continue // kubectl skips missing files of a list
		}
		if err != nil {
			return nil, errdefs.Invalid(fmt.Errorf("reading kubeconfig: %w", err))
		}
		read++
		kc := &kubeconfig{}
		if err := yaml.Unmarshal(b, kc); err != nil {
			return nil, errdefs.Invalid(fmt.Errorf("parsing kubeconfig %s: %w", f, err))
		}
		dir := filepath.Dir(f)
		if current == "" {
			current = kc.CurrentContext
		}
		for i, c := range kc.Clusters {
			if _, ok := clusters[c.Name]; !ok {
				clusters[c.Name] = from{dir, kc, i}
			}
		}
		for i, u := range kc.Users {
			if _, ok := users[u.Name]; !ok {
				users[u.Name] = from{dir, kc, i}
			}
		}
		for i, c := range kc.Contexts {
			if _, ok := contexts[c.Name]; !ok {
				contexts[c.Name] = from{dir, kc, i}
			}
		}
	}
	if read == 0 {
		return nil, errdefs.Invalid(fmt.Errorf("no kubeconfig file found in %s", strings.Join(files, ", ")))
	}
	if context == "" {
		context = current
	}
	cf, ok := contexts[context]
	if context == "" || !ok {
		return nil, errdefs.Invalid(fmt.Errorf("kubeconfig has no context %q", context))
	}
	kctx := cf.kc.Contexts[cf.i].Context
	clf, ok := clusters[kctx.Cluster]
	if !ok {
		return nil, errdefs.Invalid(fmt.Errorf("kubeconfig context %q names cluster %q, which it does not define", context, kctx.Cluster))
	}
	cl := clf.kc.Clusters[clf.i].Cluster
	cfg := &KubeConfig{Server: cl.Server, Insecure: cl.Insecure, TLSServerName: cl.TLSServerName}
	var err error
	if cfg.CAData, err = dataOrFile(cl.CAData, cl.CA, clf.dir); err != nil {
		return nil, err
	}
	if uf, ok := users[kctx.User]; ok {
		u := uf.kc.Users[uf.i].User
		if u.Exec != nil || u.AuthProvider != nil {
			return nil, errdefs.WithHint(errdefs.Invalid(fmt.Errorf("kubeconfig user %q uses a credential plugin (exec or auth-provider), which tagrelay does not run", kctx.User)),
				"give the job a kubeconfig with a token (a service account's), or run it in the cluster with a service account")
		}
		cfg.Token, cfg.Username, cfg.Password = u.Token, u.Username, u.Password
		if u.TokenFile != "" && cfg.Token == "" {
			t, err := readBounded(relTo(uf.dir, u.TokenFile), 1<<20)
			if err != nil {
				return nil, errdefs.Invalid(fmt.Errorf("reading the kubeconfig's token file: %w", err))
			}
			cfg.Token = strings.TrimSpace(string(t))
		}
		if cfg.CertData, err = dataOrFile(u.CertData, u.Cert, uf.dir); err != nil {
			return nil, err
		}
		if cfg.KeyData, err = dataOrFile(u.KeyData, u.Key, uf.dir); err != nil {
			return nil, err
		}
	}
	return cfg, nil
}

// InClusterConfig is the configuration of a pod: the API server at host:port (the
// KUBERNETES_SERVICE_HOST and _PORT variables) and the pod's service account token and CA
// (/var/run/secrets/kubernetes.io/serviceaccount, or dir).
func InClusterConfig(host, port, dir string) (*KubeConfig, error) {
	if dir == "" {
		dir = "/var/run/secrets/kubernetes.io/serviceaccount"
	}
	tok, err := readBounded(filepath.Join(dir, "token"), 1<<20)
	if err != nil {
		return nil, errdefs.Invalid(fmt.Errorf("reading the service account token: %w", err))
	}
	ca, err := readBounded(filepath.Join(dir, "ca.crt"), 1<<20)
	if err != nil {
		return nil, errdefs.Invalid(fmt.Errorf("reading the service account CA: %w", err))
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]" // IPv6
	}
	return &KubeConfig{Server: "https://" + host + ":" + port, Token: strings.TrimSpace(string(tok)), CAData: ca}, nil
}

func readBounded(file string, n int64) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, n+1))
	if err == nil && int64(len(b)) > n {
		err = fmt.Errorf("%s: larger than %d bytes", file, n)
	}
	return b, err
}

func relTo(dir, file string) string {
	if filepath.IsAbs(file) {
		return file
	}
	return filepath.Join(dir, file)
}

// dataOrFile returns base64 data decoded (yaml gives it as a string), else the file's bytes.
func dataOrFile(data, file, dir string) ([]byte, error) {
	if data != "" {
		b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(data))
		if err != nil {
			return nil, errdefs.Invalid(fmt.Errorf("kubeconfig: invalid base64 data: %w", err))
		}
		return b, nil
	}
	if file == "" {
		return nil, nil
	}
	b, err := readBounded(relTo(dir, file), 1<<20)
	if err != nil {
		return nil, errdefs.Invalid(fmt.Errorf("reading a file the kubeconfig names: %w", err))
	}
	return b, nil
}

// kube is a minimal Kubernetes API client: JSON GET, merge PATCH and lists, bounded answers.
type kube struct {
	server string
	http   *http.Client
	auth   func(*http.Request)
}

func newKube(cfg *KubeConfig) (*kube, error) {
	u, err := url.Parse(cfg.Server)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, errdefs.Invalid(fmt.Errorf("invalid Kubernetes API server URL %q", redact.URL(cfg.Server)))
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: cfg.Insecure, ServerName: cfg.TLSServerName} //nolint:gosec // the kubeconfig asks for it
	if len(cfg.CAData) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(cfg.CAData) {
			return nil, errdefs.Invalid(errors.New("no PEM certificate in the Kubernetes CA data"))
		}
		tc.RootCAs = pool
	}
	if len(cfg.CertData) > 0 {
		cert, err := tls.X509KeyPair(cfg.CertData, cfg.KeyData)
		if err != nil {
			return nil, errdefs.Invalid(fmt.Errorf("loading the kubeconfig's client certificate: %w", err))
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	k := &kube{server: strings.TrimRight(u.String(), "/"), http: &http.Client{Transport: tr}, auth: func(*http.Request) {}}
	switch {
	case cfg.Token != "":
		tok := cfg.Token
		k.auth = func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
	case cfg.Username != "":
		user, pw := cfg.Username, cfg.Password
		k.auth = func(r *http.Request) { r.SetBasicAuth(user, pw) }
	}
	return k, nil
}

// KubeError is an answer of the API server other than 2xx (its Status object).
type KubeError struct {
	StatusCode int
	// Reason is the Status reason: NotFound, Forbidden, Unauthorized, …
	Reason  string
	Message string
	// Request is "METHOD /path".
	Request string
}

func (e *KubeError) Error() string {
	return fmt.Sprintf("kubernetes: %s: %d %s: %s", e.Request, e.StatusCode, http.StatusText(e.StatusCode), e.Message)
}

// Unwrap gives the answer its class, as APIError does.
func (e *KubeError) Unwrap() error {
	switch {
	case e.StatusCode == http.StatusUnauthorized || e.StatusCode == http.StatusForbidden:
		return ErrUnauthorized
	case e.StatusCode == http.StatusNotFound:
		return ErrNotFound
	case e.StatusCode >= 500:
		return errdefs.ErrUnavailable
	}
	return nil
}

// do sends one request and decodes a 2xx answer of at most maxBody bytes into out.
func (k *kube) do(ctx context.Context, method, path string, q url.Values, body []byte, contentType string, out any) error {
	u := k.server + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, r)
	if err != nil {
		return err
	}
	k.auth(req)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "tagrelay")
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := k.http.Do(req)
	if err != nil {
		return fmt.Errorf("kubernetes: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return fmt.Errorf("kubernetes: %s %s: reading the answer: %w", method, path, err)
	}
	if len(b) > maxBody {
		return fmt.Errorf("kubernetes: %s %s: answer larger than %d MiB", method, path, maxBody>>20)
	}
	if resp.StatusCode/100 != 2 {
		ke := &KubeError{StatusCode: resp.StatusCode, Request: method + " " + path}
		var st struct{ Reason, Message string }
		if json.Unmarshal(b, &st) == nil && st.Message != "" {
			ke.Reason, ke.Message = st.Reason, st.Message
		} else {
			ke.Message = strings.TrimSpace(string(b[:min(len(b), 200)]))
		}
		return ke
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("kubernetes: %s %s: decoding the answer: %w", method, path, err)
	}
	return nil
}

// resourcePath finds the resource that serves kind in group, in the versions the server
// prefers: "/apis/GROUP/VERSION/namespaces/%s/PLURAL". Flux's APIs moved between versions
// (OCIRepository, Bucket: v1beta2 → v1), so it is discovered, not assumed.
func (k *kube) resourcePath(ctx context.Context, group, kind string) (string, error) {
	var g struct {
		PreferredVersion struct{ GroupVersion string }   `json:"preferredVersion"`
		Versions         []struct{ GroupVersion string } `json:"versions"`
	}
	if err := k.do(ctx, http.MethodGet, "/apis/"+group, nil, nil, "", &g); err != nil {
		if errors.Is(err, ErrNotFound) {
			return "", errdefs.WithHint(fmt.Errorf("%w: the cluster serves no API group %s", ErrNotFound, group),
				"is Flux installed in this cluster (and is the kubeconfig the right one)?")
		}
		return "", err
	}
	gvs := []string{g.PreferredVersion.GroupVersion}
	for _, v := range g.Versions {
		gvs = append(gvs, v.GroupVersion)
	}
	for _, gv := range gvs {
		var rl struct {
			Resources []struct{ Name, Kind string } `json:"resources"`
		}
		if gv == "" || k.do(ctx, http.MethodGet, "/apis/"+gv, nil, nil, "", &rl) != nil {
			continue
		}
		for _, r := range rl.Resources {
			if r.Kind == kind && !strings.Contains(r.Name, "/") {
				return "/apis/" + gv + "/namespaces/%s/" + r.Name, nil
			}
		}
	}
	return "", errdefs.WithHint(fmt.Errorf("%w: the cluster serves no %s.%s", ErrNotFound, kind, group),
		"is the Flux controller of this kind installed?")
}
