package tlsflags

import (
	"bytes"
	"encoding/pem"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tagrelay/tagrelay/internal/clirun"
	"github.com/tagrelay/tagrelay/internal/errdefs"
)

func env(vars map[string]string) *clirun.Env {
	return clirun.NewEnv(strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{}, vars)
}

// tlsServer is an HTTPS server with a certificate of its own, and the PEM that trusts it.
func tlsServer(t *testing.T) (*httptest.Server, string) {
	t.Helper()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok")) }))
	t.Cleanup(srv.Close)
	return srv, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
}

// TestBundle: --ca-file, else GitLab's CA_BUNDLE as a file variable (a path) or as a plain
// variable (the PEM itself); read once.
func TestBundle(t *testing.T) {
	t.Parallel()
	_, ca := tlsServer(t)
	file := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(file, []byte(ca), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		caFile   string
		vars     map[string]string
		want     string
		wantFile string
	}{
		{"nothing", "", nil, "", ""},
		{"--ca-file wins over CA_BUNDLE", file, map[string]string{"CA_BUNDLE": "/nonexistent.pem"}, ca, file},
		{"CA_BUNDLE file variable", "", map[string]string{"CA_BUNDLE": file}, ca, file},
		{"CA_BUNDLE holding the PEM", "", map[string]string{"CA_BUNDLE": "  " + ca}, ca, ""},
		{"SSL_CERT_FILE for the git CLI only", "", map[string]string{"SSL_CERT_FILE": "/etc/ssl/x.pem"}, "", "/etc/ssl/x.pem"},
	} {
		o := &Options{caFile: tc.caFile}
		e := env(tc.vars)
		got, err := o.Bundle(e)
		if err != nil || string(got) != tc.want {
			t.Errorf("%s: Bundle() = %q, %v; want %q", tc.name, got, err, tc.want)
			continue
		}
		path, done, err := o.File(e)
		if err != nil {
			t.Fatalf("%s: File() = %v", tc.name, err)
		}
		switch {
		case tc.wantFile != "" && path != tc.wantFile:
			t.Errorf("%s: File() = %q, want %q", tc.name, path, tc.wantFile)
		case tc.wantFile == "" && tc.want != "":
			// The PEM of a variable goes to a fresh private file, removed when done.
			st, err := os.Stat(path)
			if err != nil || st.Mode().Perm() != 0o600 || filepath.Base(path) == "tagrelay-ca.pem" {
				t.Errorf("%s: File() = %s (%v, %v), want a new 0600 file", tc.name, path, st, err)
			}
			if b, _ := os.ReadFile(path); string(b) != tc.want {
				t.Errorf("%s: file holds %q", tc.name, b)
			}
			other, done2, _ := (&Options{}).File(e)
			if other == path {
				t.Errorf("%s: two runs share the temporary file %s", tc.name, path)
			}
			done2()
		}
		done()
		if tc.wantFile == "" && tc.want != "" {
			if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s: %s left behind: %v", tc.name, path, err)
			}
		}
		if again, _ := o.Bundle(env(nil)); string(again) != tc.want {
			t.Errorf("%s: a second Bundle() = %q, want the first answer", tc.name, again)
		}
	}
}

func TestBundleBadInput(t *testing.T) {
	t.Parallel()
	junk := filepath.Join(t.TempDir(), "junk.pem")
	if err := os.WriteFile(junk, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		caFile string
		vars   map[string]string
		want   string
	}{
		{"missing CA_BUNDLE file", "", map[string]string{"CA_BUNDLE": "/nonexistent/ca.pem"}, "reading CA_BUNDLE"},
		{"missing --ca-file", "/nonexistent/ca.pem", nil, "reading CA file"},
		{"no certificate", junk, nil, "no PEM certificate in CA file " + junk},
		{"broken PEM in CA_BUNDLE", "", map[string]string{"CA_BUNDLE": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"}, "no PEM certificate in CA_BUNDLE"},
	} {
		_, err := (&Options{caFile: tc.caFile}).Bundle(env(tc.vars))
		if !errors.Is(err, errdefs.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Bundle() = %v, want an input error containing %q", tc.name, err, tc.want)
		}
	}
}

// TestHTTPClient: the client trusts the bundle on top of the system's roots; without it the
// server's certificate is refused; --insecure skips verification and says so.
func TestHTTPClient(t *testing.T) {
	t.Parallel()
	srv, ca := tlsServer(t)
	log := slog.New(slog.DiscardHandler)
	for _, tc := range []struct {
		name string
		o    Options
		vars map[string]string
		ok   bool
	}{
		{"no CA", Options{}, nil, false},
		{"CA_BUNDLE", Options{}, map[string]string{"CA_BUNDLE": ca}, true},
		{"insecure", Options{Insecure: true}, nil, true},
	} {
		c, err := tc.o.HTTPClient(env(tc.vars), log, srv.URL, 0)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := c.Get(srv.URL)
		if err == nil {
			resp.Body.Close()
		}
		if (err == nil) != tc.ok {
			t.Errorf("%s: GET = %v, want success %v", tc.name, err, tc.ok)
		}
	}
}
