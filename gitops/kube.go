package gitops

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

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
	// ExtraCAData is the PEM of more authorities (a --ca-file): added to CAData, or to the
	// system's when CAData is nil.
	ExtraCAData []byte
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

// kube is a minimal Kubernetes API client: JSON GET, merge PATCH and lists, bounded answers.
type kube struct {
	server string
	http   *http.Client
	auth   func(*http.Request)
	secret string // the token or password, scrubbed from the server's messages
}

func newKube(cfg *KubeConfig) (*kube, error) {
	u, err := url.Parse(cfg.Server)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, errdefs.Invalid(fmt.Errorf("invalid Kubernetes API server URL %q", redact.URL(cfg.Server)))
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: cfg.Insecure, ServerName: cfg.TLSServerName} //nolint:gosec // the kubeconfig asks for it
	if tc.RootCAs, err = rootCAs(cfg); err != nil {
		return nil, err
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
		k.auth, k.secret = func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }, tok
	case cfg.Username != "":
		user, pw := cfg.Username, cfg.Password
		k.auth = func(r *http.Request) { r.SetBasicAuth(user, pw) }
	}
	return k, nil
}

// rootCAs is the pool that verifies the API server: CAData's authorities, else the system's,
// with ExtraCAData's; nil (the system's) when neither is given.
func rootCAs(cfg *KubeConfig) (*x509.CertPool, error) {
	if len(cfg.CAData) == 0 && len(cfg.ExtraCAData) == 0 {
		return nil, nil
	}
	pool := x509.NewCertPool()
	if len(cfg.CAData) > 0 {
		if !pool.AppendCertsFromPEM(cfg.CAData) {
			return nil, errdefs.Invalid(errors.New("no PEM certificate in the Kubernetes CA data"))
		}
	} else if sys, err := x509.SystemCertPool(); err == nil {
		pool = sys
	}
	if len(cfg.ExtraCAData) > 0 && !pool.AppendCertsFromPEM(cfg.ExtraCAData) {
		return nil, errdefs.Invalid(errors.New("no PEM certificate in the extra CA file"))
	}
	return pool, nil
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

// Unwrap gives the answer its class (statusClass).
func (e *KubeError) Unwrap() error { return statusClass(e.StatusCode) }

// do sends one request and decodes a 2xx answer of at most maxBody bytes into out.
func (k *kube) do(ctx context.Context, method, path string, q url.Values, body []byte, contentType string, out any) error {
	req, err := newJSONRequest(ctx, method, k.server, path, q, body, contentType)
	if err != nil {
		return err
	}
	k.auth(req)
	resp, err := k.http.Do(req)
	if err != nil {
		return fmt.Errorf("kubernetes: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	what := "kubernetes: " + method + " " + path
	b, err := readBody(resp.Body, what)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		ke := &KubeError{StatusCode: resp.StatusCode, Request: method + " " + path}
		var st struct{ Reason, Message string }
		if json.Unmarshal(b, &st) == nil && st.Message != "" {
			ke.Reason, ke.Message = st.Reason, st.Message
		} else {
			ke.Message = strings.ToValidUTF8(strings.TrimSpace(string(b[:min(len(b), 500)])), "")
		}
		if k.secret != "" {
			ke.Message = strings.ReplaceAll(ke.Message, k.secret, "[REDACTED]")
		}
		return ke
	}
	return decodeJSON(b, what, out)
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
