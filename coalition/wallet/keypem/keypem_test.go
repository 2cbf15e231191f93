package keypem_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/coalition-loyalty/coalition/coalition/wallet/keypem"
)

func TestPrivateKeyReadsEachEncodingVaultMayHold(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(ec)
	sec1, _ := x509.MarshalECPrivateKey(ec)
	for _, tc := range []struct {
		name  string
		block pem.Block
		want  interface{ Equal(crypto.PrivateKey) bool }
	}{
		{"PKCS #8 (.p8, service-account JSON)", pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}, ec},
		{"SEC 1", pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1}, ec},
		{"PKCS #1", pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)}, rsaKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// A certificate first, as in a combined bundle.
			data := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: selfSigned(t, ec)}), pem.EncodeToMemory(&tc.block)...)
			got, err := keypem.PrivateKey(data)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.want.Equal(got) {
				t.Fatal("parsed a different key")
			}
		})
	}
}

func TestPrivateKeyRefusesEncryptedKeysAndNoKey(t *testing.T) {
	enc := pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{1, 2, 3}})
	if _, err := keypem.PrivateKey(enc); err == nil || !strings.Contains(err.Error(), "encrypted") {
		t.Fatalf("err = %v", err)
	}
	if _, err := keypem.PrivateKey([]byte("not PEM")); err == nil {
		t.Fatal("accepted data without a key")
	}
}

func TestCertificatesReturnsTheChainInOrder(t *testing.T) {
	a, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	b, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	derA, derB := selfSigned(t, a), selfSigned(t, b)
	var buf bytes.Buffer
	pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: derA})
	pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: derB})
	certs, err := keypem.Certificates(buf.Bytes())
	if err != nil || len(certs) != 2 || !bytes.Equal(certs[0].Raw, derA) || !bytes.Equal(certs[1].Raw, derB) {
		t.Fatalf("certs = %d, %v", len(certs), err)
	}
	first, err := keypem.Certificate(buf.Bytes())
	if err != nil || !bytes.Equal(first.Raw, derA) {
		t.Fatalf("Certificate = %v", err)
	}
	if _, err := keypem.Certificate(nil); err == nil {
		t.Fatal("accepted empty input")
	}
}

func selfSigned(t *testing.T, key *ecdsa.PrivateKey) []byte {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test"},
		NotBefore: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}
