package server

import (
	"context"
	"time"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/gateway/web"
)

// memberTerms gives the member page what the points are worth, the
// member's locked points, the offers open to the member now, the
// partners' rates and the wallet passes offered, from the coalition's
// settings, the ledger, the rules in force and the passes.
type memberTerms struct{ s *Server }

func (t memberTerms) MemberTerms(ctx context.Context, member coalition.MemberID, tier string) (web.MemberTerms, error) {
	s := t.s
	now := s.cfg.Now()
	settings, err := s.ledger.Terms(ctx)
	if err != nil {
		return web.MemberTerms{}, err
	}
	ps, err := s.partners.List(ctx)
	if err != nil {
		return web.MemberTerms{}, err
	}
	rs, err := s.rules.InForce(ctx, s.tx.Pool(), now)
	if err != nil {
		return web.MemberTerms{}, err
	}
	locked, err := s.ledger.Locked(ctx, member)
	if err != nil {
		return web.MemberTerms{}, err
	}
	out := web.MemberTerms{PointValueMinor: settings.PointValueMinor, Currency: settings.Currency,
		Rates: map[string]int64{}, Promotions: map[string]string{}}
	names := map[string]string{}
	for _, p := range ps {
		names[p.Code] = p.Name
		out.Rates[p.Code] = rs.BaseRateBP(p.Code, p.EarnRateBP)
	}
	name := func(code string) string {
		if n := names[code]; n != "" {
			return n
		}
		return code
	}
	for _, l := range locked {
		out.Locked = append(out.Locked, web.Locked{Partner: l.PartnerName, Points: int64(l.Points)})
	}
	for _, pm := range rs.Promotions {
		out.Promotions[pm.Code] = pm.Name
	}
	for _, pm := range rs.OffersFor(tier, now) {
		o := web.Offer{Name: pm.Name, MultiplierBP: pm.MultiplierBP, BonusPoints: int64(pm.BonusPoints),
			// The last moment of the season: Ends itself is the first
			// moment after it.
			Ends: pm.Ends.Add(-time.Second)}
		for _, code := range pm.Partners {
			o.Partners = append(o.Partners, name(code))
		}
		if pm.UnlockAt != "" {
			o.UnlockAt = name(pm.UnlockAt)
		}
		out.Offers = append(out.Offers, o)
	}
	if ps := s.passes; ps != nil {
		on, err := ps.Notifications(ctx, member)
		if err != nil {
			return web.MemberTerms{}, err
		}
		out.Wallet = &web.MemberWallet{Apple: ps.AppleOn(), Google: ps.GoogleOn(), Notifications: on}
	}
	return out, nil
}
