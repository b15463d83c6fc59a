package reconcilertest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Certs is a test CA and a serving certificate it signed for 127.0.0.1 and localhost, as PEM
// files: serve's --tls-cert/--tls-key, a client's --ca-file.
type Certs struct {
	CAFile, CertFile, KeyFile string
	// Serial is the serial number of the certificate in CertFile.
	Serial *big.Int

	ca    *x509.Certificate
	caKey *ecdsa.PrivateKey
}

// NewCerts writes a CA and a serving certificate into dir.
func NewCerts(dir string) (*Certs, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tagrelay test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	c := &Certs{CAFile: filepath.Join(dir, "ca.pem"), CertFile: filepath.Join(dir, "tls.crt"), KeyFile: filepath.Join(dir, "tls.key"),
		ca: ca, caKey: key}
	if err := writePEM(c.CAFile, "CERTIFICATE", der); err != nil {
		return nil, err
	}
	return c, c.Rotate()
}

// Rotate replaces the serving certificate and key on disk by new ones (a new serial), the way a
// certificate manager renews them: written aside, then renamed over the old files.
func (c *Certs) Rotate() error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: "tagrelay-reconciler"},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.ca, &key.PublicKey, c.caKey)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := writePEM(c.KeyFile+".new", "EC PRIVATE KEY", keyDER); err != nil {
		return err
	}
	if err := writePEM(c.CertFile+".new", "CERTIFICATE", der); err != nil {
		return err
	}
	if err := os.Rename(c.KeyFile+".new", c.KeyFile); err != nil {
		return err
	}
	c.Serial = serial
	return os.Rename(c.CertFile+".new", c.CertFile)
}

func writePEM(path, typ string, der []byte) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600)
}
