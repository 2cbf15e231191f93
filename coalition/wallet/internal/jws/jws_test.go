package jws_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"strings"
	"testing"

	"github.com/coalition-loyalty/coalition/coalition/wallet/internal/jws"
)

func parts(t *testing.T, token string) (header map[string]any, signingInput string, sig []byte) {
	t.Helper()
	p := strings.Split(token, ".")
	if len(p) != 3 || strings.ContainsAny(token, "=+/") {
		t.Fatalf("token %q is not three unpadded base64url parts", token)
	}
	h, _ := base64.RawURLEncoding.DecodeString(p[0])
	if err := json.Unmarshal(h, &header); err != nil {
		t.Fatal(err)
	}
	sig, _ = base64.RawURLEncoding.DecodeString(p[2])
	return header, p[0] + "." + p[1], sig
}

func TestES256SignatureIsFixedWidthRAndS(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	// Many signatures, so that some r or s has leading zero bytes, which
	// the fixed-width form must keep.
	for range 64 {
		token, err := jws.Sign(key, "kid1", "", map[string]int{"iat": 1})
		if err != nil {
			t.Fatal(err)
		}
		header, input, sig := parts(t, token)
		if header["alg"] != "ES256" || header["kid"] != "kid1" || header["typ"] != nil {
			t.Fatalf("header = %v", header)
		}
		if len(sig) != 64 {
			t.Fatalf("signature is %d bytes, want 64", len(sig))
		}
		digest := sha256.Sum256([]byte(input))
		if !ecdsa.Verify(&key.PublicKey, digest[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
			t.Fatal("ES256 signature does not verify")
		}
	}
}

func TestRS256SignatureVerifies(t *testing.T) {
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	token, err := jws.Sign(key, "", "JWT", map[string]string{"iss": "x"})
	if err != nil {
		t.Fatal(err)
	}
	header, input, sig := parts(t, token)
	if header["alg"] != "RS256" || header["typ"] != "JWT" {
		t.Fatalf("header = %v", header)
	}
	digest := sha256.Sum256([]byte(input))
	if err := rsa.VerifyPKCS1v15(&key.PublicKey, crypto.SHA256, digest[:], sig); err != nil {
		t.Fatal(err)
	}
}

func TestSignRefusesKeysWithoutAnAlgorithmHere(t *testing.T) {
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	for _, key := range []crypto.Signer{p384, ed} {
		if _, err := jws.Sign(key, "", "", struct{}{}); err == nil {
			t.Errorf("signed with a %T", key)
		}
	}
}
