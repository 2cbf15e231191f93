// Package keypem decodes the PEM-encoded private keys and certificates that
// Vault hands to the wallet packages, so that each of them takes key material
// as values and none reads files or guesses at encodings on its own.
package keypem

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
)

// PrivateKey returns the first private key in pemBytes: PKCS #8 ("PRIVATE
// KEY", as in Apple's .p8 files and Google's service-account keys), PKCS #1
// ("RSA PRIVATE KEY") or SEC 1 ("EC PRIVATE KEY"). Other blocks are skipped,
// so a bundle holding a certificate and its key works as it is.
func PrivateKey(pemBytes []byte) (crypto.Signer, error) {
	for rest := pemBytes; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, errors.New("keypem: no private key in PEM data")
		}
		var (
			key any
			err error
		)
		switch block.Type {
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(block.Bytes)
		case "ENCRYPTED PRIVATE KEY":
			// Vault already guards the key; a passphrase beside it in the
			// same store would add nothing but a second secret to rotate.
			return nil, errors.New("keypem: encrypted private keys are not supported; store the key unencrypted in Vault")
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("keypem: parse %s: %w", block.Type, err)
		}
		signer, ok := key.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("keypem: %T cannot sign", key)
		}
		return signer, nil
	}
}

// Certificates returns every certificate in pemBytes, in order.
func Certificates(pemBytes []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for rest := pemBytes; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("keypem: parse certificate %d: %w", len(certs)+1, err)
		}
		certs = append(certs, cert)
	}
	if len(certs) == 0 {
		return nil, errors.New("keypem: no certificate in PEM data")
	}
	return certs, nil
}

// Certificate returns the first certificate in pemBytes.
func Certificate(pemBytes []byte) (*x509.Certificate, error) {
	certs, err := Certificates(pemBytes)
	if err != nil {
		return nil, err
	}
	return certs[0], nil
}
