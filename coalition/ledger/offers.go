package ledger

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/offers"
	"github.com/coalition-loyalty/coalition/coalition/rules"
)

// applyOffers adds to an earning the lines of the personal offers that
// target the member and fit the purchase, and of the coupon the till
// presents (package offers), each funded as its offer says and drawn, by
// the caller, from its offer's budget. It runs after the member's lock:
// the coupon's use is taken here, by the conditional update of its row,
// before any budget is drawn. An offer whose coupon is presented gives
// its points once, as the coupon's line.
//
// The lines go in offer code order, so that every accrual draws on the
// offers' budget rows in one order.
func applyOffers(ctx context.Context, tx pgx.Tx, e *rules.Earning, eligible []offers.Terms, a Accrual, c opContext,
	m memberRow, now time.Time) error {
	if len(eligible) == 0 && a.CouponCode == "" {
		return nil
	}
	var base coalition.Points
	for _, l := range e.Lines {
		if l.Rule == rules.LineBase {
			base += l.Points
		}
	}
	var lines []rules.Line
	coupon := ""
	if a.CouponCode != "" {
		t, err := offers.TakeCoupon(ctx, tx, a.CouponCode, m.ID, c.code, a.Category, a.Purchase.Minor, now)
		if err != nil {
			return err
		}
		coupon = t.Code
		lines = append(lines, t.Line(rules.LineCoupon, c.code, base))
	}
	for _, t := range eligible {
		if t.Code == coupon || t.Misfit(c.code, a.Category, a.Purchase.Minor) != "" {
			continue
		}
		if line := t.Line(rules.LineOffer, c.code, base); line.Points > 0 {
			lines = append(lines, line)
		}
	}
	slices.SortStableFunc(lines, func(x, y rules.Line) int { return cmp.Compare(x.Ref, y.Ref) })
	e.Lines = append(e.Lines, lines...)
	e.Sum()
	return nil
}

// budgetKey is the budget a line draws on: its promotion's, or its
// offer's.
func budgetKey(l rules.Line) string {
	if l.Rule == rules.LineOffer || l.Rule == rules.LineCoupon {
		return offers.BudgetKey(l.Ref)
	}
	return l.Ref
}

// couponUse is the record of a coupon an accrual used, written with the
// accrual's earn, or a redemption used, written with the coupon's bonus
// (earn is then the bonus).
type couponUse struct {
	code    string
	earn    uuid.UUID
	member  coalition.MemberID
	partner coalition.PartnerID
	at      time.Time
}
