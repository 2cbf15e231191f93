// Package phone keeps members' phone numbers out of the database in clear
// text: a number is stored only as a keyed hash (for lookups) and its last
// two digits (for people to recognise it).
package phone

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"strings"
)

// Hasher turns an E.164 number into the keyed hash stored for lookups. The
// Vault-backed implementation keeps the key in Vault's transit engine.
type Hasher interface {
	HashPhone(ctx context.Context, e164 string) ([]byte, error)
}

// HMAC hashes with HMAC-SHA256 under a key held in process memory; used in
// dev mode and tests, and wherever the key is fetched from a secret store at
// start-up.
type HMAC struct{ key []byte }

// NewHMAC returns an HMAC hasher; the key must be at least 32 bytes.
func NewHMAC(key []byte) (*HMAC, error) {
	if len(key) < 32 {
		return nil, errors.New("phone hash key must be at least 32 bytes")
	}
	return &HMAC{key: append([]byte(nil), key...)}, nil
}

func (h *HMAC) HashPhone(_ context.Context, e164 string) ([]byte, error) {
	m := hmac.New(sha256.New, h.key)
	m.Write([]byte(e164))
	return m.Sum(nil), nil
}

// Last2 returns the last two digits of a number, what is kept in clear.
func Last2(e164 string) string {
	if len(e164) < 2 {
		return e164
	}
	return e164[len(e164)-2:]
}

// Mask shows a stored number as a person would read it on a receipt.
func Mask(last2 string) string {
	if last2 == "" {
		return ""
	}
	return "+" + strings.Repeat("•", 8) + last2
}
