package offers

import "testing"

// TestEveryTypoOfACouponCodeIsCaught: every single symbol changed to
// another, and every swap of two different neighbours but 0 and Z (Luhn's
// blind spot, as 09 and 90 are in base 10), fails the check symbol; the code as printed, in lower case, with spaces, or with O and
// I typed for 0 and 1, reads back.
func TestEveryTypoOfACouponCodeIsCaught(t *testing.T) {
	for n := range 200 {
		if n == 0 { // a code with the blind spot in it: its other swaps still count
			body := "0Z7KQ2M9XD4RT0H"
			checkBlindSpot(t, body+string(alphabet[checkSymbol(body)]))
		}
		code, err := NewCode()
		if err != nil {
			t.Fatal(err)
		}
		for _, typed := range []string{code, Printed(code), " " + Printed(code) + " ", lower(Printed(code))} {
			if got, ok := Canonical(typed); !ok || got != code {
				t.Fatalf("%q reads as %q %v, want %s", typed, got, ok, code)
			}
		}
		for i := range len(code) {
			for _, c := range []byte(alphabet) {
				if c == code[i] {
					continue
				}
				typo := code[:i] + string(c) + code[i+1:]
				if _, ok := Canonical(typo); ok {
					t.Fatalf("%s read as a code: one symbol of %s changed", typo, code)
				}
			}
			if pair := code[i : i+min(2, len(code)-i)]; len(pair) == 2 && code[i] != code[i+1] && pair != "0Z" && pair != "Z0" {
				swapped := code[:i] + string(code[i+1]) + string(code[i]) + code[i+2:]
				if _, ok := Canonical(swapped); ok {
					t.Fatalf("%s read as a code: two neighbours of %s swapped", swapped, code)
				}
			}
		}
	}
	for _, s := range []string{"", "0000", "0000-0000-0000-000U", "ABCD-EFGH-JKMN-PQRST"} {
		if _, ok := Canonical(s); ok {
			t.Fatalf("%q read as a code", s)
		}
	}
	if got, ok := Canonical("OIL"); ok || got != "" {
		t.Fatalf("a three-symbol code read as %q", got)
	}
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// checkBlindSpot: swapping the 0 and Z of a code gives another valid
// code, which is why codes are drawn from 75 random bits: a swap that
// lands on another coupon's code is as likely as a guess.
func checkBlindSpot(t *testing.T, code string) {
	t.Helper()
	if _, ok := Canonical("Z0" + code[2:]); !ok {
		t.Fatalf("the blind spot moved: %s with 0 and Z swapped was refused", code)
	}
}
