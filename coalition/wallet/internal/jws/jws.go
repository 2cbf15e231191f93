// Package jws writes compact JSON Web Signatures (RFC 7515) with the two
// algorithms the wallet services accept: ES256 for APNs provider tokens and
// RS256 for Google's service-account assertions and save links. It signs
// through crypto.Signer so that a key held by Vault could sign too.
package jws

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
)

// Header is the protected header. Alg is filled in by Sign from the key.
type Header struct {
	Alg string `json:"alg"`
	Kid string `json:"kid,omitempty"`
	Typ string `json:"typ,omitempty"`
}

// Sign returns header.claims.signature, each part base64url without padding.
// The algorithm follows the key: ES256 for a P-256 ECDSA key, RS256 for RSA.
func Sign(key crypto.Signer, kid, typ string, claims any) (string, error) {
	alg, err := algorithm(key.Public())
	if err != nil {
		return "", err
	}
	h, err := json.Marshal(Header{Alg: alg, Kid: kid, Typ: typ})
	if err != nil {
		return "", fmt.Errorf("jws: header: %w", err)
	}
	c, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("jws: claims: %w", err)
	}
	enc := base64.RawURLEncoding
	signingInput := enc.EncodeToString(h) + "." + enc.EncodeToString(c)
	digest := sha256.Sum256([]byte(signingInput))
	sig, err := key.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("jws: sign %s: %w", alg, err)
	}
	if alg == "ES256" {
		if sig, err = fixedWidth(sig); err != nil {
			return "", err
		}
	}
	return signingInput + "." + enc.EncodeToString(sig), nil
}

func algorithm(pub crypto.PublicKey) (string, error) {
	switch pub := pub.(type) {
	case *ecdsa.PublicKey:
		if pub.Curve != elliptic.P256() {
			return "", fmt.Errorf("jws: ES256 needs a P-256 key, got %s", pub.Curve.Params().Name)
		}
		return "ES256", nil
	case *rsa.PublicKey:
		return "RS256", nil
	default:
		return "", fmt.Errorf("jws: unsupported key type %T", pub)
	}
}

// fixedWidth turns crypto.Signer's ASN.1 ECDSA signature into JWS's form
// (RFC 7518 §3.4): r and s as 32-byte big-endian integers, concatenated.
// APNs refuses the DER form.
func fixedWidth(der []byte) ([]byte, error) {
	var rs struct{ R, S *big.Int }
	rest, err := asn1.Unmarshal(der, &rs)
	if err != nil || len(rest) != 0 {
		return nil, fmt.Errorf("jws: malformed ECDSA signature")
	}
	out := make([]byte, 64)
	rs.R.FillBytes(out[:32])
	rs.S.FillBytes(out[32:])
	return out, nil
}
