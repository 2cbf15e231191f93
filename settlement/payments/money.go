package payments

import (
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"

	"github.com/coalition-loyalty/coalition/coalition"
)

// Exponent is the number of decimal places of currency's minor unit under
// ISO 4217 (EUR 2: cents; JPY 0; KWD 3). A currency not listed is
// refused rather than guessed: a wrong exponent pays a hundred times too
// much or too little.
func Exponent(currency string) (int, bool) {
	switch currency {
	case "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF",
		"UGX", "VND", "VUV", "XAF", "XOF", "XPF":
		return 0, true
	case "BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND":
		return 3, true
	case "AED", "ALL", "AMD", "ARS", "AUD", "AZN", "BAM", "BGN", "BRL", "BYN",
		"CAD", "CHF", "CNY", "COP", "CZK", "DKK", "EGP", "EUR", "GBP", "GEL",
		"HKD", "HUF", "IDR", "ILS", "INR", "KES", "KZT", "MAD", "MDL", "MKD",
		"MXN", "MYR", "NGN", "NOK", "NZD", "PEN", "PHP", "PLN", "QAR", "RON",
		"RSD", "RUB", "SAR", "SEK", "SGD", "THB", "TRY", "TWD", "UAH", "USD",
		"ZAR":
		return 2, true
	}
	return 0, false
}

// maxExponent is the largest Exponent returns: sums across currencies are
// kept in units of 10^-maxExponent.
const maxExponent = 3

// FormatAmount writes m as the decimal number banks read: 1234 EUR is
// "12.34", 1234 JPY is "1234", 5 EUR is "0.05". It is exact: the digits
// are the integer's, and no float is involved.
func FormatAmount(m coalition.Money) (string, error) {
	exp, ok := Exponent(m.Currency)
	if !ok {
		return "", fmt.Errorf("currency %q: minor unit unknown", m.Currency)
	}
	return formatMinor(m.Minor, exp), nil
}

func formatMinor(minor int64, exp int) string {
	s := pointed(strconv.FormatUint(absUint(minor), 10), exp)
	if minor < 0 {
		return "-" + s
	}
	return s
}

// pointed places a decimal point exp digits from the right of digits.
func pointed(digits string, exp int) string {
	if exp == 0 {
		return digits
	}
	if len(digits) <= exp {
		digits = strings.Repeat("0", exp-len(digits)+1) + digits
	}
	return digits[:len(digits)-exp] + "." + digits[len(digits)-exp:]
}

func absUint(n int64) uint64 {
	if n < 0 {
		return uint64(-(n + 1)) + 1 // math.MinInt64 has no positive int64
	}
	return uint64(n)
}

// ParseAmount reads a non-negative decimal amount of currency into minor
// units: "12.34" EUR is 1234. Digits beyond the minor unit are accepted
// only when they are zeros ("12.340"), as XML decimals may carry them; a
// fraction of a cent is an error, never rounded. Signs are refused: the
// direction of money is said separately (C/D, CRDT/DBIT).
func ParseAmount(s, currency string) (int64, error) {
	exp, ok := Exponent(currency)
	if !ok {
		return 0, fmt.Errorf("currency %q: minor unit unknown", currency)
	}
	s = strings.TrimSpace(s)
	whole, frac, hasPoint := strings.Cut(s, ".")
	if whole == "" || !digitsOnly(whole) || !digitsOnly(frac) || (hasPoint && frac == "") {
		return 0, fmt.Errorf("amount %q is not a decimal number like 12.34", s)
	}
	if len(frac) > exp {
		if strings.Trim(frac[exp:], "0") != "" {
			return 0, fmt.Errorf("amount %q has a fraction of the minor unit of %s (%d decimals)", s, currency, exp)
		}
		frac = frac[:exp]
	}
	frac += strings.Repeat("0", exp-len(frac))
	n, err := strconv.ParseInt(whole+frac, 10, 64)
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) && ne.Err == strconv.ErrRange {
			return 0, fmt.Errorf("amount %q is too large", s)
		}
		return 0, fmt.Errorf("amount %q: %w", s, err)
	}
	return n, nil
}

func digitsOnly(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// decimalSum adds amounts of possibly different currencies as plain
// decimal numbers, which is what a pain.001 control sum is. It works in
// units of 10^-maxExponent with big integers, so neither a float nor an
// overflow can change a digit.
type decimalSum struct{ n big.Int }

func (s *decimalSum) add(minor int64, exp int) {
	var v big.Int
	v.SetInt64(minor)
	v.Mul(&v, big.NewInt(pow10(maxExponent-exp)))
	s.n.Add(&s.n, &v)
}

// String is the sum with as few decimals as its currencies need (at least
// the largest exponent added).
func (s *decimalSum) String(exp int) string {
	var q big.Int
	q.Quo(&s.n, big.NewInt(pow10(maxExponent-exp)))
	return pointed(q.String(), exp)
}

func pow10(n int) int64 {
	p := int64(1)
	for range n {
		p *= 10
	}
	return p
}
