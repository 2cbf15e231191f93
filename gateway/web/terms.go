package web

import (
	"context"
	"time"

	"github.com/coalition-loyalty/coalition/coalition"
)

// MemberTerms is what the member page shows beyond the member API: what
// the points are worth, which are locked and what unlocks them, the offers
// open to the member now, and the rate each partner earns at.
type MemberTerms struct {
	PointValueMinor int64
	Currency        string
	Locked          []Locked
	Offers          []Offer
	// Rates are the partners' earn rates in force, in basis points, by code.
	Rates map[string]int64
	// Promotions names every promotion of the rules in force, by code, for
	// the history's bonus lines.
	Promotions map[string]string
	// Wallet offers the card as a wallet pass; nil: no wallet is offered.
	Wallet *MemberWallet
}

// MemberWallet is what the member page offers of the wallet passes: the
// buttons (Apple's download and Google's save link, served by
// gateway/wallet) and the switch for messages on the pass.
type MemberWallet struct {
	Apple, Google bool
	Notifications bool
}

// Locked is points a purchase at one partner unlocks.
type Locked struct {
	Partner string // the partner's name
	Points  int64
}

// Offer is a promotion open to the member now.
type Offer struct {
	Name         string
	Partners     []string // names; none: at every partner
	MultiplierBP int64    // extra points, as a share of the base (5000: +50 %)
	BonusPoints  int64
	UnlockAt     string // a joint promotion's unlocking partner, by name
	Ends         time.Time
}

// Terms reads a member's terms for the member page.
type Terms interface {
	MemberTerms(ctx context.Context, member coalition.MemberID, tier string) (MemberTerms, error)
}
