package ledger

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/infra/txn"
	"github.com/coalition-loyalty/coalition/coalition/rules"
)

// Grant is points given to a member outside any purchase, funded by a
// partner or the operator: an adjustment that finance approved.
type Grant struct {
	Funder string // a partner's code, or "operator"
	Member coalition.MemberID
	Points coalition.Points
	Reason string
}

// RuleAdjustment names a granted bonus's breakdown line.
const RuleAdjustment = "adjustment"

// GrantIn posts g as a bonus transaction of the funder's, spendable at
// once and expiring by the funder's terms, in the caller's transaction tx
// (READ COMMITTED), so that what decided the grant commits with it. It
// takes the ledger's locks as every posting does: the open window in share
// mode, then the member FOR UPDATE; tx must hold no member lock before.
// The new points pay the member's debts first, as an earn's do.
func (l *Ledger) GrantIn(ctx context.Context, tx pgx.Tx, g Grant) (Transaction, error) {
	if g.Points <= 0 {
		return Transaction{}, coalition.Errorf(coalition.Invalid, "points", "must be positive")
	}
	now := l.now()
	c := opContext{code: g.Funder}
	err := tx.QueryRow(ctx, `
		SELECT p.id, p.points_ttl_days, p.issued_account_id, s.currency, s.point_value_minor, s.time_zone, w.business_date
		FROM partners AS p, coalition_settings AS s, settlement_windows AS w
		WHERE p.code = $1 AND s.id = 1 AND w.status = 'open'`+lockWindow, g.Funder).
		Scan(&c.partnerID, &c.pointsTTLDays, &c.issuedAccount, &c.currency, &c.pointValueMinor, &c.zone, &c.businessDate)
	if errors.Is(err, pgx.ErrNoRows) {
		var funders, windows int
		if err := tx.QueryRow(ctx, `SELECT (SELECT count(*) FROM partners WHERE code = $1), (SELECT count(*) FROM settlement_windows)`,
			g.Funder).Scan(&funders, &windows); err != nil {
			return Transaction{}, fmt.Errorf("grant: %w", err)
		}
		if funders == 0 {
			return Transaction{}, coalition.Errorf(coalition.NotFound, "funder", "no partner %q in the coalition", g.Funder)
		}
		if windows > 0 {
			return Transaction{}, txn.ErrRetry // clearing closed the window meanwhile
		}
		return Transaction{}, errors.New("ledger is not initialised: no open settlement window")
	}
	if err != nil {
		return Transaction{}, fmt.Errorf("grant: %w", err)
	}
	if c.location, err = location(c.zone); err != nil {
		return Transaction{}, fmt.Errorf("coalition time zone %q: %w", c.zone, err)
	}
	m, err := scanMember(tx.QueryRow(ctx, memberSQL+"id = $1"+lockMember, g.Member), "member_id", "member_id")
	if err != nil {
		return Transaction{}, err
	}
	debts, err := loadDebts(ctx, tx, m.ID)
	if err != nil {
		return Transaction{}, err
	}
	p := newPosting(Transaction{
		ID: coalition.NewID(), Kind: KindBonus, PartnerID: c.partnerID, MemberID: m.ID,
		BusinessDate: c.date(), CreatedAt: now,
	})
	lines := []rules.Line{{Rule: RuleAdjustment, Description: g.Reason, Points: g.Points, Funder: g.Funder}}
	if _, err := l.postLines(ctx, tx, c, m, p, lines, now, now.AddDate(0, 0, c.pointsTTLDays), debts); err != nil {
		return Transaction{}, err
	}
	return p.tx, nil
}
