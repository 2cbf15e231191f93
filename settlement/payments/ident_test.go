package payments_test

import (
	"strings"
	"testing"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/settlement/payments"
)

func TestIBANIsCheckedByCountryLengthAndMod97(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string // want "" for an error
	}{
		{"German IBAN", "DE89370400440532013000", "DE89370400440532013000"},
		{"print form with spaces and lower case", "de89 3704 0044 0532 0130 00", "DE89370400440532013000"},
		{"letters in the BBAN", "GB82WEST12345698765432", "GB82WEST12345698765432"},
		{"shortest country", "NO9386011117947", "NO9386011117947"},
		{"letters at the end", "MT84MALT011000012345MTLCAST001S", "MT84MALT011000012345MTLCAST001S"},
		{"country not in the table: checksum only", "ZZ65123456789012", "ZZ65123456789012"},
		{"one digit changed", "DE89370400440532013001", ""},
		{"two digits swapped", "DE89370400440532010300", ""},
		{"checksum right but too short for DE", "DE5137040044053201300", ""},
		{"check digits 00 never issued", "DE00370400440532013000", ""},
		{"country must be letters", "1289370400440532013000", ""},
		{"check digits must be digits", "DEXX370400440532013000", ""},
		{"punctuation", "DE89-3704-0044-0532-0130-00", ""},
		{"too short", "DE89", ""},
		{"empty", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := payments.NormalizeIBAN(tc.in)
			if tc.want == "" {
				if err == nil {
					t.Fatalf("NormalizeIBAN(%q) = %q, want an error", tc.in, got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("NormalizeIBAN(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestBICHasISO9362Shape(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
	}{
		{"COBADEFF", "COBADEFF"},
		{"cobadeffxxx", "COBADEFFXXX"},
		{"1234DEFF", "1234DEFF"}, // institution codes may have digits since 2014
		{"COBAD1FF", ""},         // the country must be letters
		{"COBADEF", ""},
		{"COBADEFFXX", ""},
		{"COBA-DEFF", ""},
	} {
		got, err := payments.NormalizeBIC(tc.in)
		if (tc.want == "") != (err != nil) || got != tc.want {
			t.Errorf("NormalizeBIC(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestEndToEndIDIsReadableWhenItFits(t *testing.T) {
	for _, tc := range []struct {
		from, to, payer, payee, want string
	}{
		{"2026-11-29", "2026-11-29", "cafe", "books", "CO-20261129-CAFE-BOOKS"},
		{"2026-11-01", "2026-11-29", "cafe", "operator", "CO-20261101-20261129-CAFE-OPERATOR"},
	} {
		if got := payments.EndToEndID(day(tc.from), day(tc.to), tc.payer, tc.payee); got != tc.want {
			t.Errorf("EndToEndID(%s, %s, %s, %s) = %q, want %q", tc.from, tc.to, tc.payer, tc.payee, got, tc.want)
		}
	}
}

func TestEndToEndIDsAreStableShortAndDistinct(t *testing.T) {
	type input struct{ from, to, payer, payee string }
	inputs := []input{
		{"2026-11-29", "2026-11-29", "cafe", "books"},
		{"2026-11-29", "2026-11-29", "books", "cafe"}, // the other way
		{"2026-11-28", "2026-11-28", "cafe", "books"}, // another day
		{"2026-11-28", "2026-11-29", "cafe", "books"}, // a range
		{"2026-11-01", "2026-11-29", "cafe", "operator"},
		{"2026-11-29", "2026-11-29", "Cafe", "books"},   // differs only in case
		{"2026-11-29", "2026-11-29", "cafe-1", "books"}, // would read CAFE1
		{"2026-11-29", "2026-11-29", "cafe1", "books"},
		{"2026-11-29", "2026-11-29", "cafe_1", "books"},
		{"2026-11-29", "2026-11-29", "café", "books"},
		{"2026-11-29", "2026-11-29", "-", "books"}, // nothing readable at all
		{"2026-11-29", "2026-11-29", "--", "books"},
		// Codes too long for 35 characters, equal in their first letters.
		{"2026-11-29", "2026-11-29", "supermarketchainnorth", "petrolstationsnationwide"},
		{"2026-11-29", "2026-11-29", "supermarketchainsouth", "petrolstationsnationwide"},
		{"2026-11-01", "2026-11-29", "supermarketchainnorth", "petrolstationsnationwide"},
		{"2026-11-01", "2026-11-29", "supermarketchainsouth", "petrolstationsnationwide"},
		{"2026-11-01", "2026-11-29", "cafe", "petrolstationsnationwide"},
	}
	seen := map[string]input{}
	for _, in := range inputs {
		id := payments.EndToEndID(day(in.from), day(in.to), in.payer, in.payee)
		if again := payments.EndToEndID(day(in.from), day(in.to), in.payer, in.payee); again != id {
			t.Errorf("%v: %q then %q", in, id, again)
		}
		if len(id) > 35 {
			t.Errorf("%v: %q has %d characters, more than ISO 20022's 35", in, id, len(id))
		}
		if strings.Trim(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.") != "" {
			t.Errorf("%v: %q has characters outside A-Z 0-9 - .", in, id)
		}
		if !strings.HasPrefix(id, "CO-"+strings.ReplaceAll(in.from, "-", "")) {
			t.Errorf("%v: %q does not start with the window", in, id)
		}
		if other, ok := seen[id]; ok {
			t.Errorf("%v and %v share %q", in, other, id)
		}
		seen[id] = in
		ins := pay(in.from, in.to, cafe, books, 100, "2026-12-01")
		ins.EndToEndID = id
		if err := ins.Validate(); err != nil {
			t.Errorf("%v: %q is refused as an end-to-end id: %v", in, id, err)
		}
	}
}

func TestAmountsAreExactDecimalsOfTheMinorUnit(t *testing.T) {
	for _, tc := range []struct {
		minor    int64
		currency string
		text     string
	}{
		{1234, "EUR", "12.34"},
		{5, "EUR", "0.05"},
		{0, "USD", "0.00"},
		{100000000000, "GBP", "1000000000.00"},
		{1234, "JPY", "1234"},
		{1234, "KWD", "1.234"},
		{-1234, "EUR", "-12.34"},
	} {
		got, err := payments.FormatAmount(coalition.Money{Minor: tc.minor, Currency: tc.currency})
		if err != nil || got != tc.text {
			t.Errorf("FormatAmount(%d %s) = %q, %v; want %q", tc.minor, tc.currency, got, err, tc.text)
		}
		if tc.minor < 0 {
			continue
		}
		back, err := payments.ParseAmount(tc.text, tc.currency)
		if err != nil || back != tc.minor {
			t.Errorf("ParseAmount(%q, %s) = %d, %v; want %d", tc.text, tc.currency, back, err, tc.minor)
		}
	}
	if _, err := payments.FormatAmount(coalition.Money{Minor: 1, Currency: "XYZ"}); err == nil {
		t.Error("FormatAmount took a currency of unknown minor unit")
	}
}

func TestParseAmountRefusesWhatItCannotReadExactly(t *testing.T) {
	for _, tc := range []struct {
		text, currency string
		want           int64 // -1 for an error
	}{
		{"12.340", "EUR", 1234}, // trailing zeros, as XML decimals may have
		{"12.3", "EUR", 1230},
		{"12", "EUR", 1200},
		{" 12.34 ", "EUR", 1234},
		{"12.345", "EUR", -1}, // a fraction of a cent
		{"12.5", "JPY", -1},
		{"-12.34", "EUR", -1},
		{"+12.34", "EUR", -1},
		{"1e3", "EUR", -1},
		{"12,34", "EUR", -1},
		{"12.", "EUR", -1},
		{".5", "EUR", -1},
		{"", "EUR", -1},
		{"99999999999999999999", "EUR", -1},
		{"1.00", "XYZ", -1},
	} {
		got, err := payments.ParseAmount(tc.text, tc.currency)
		if tc.want < 0 {
			if err == nil {
				t.Errorf("ParseAmount(%q, %s) = %d, want an error", tc.text, tc.currency, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseAmount(%q, %s) = %d, %v; want %d", tc.text, tc.currency, got, err, tc.want)
		}
	}
}

func TestDatesCountDaysAcrossMonthsYearsAndLeapDays(t *testing.T) {
	for _, tc := range []struct {
		from, to string
		days     int
	}{
		{"2026-11-29", "2026-11-29", 0},
		{"2026-11-29", "2026-11-30", 1},
		{"2026-11-30", "2026-12-01", 1},
		{"2026-12-31", "2027-01-01", 1},
		{"2028-02-28", "2028-03-01", 2},
		{"2026-01-01", "2027-01-01", 365},
		{"2028-01-01", "2029-01-01", 366},
		{"2026-12-31", "2026-09-01", -121},
	} {
		if got := day(tc.to).DaysSince(day(tc.from)); got != tc.days {
			t.Errorf("%s − %s = %d days, want %d", tc.to, tc.from, got, tc.days)
		}
		if got := day(tc.from).AddDays(tc.days); got != day(tc.to) {
			t.Errorf("%s + %d days = %s, want %s", tc.from, tc.days, got, tc.to)
		}
	}
}
