package mirror

import (
	"bytes"
	"fmt"
	"os"
	"strings"
)

// systemBundles are where Linux distributions keep the system's CA bundle, in the order Go's
// crypto/x509 looks for them (root_linux.go).
var systemBundles = []string{
	"/etc/ssl/certs/ca-certificates.crt",                // Debian, Ubuntu, Gentoo
	"/etc/pki/tls/certs/ca-bundle.crt",                  // Fedora, RHEL 6
	"/etc/ssl/ca-bundle.pem",                            // openSUSE
	"/etc/pki/tls/cacert.pem",                           // OpenELEC
	"/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", // CentOS, RHEL 7
	"/etc/ssl/cert.pem",                                 // Alpine
}

// gitCAFile writes the system's CA bundle followed by extra to a new private file and returns
// its path for GIT_SSL_CAINFO; done removes it. git trusts only the file GIT_SSL_CAINFO names,
// so pointing it at the extra CAs alone would make a source on a public CA (github.com) fail
// verification as soon as the destination needs a private one; tagrelay's own HTTP clients
// add the extra CAs to the system pool, and git must trust the same set. The system bundle is
// SSL_CERT_FILE of env when set, else the first of systemBundles that exists; none is fine (a
// minimal image trusts the extra CAs only, as before).
func gitCAFile(env []string, extra []byte) (path string, done func(), err error) {
	var system []byte
	candidates := systemBundles
	if f := lookupEnv(env, "SSL_CERT_FILE"); f != "" {
		candidates = []string{f}
	}
	for _, f := range candidates {
		if b, err := os.ReadFile(f); err == nil {
			system = b
			break
		}
	}
	f, err := os.CreateTemp("", "tagrelay-git-ca-*.pem") // 0600, a name nobody can predict
	if err != nil {
		return "", nil, fmt.Errorf("writing the CA bundle for git: %w", err)
	}
	done = func() { os.Remove(f.Name()) }
	var b bytes.Buffer
	b.Write(system)
	if len(system) > 0 && system[len(system)-1] != '\n' {
		b.WriteByte('\n')
	}
	b.Write(extra)
	_, werr := f.Write(b.Bytes())
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		done()
		return "", nil, fmt.Errorf("writing the CA bundle for git: %w", werr)
	}
	return f.Name(), done, nil
}

// lookupEnv returns the last value of key in env ("" when unset), as exec does.
func lookupEnv(env []string, key string) string {
	v := ""
	for _, kv := range env {
		if k, val, ok := strings.Cut(kv, "="); ok && k == key {
			v = val
		}
	}
	return v
}
