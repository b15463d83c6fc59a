// Package tlsflags is the one TLS flag group of every tagrelay command that talks to a server
// (--ca-file, --insecure) and what each client needs from it: the PEM bundle (the registry client,
// go-git), an *http.Client (the forges, the reconciler) or a file (the git CLI of mirror).
//
// The extra certificate authorities come from --ca-file, else from GitLab's CA_BUNDLE (a file
// variable, or a variable holding the PEM itself); they are trusted on top of the system's.
// SSL_CERT_FILE and SSL_CERT_DIR replace the system's, as in every Go program: crypto/x509 reads
// them itself.
package tlsflags

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/tagrelay/tagrelay/internal/clirun"
)

// Options are the values of the TLS flags. Their zero value is ready for Flags.
type Options struct {
	caFile string
	// Insecure is --insecure: skip TLS verification (and, for registries and CI tokens, allow
	// plain HTTP).
	Insecure bool

	resolved bool
	pem      []byte
	file     string // the file pem came from; "" when CA_BUNDLE held the PEM itself
}

// Flags returns the TLS flags bound to o. Each call returns new flags.
func Flags(o *Options) []cli.Flag {
	const cat = "TLS"
	return []cli.Flag{
		&cli.StringFlag{Name: "ca-file", Usage: "PEM `FILE` of extra certificate authorities to trust for every server, on top of the system's (default: CA_BUNDLE, a file or the PEM itself; SSL_CERT_FILE and SSL_CERT_DIR replace the system's)", EnvVars: []string{"TAGRELAY_CA_FILE"}, Destination: &o.caFile, TakesFile: true, Category: cat},
		&cli.BoolFlag{Name: "insecure", Usage: "skip TLS verification (registries: also allow plain HTTP; CI job tokens: allow plain HTTP); logged as a warning on every use", EnvVars: []string{"TAGRELAY_INSECURE"}, Destination: &o.Insecure, Category: cat},
	}
}

// UntrustedHint is the next step for a certificate signed by an authority nobody trusts, from
// server (the registry, the reconciler...), for the commands that have these flags.
func UntrustedHint(server string) string {
	return "pass the " + server + "'s CA certificate with --ca-file (or CA_BUNDLE); --insecure skips verification"
}

// Bundle returns the PEM of the extra certificate authorities, nil without any. It is read once.
func (o *Options) Bundle(env *clirun.Env) ([]byte, error) {
	if o.resolved {
		return o.pem, nil
	}
	v := strings.TrimSpace(env.Getenv("CA_BUNDLE"))
	what := "CA file"
	switch {
	case o.caFile != "":
		o.file = o.caFile
	case v == "":
	case strings.Contains(v, "-----BEGIN"):
		o.pem = []byte(v + "\n")
	default:
		o.file, what = v, "CA_BUNDLE"
	}
	if o.file != "" {
		b, err := os.ReadFile(o.file)
		if err != nil {
			return nil, clirun.Usagef("check --ca-file (or CA_BUNDLE)", "reading %s: %v", what, err)
		}
		o.pem = b
	}
	if o.pem != nil && !x509.NewCertPool().AppendCertsFromPEM(o.pem) {
		return nil, clirun.Usagef("pass the CA certificate in PEM form", "no PEM certificate in %s", o.source())
	}
	o.resolved = true
	return o.pem, nil
}

func (o *Options) source() string {
	if o.file != "" {
		return "CA file " + o.file
	}
	return "CA_BUNDLE"
}

// Config returns the client TLS configuration: the system's roots and the bundle, no
// verification with --insecure.
func (o *Options) Config(env *clirun.Env) (*tls.Config, error) {
	pem, err := o.Bundle(env)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: o.Insecure} //nolint:gosec // --insecure, warned on every use
	if pem != nil {
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		pool.AppendCertsFromPEM(pem)
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// HTTPClient returns a client over a clone of the default transport with Config, bounded by
// timeout (0: none). With --insecure it warns that server (a URL or a name) is not verified.
func (o *Options) HTTPClient(env *clirun.Env, log *slog.Logger, server string, timeout time.Duration) (*http.Client, error) {
	cfg, err := o.Config(env)
	if err != nil {
		return nil, err
	}
	if o.Insecure {
		log.Warn("TLS verification disabled (--insecure)", "server", server)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = cfg
	return &http.Client{Transport: tr, Timeout: timeout}, nil
}

// File returns the path of a file holding the bundle, for the git CLI, which reads
// certificates from a file only (GIT_SSL_CAINFO): --ca-file or CA_BUNDLE's file as they are, a
// CA_BUNDLE holding the PEM itself written to a new private temporary file that done removes,
// else SSL_CERT_FILE (git does not read it itself), else "".
func (o *Options) File(env *clirun.Env) (path string, done func(), err error) {
	pem, err := o.Bundle(env)
	if err != nil {
		return "", nil, err
	}
	switch {
	case o.file != "":
		return o.file, func() {}, nil
	case pem == nil:
		return env.Getenv("SSL_CERT_FILE"), func() {}, nil
	}
	f, err := os.CreateTemp("", "tagrelay-ca-*.pem") // 0600, a name nobody can predict
	if err != nil {
		return "", nil, fmt.Errorf("writing CA_BUNDLE to a file: %w", err)
	}
	done = func() { os.Remove(f.Name()) }
	_, werr := f.Write(pem)
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		done()
		return "", nil, fmt.Errorf("writing CA_BUNDLE to a file: %w", werr)
	}
	return f.Name(), done, nil
}
