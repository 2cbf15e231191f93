package offers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/rules"
)

// What the ledger reads and writes of offers, in an accrual's own
// transaction, after it has locked the member (docs/DATABASE.md): which
// running offers target the member, and the coupon a till presents, whose
// use is taken by a conditional update of the coupon's row.

// Terms is an offer as an accrual applies it.
type Terms struct {
	Code             string
	Name             string
	BonusPoints      coalition.Points
	MultiplierBP     int64
	Partners         []string
	Categories       []string
	MinPurchaseMinor int64
	Starts, Ends     time.Time
	BudgetPoints     coalition.Points
	FundedBy         string
}

// BudgetKey is the key of an offer's budget shards in promotion_budgets
// (promotion codes have no colon, so the two never meet).
func BudgetKey(code string) string { return "offer:" + code }

// Misfit says why a purchase at partner does not qualify ("" if it does).
func (t Terms) Misfit(partner, category string, amount int64) string {
	switch {
	case len(t.Partners) > 0 && !slices.Contains(t.Partners, partner):
		return "it is not valid at this partner"
	case len(t.Categories) > 0 && !slices.Contains(t.Categories, category):
		return fmt.Sprintf("it applies to purchases of %v only", t.Categories)
	case amount < t.MinPurchaseMinor:
		return fmt.Sprintf("it applies to purchases of at least %d.%02d", t.MinPurchaseMinor/100, t.MinPurchaseMinor%100)
	}
	return ""
}

// Line is the breakdown's line of the offer on a purchase at partner
// whose base points are base: rule is rules.LineOffer or
// rules.LineCoupon. Its points are drawn from the offer's budget.
func (t Terms) Line(rule, partner string, base coalition.Points) rules.Line {
	pts := t.BonusPoints + coalition.MulDivFloor(base, t.MultiplierBP, 10_000)
	funder := t.FundedBy
	if funder == rules.FundedByPartner {
		funder = partner
	}
	return rules.Line{Rule: rule, Ref: t.Code, Description: t.Name + ": " + t.Gives(), Points: pts, Funder: funder,
		Budget: t.BudgetPoints}
}

// Gives says what the offer gives, for receipts and the member's page.
func (t Terms) Gives() string {
	switch {
	case t.MultiplierBP > 0 && t.BonusPoints > 0:
		return fmt.Sprintf("+%s of the base points and %d points", percent(t.MultiplierBP), t.BonusPoints)
	case t.MultiplierBP > 0:
		return fmt.Sprintf("+%s of the base points", percent(t.MultiplierBP))
	}
	return fmt.Sprintf("%d bonus points", t.BonusPoints)
}

func percent(bp int64) string {
	if bp%100 == 0 {
		return fmt.Sprintf("%d%%", bp/100)
	}
	return fmt.Sprintf("%d.%02d%%", bp/100, bp%100)
}

const termsColumns = `o.code, o.name, o.bonus_points, o.multiplier_bp, o.partners, o.categories, o.min_purchase_minor,
	o.starts_at, o.ends_at, o.budget_points, o.funded_by`

func scanTerms(r pgx.Row, extra ...any) (Terms, error) {
	var t Terms
	err := r.Scan(append([]any{&t.Code, &t.Name, &t.BonusPoints, &t.MultiplierBP, &t.Partners, &t.Categories,
		&t.MinPurchaseMinor, &t.Starts, &t.Ends, &t.BudgetPoints, &t.FundedBy}, extra...)...)
	return t, err
}

// running is the condition of an offer in force at $2.
const running = `o.ended_at IS NULL AND o.starts_at <= $2 AND o.ends_at > $2`

// eligibleSQL is the offers in force at $2 that target member $1: through
// one of the member's segments (as the segment's last computation left
// it) or by name. Offers are few and the member's segments fewer; each
// part is a probe of the member's own index.
const eligibleSQL = `
	SELECT ` + termsColumns + `
	FROM offers AS o
	WHERE ` + running + `
	  AND (o.segment_id IN (SELECT segment_id FROM segment_members WHERE member_id = $1)
	       OR o.id IN (SELECT offer_id FROM offer_members WHERE member_id = $1))
	ORDER BY o.code`

// QueueEligible queues on b the read of the offers that target member at
// now; once b is sent, *into holds them, in code order.
func QueueEligible(b *pgx.Batch, member coalition.MemberID, now time.Time, into *[]Terms) {
	b.Queue(eligibleSQL, member, now).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			t, err := scanTerms(rows)
			if err != nil {
				return fmt.Errorf("offers of the member: %w", err)
			}
			*into = append(*into, t)
		}
		return rows.Err()
	})
}

// targetedSQL is which of the members named by id ($1) or card ($3) an
// offer in force at $2 targets.
const targetedSQL = `
	WITH m AS (SELECT id FROM members WHERE id = ANY($1) OR card_number = ANY($3))
	SELECT sm.member_id FROM segment_members AS sm JOIN offers AS o ON o.segment_id = sm.segment_id
	WHERE sm.member_id IN (SELECT id FROM m) AND ` + running + `
	UNION
	SELECT om.member_id FROM offer_members AS om JOIN offers AS o ON o.id = om.offer_id
	WHERE om.member_id IN (SELECT id FROM m) AND ` + running

// QueueTargeted queues on b the read of which of the members (named by
// id or card number) an offer in force at now targets; add receives each.
func QueueTargeted(b *pgx.Batch, ids []uuid.UUID, cards []string, now time.Time, add func(coalition.MemberID)) {
	b.Queue(targetedSQL, ids, now, cards).Query(func(rows pgx.Rows) error {
		var id coalition.MemberID
		_, err := pgx.ForEachRow(rows, []any{&id}, func() error {
			add(id)
			return nil
		})
		if err != nil {
			return fmt.Errorf("members with offers: %w", err)
		}
		return nil
	})
}

// Querier is a transaction, as the ledger's posting holds it.
type Querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// TakeCoupon checks the coupon code (canonical) a till presents with an
// accrual of member at partner, at now, for a purchase of amount in
// category, and takes one of its uses. It runs in the accrual's
// transaction after the member's lock. The coupon's row is shared by
// whoever holds the code, so its use is taken by a conditional update
// (uses < max_uses), which waits for a concurrent accrual holding the
// row and re-checks the condition on what it left: of N accruals racing
// for the last use, one takes it and the others are refused (the CHECK on
// the table is the constraint behind it). A refusal is a domain error on
// field coupon_code; the caller rolls its transaction back.
func TakeCoupon(ctx context.Context, tx Querier, code string, member coalition.MemberID, partner, category string,
	amount int64, now time.Time) (Terms, error) {
	var bound *coalition.MemberID
	var maxUses, uses int
	var ended *time.Time
	t, err := scanTerms(tx.QueryRow(ctx, `
		SELECT `+termsColumns+`, c.member_id, c.max_uses, c.uses, o.ended_at
		FROM coupons AS c JOIN offers AS o ON o.id = c.offer_id
		WHERE c.code = $1`, code), &bound, &maxUses, &uses, &ended)
	if errors.Is(err, pgx.ErrNoRows) {
		return Terms{}, coalition.Errorf(coalition.NotFound, "coupon_code", "no coupon has this code")
	}
	if err != nil {
		return Terms{}, fmt.Errorf("coupon: %w", err)
	}
	refuse := func(format string, args ...any) (Terms, error) {
		return Terms{}, coalition.Errorf(coalition.FailedPrecondition, "coupon_code", "the coupon cannot be used: "+format, args...)
	}
	switch {
	case ended != nil:
		return refuse("its offer %s was ended", t.Code)
	case !now.Before(t.Ends):
		return refuse("it expired at %s", t.Ends.Format(time.RFC3339))
	case now.Before(t.Starts):
		return refuse("it is valid from %s", t.Starts.Format(time.RFC3339))
	case bound != nil && *bound != member:
		return refuse("it was issued to another member")
	case uses >= maxUses:
		return refuse("it has been used up (%d of %d uses)", uses, maxUses)
	}
	if why := t.Misfit(partner, category, amount); why != "" {
		return refuse("%s", why)
	}
	tag, err := tx.Exec(ctx, `UPDATE coupons SET uses = uses + 1 WHERE code = $1 AND uses < max_uses`, code)
	if err != nil {
		return Terms{}, fmt.Errorf("coupon: take a use: %w", err)
	}
	if tag.RowsAffected() != 1 {
		return refuse("it has been used up (%d of %d uses)", maxUses, maxUses)
	}
	return t, nil
}

// QueueUse queues on b the record of a coupon's use by an earn, which b
// must follow the earn's own rows in.
func QueueUse(b *pgx.Batch, code string, earn uuid.UUID, member coalition.MemberID, partner coalition.PartnerID, at time.Time) {
	b.Queue(`INSERT INTO coupon_uses (coupon_code, transaction_id, member_id, partner_id, used_at) VALUES ($1, $2, $3, $4, $5)`,
		code, earn, member, partner, at)
}
