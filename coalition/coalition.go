// Package coalition holds the vocabulary every part of the product shares:
// points, money, identifiers, and the typed errors the domain returns. The
// rules that move points live in the sub-packages (ledger, rules, partners).
package coalition

import (
	"fmt"
	"math"
	"math/bits"

	"github.com/google/uuid"
)

// Points are loyalty points. Always whole: the product never holds a
// fraction of a point.
//
// Points is a defined type, not an alias of int64, so that the compiler
// refuses an amount of money (or a rate, or a count) where points are
// expected, and the other way round. Points become money only through
// Worth; money becomes points only at a rate, where the rules convert
// explicitly; and proto's int64 fields are converted at the edge.
type Points int64

// Worth is the money value of p, in minor units, at pointValueMinor minor
// units a point.
func (p Points) Worth(pointValueMinor int64) int64 { return int64(p) * pointValueMinor }

// Money is an amount in integer minor units of an ISO 4217 currency.
type Money struct {
	Minor    int64  `json:"minor"`
	Currency string `json:"currency"`
}

func (m Money) String() string { return fmt.Sprintf("%d %s (minor units)", m.Minor, m.Currency) }

// PartnerID and MemberID name the two kinds of party to a transaction. The
// coalition operator, which funds points of its own, has a PartnerID too.
//
// They are defined types, not aliases of uuid.UUID, so that the compiler
// refuses a member's id where a partner's is expected: with aliases that
// mistake type-checks and surfaces only as a wrong posting. Converting
// between them, or from a bare UUID, is explicit, and done where an id
// comes in (a request, a certificate's URI).
//
// Their text and JSON forms are those of uuid.UUID. They implement neither
// sql.Scanner nor driver.Valuer: pgx then encodes and scans them as their 16
// bytes (see package txn), where those interfaces would send every id
// through its text form.
type (
	PartnerID uuid.UUID
	MemberID  uuid.UUID
)

// NewPartnerID and NewMemberID return new random ids.
// NewID is a time-ordered (version 7) UUID for a ledger row: rows written
// together land on the same rightmost pages of their primary keys' B-trees
// instead of random ones, which keeps those indexes' working set small and
// spares the write-ahead log a full-page image for nearly every insert.
func NewID() uuid.UUID { return uuid.Must(uuid.NewV7()) }

func NewPartnerID() PartnerID { return PartnerID(uuid.New()) }
func NewMemberID() MemberID   { return MemberID(uuid.New()) }

// ParsePartnerID and ParseMemberID read an id in any form uuid.Parse accepts.
func ParsePartnerID(s string) (PartnerID, error) {
	u, err := uuid.Parse(s)
	return PartnerID(u), err
}

func ParseMemberID(s string) (MemberID, error) {
	u, err := uuid.Parse(s)
	return MemberID(u), err
}

func (id PartnerID) String() string                { return uuid.UUID(id).String() }
func (id PartnerID) MarshalText() ([]byte, error)  { return uuid.UUID(id).MarshalText() }
func (id *PartnerID) UnmarshalText(b []byte) error { return (*uuid.UUID)(id).UnmarshalText(b) }
func (id MemberID) String() string                 { return uuid.UUID(id).String() }
func (id MemberID) MarshalText() ([]byte, error)   { return uuid.UUID(id).MarshalText() }
func (id *MemberID) UnmarshalText(b []byte) error  { return (*uuid.UUID)(id).UnmarshalText(b) }

// MaxAmount bounds every amount of points or money minor units a request may
// carry (10^12), so that products of an amount and a rate in basis points
// stay far inside int64.
const MaxAmount = 1_000_000_000_000

// MulDivFloor returns floor(a*b/c) for non-negative a, b and positive c,
// computed in 128 bits so the product cannot overflow: MulDivTrunc for
// amounts that cannot be negative, where truncating is rounding down. It
// panics on a negative operand, which would be a bug in the caller. The
// result is a scaled by the ratio b/c, so it has a's type: points scaled
// by a rate are points.
func MulDivFloor[N ~int64](a N, b, c int64) N {
	if a < 0 || b < 0 || c <= 0 {
		panic(fmt.Sprintf("MulDivFloor(%d, %d, %d): operands out of range", a, b, c))
	}
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	if hi >= uint64(c) {
		panic(fmt.Sprintf("MulDivFloor(%d, %d, %d): quotient overflows", a, b, c))
	}
	q, _ := bits.Div64(hi, lo, uint64(c))
	if q > 1<<63-1 {
		panic(fmt.Sprintf("MulDivFloor(%d, %d, %d): quotient overflows", a, b, c))
	}
	return N(q)
}

// MulDivTrunc returns a*b/c truncated toward zero, for a and b of either
// sign (but not math.MinInt64) and positive c, computed in 128 bits so the
// product cannot overflow. Where a*b fits in int64 it equals Go's a*b/c.
//
// It is the product's one rounding rule: every proportion of points or
// money (a rate in basis points of an amount, a share of a lot) is
// computed by MulDivTrunc, or by MulDivFloor where the amount cannot be
// negative, and nowhere else. Truncating toward zero means that a rate
// never gives or charges more than it says, and that the result for a
// negative amount is the exact opposite of the result for the positive
// one: MulDivTrunc(-a, b, c) == -MulDivTrunc(a, b, c). So a fee on a
// window's burns never rounds up against the payer, and a fee on the
// refunds of burns of an earlier window (a negative amount) never rounds
// up against the operator.
func MulDivTrunc(a, b, c int64) int64 {
	if a == math.MinInt64 || b == math.MinInt64 {
		panic(fmt.Sprintf("MulDivTrunc(%d, %d, %d): operands out of range", a, b, c))
	}
	q := MulDivFloor(abs(a), abs(b), c)
	if (a < 0) != (b < 0) {
		return -q
	}
	return q
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}
