package ledger

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/offers"
	"github.com/coalition-loyalty/coalition/coalition/rules"
)

// redemptionCoupon takes a use of the coupon a redemption presents and
// queues on w the bonus transaction of its offer's fixed points, funded by
// the offer's funder and drawn from the offer's budget, as an accrual's
// coupon line is (docs/API.md, Redeem). It runs after
// the member's lock, in the redemption's transaction, and takes the
// shared rows in the accrual's order: the coupon's row, then the budget's.
//
// A redemption has no purchase: no amount, no category. The coupon's
// scope is checked against none, so a coupon whose offer asks for a
// minimum purchase or a category is refused rather than given on a
// redemption that cannot show either. An offer's multiplier has no base
// points to multiply here: a coupon that gives only a multiplier is
// refused, and one that gives both gives its fixed points.
//
// The bonus stands on its own, as a granted bonus does (GrantIn): it names
// no original transaction, because a bonus's original is read as the earn
// it came with (refunds claw such bonuses back, and the ledger check sums
// a burn's later transactions as its refunds). The redemption's order id
// and the coupon's use link it to the redemption.
func (l *Ledger) redemptionCoupon(ctx context.Context, tx pgx.Tx, w *writes, c opContext, m memberRow, pu *purse,
	r Redemption, now time.Time) (Transaction, error) {
	t, err := offers.TakeCoupon(ctx, tx, r.CouponCode, m.ID, c.code, "", 0, now)
	if err != nil {
		return Transaction{}, err
	}
	if t.BonusPoints <= 0 {
		return Transaction{}, coalition.Errorf(coalition.FailedPrecondition, "coupon_code",
			"the coupon cannot be used: it gives a multiplier of the points earned, not on a redemption")
	}
	line := t.Line(rules.LineCoupon, c.code, 0)
	line.Description = fmt.Sprintf("%s: %d bonus points", t.Name, t.BonusPoints)
	if line.Budget > 0 {
		granted, err := drawBudget(ctx, tx, budgetKey(line), line.Points, line.Budget, m.ID)
		if err != nil {
			return Transaction{}, err
		}
		if granted < line.Points {
			// A coupon promises its points: the redemption is refused
			// whole, and the cashier goes on without the coupon.
			return Transaction{}, coalition.Errorf(coalition.FailedPrecondition, "coupon_code",
				"the coupon cannot be used: its offer's budget is spent (%d of %d points left)", granted, line.Points)
		}
	}
	fs, err := l.funders(ctx, tx, []rules.Line{line})
	if err != nil {
		return Transaction{}, err
	}
	f := fs[line.Funder]
	// The points expire by their funder's terms, as a granted bonus's do:
	// the redeeming partner's terms are for the points it issues.
	var ttlDays int
	if err := tx.QueryRow(ctx, `SELECT points_ttl_days FROM partners WHERE id = $1`, f.id).Scan(&ttlDays); err != nil {
		return Transaction{}, fmt.Errorf("coupon: terms of %s: %w", line.Funder, err)
	}
	p := newPosting(Transaction{
		ID: coalition.NewID(), Kind: KindBonus, PartnerID: f.id, MemberID: m.ID, Points: line.Points,
		OrderID: r.OrderID, BusinessDate: c.date(), CreatedAt: now,
	})
	// Spendable at once, as a granted bonus: no purchase stands behind it
	// that could be returned within a window.
	lt := &lot{ID: coalition.NewID(), IssuerID: f.id, Points: line.Points, Remaining: line.Points,
		EarnedAt: now, SpendableFrom: now, ExpiresAt: now.AddDate(0, 0, ttlDays)}
	p.newLots = append(p.newLots, lt)
	p.lines = []storedLine{{Line: line, funderID: f.id, lot: lt}}
	p.move(f.issuedAccount, m.pointsAccount, line.Points)
	if len(pu.debts) > 0 {
		p.payDebts(&purse{lots: []*lot{lt}, debts: pu.debts}, m)
	}
	if err := p.queue(w); err != nil {
		return Transaction{}, err
	}
	w.couponUse = &couponUse{code: r.CouponCode, earn: p.tx.ID, member: m.ID, partner: c.partnerID, at: now}
	return p.tx, nil
}
