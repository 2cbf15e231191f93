package ledger

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/rules"
)

// Accrual is a purchase at the calling partner that earns points.
type Accrual struct {
	IdempotencyKey string          `json:"-"`
	Member         MemberRef       `json:"member"`
	Purchase       coalition.Money `json:"purchase"`
	OrderID        string          `json:"order_id"`
	Category       string          `json:"category,omitempty"`
}

// AccrueResult is the earn posted and how its points were computed.
type AccrueResult struct {
	Transaction   Transaction   `json:"transaction"`
	Earning       rules.Earning `json:"earning"`
	SpendableFrom time.Time     `json:"spendable_from"`
	ExpiresAt     time.Time     `json:"expires_at"`
}

func checkMoney(field string, m coalition.Money) error {
	if m.Minor <= 0 {
		return coalition.Errorf(coalition.Invalid, field+".minor", "must be positive, got %d", m.Minor)
	}
	if m.Minor > coalition.MaxAmount {
		return coalition.Errorf(coalition.Invalid, field+".minor", "must be at most %d", int64(coalition.MaxAmount))
	}
	return nil
}

func checkPoints(field string, n int64) error {
	if n <= 0 {
		return coalition.Errorf(coalition.Invalid, field, "must be positive, got %d", n)
	}
	if n > coalition.MaxAmount {
		return coalition.Errorf(coalition.Invalid, field, "must be at most %d", int64(coalition.MaxAmount))
	}
	return nil
}

func checkOrderID(id string) error {
	if id == "" || len(id) > 64 {
		return coalition.Errorf(coalition.Invalid, "order_id", "must be 1 to 64 characters")
	}
	return nil
}

// Accrue earns points on a purchase: it posts issued → member and creates
// the lot, pending until the partner's return window has passed. Points
// earned while the member owes points pay the debt first.
func (l *Ledger) Accrue(ctx context.Context, partner coalition.PartnerID, a Accrual) (AccrueResult, error) {
	if err := checkMoney("purchase", a.Purchase); err != nil {
		return AccrueResult{}, err
	}
	if err := checkOrderID(a.OrderID); err != nil {
		return AccrueResult{}, err
	}
	h, err := l.hashRef(ctx, a.Member)
	if err != nil {
		return AccrueResult{}, err
	}
	li, err := l.readLiability(ctx, partner)
	if err != nil {
		return AccrueResult{}, err
	}
	res, err := idempotent(ctx, l, partner, a.IdempotencyKey, "accrue", a.record(h), func(tx pgx.Tx, now time.Time) (AccrueResult, error) {
		c, err := loadContext(ctx, tx, partner)
		if err != nil {
			return AccrueResult{}, err
		}
		if a.Purchase.Currency != c.currency {
			return AccrueResult{}, coalition.Errorf(coalition.Invalid, "purchase.currency",
				"the coalition settles in %s, not %s", c.currency, a.Purchase.Currency)
		}
		m, err := findMember(ctx, tx, a.Member, h, "member")
		if err != nil {
			return AccrueResult{}, err
		}
		var n int
		if err := tx.QueryRow(ctx, `
			SELECT count(*) FROM transactions
			WHERE partner_id = $1 AND order_id = $2 AND kind = 'earn'`, partner, a.OrderID).Scan(&n); err != nil {
			return AccrueResult{}, fmt.Errorf("accrue: check order: %w", err)
		}
		if n > 0 {
			return AccrueResult{}, coalition.Errorf(coalition.Conflict, "order_id", "order %q has already earned points", a.OrderID)
		}
		earning, err := l.earn.Earn(ctx, rules.Purchase{
			Partner: partner, Member: m.ID, Amount: a.Purchase, Category: a.Category, At: now,
			EarnRateBP: c.earnRateBP, PointValueMinor: c.pointValueMinor,
		})
		if err != nil {
			return AccrueResult{}, fmt.Errorf("accrue: earn rules: %w", err)
		}
		if err := li.allows(earning.Total); err != nil {
			return AccrueResult{}, err
		}
		amount := a.Purchase
		p := newPosting(Transaction{
			ID: uuid.New(), Kind: KindEarn, PartnerID: partner, MemberID: m.ID, Points: earning.Total,
			Amount: &amount, OrderID: a.OrderID, BusinessDate: c.date(), CreatedAt: now,
		})
		p.ruleVersion = earning.Version
		res := AccrueResult{
			Earning:       earning,
			SpendableFrom: now.Add(c.returnWindow),
			ExpiresAt:     now.AddDate(0, 0, c.pointsTTLDays),
		}
		if earning.Total > 0 {
			t := &lot{ID: uuid.New(), IssuerID: partner, Points: earning.Total, Remaining: earning.Total,
				EarnedAt: now, SpendableFrom: res.SpendableFrom, ExpiresAt: res.ExpiresAt}
			p.newLots = append(p.newLots, t)
			p.move(c.issuedAccount, m.pointsAccount, earning.Total)
			debts, err := loadDebts(ctx, tx, m.ID)
			if err != nil {
				return AccrueResult{}, err
			}
			if len(debts) > 0 {
				// Only the new lot: any older points already went to the debt
				// when it arose.
				p.payDebts(&purse{lots: []*lot{t}, debts: debts}, m)
			}
		}
		if err := p.write(ctx, tx); err != nil {
			return AccrueResult{}, err
		}
		res.Transaction = p.tx
		return res, nil
	})
	if uniqueViolation(err, "transactions_one_earn_per_order") {
		// Another accrual of the same order committed between our check and
		// our insert.
		return AccrueResult{}, coalition.Errorf(coalition.Conflict, "order_id", "order %q has already earned points", a.OrderID)
	}
	return res, err
}
