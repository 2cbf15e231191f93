package rpc

import (
	"context"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/ledger"
)

// LedgerTiers tells members their tier from the ledger, under the rules in
// force.
type LedgerTiers struct{ L *ledger.Ledger }

func (t LedgerTiers) MemberTier(ctx context.Context, member coalition.MemberID) (Tier, bool, error) {
	s, err := t.L.Standing(ctx, ledger.MemberRef{ID: member})
	if err != nil || s.PeriodDays == 0 {
		return Tier{}, false, err
	}
	return Tier{Code: s.Tier, Name: s.TierName, QualifyingSpendMinor: s.Spend,
		NextCode: s.NextTier, NextName: s.NextName, SpendToNextMinor: s.Needed}, true, nil
}
