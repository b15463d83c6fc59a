package gitops

import (
	"crypto/x509"
	"encoding/pem"
	"net/http/httptest"
	"testing"
)

// TestRootCAs: a --ca-file adds to the kubeconfig's authorities, or to the system's when the
// kubeconfig has none (it used to replace the system's then: an API server with a publicly
// signed certificate stopped verifying); neither given leaves the system's (nil).
func TestRootCAs(t *testing.T) {
	srv := httptest.NewTLSServer(nil)
	defer srv.Close()
	extra := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	sys, err := x509.SystemCertPool()
	if err != nil {
		t.Skipf("no system pool here: %v", err)
	}
	sysAndExtra := sys.Clone()
	sysAndExtra.AppendCertsFromPEM(extra)
	onlyExtra := x509.NewCertPool()
	onlyExtra.AppendCertsFromPEM(extra)

	if pool, err := rootCAs(&KubeConfig{}); pool != nil || err != nil {
		t.Errorf("nothing given: %v %v, want nil (the system's)", pool, err)
	}
	if pool, err := rootCAs(&KubeConfig{ExtraCAData: extra}); err != nil || !pool.Equal(sysAndExtra) {
		t.Errorf("--ca-file without a kubeconfig CA: want the system's authorities and the file's (%v)", err)
	}
	if pool, err := rootCAs(&KubeConfig{CAData: extra}); err != nil || !pool.Equal(onlyExtra) || pool.Equal(sysAndExtra) {
		t.Errorf("a kubeconfig CA: want it alone, as kubectl does (%v)", err)
	}
	if _, err := rootCAs(&KubeConfig{ExtraCAData: []byte("not pem")}); err == nil {
		t.Error("a CA file without a certificate was accepted")
	}
}
