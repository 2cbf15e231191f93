package passes

import (
	"context"
	"fmt"
	"sync"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/wallet/googlewallet"
)

// classOnce makes sure the programme's loyalty class exists before the
// first object is inserted; a failure is tried again at the next call.
type classOnce struct {
	mu   sync.Mutex
	done bool
}

func (s *Service) ensureClass(ctx context.Context) error {
	s.class.mu.Lock()
	defer s.class.mu.Unlock()
	if s.class.done {
		return nil
	}
	g := s.cfg.Google
	class, err := g.Program.Class()
	if err != nil {
		return err
	}
	if _, err := g.API.UpsertClass(ctx, class); err != nil {
		return err
	}
	s.class.done = true
	return nil
}

// object is the member's Google Wallet loyalty object as the card is now.
func (s *Service) object(ctx context.Context, member coalition.MemberID) (googlewallet.LoyaltyObject, error) {
	c, err := s.cfg.Cards.Card(ctx, member)
	if err != nil {
		return googlewallet.LoyaltyObject{}, fmt.Errorf("card of %s: %w", member, err)
	}
	gc := googlewallet.Card{
		ObjectSuffix: member.String(), CardNumber: c.Number, BarcodeValue: c.QRToken,
		Balance: c.Balance, Tier: c.Tier, Partners: c.Partners,
	}
	for _, e := range c.Expiring {
		gc.Expiring = append(gc.Expiring, googlewallet.Expiry{Points: e.Points, On: e.On.In(s.cfg.Zone)})
	}
	for _, o := range s.shownOffers(c.Offers) {
		gc.Offers = append(gc.Offers, o.Line())
	}
	return s.cfg.Google.Program.Object(gc)
}

// GoogleSaveLink issues the member's pass if need be and returns the "Save
// to Google Wallet" link for it. With the API, the object is inserted (or
// brought up to date) first and the link names it only, so it stays short
// however many partners the card lists; without, the link carries the
// whole object.
func (s *Service) GoogleSaveLink(ctx context.Context, member coalition.MemberID) (string, error) {
	g := s.cfg.Google
	if g == nil {
		return "", ErrOff
	}
	if _, err := s.issue(ctx, member); err != nil {
		return "", err
	}
	obj, err := s.object(ctx, member)
	if err != nil {
		return "", err
	}
	if g.API != nil {
		if err := s.ensureClass(ctx); err != nil {
			return "", fmt.Errorf("google wallet class: %w", err)
		}
		if _, err := g.API.UpsertObject(ctx, obj); err != nil {
			return "", err
		}
		obj = googlewallet.LoyaltyObject{ID: obj.ID, ClassID: obj.ClassID}
	}
	return googlewallet.SaveLink(g.Account, s.cfg.Clock(), g.Origins, obj)
}
