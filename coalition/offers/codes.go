package offers

import (
	"crypto/rand"
	"strings"

	"github.com/coalition-loyalty/coalition/coalition"
)

// A coupon code is 15 random symbols of Crockford's base 32 (75 bits: a
// guess among the coupons of a whole coalition succeeds once in about
// 10^22 tries) and a check symbol, printed in groups of four:
// "7KQ2-M9XD-4RT0-HB6E". The alphabet has no I, L, O or U, and reading
// accepts lower case, I and L for 1, O for 0, and spaces or dashes
// anywhere, so a code read out over the phone or typed from paper still
// reads. The check symbol is Luhn mod 32: every single mistyped symbol
// and every swap of two neighbours but 0 and Z (Luhn's one blind spot) is
// caught at the till, before the request reaches the database
// (InvalidArgument, not NotFound).

const (
	alphabet    = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	randomChars = 15
	// CodeLength is a canonical code's length: without dashes.
	CodeLength = randomChars + 1
)

// NewCode draws a coupon code, canonical (no dashes).
func NewCode() (string, error) {
	var buf [randomChars]byte
	if _, err := rand.Read(buf[:]); err != nil {
		return "", err
	}
	var b strings.Builder
	for _, c := range buf {
		b.WriteByte(alphabet[c%32])
	}
	body := b.String()
	return body + string(alphabet[checkSymbol(body)]), nil
}

// Canonical reads a code as a person may have typed it and returns it
// without dashes, in upper case; ok is false if it cannot be a coupon
// code (wrong length, a symbol outside the alphabet, a wrong check
// symbol).
func Canonical(s string) (string, bool) {
	var b strings.Builder
	for _, r := range strings.ToUpper(s) {
		switch {
		case r == '-' || r == ' ':
			continue
		case r == 'O':
			r = '0'
		case r == 'I' || r == 'L':
			r = '1'
		}
		if r > 127 || strings.IndexByte(alphabet, byte(r)) < 0 {
			return "", false
		}
		b.WriteRune(r)
	}
	c := b.String()
	if len(c) != CodeLength || alphabet[checkSymbol(c[:randomChars])] != c[randomChars] {
		return "", false
	}
	return c, true
}

// Printed is a canonical code in groups of four.
func Printed(code string) string {
	var parts []string
	for len(code) > 4 {
		parts = append(parts, code[:4])
		code = code[4:]
	}
	return strings.Join(append(parts, code), "-")
}

// CheckCode is Canonical as a domain error on field.
func CheckCode(field, s string) (string, error) {
	c, ok := Canonical(s)
	if !ok {
		return "", coalition.Errorf(coalition.Invalid, field,
			"is not a coupon code: %d symbols of 0-9 and A-Z (no I, L, O, U), the last a check symbol", CodeLength)
	}
	return c, nil
}

// checkSymbol is the Luhn mod 32 check symbol of body.
func checkSymbol(body string) int {
	const n = 32
	factor, sum := 2, 0
	for i := len(body) - 1; i >= 0; i-- {
		addend := factor * strings.IndexByte(alphabet, body[i])
		if factor == 2 {
			factor = 1
		} else {
			factor = 2
		}
		sum += addend/n + addend%n
	}
	return (n - sum%n) % n
}
