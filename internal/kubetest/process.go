package kubetest

import (
	"context"
	"crypto/tls"
	"net/http"
	"path/filepath"

	"github.com/tagrelay/tagrelay/internal/peertest"
)

// start runs bin/name with args, its output in logs/<name>.log (internal/peertest runs and
// reaps it, as it does the peers' processes).
func (c *Cluster) start(bin, name string, args ...string) (*peertest.Process, error) {
	return c.procs.Start(name, nil, filepath.Join(bin, name), args...)
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
	return peertest.ScriptBinDir(ctx, dir, "TAGRELAY_TESTCLUSTER_BIN", "testcluster.sh", nil,
		"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
}
