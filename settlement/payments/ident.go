package payments

import (
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"strconv"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// maxID is the length of ISO 20022 Max35Text, the type of every
// identifier here (MsgId, PmtInfId, EndToEndId).
const maxID = 35

// EndToEndID names the payment that settles the windows windowFrom to
// windowTo (the same day for one window) from payer to payee, by their
// party codes. The bank carries it unchanged to the statements of both
// sides, where Reconcile finds it again; so it is derived, not stored:
// the same inputs always give the same id.
//
// The readable form is CO-20261129-CAFE-BOOK, or CO-20261101-20261129-
// CAFE-BOOK for a range. It is used only when it is at most 35 characters
// and says everything: codes of lower-case letters and digits, which
// upper-casing keeps distinct. Otherwise the id keeps the dates, as much
// of each code as fits, and a hash of all four inputs after a dot
// (CO-20261101-20261129-C-B.K3J9X2A7QF). Readable ids have no dot, so the
// two forms never meet; hashed ids collide only if their windows are the
// same and 50 bits of SHA-256 agree. Both use only A-Z, 0-9, '-' and '.',
// which every bank accepts.
func EndToEndID(windowFrom, windowTo Date, payer, payee string) string {
	head := "CO-" + windowFrom.compact()
	if windowTo != windowFrom {
		head += "-" + windowTo.compact()
	}
	if plainCode(payer) && plainCode(payee) {
		id := head + "-" + strings.ToUpper(payer) + "-" + strings.ToUpper(payee)
		if len(id) <= maxID {
			return id
		}
	}
	sum := sha256.Sum256([]byte(strings.Join([]string{windowFrom.String(), windowTo.String(), payer, payee}, "\x00")))
	tail := "." + base32.StdEncoding.EncodeToString(sum[:])[:10]
	room := maxID - len(head) - len(tail) - 2 // the dashes before each code
	p, q := codeChars(payer), codeChars(payee)
	np := min(len(p), (room+1)/2)
	nq := min(len(q), room-np)
	np = min(len(p), room-nq)
	return head + "-" + p[:np] + "-" + q[:nq] + tail
}

// plainCode reports a code that upper-casing keeps distinct from every
// other such code: lower-case ASCII letters and digits.
func plainCode(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// codeChars is the upper-cased letters and digits of a code, or X when it
// has none, for the readable part of a hashed id.
func codeChars(s string) string {
	var b strings.Builder
	for _, c := range strings.ToUpper(s) {
		if (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') {
			b.WriteRune(c)
		}
	}
	if b.Len() == 0 {
		return "X"
	}
	return b.String()
}

// checkID checks an identifier the bank carries (MsgId, EndToEndId) against
// the rules banks apply to Max35Text: 1 to 35 characters of the Latin set,
// no space, not starting or ending with '/' and no "//" (which EPC's
// guidelines forbid because '/' delimits codes in older formats).
func checkID(s string) error {
	switch {
	case s == "":
		return fmt.Errorf("is required")
	case len(s) > maxID:
		return fmt.Errorf("%q is longer than %d characters", s, maxID)
	case strings.HasPrefix(s, "/") || strings.HasSuffix(s, "/") || strings.Contains(s, "//"):
		return fmt.Errorf("%q starts or ends with '/' or has \"//\"", s)
	}
	for _, c := range s {
		if c == ' ' || !latin(c) {
			return fmt.Errorf("%q has %q, outside the characters banks accept", s, c)
		}
	}
	return nil
}

// latin reports a character of the set every bank accepts in ISO 20022
// text (the SWIFT/EPC Latin set): a-z A-Z 0-9 / - ? : ( ) . , ' + space.
func latin(c rune) bool {
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		strings.ContainsRune("/-?:().,'+ ", c)
}

// sanitize makes s text every bank accepts, at most max characters:
// accents are dropped (Café → Cafe), a few letters are spelled out
// (ß → ss), '&' becomes '+', and anything else outside the Latin set
// becomes a space; runs of spaces become one. Schemas allow any Unicode,
// but many banks reject or garble the rest, and a garbled creditor name
// can fail the payee check.
func sanitize(s string, max int) string {
	var b strings.Builder
	space := true // drops leading spaces and collapses runs
	put := func(c rune) {
		if c == ' ' {
			if space {
				return
			}
			space = true
		} else {
			space = false
		}
		b.WriteRune(c)
	}
	for _, c := range norm.NFD.String(s) {
		switch {
		case unicode.Is(unicode.Mn, c):
		case latin(c):
			put(c)
		case unicode.IsSpace(c) || c == '_':
			put(' ')
		case c == '&':
			put('+')
		case c == '"' || c == '`' || c == '’' || c == '‘':
			put('\'')
		default:
			for _, c := range spelled(c) {
				put(c)
			}
		}
	}
	out := b.String()
	if len(out) > max {
		out = out[:max]
	}
	return strings.TrimRight(out, " ")
}

// spelled writes a letter that has no accent to drop in Latin letters, and
// anything else as a space.
func spelled(c rune) string {
	switch c {
	case 'ß':
		return "ss"
	case 'Æ':
		return "AE"
	case 'æ':
		return "ae"
	case 'Œ':
		return "OE"
	case 'œ':
		return "oe"
	case 'Ø':
		return "O"
	case 'ø':
		return "o"
	case 'Ł':
		return "L"
	case 'ł':
		return "l"
	case 'Đ', 'Ð':
		return "D"
	case 'đ', 'ð':
		return "d"
	case 'Þ':
		return "TH"
	case 'þ':
		return "th"
	}
	return " "
}

// NormalizeIBAN returns s as an IBAN is written in files, without spaces
// and in upper case, after checking it: the country's length where known,
// check digits 02 to 98, and the ISO 7064 mod-97 checksum, which catches
// every single mistyped character and nearly every swap of two.
func NormalizeIBAN(s string) (string, error) {
	iban := strings.ToUpper(strings.ReplaceAll(s, " ", ""))
	if len(iban) < 5 || len(iban) > 34 {
		return "", fmt.Errorf("%q is not an IBAN: %d characters", s, len(iban))
	}
	for i, c := range iban {
		letter, digit := c >= 'A' && c <= 'Z', c >= '0' && c <= '9'
		if (i < 2 && !letter) || (i >= 2 && i < 4 && !digit) || (!letter && !digit) {
			return "", fmt.Errorf("%q is not an IBAN: want 2 letters, 2 digits, then letters and digits", s)
		}
	}
	if n := ibanLength(iban[:2]); n != 0 && len(iban) != n {
		return "", fmt.Errorf("%q is not an IBAN: %s IBANs have %d characters, not %d", s, iban[:2], n, len(iban))
	}
	if cd, _ := strconv.Atoi(iban[2:4]); cd < 2 || cd > 98 {
		return "", fmt.Errorf("%q is not an IBAN: check digits %s are never issued", s, iban[2:4])
	}
	r := 0
	for _, c := range iban[4:] + iban[:4] {
		if c >= 'A' {
			r = (r*100 + int(c-'A') + 10) % 97
		} else {
			r = (r*10 + int(c-'0')) % 97
		}
	}
	if r != 1 {
		return "", fmt.Errorf("%q is not an IBAN: the checksum does not match (a character is wrong)", s)
	}
	return iban, nil
}

// ibanLengths is the IBAN length of the countries in the SWIFT IBAN
// registry whose length is settled; other countries are held only to the
// general 5 to 34 characters.
const ibanLengths = "AD24 AE23 AL28 AT20 AZ28 BA20 BE16 BG22 BH22 BR29 BY28 CH21 CR22 CY28 " +
	"CZ24 DE22 DK18 DO28 EE20 EG29 ES24 FI18 FO18 FR27 GB22 GE22 GI23 GL18 GR27 GT28 HR21 " +
	"HU28 IE22 IL23 IQ23 IS26 IT27 JO30 KW30 KZ20 LB28 LC32 LI21 LT20 LU20 LV21 MC27 MD24 " +
	"ME22 MK19 MR27 MT31 MU30 NL18 NO15 PK24 PL28 PS29 PT25 QA29 RO24 RS22 SA24 SC31 SE24 " +
	"SI19 SK24 SM27 ST25 SV28 TL23 TN24 TR26 UA29 VA22 VG24 XK20"

func ibanLength(country string) int {
	for _, f := range strings.Fields(ibanLengths) {
		if f[:2] == country {
			n, _ := strconv.Atoi(f[2:])
			return n
		}
	}
	return 0
}

// NormalizeBIC returns s in upper case after checking its shape under ISO
// 9362: 4 letters or digits (the institution), 2 letters (the country), 2
// letters or digits (the location), and optionally 3 more (the branch).
func NormalizeBIC(s string) (string, error) {
	bic := strings.ToUpper(strings.TrimSpace(s))
	if len(bic) != 8 && len(bic) != 11 {
		return "", fmt.Errorf("%q is not a BIC: want 8 or 11 characters, not %d", s, len(bic))
	}
	for i, c := range bic {
		letter, digit := c >= 'A' && c <= 'Z', c >= '0' && c <= '9'
		if (i >= 4 && i < 6 && !letter) || (!letter && !digit) {
			return "", fmt.Errorf("%q is not a BIC: want 4 letters or digits, a 2-letter country, then letters or digits", s)
		}
	}
	return bic, nil
}
