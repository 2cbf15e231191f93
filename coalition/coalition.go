// Package coalition holds the vocabulary every part of the product shares:
// points, money, identifiers, and the typed errors the domain returns. The
// rules that move points live in the sub-packages (ledger, rules, partners).
package coalition

import (
	"fmt"
	"math/bits"

	"github.com/google/uuid"
)

// Points are loyalty points. Always whole: the product never holds a
// fraction of a point.
type Points = int64

// Money is an amount in integer minor units of an ISO 4217 currency.
type Money struct {
	Minor    int64  `json:"minor"`
	Currency string `json:"currency"`
}

func (m Money) String() string { return fmt.Sprintf("%d %s (minor units)", m.Minor, m.Currency) }

// PartnerID and MemberID name the two kinds of party to a transaction.
type (
	PartnerID = uuid.UUID
	MemberID  = uuid.UUID
)

// MaxAmount bounds every amount of points or money minor units a request may
// carry (10^12), so that products of an amount and a rate in basis points
// stay far inside int64.
const MaxAmount = 1_000_000_000_000

// MulDivFloor returns floor(a*b/c) for non-negative a, b and positive c,
// computed in 128 bits so the product cannot overflow. It is the one place
// proportions of points and money are rounded, always down.
func MulDivFloor(a, b, c int64) int64 {
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
	return int64(q)
}
