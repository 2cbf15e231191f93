package pkpass

// The manifest's signature is a detached CMS SignedData (RFC 5652), written
// here with encoding/asn1 rather than taken from a PKCS #7 module: the
// maintained Go modules stamp the signing-time attribute with time.Now (or,
// in the one that accepts a given time, need a newer Go than ours), and
// the signing time must come from the injected clock.

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"math/big"
	"slices"
	"time"
)

var (
	oidData            = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidSignedData      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidContentType     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 3}
	oidMessageDigest   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}
	oidSigningTime     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 5}
	oidSHA256          = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidRSAEncryption   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	oidECDSAWithSHA256 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
)

type contentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     asn1.RawValue // [0] EXPLICIT
}

type signedData struct {
	Version          int
	DigestAlgorithms []pkix.AlgorithmIdentifier `asn1:"set"`
	EncapContentInfo encapContentInfo
	Certificates     asn1.RawValue // [0] IMPLICIT CertificateSet
	SignerInfos      []signerInfo  `asn1:"set"`
}

// encapContentInfo carries no eContent: the signature is detached, and the
// manifest travels beside it in the archive.
type encapContentInfo struct {
	EContentType asn1.ObjectIdentifier
}

type signerInfo struct {
	Version            int
	SID                issuerAndSerialNumber
	DigestAlgorithm    pkix.AlgorithmIdentifier
	SignedAttrs        asn1.RawValue // [0] IMPLICIT SET OF Attribute
	SignatureAlgorithm pkix.AlgorithmIdentifier
	Signature          []byte
}

type issuerAndSerialNumber struct {
	Issuer       asn1.RawValue
	SerialNumber *big.Int
}

type attribute struct {
	Type   asn1.ObjectIdentifier
	Values []asn1.RawValue `asn1:"set"`
}

// signatureAlgorithm names how key signs a SHA-256 digest.
func signatureAlgorithm(key crypto.Signer) (pkix.AlgorithmIdentifier, error) {
	switch key.Public().(type) {
	case *rsa.PublicKey:
		return pkix.AlgorithmIdentifier{Algorithm: oidRSAEncryption, Parameters: asn1.NullRawValue}, nil
	case *ecdsa.PublicKey:
		return pkix.AlgorithmIdentifier{Algorithm: oidECDSAWithSHA256}, nil
	default:
		return pkix.AlgorithmIdentifier{}, fmt.Errorf("pkpass: cannot sign with a %T key (RSA or ECDSA only)", key.Public())
	}
}

// signDetached signs content as signer with the signed attributes Apple
// checks (content type, message digest, signing time at at), and includes
// signer and chain so the device can build the path to Apple's root.
func signDetached(content []byte, signer *x509.Certificate, key crypto.Signer, chain []*x509.Certificate, at time.Time) ([]byte, error) {
	sigAlg, err := signatureAlgorithm(key)
	if err != nil {
		return nil, err
	}
	digest := sha256.Sum256(content)
	attrs := []struct {
		oid   asn1.ObjectIdentifier
		value any
	}{
		{oidContentType, oidData},
		// UTCTime (Go picks it for 1950–2049) in UTC whole seconds, the DER
		// form RFC 5652 asks for.
		{oidSigningTime, at.UTC().Truncate(time.Second)},
		{oidMessageDigest, digest[:]},
	}
	encoded := make([][]byte, 0, len(attrs))
	for _, a := range attrs {
		v, err := asn1.Marshal(a.value)
		if err != nil {
			return nil, fmt.Errorf("attribute %v: %w", a.oid, err)
		}
		der, err := asn1.Marshal(attribute{Type: a.oid, Values: []asn1.RawValue{{FullBytes: v}}})
		if err != nil {
			return nil, fmt.Errorf("attribute %v: %w", a.oid, err)
		}
		encoded = append(encoded, der)
	}
	// DER orders a SET OF by the encodings of its elements; verifiers
	// re-encode the set before checking, so any other order breaks it.
	slices.SortFunc(encoded, bytes.Compare)
	attrBytes := bytes.Join(encoded, nil)

	// The signature covers the attributes tagged as a plain SET, not as the
	// [0] they are stored under (RFC 5652 §5.4).
	toSign, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSet, IsCompound: true, Bytes: attrBytes})
	if err != nil {
		return nil, err
	}
	attrDigest := sha256.Sum256(toSign)
	signature, err := key.Sign(rand.Reader, attrDigest[:], crypto.SHA256)
	if err != nil {
		return nil, err
	}

	var certs []byte
	for _, c := range append([]*x509.Certificate{signer}, chain...) {
		certs = append(certs, c.Raw...)
	}
	sha256Alg := pkix.AlgorithmIdentifier{Algorithm: oidSHA256}
	sd, err := asn1.Marshal(signedData{
		Version:          1,
		DigestAlgorithms: []pkix.AlgorithmIdentifier{sha256Alg},
		EncapContentInfo: encapContentInfo{EContentType: oidData},
		Certificates:     asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: certs},
		SignerInfos: []signerInfo{{
			Version:            1,
			SID:                issuerAndSerialNumber{Issuer: asn1.RawValue{FullBytes: signer.RawIssuer}, SerialNumber: signer.SerialNumber},
			DigestAlgorithm:    sha256Alg,
			SignedAttrs:        asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: attrBytes},
			SignatureAlgorithm: sigAlg,
			Signature:          signature,
		}},
	})
	if err != nil {
		return nil, err
	}
	return asn1.Marshal(contentInfo{
		ContentType: oidSignedData,
		Content:     asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: sd},
	})
}
