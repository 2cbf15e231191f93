// Package membercard reads a member's card for the wallet passes from the
// ledger and the partners' register, with the same reads and the same
// choices as the member's page (gateway/web through the member API), so
// that the pass and the page show the same numbers. It is apart from
// package passes so that the ledger may import passes (for its outbox
// statement) without a cycle.
package membercard

import (
	"context"
	"time"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/ledger"
	"github.com/coalition-loyalty/coalition/coalition/offers"
	"github.com/coalition-loyalty/coalition/coalition/partners"
	"github.com/coalition-loyalty/coalition/coalition/passes"
)

// ExpiringWithin is how far ahead the card lists expiring points: the
// member page's 30 days.
const ExpiringWithin = 30 * 24 * time.Hour

// Ledger is what the card reads of the ledger (*ledger.Ledger).
type Ledger interface {
	MemberCard(ctx context.Context, member coalition.MemberID) (ledger.Member, error)
	BalanceOf(ctx context.Context, ref ledger.MemberRef) (ledger.Balance, error)
	Standing(ctx context.Context, ref ledger.MemberRef) (ledger.Standing, error)
	ExpiringLots(ctx context.Context, member coalition.MemberID, within time.Duration) ([]ledger.OpenLot, error)
}

// Partners lists the coalition's partners (*partners.Register).
type Partners interface {
	List(ctx context.Context) ([]partners.Partner, error)
}

// Offers reads a member's personal offers in force (*offers.Store).
type Offers interface {
	ForMember(ctx context.Context, member coalition.MemberID) ([]offers.MemberOffer, error)
}

// Source is a passes.Cards on the ledger.
type Source struct {
	Ledger   Ledger
	Partners Partners
	// Offers, if set, puts the member's personal offers on the card (the
	// member page's ListMyOffers).
	Offers Offers
}

// Card reads the member's card: the available balance, the tier's name
// when the coalition has tiers (the page's GetMe), the active partners
// (ListSpendPartners) and the points expiring within 30 days, by day
// (ListExpiringPoints), and the personal offers in force (ListMyOffers).
func (s Source) Card(ctx context.Context, member coalition.MemberID) (passes.Card, error) {
	ref := ledger.MemberRef{ID: member}
	m, err := s.Ledger.MemberCard(ctx, member)
	if err != nil {
		return passes.Card{}, err
	}
	b, err := s.Ledger.BalanceOf(ctx, ref)
	if err != nil {
		return passes.Card{}, err
	}
	st, err := s.Ledger.Standing(ctx, ref)
	if err != nil {
		return passes.Card{}, err
	}
	lots, err := s.Ledger.ExpiringLots(ctx, member, ExpiringWithin)
	if err != nil {
		return passes.Card{}, err
	}
	ps, err := s.Partners.List(ctx)
	if err != nil {
		return passes.Card{}, err
	}
	c := passes.Card{Number: m.CardNumber, QRToken: m.QRToken, Balance: b.Available}
	if st.PeriodDays > 0 { // a coalition with tiers
		c.Tier = st.TierName
	}
	for _, p := range ps {
		if p.Status == "active" {
			c.Partners = append(c.Partners, p.Name)
		}
	}
	// Lots come soonest first; those lapsing at one instant are one line.
	for _, l := range lots {
		if n := len(c.Expiring); n > 0 && c.Expiring[n-1].On.Equal(l.ExpiresAt) {
			c.Expiring[n-1].Points += l.Remaining
			continue
		}
		c.Expiring = append(c.Expiring, passes.Expiry{Points: l.Remaining, On: l.ExpiresAt})
	}
	if s.Offers != nil {
		os, err := s.Offers.ForMember(ctx, member)
		if err != nil {
			return passes.Card{}, err
		}
		for _, o := range os {
			po := passes.Offer{Code: o.Code, Name: o.Name, Gives: o.Gives, Ends: o.Ends}
			for _, code := range o.Coupons {
				po.Coupons = append(po.Coupons, offers.Printed(code))
			}
			c.Offers = append(c.Offers, po)
		}
	}
	return c, nil
}
