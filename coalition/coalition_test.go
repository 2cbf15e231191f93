package coalition

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"math/bits"
	"strings"
	"testing"

	"github.com/google/uuid"
	"pgregory.net/rapid"
)

func TestMulDivFloorRoundsDownWithoutOverflow(t *testing.T) {
	cases := []struct {
		name    string
		a, b, c int64
		want    int64
	}{
		{"exact", 100, 50, 10, 500},
		{"rounds down", 7, 1, 2, 3},
		{"never rounds up near one", 999_999, 1, 1_000_000, 0},
		{"product beyond int64", MaxAmount, MaxAmount, MaxAmount, MaxAmount},
		{"cashback 5 percent of 1000.00 at 1.00 per point", 100_000, 500, 10_000 * 100, 50},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := MulDivFloor(tc.a, tc.b, tc.c); got != tc.want {
				t.Fatalf("MulDivFloor(%d, %d, %d) = %d, want %d", tc.a, tc.b, tc.c, got, tc.want)
			}
		})
	}
}

func TestMulDivTruncTruncatesTowardZeroForEitherSign(t *testing.T) {
	cases := []struct {
		name    string
		a, b, c int64
		want    int64
	}{
		{"exact", 5_000, 100, 10_000, 50},
		{"0.5 % of 185.00 is 0.92", 18_500, 50, 10_000, 92},
		{"a negative amount exact", -1_000, 150, 10_000, -15},
		{"a negative amount rounds toward zero, not down", -1_001, 150, 10_000, -15},
		{"a negative rate rounds toward zero", 7, -1, 2, -3},
		{"two negatives make a positive", -7, -1, 2, 3},
		{"zero of a negative rate", 0, -5, 3, 0},
		{"less than one unit of a negative amount is zero", -9_999, 1, 10_000, 0},
		{"product beyond int64", math.MaxInt64, 10_000, 10_000, math.MaxInt64},
		{"negative product beyond int64", -math.MaxInt64, 10_000, 10_000, -math.MaxInt64},
		{"huge amounts", MaxAmount, -MaxAmount, 3 * MaxAmount, -333_333_333_333},
		{"huge amounts truncated", -MaxAmount * 9, MaxAmount, 7 * MaxAmount, -1_285_714_285_714},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := MulDivTrunc(tc.a, tc.b, tc.c); got != tc.want {
				t.Fatalf("MulDivTrunc(%d, %d, %d) = %d, want %d", tc.a, tc.b, tc.c, got, tc.want)
			}
			if got := MulDivTrunc(-tc.a, tc.b, tc.c); got != -tc.want {
				t.Fatalf("MulDivTrunc(%d, %d, %d) = %d, want %d", -tc.a, tc.b, tc.c, got, -tc.want)
			}
		})
	}
}

func TestMulDivTruncRefusesWhatItCannotCompute(t *testing.T) {
	for _, tc := range []struct {
		name    string
		a, b, c int64
	}{
		{"the smallest int64", math.MinInt64, 1, 1},
		{"a divisor of zero", 1, 1, 0},
		{"a negative divisor", 1, 1, -1},
		{"a quotient beyond int64", math.MaxInt64, 2, 1},
		{"a negative quotient beyond int64", math.MaxInt64, -2, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !panics(func() { MulDivTrunc(tc.a, tc.b, tc.c) }) {
				t.Fatalf("MulDivTrunc(%d, %d, %d) did not panic", tc.a, tc.b, tc.c)
			}
		})
	}
}

// MulDivTrunc is exact integer division of the exact product, truncated as
// Go truncates: where a*b fits in int64 it is a*b/c, and so gives the same
// figures as the expressions it replaced.
func TestMulDivTruncIsGosDivisionOfTheExactProduct(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		a := rapid.Int64Min(math.MinInt64+1).Draw(rt, "a")
		b := rapid.OneOf(rapid.Int64Range(-20_000, 20_000), rapid.Int64Min(math.MinInt64+1)).Draw(rt, "b")
		c := rapid.OneOf(rapid.Just(int64(10_000)), rapid.Int64Min(1)).Draw(rt, "c")
		exact := new(big.Int).Quo(new(big.Int).Mul(big.NewInt(a), big.NewInt(b)), big.NewInt(c))
		if !exact.IsInt64() {
			if !panics(func() { MulDivTrunc(a, b, c) }) {
				rt.Fatalf("MulDivTrunc(%d, %d, %d) did not panic; the quotient %s is beyond int64", a, b, c, exact)
			}
			return
		}
		got := MulDivTrunc(a, b, c)
		if got != exact.Int64() {
			rt.Fatalf("MulDivTrunc(%d, %d, %d) = %d, want %s", a, b, c, got, exact)
		}
		if hi, lo := bits.Mul64(uint64(abs(a)), uint64(abs(b))); hi == 0 && lo <= math.MaxInt64 && got != a*b/c {
			rt.Fatalf("MulDivTrunc(%d, %d, %d) = %d, Go's a*b/c = %d", a, b, c, got, a*b/c)
		}
	})
}

func panics(f func()) (panicked bool) {
	defer func() { panicked = recover() != nil }()
	f()
	return false
}

// The ids read and write exactly as uuid.UUID does, so that stored JSON
// (idempotency records, clearing reports) and every text form stay the
// same bytes.
func TestIDsReadAndWriteAsUUIDs(t *testing.T) {
	u := uuid.MustParse("6ba7b810-9dad-11d1-80b4-00c04fd430c8")
	type record struct {
		Partner PartnerID  `json:"partner"`
		Member  MemberID   `json:"member,omitzero"`
		Nobody  MemberID   `json:"nobody,omitzero"`
		Maybe   *PartnerID `json:"maybe,omitempty"`
	}
	type asUUID struct {
		Partner uuid.UUID  `json:"partner"`
		Member  uuid.UUID  `json:"member,omitzero"`
		Nobody  uuid.UUID  `json:"nobody,omitzero"`
		Maybe   *uuid.UUID `json:"maybe,omitempty"`
	}
	got, err := json.Marshal(record{Partner: PartnerID(u), Member: MemberID(u)})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(asUUID{Partner: u, Member: u})
	if string(got) != string(want) {
		t.Fatalf("JSON %s, want %s", got, want)
	}
	for _, s := range []string{u.String(), strings.ToUpper(u.String()), "{" + u.String() + "}", "urn:uuid:" + u.String()} {
		var r record
		if err := json.Unmarshal([]byte(`{"partner":"`+s+`","member":"`+s+`"}`), &r); err != nil || uuid.UUID(r.Partner) != u || uuid.UUID(r.Member) != u {
			t.Errorf("%s read as %v, %v", s, r, err)
		}
		if p, err := ParsePartnerID(s); err != nil || p.String() != u.String() {
			t.Errorf("ParsePartnerID(%s) = %v, %v", s, p, err)
		}
	}
	var r record
	if err := json.Unmarshal([]byte(`{"partner":"not-an-id"}`), &r); err == nil {
		t.Error("a malformed id was read")
	}
	if _, err := ParseMemberID("6ba7b810"); err == nil {
		t.Error("a malformed id was parsed")
	}
	if s := fmt.Sprintf("%v %s", PartnerID(u), MemberID(u)); s != u.String()+" "+u.String() {
		t.Errorf("formatted as %s", s)
	}
}
