// Package card makes and checks the identifiers a member carries: the
// 16-digit card number with its Luhn check digit, the QR token shown by the
// member's phone, and the referral code.
package card

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"math/big"
)

// Prefix starts every card number the coalition issues, so a cashier can
// tell a coalition card from a bank card at a glance.
const Prefix = "77"

// NewNumber returns a random card number: Prefix, 13 random digits and a Luhn
// check digit (16 digits in all).
func NewNumber() (string, error) {
	body := []byte(Prefix)
	for len(body) < 15 {
		d, err := rand.Int(rand.Reader, big.NewInt(10))
		if err != nil {
			return "", fmt.Errorf("card number: %w", err)
		}
		body = append(body, byte('0'+d.Int64()))
	}
	return string(body) + string(rune('0'+luhnCheckDigit(string(body)))), nil
}

// ValidNumber reports whether s is 16 digits whose last one is the Luhn
// check digit of the others. It catches every single-digit typo and most
// swaps of neighbours at the till.
func ValidNumber(s string) bool {
	if len(s) != 16 {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return int(s[15]-'0') == luhnCheckDigit(s[:15])
}

// luhnCheckDigit computes the digit that makes body+digit pass the Luhn test.
func luhnCheckDigit(body string) int {
	sum := 0
	double := true // the rightmost digit of body is doubled once the check digit is appended
	for i := len(body) - 1; i >= 0; i-- {
		d := int(body[i] - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return (10 - sum%10) % 10
}

// NewQRToken returns 24 random bytes as unpadded base64url (32 characters):
// unguessable, so showing it is as good as showing the card.
func NewQRToken() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("qr token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// referralAlphabet leaves out 0, 1, I and O, which people misread.
const referralAlphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"

// NewReferralCode returns an 8-character code from referralAlphabet.
func NewReferralCode() (string, error) {
	b := make([]byte, 8)
	for i := range b {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(referralAlphabet))))
		if err != nil {
			return "", fmt.Errorf("referral code: %w", err)
		}
		b[i] = referralAlphabet[n.Int64()]
	}
	return string(b), nil
}
