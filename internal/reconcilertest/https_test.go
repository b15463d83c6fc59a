package reconcilertest_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tagrelay/tagrelay/internal/errdefs"
	"github.com/tagrelay/tagrelay/internal/reconcilertest"
	"github.com/tagrelay/tagrelay/reconcile/api"
)

// TestHTTPSForwarding: two replicas serve HTTPS with certificates for 127.0.0.1 from one CA,
// trust it for each other (--peer-ca-file) and advertise https://127.0.0.1:PORT in their
// shards' Leases. A trigger sent to the replica that does not hold the app's shard runs on the
// holder, both ways. A replica whose certificate another CA signed is refused: the trigger
// forwarded to it answers 502 naming it and the certificate problem, and nothing runs. A
// --peer-ca-file that is missing or holds no certificate stops serve (exit 2, one line naming
// the flag) before it touches the cluster. No log or error carries the token.
func TestHTTPSForwarding(t *testing.T) {
	f := newFixture(t)
	apps := f.shardApps(12)
	ca := newTestCA(t, filepath.Join(f.dir, "ca"))
	ctx := context.Background()

	t.Run("bad peer CA file", func(t *testing.T) {
		cert, key := ca.issue(t, "refused")
		for _, tc := range []struct{ name, file, want string }{
			{"missing", filepath.Join(f.dir, "absent.pem"), "no such file"},
			{"no PEM", f.write("not-pem.pem", "not a certificate\n"), "no certificate in"},
			{"a key, no certificate", key, "no certificate in"},
		} {
			code, stderr := f.serveOnce(t, "--tls-cert", cert, "--tls-key", key, "--peer-ca-file", tc.file)
			if code != 2 || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "--peer-ca-file") || !strings.Contains(stderr, tc.want) {
				t.Errorf("%s: serve --peer-ca-file %s = exit %d, %q; want exit 2, one line naming --peer-ca-file and %q", tc.name, tc.file, code, stderr, tc.want)
			}
			t.Logf("%s: exit %d: %s", tc.name, code, strings.TrimSpace(stderr))
		}
		leases, err := f.cs.CoordinationV1().Leases(f.sys).List(ctx, metav1.ListOptions{})
		if err != nil || len(leases.Items) != 0 {
			t.Errorf("Leases after refused starts = %d (%v), want none", len(leases.Items), err)
		}
	})

	sessionKey := f.write("session-key", "one-console-session-key-for-the-replicas")
	// replica runs one with a certificate for 127.0.0.1 that issuer signed, trusting ca for the
	// others.
	replica := func(name string, issuer *testCA) *reconcilertest.Server {
		cert, key := issuer.issue(t, name)
		return f.startHTTPS(name, reconcilertest.Options{TLSCert: cert, TLSKey: key, CAFile: issuer.file,
			Args: []string{"--peer-ca-file", ca.file, "--session-key-file", sessionKey}})
	}
	a := replica("a", ca)
	b := replica("b", ca)
	shardOf := waitSplit(t, a, b) // replica → the shard it holds

	// Through a, each app until both replicas ran one: b's run on b, forwarded over HTTPS.
	ran := map[string][]string{} // replica → apps of its shard
	for _, app := range apps {
		res, err := a.Client().Sync(ctx, app, api.SyncRequest{Wait: true})
		if err != nil || res.Status != api.StatusSucceeded {
			t.Fatalf("trigger of %s through a = %+v, %v", app, res, err)
		}
		ran[res.Replica] = append(ran[res.Replica], app)
		if res.Replica == b.Identity {
			f.checkRanOn(b, app, res.ID)
		}
		if len(ran[a.Identity]) > 0 && len(ran[b.Identity]) > 0 {
			break
		}
	}
	if len(ran[a.Identity]) == 0 || len(ran[b.Identity]) == 0 || len(ran) != 2 {
		t.Fatalf("apps by the replica that ran them = %v; want some on each of %s and %s", ran, a.Identity, b.Identity)
	}
	// The other way: an app of a's shard triggered through b.
	app := ran[a.Identity][0]
	v2 := f.commitShardApp(app, "v2")
	res, err := b.Client().Sync(ctx, app, api.SyncRequest{Wait: true})
	if err != nil || res.Status != api.StatusSucceeded || res.Replica != a.Identity || res.Revision != v2 {
		t.Fatalf("trigger of %s through b = %+v, %v; want Succeeded at %s on a (%s)", app, res, err, v2, a.Identity)
	}
	f.checkRanOn(a, app, res.ID)

	// b leaves; c, whose certificate another CA signed, takes its shard.
	appsOf := map[int][]string{shardOf[a.Identity]: ran[a.Identity], shardOf[b.Identity]: ran[b.Identity]}
	if err := b.Stop(); err != nil {
		t.Fatal(err)
	}
	foreign := newTestCA(t, filepath.Join(f.dir, "foreign-ca"))
	c := replica("c", foreign)
	shardOf = waitSplit(t, a, c)
	app = appsOf[shardOf[c.Identity]][0]
	before, _ := f.appState(app)
	v3 := f.commitShardApp(app, "v3")
	res, err = a.Client().Sync(ctx, app, api.SyncRequest{Wait: true})
	var ae *api.AnswerError
	if !errors.As(err, &ae) || ae.StatusCode != http.StatusBadGateway || !strings.Contains(ae.Message, c.Identity) || !strings.Contains(ae.Message, "certificate signed by unknown authority") {
		t.Fatalf("trigger of %s (on c) through a = %+v, %v; want 502 naming %s and the unknown authority", app, res, err, c.Identity)
	}
	if hint := errdefs.Hint(err); !strings.Contains(hint, "nothing was sent") || !strings.Contains(hint, "--peer-ca-file") {
		t.Errorf("hint = %q; want it to say nothing was sent and name --peer-ca-file", hint)
	}
	t.Logf("refused: %v; %s", err, errdefs.Hint(err))
	if after, v := f.appState(app); len(after) != len(before) || len(after) == 0 || after[0].ID != before[0].ID || v == "v3" {
		t.Errorf("%s after the refused trigger of %s: history %+v, ConfigMap at %s; want nothing run (history %+v)", app, v3, after, v, before)
	}
	for _, r := range []*reconcilertest.Server{a, c} {
		if n := syncLogs(r, app); n != 0 {
			t.Errorf("%s logged %d syncs of %s, want none", r.Identity, n, app)
		}
	}
	if logs := a.Logs(); !strings.Contains(logs, "refusing the certificate of the holder") || !strings.Contains(logs, c.Identity) {
		t.Errorf("a's log should say it refused c's certificate:\n%s", logs)
	}
	// the console's pages of that app, through a, say the same, not "reload the page"
	cl := consoleLoginVia(t, a.URL, apiToken, a.Client().HTTP.Transport)
	resp, gerr := cl.Get(a.URL + "/apps/" + app)
	if gerr != nil {
		t.Fatal(gerr)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(string(page), c.Identity) ||
		!strings.Contains(string(page), "unknown authority") || !strings.Contains(string(page), "--peer-ca-file") {
		t.Errorf("console page of %s (on c) through a = %d %q; want 502 naming %s, the unknown authority and --peer-ca-file", app, resp.StatusCode, page, c.Identity)
	}

	for _, r := range []*reconcilertest.Server{a, b, c} {
		if logs := r.Logs(); strings.Contains(logs, apiToken) || strings.Contains(logs, gitToken) {
			t.Errorf("%s's log holds a token:\n%s", r.Identity, logs)
		}
	}
	if strings.Contains(err.Error()+errdefs.Hint(err), apiToken) {
		t.Errorf("the refusal holds the token: %v", err)
	}
}

// TestHTTPSForwardingSharedCertificate: the replicas of a Deployment share one certificate,
// issued for the Service's DNS name (no pod IP in it), and pass no --peer-ca-file: a replica
// trusts its own --tls-cert chain and checks the holder, reached at the IP of its Lease's URL,
// for the first DNS name of that certificate. A trigger through the replica that does not hold
// the app's shard runs on the holder.
func TestHTTPSForwardingSharedCertificate(t *testing.T) {
	f := newFixture(t)
	apps := f.shardApps(12)
	ca := newTestCA(t, filepath.Join(f.dir, "ca"))
	const service = "tagrelay-reconciler.tagrelay-system.svc"
	cert, key := ca.issue(t, "service", service)
	o := reconcilertest.Options{TLSCert: cert, TLSKey: key, CAFile: ca.file, ServerName: service}
	a := f.startHTTPS("a", o)
	b := f.startHTTPS("b", o)
	waitSplit(t, a, b)
	for _, app := range apps {
		res, err := a.Client().Sync(context.Background(), app, api.SyncRequest{Wait: true})
		if err != nil || res.Status != api.StatusSucceeded || res.Replica != a.Identity && res.Replica != b.Identity {
			t.Fatalf("trigger of %s through a = %+v, %v; want Succeeded on a or b", app, res, err)
		}
		if res.Replica == b.Identity {
			f.checkRanOn(b, app, res.ID)
			return
		}
	}
	t.Fatalf("none of the %d apps ran on b: want some on each replica's shard", len(apps))
}

// steadyLease is for tests that wait for no expiry (replicas leave with SIGTERM, which releases
// their Leases, and join, which a rebalance answers within RetryPeriod): long enough that a
// loaded machine does not take a shard from its holder mid-sync.
var steadyLease = &reconcilertest.Lease{Duration: 15 * time.Second, RenewDeadline: 10 * time.Second, RetryPeriod: 500 * time.Millisecond}

// startHTTPS runs a replica serving HTTPS (o's TLSCert, TLSKey) with two shards on a port
// chosen here, advertising https://127.0.0.1:PORT, with steadyLease.
func (f *fixture) startHTTPS(name string, o reconcilertest.Options) *reconcilertest.Server {
	f.t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	o.LeaderElection, o.Listen = steadyLease, addr
	o.Args = append(o.Args, "--shards", "2", "--advertise-url", "https://"+addr)
	s := f.start(name, o)
	if s.URL != "https://"+addr {
		f.t.Fatalf("replica %s serves at %s, want https://%s", name, s.URL, addr)
	}
	return s
}

// waitSplit waits until r1 and r2 hold one shard each, as both see it, each shard's Lease
// advertising its holder's https URL; it returns each replica's shard.
func waitSplit(t *testing.T, r1, r2 *reconcilertest.Server) map[string]int {
	t.Helper()
	urls := map[string]string{r1.Identity: r1.URL, r2.Identity: r2.URL}
	var shardOf map[string]int
	waitFor(t, "the 2 shards split between "+r1.Identity+" and "+r2.Identity, func() bool {
		for _, r := range []*reconcilertest.Server{r1, r2} {
			_, shards := holders(r)
			shardOf = map[string]int{}
			for _, sh := range shards {
				if url, ok := urls[sh.Holder]; !ok || sh.URL != url {
					return false // free, or held by a replica gone
				}
				shardOf[sh.Holder] = sh.Shard
			}
			if len(shards) != 2 || len(shardOf) != 2 {
				return false
			}
		}
		return true
	})
	return shardOf
}

// checkRanOn checks that the sync id of app is the last one of the replica holding it and the
// first entry of the app's history, recorded by that replica.
func (f *fixture) checkRanOn(holder *reconcilertest.Server, app, id string) {
	f.t.Helper()
	st, err := holder.Client().Status(context.Background(), app)
	if err != nil || st.LastSync == nil || st.LastSync.ID != id {
		f.t.Errorf("status of %s on its holder %s = %+v, %v; want last sync %s", app, holder.Identity, st, err, id)
	}
	if hist, _ := f.appState(app); len(hist) == 0 || hist[0].ID != id || hist[0].Replica != holder.Identity {
		f.t.Errorf("history of %s = %+v; want %s first, by %s", app, hist, id, holder.Identity)
	}
}

// appState reads a shard app's history (newest first) and the value its ConfigMap holds.
func (f *fixture) appState(app string) ([]api.SyncResult, string) {
	f.t.Helper()
	ctx := context.Background()
	var hist []api.SyncResult
	if cm, err := f.cs.CoreV1().ConfigMaps(f.sys).Get(ctx, "tagrelay-history-"+app, metav1.GetOptions{}); err == nil {
		_ = json.Unmarshal([]byte(cm.Data["history.json"]), &hist)
	}
	cm, err := f.cs.CoreV1().ConfigMaps(f.ns).Get(ctx, app, metav1.GetOptions{})
	if err != nil {
		f.t.Fatalf("ConfigMap %s: %v", app, err)
	}
	return hist, cm.Data["v"]
}

// syncLogs counts the "sync" records of app in r's log.
func syncLogs(r *reconcilertest.Server, app string) int {
	n := 0
	for _, line := range strings.Split(r.Logs(), "\n") {
		var rec struct{ Msg, App string }
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "sync" && rec.App == app {
			n++
		}
	}
	return n
}

// serveOnce runs serve with the fixture's config and more args, to a refusal: its exit code and
// stderr. A serve that starts is killed after a minute (and the test fails).
func (f *fixture) serveOnce(t *testing.T, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	token := filepath.Join(dir, "api-token")
	if err := os.WriteFile(token, []byte(apiToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, binary, append([]string{"serve", "--config", f.config, "--kubeconfig", f.kubeconfig,
		"--namespace", f.sys, "--token-file", token, "--cache-dir", filepath.Join(dir, "cache"), "--listen", "127.0.0.1:0",
		"--interval", "-1s", "--leader-elect", "true", "--shards", "2"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("serve %v = %v, want a refusal; stderr:\n%s", args, err, stderr.String())
	}
	return exit.ExitCode(), stderr.String()
}

// testCA is a certificate authority made for one test.
type testCA struct {
	dir  string
	file string // its certificate, PEM: what --peer-ca-file names
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newTestCA(t *testing.T, dir string) *testCA {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tagrelay test CA " + filepath.Base(dir)},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca := &testCA{dir: dir, file: filepath.Join(dir, "ca.pem"), key: key}
	if ca.cert, err = x509.ParseCertificate(der); err != nil {
		t.Fatal(err)
	}
	writePEM(t, ca.file, "CERTIFICATE", der)
	return ca
}

// issue writes a server certificate and its key; it returns both files. Without dnsNames the
// certificate is for the IP 127.0.0.1 alone (a replica then checks a peer's certificate against
// the address in its Lease); with them, for those names alone.
func (ca *testCA) issue(t *testing.T, name string, dnsNames ...string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: dnsNames}
	if len(dnsNames) == 0 {
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(ca.dir, name+".pem"), filepath.Join(ca.dir, name+"-key.pem")
	writePEM(t, certFile, "CERTIFICATE", der)
	writePEM(t, keyFile, "EC PRIVATE KEY", keyDER)
	return certFile, keyFile
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
