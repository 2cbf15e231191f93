package card

import "testing"

func TestValidNumberAcceptsKnownLuhnNumbers(t *testing.T) {
	cases := []struct {
		number string
		valid  bool
	}{
		{"4539578763621486", true},  // a well-known Luhn-valid test number
		{"4539578763621487", false}, // last digit changed
		{"4539578763621468", false}, // neighbours swapped
		{"453957876362148", false},  // too short
		{"45395787636214a6", false}, // not a digit
	}
	for _, tc := range cases {
		if got := ValidNumber(tc.number); got != tc.valid {
			t.Errorf("ValidNumber(%q) = %v, want %v", tc.number, got, tc.valid)
		}
	}
}

func TestNewNumberIsValidAndPrefixed(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		n, err := NewNumber()
		if err != nil {
			t.Fatal(err)
		}
		if !ValidNumber(n) || n[:2] != Prefix {
			t.Fatalf("NewNumber() = %q: not a valid coalition card number", n)
		}
		seen[n] = true
	}
	if len(seen) < 990 {
		t.Fatalf("only %d distinct numbers in 1000", len(seen))
	}
}

func TestEverySingleDigitTypoIsCaught(t *testing.T) {
	n, err := NewNumber()
	if err != nil {
		t.Fatal(err)
	}
	for i := range len(n) {
		for d := byte('0'); d <= '9'; d++ {
			if d == n[i] {
				continue
			}
			typo := n[:i] + string(d) + n[i+1:]
			if ValidNumber(typo) {
				t.Fatalf("typo %q of %q passes the check", typo, n)
			}
		}
	}
}

func TestQRTokenAndReferralCodeShapes(t *testing.T) {
	tok, err := NewQRToken()
	if err != nil || len(tok) != 32 {
		t.Fatalf("NewQRToken() = %q, %v", tok, err)
	}
	code, err := NewReferralCode()
	if err != nil || len(code) != 8 {
		t.Fatalf("NewReferralCode() = %q, %v", code, err)
	}
}
