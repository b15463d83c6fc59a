package reconcile_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/tagrelay/tagrelay/internal/regtest"
	"github.com/tagrelay/tagrelay/reconcile"
	"github.com/tagrelay/tagrelay/reconcile/api"
)

// offlineServer is a server whose cluster is never reached: enough for what does not sync.
func offlineServer(t *testing.T, opts reconcile.ServerOptions) *reconcile.Server {
	t.Helper()
	r, err := reconcile.New(&rest.Config{Host: "http://127.0.0.1:1"}, reconcile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	opts.Token = apiToken
	app := reconcile.App{Name: "web", Repo: "https://git.example/infra.git", Namespace: "web"}
	s, err := reconcile.NewServer(r, &reconcile.Config{Apps: []reconcile.App{app}}, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// listen serves hs on a free port until the test ends and returns the address.
func listen(t *testing.T, hs *http.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		if hs.TLSConfig != nil {
			_ = hs.ServeTLS(ln, "", "")
		} else {
			_ = hs.Serve(ln)
		}
	}()
	t.Cleanup(func() { _ = hs.Close() })
	return ln.Addr().String()
}

// TestSlowClientCutOff: a client sending its headers a byte at a time is disconnected once
// ReadHeaderTimeout passes, without an answer.
func TestSlowClientCutOff(t *testing.T) {
	t.Parallel()
	s := offlineServer(t, reconcile.ServerOptions{HTTP: reconcile.HTTPOptions{ReadHeaderTimeout: 300 * time.Millisecond}})
	hs, err := s.HTTPServer(s.Handler())
	if err != nil {
		t.Fatal(err)
	}
	addr := listen(t, hs)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Without the timeout, this request would be answered 200 once its last byte arrived.
	request := "GET /api/v1/server HTTP/1.1\r\nHost: x\r\nX-Slow: " + strings.Repeat("a", 100) + "\r\n\r\n"
	for i := 0; i < len(request); i++ {
		if _, err := conn.Write([]byte{request[i]}); err != nil {
			break // closed by the server
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if b, _ := io.ReadAll(conn); strings.HasPrefix(string(b), "HTTP/1.1 200") {
		t.Fatalf("slow client answered:\n%s\nwant the connection closed without an answer", b)
	}
	// A client that sends at once is served.
	if _, err := (&api.Client{URL: "http://" + addr, Token: apiToken}).Server(context.Background()); err != nil {
		t.Fatalf("GET %s = %v", api.ServerPath, err)
	}
}

// TestTLSReload: the api client trusting the CA works against the server's certificate; a
// certificate renewed on disk is served without a restart; a client without the CA is refused.
func TestTLSReload(t *testing.T) {
	t.Parallel()
	certs, err := regtest.NewCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s := offlineServer(t, reconcile.ServerOptions{HTTP: reconcile.HTTPOptions{TLSCertFile: certs.ServerCertFile, TLSKeyFile: certs.ServerKeyFile}})
	hs, err := s.HTTPServer(s.Handler())
	if err != nil {
		t.Fatal(err)
	}
	url := "https://" + listen(t, hs)
	pem, _ := os.ReadFile(certs.CertFile)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	served := func() (*api.ServerStatus, string) {
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, DisableKeepAlives: true}
		var serial string
		tr.TLSClientConfig.VerifyConnection = func(cs tls.ConnectionState) error {
			serial = cs.PeerCertificates[0].SerialNumber.String()
			return nil
		}
		st, err := (&api.Client{URL: url, Token: apiToken, HTTP: &http.Client{Transport: tr}}).Server(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return st, serial
	}
	if st, serial := served(); st.Identity != s.Identity() || serial != certs.Serial.String() {
		t.Fatalf("over TLS: %+v, serial %s; want %s", st, serial, certs.Serial)
	}
	if err := certs.Rotate(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the renewed certificate", func() bool { _, serial := served(); return serial == certs.Serial.String() })
	_, err = (&api.Client{URL: url}).Server(context.Background())
	if verr := new(tls.CertificateVerificationError); !errors.As(err, &verr) {
		t.Errorf("a client without the CA = %v, want a certificate verification error", err)
	}
}

// TestLongWaitNotCut: a sync answer that comes long after the server's read and write
// timeouts (a rollout that takes seconds, timeouts of 1 s) still reaches the client.
func TestLongWaitNotCut(t *testing.T) {
	f := newFixture(t)
	app := f.app("web", "")
	slow := strings.Replace(deploymentYAML("web", "example.com/web:v1"), "progressDeadlineSeconds: 3", "progressDeadlineSeconds: 60\n  minReadySeconds: 3", 1)
	f.commit(map[string]string{"d.yaml": slow})
	s, err := reconcile.NewServer(f.r, &reconcile.Config{Apps: []reconcile.App{app}}, reconcile.ServerOptions{Token: apiToken, Interval: -1,
		HTTP: reconcile.HTTPOptions{ReadTimeout: time.Second, WriteTimeout: time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	runServer(t, s)
	hs, err := s.HTTPServer(s.Handler())
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + listen(t, hs)
	waitFor(t, "the server to be ready", func() bool { return s.Status().Ready })
	start := time.Now()
	res, err := (&api.Client{URL: url, Token: apiToken}).Sync(context.Background(), "web", api.SyncRequest{Wait: true})
	if err != nil || res.Status != api.StatusSucceeded {
		t.Fatalf("sync with wait = %+v, %v; want Succeeded", res, err)
	}
	if took := time.Since(start); took < 2*time.Second {
		t.Fatalf("the rollout took %s: too short to prove anything (want > the 1 s timeouts)", took)
	}
}
