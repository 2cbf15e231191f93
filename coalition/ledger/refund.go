package ledger

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/rules"
)

// Refund gives back all or part of an earlier transaction of the calling
// partner: of an earn by the money refunded, of a burn or capture by points.
type Refund struct {
	IdempotencyKey string            `json:"-"`
	TransactionID  uuid.UUID         `json:"transaction_id"`
	Purchase       *coalition.Money  `json:"purchase,omitempty"`
	Points         *coalition.Points `json:"points,omitempty"`
}

// RefundResult is the posting and, for an earn refund, the part of the
// clawed-back points the member had already spent and now owes.
type RefundResult struct {
	Transaction Transaction      `json:"transaction"`
	DebtPoints  coalition.Points `json:"debt_points"`
	// Referrer is the clawback of the referral bonus the purchase paid to
	// the member who referred this one, if it paid one.
	Referrer *Transaction `json:"referrer,omitempty"`
}

type original struct {
	kind     Kind
	member   coalition.MemberID
	points   coalition.Points
	amount   int64
	currency string
	orderID  string
}

// Refund posts a refund, through the lanes when batching is on.
func (l *Ledger) Refund(ctx context.Context, partner coalition.PartnerID, r Refund) (RefundResult, error) {
	switch {
	case (r.Purchase == nil) == (r.Points == nil):
		return RefundResult{}, coalition.Errorf(coalition.Invalid, "amount", "give exactly one of purchase or points")
	case r.Purchase != nil:
		if err := checkMoney("purchase", *r.Purchase); err != nil {
			return RefundResult{}, err
		}
	default:
		if err := checkPoints("points", *r.Points); err != nil {
			return RefundResult{}, err
		}
	}
	if l.lanes == nil || r.IdempotencyKey == "" {
		return l.refundOne(ctx, partner, r)
	}
	q := l.enqueueRequest(&request{ctx: ctx, partner: partner, refund: &r})
	if _, err := q.wait(); err != nil {
		return RefundResult{}, err
	}
	return q.refunded, nil
}

// refundOne posts one refund in a transaction of its own.
func (l *Ledger) refundOne(ctx context.Context, partner coalition.PartnerID, r Refund) (RefundResult, error) {
	return idempotent(ctx, l, partner, r.IdempotencyKey, "refund", r, func(tx pgx.Tx, now time.Time) (RefundResult, error) {
		c, err := loadContext(ctx, tx, partner, posts)
		if err != nil {
			return RefundResult{}, err
		}
		var o original
		var kind string
		var amount *int64
		var currency, orderID *string
		err = tx.QueryRow(ctx, `
			SELECT kind, member_id, points, amount_minor, currency, order_id
			FROM transactions WHERE id = $1 AND partner_id = $2`, r.TransactionID, partner).Scan(
			&kind, &o.member, &o.points, &amount, &currency, &orderID)
		if errors.Is(err, pgx.ErrNoRows) {
			return RefundResult{}, coalition.Errorf(coalition.NotFound, "transaction_id", "no transaction %s of this partner", r.TransactionID)
		}
		if err != nil {
			return RefundResult{}, fmt.Errorf("refund: load original: %w", err)
		}
		o.kind = Kind(kind)
		if amount != nil {
			o.amount, o.currency = *amount, *currency
		}
		if orderID != nil {
			o.orderID = *orderID
		}
		m, err := findMember(ctx, tx, posts, MemberRef{ID: o.member}, nil, "transaction")
		if err != nil {
			return RefundResult{}, err
		}
		pu, err := loadPurse(ctx, tx, m.ID, now)
		if err != nil {
			return RefundResult{}, err
		}
		switch o.kind {
		case KindEarn:
			if r.Purchase == nil {
				return RefundResult{}, coalition.Errorf(coalition.Invalid, "points", "an earn is refunded by the purchase amount, not by points")
			}
			return l.refundEarn(ctx, tx, c, m, pu, o, r, now)
		case KindBurn, KindCapture:
			if r.Points == nil {
				return RefundResult{}, coalition.Errorf(coalition.Invalid, "purchase", "a burn is refunded by points, not by purchase amount")
			}
			return l.refundBurn(ctx, tx, c, m, pu, o, r, now)
		default:
			return RefundResult{}, coalition.Errorf(coalition.FailedPrecondition, "transaction_id", "a %s cannot be refunded", o.kind)
		}
	})
}

// refundEarn claws back the points of the refunded share of the purchase,
// from the earn's lot and from the lots of the bonuses that came with it
// (promotions, a referral bonus), each lot to its own issuer. A lot keeps
// floor(points × amount left / amount): rounding favours the issuer, and
// refunds that add up to the whole purchase take back exactly what was
// earned. Points no longer in a lot are taken from the member's other
// points, and what even those cannot cover becomes a debt to the lot's
// issuer.
func (l *Ledger) refundEarn(ctx context.Context, tx pgx.Tx, c opContext, m memberRow, pu *purse, o original, r Refund, now time.Time) (RefundResult, error) {
	if r.Purchase.Currency != o.currency {
		return RefundResult{}, coalition.Errorf(coalition.Invalid, "purchase.currency", "the purchase was in %s", o.currency)
	}
	var refundedMinor int64
	if err := tx.QueryRow(ctx, `
		SELECT COALESCE(SUM(amount_minor), 0)
		FROM transactions WHERE original_id = $1 AND kind = 'earn_refund'`, r.TransactionID).Scan(&refundedMinor); err != nil {
		return RefundResult{}, fmt.Errorf("refund: earlier refunds: %w", err)
	}
	total := refundedMinor + r.Purchase.Minor
	if total > o.amount {
		return RefundResult{}, coalition.Errorf(coalition.FailedPrecondition, "purchase.minor",
			"refunds would total %d, above the purchase of %d (%d already refunded)", total, o.amount, refundedMinor)
	}
	lots, err := earnLots(ctx, tx, pu, r.TransactionID, m.ID, now)
	if err != nil {
		return RefundResult{}, err
	}
	amount := *r.Purchase
	orig := r.TransactionID
	p := newPosting(Transaction{
		ID: coalition.NewID(), Kind: KindEarnRefund, PartnerID: c.partnerID, MemberID: m.ID,
		Amount: &amount, OrderID: o.orderID, BusinessDate: c.date(), CreatedAt: now, OriginalID: &orig,
	})
	var res RefundResult
	res.DebtPoints = p.clawBack(pu, m, lots, o.amount, o.amount-refundedMinor, o.amount-total)
	if err := releaseBudgets(ctx, tx, lots, m.ID, o.amount, o.amount-refundedMinor, o.amount-total); err != nil {
		return RefundResult{}, err
	}
	if err := l.write(ctx, tx, p); err != nil {
		return res, err
	}
	res.Transaction = p.tx
	referrer, err := l.refundReferrer(ctx, tx, c, o, r, o.amount-refundedMinor, o.amount-total, now)
	if err != nil {
		return RefundResult{}, err
	}
	res.Referrer = referrer
	return res, nil
}

// refundedShare is what points earned on a purchase of amount give back
// when what is left of the purchase goes from leftBefore to leftAfter: they
// keep floor(points × left / amount), so rounding favours the issuer and
// refunds of the whole purchase give back exactly the points.
func refundedShare(points coalition.Points, amount, leftBefore, leftAfter int64) coalition.Points {
	return coalition.MulDivFloor(points, leftBefore, amount) - coalition.MulDivFloor(points, leftAfter, amount)
}

// clawBack takes from each lot the points it no longer keeps once the
// purchase is down from leftBefore to leftAfter of amount, each to its own
// issuer, and returns the points of the new debts still owed after the
// member's other points paid what they could.
func (p *posting) clawBack(pu *purse, m memberRow, lots []earnLot, amount, leftBefore, leftAfter int64) coalition.Points {
	owed := false
	for _, el := range lots {
		claw := refundedShare(el.lot.Points, amount, leftBefore, leftAfter)
		if claw <= 0 {
			continue
		}
		p.tx.Points -= claw
		issuer := el.lot.IssuerID
		fromLot := p.take([]*lot{el.lot}, claw, func(*lot) bool { return true }, "earn_refund", &issuer, nil)
		p.move(m.pointsAccount, el.issuedAccount, fromLot)
		if short := claw - fromLot; short > 0 {
			d := &debt{ID: coalition.NewID(), CreditorID: issuer, Remaining: short}
			p.newDebts = append(p.newDebts, newDebt{debt: *d, points: short})
			p.move(m.debtAccount, el.issuedAccount, short)
			pu.debts = append(pu.debts, d)
			owed = true
		}
	}
	if !owed {
		return 0
	}
	p.payDebts(pu, m)
	var still coalition.Points
	for _, d := range p.newDebts {
		for _, have := range pu.debts {
			if have.ID == d.ID {
				still += have.Remaining
			}
		}
	}
	return still
}

// refundReferrer takes back from the referrer the same share of the
// referral bonus that the purchase paid, if it paid one: the bonus was
// earned by that purchase, so a refund reverses it like the purchase's own
// points (inside the return window it cancels pending points; after it,
// points already spent become the referrer's debt to the operator). It is a
// transaction of its own, on the referrer, pointing at the bonus.
func (l *Ledger) refundReferrer(ctx context.Context, tx pgx.Tx, c opContext, o original, r Refund,
	leftBefore, leftAfter int64, now time.Time) (*Transaction, error) {
	var referrer coalition.MemberID
	var funder coalition.PartnerID // the operator, which funds referral bonuses
	var bonus uuid.UUID
	err := tx.QueryRow(ctx, `
		SELECT b.referrer_id, t.id, t.partner_id
		FROM referral_bonuses AS b
		JOIN transactions AS t ON t.original_id = b.transaction_id AND t.member_id = b.referrer_id AND t.kind = 'bonus'
		WHERE b.member_id = $1 AND b.transaction_id = $2`, o.member, r.TransactionID).Scan(&referrer, &bonus, &funder)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("refund: referral paid by %s: %w", r.TransactionID, err)
	}
	ref, err := findMember(ctx, tx, posts, MemberRef{ID: referrer}, nil, "member")
	if err != nil {
		return nil, err
	}
	pu, err := loadPurse(ctx, tx, ref.ID, now)
	if err != nil {
		return nil, err
	}
	lots, err := earnLots(ctx, tx, pu, r.TransactionID, ref.ID, now)
	if err != nil {
		return nil, err
	}
	// Like the bonus it reverses, it is the funder's (the operator's), and
	// it carries neither the purchase's amount nor its order: those are the
	// referred member's business, not the referrer's.
	p := newPosting(Transaction{
		ID: coalition.NewID(), Kind: KindEarnRefund, PartnerID: funder, MemberID: ref.ID,
		BusinessDate: c.date(), CreatedAt: now, OriginalID: &bonus,
	})
	p.clawBack(pu, ref, lots, o.amount, leftBefore, leftAfter)
	if p.tx.Points == 0 {
		return nil, nil
	}
	if err := l.write(ctx, tx, p); err != nil {
		return nil, err
	}
	return &p.tx, nil
}

// releaseBudgets gives the refunded share of each budgeted promotion's
// bonus back to the promotion's budget, so that a budget counts the points
// its promotion still grants, not those of purchases taken back. Each line
// gives back its refundedShare, the same rounding as its lot, so refunds
// of the whole purchase give back exactly what was drawn.
func releaseBudgets(ctx context.Context, tx pgx.Tx, lots []earnLot, member coalition.MemberID, amount, leftBefore, leftAfter int64) error {
	var txs, ids []uuid.UUID
	for _, el := range lots {
		txs, ids = append(txs, el.transaction), append(ids, el.lot.ID)
	}
	// By transaction, the key of earn_lines: a scan by lot would read (and,
	// on PostgreSQL, lock) every accrual's lines.
	// A personal offer's lines (and a coupon's) give back to the offer's
	// budget; the coupon's use stays taken, as a till does not hand a
	// used coupon back.
	rows, err := tx.Query(ctx, `
		SELECT rule, ref, points FROM earn_lines
		WHERE transaction_id = ANY($1) AND lot_id = ANY($2) AND rule IN ('promotion', 'offer', 'coupon') AND points > 0`, txs, ids)
	if err != nil {
		return fmt.Errorf("refund: promotion lines: %w", err)
	}
	release := map[string]coalition.Points{}
	for rows.Next() {
		var line rules.Line
		if err := rows.Scan(&line.Rule, &line.Ref, &line.Points); err != nil {
			rows.Close()
			return fmt.Errorf("refund: promotion lines: %w", err)
		}
		release[budgetKey(line)] += refundedShare(line.Points, amount, leftBefore, leftAfter)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("refund: promotion lines: %w", err)
	}
	refs := make([]string, 0, len(release))
	for ref := range release {
		refs = append(refs, ref)
	}
	slices.Sort(refs)
	for _, ref := range refs {
		if err := releaseBudget(ctx, tx, ref, release[ref], member); err != nil {
			return err
		}
	}
	return nil
}

// releaseBudget takes points off what a promotion's budget has granted:
// from the member's shard first, where drawBudget took them first, then
// from the others. A promotion without a budget has no rows and nothing
// to give back.
func releaseBudget(ctx context.Context, tx pgx.Tx, promotion string, points coalition.Points, member coalition.MemberID) error {
	if points <= 0 {
		return nil
	}
	first := homeShard(member)
	granted := map[int]coalition.Points{}
	if err := readGranted(ctx, tx, granted, `SELECT shard, granted FROM promotion_budgets WHERE promotion = $1 AND granted > 0`, promotion); err != nil {
		return fmt.Errorf("refund: budget of %s: %w", promotion, err)
	}
	for i := range budgetShards {
		s := (first + i) % budgetShards
		give := min(points, granted[s])
		if give == 0 {
			continue
		}
		if _, err := tx.Exec(ctx, `UPDATE promotion_budgets SET granted = granted - $3 WHERE promotion = $1 AND shard = $2`,
			promotion, s, give); err != nil {
			return fmt.Errorf("refund: budget of %s: %w", promotion, err)
		}
		points -= give
	}
	return nil
}

// earnLot is a lot of an earn or of one of its bonuses, with the account
// its issuer's points came from.
type earnLot struct {
	lot           *lot
	issuedAccount uuid.UUID
	transaction   uuid.UUID // the earn or the bonus that made the lot
}

// earnLots returns the member's lots of an earn and of the bonuses posted
// with it, as the purse holds them where it has them, so that a posting
// changes one copy of each.
func earnLots(ctx context.Context, tx pgx.Tx, pu *purse, earn uuid.UUID, member coalition.MemberID, now time.Time) ([]earnLot, error) {
	rows, err := tx.Query(ctx, `
		SELECT l.id, l.issuer_id, l.points, l.remaining, l.earned_at, l.spendable_from, l.expires_at, l.unlock_partner_id,
		       p.issued_account_id, l.transaction_id
		FROM lots AS l
		JOIN transactions AS t ON t.id = l.transaction_id
		JOIN partners AS p ON p.id = l.issuer_id
		WHERE l.member_id = $2 AND (t.id = $1 OR (t.original_id = $1 AND t.kind = 'bonus'))
		ORDER BY t.created_at, t.id`, earn, member)
	if err != nil {
		return nil, fmt.Errorf("refund: lots of %s: %w", earn, err)
	}
	var out []earnLot
	for rows.Next() {
		t := &lot{}
		var el earnLot
		if err := rows.Scan(&t.ID, &t.IssuerID, &t.Points, &t.Remaining, &t.EarnedAt, &t.SpendableFrom, &t.ExpiresAt, &t.Unlock,
			&el.issuedAccount, &el.transaction); err != nil {
			rows.Close()
			return nil, fmt.Errorf("refund: lots of %s: %w", earn, err)
		}
		out = append(out, el)
		out[len(out)-1].lot = t
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("refund: lots of %s: %w", earn, err)
	}
	for i := range out {
		out[i].lot = pu.adopt(out[i].lot, now)
	}
	return out, nil
}

// adopt returns the purse's copy of t, or adds t to the purse (if it is
// still unexpired) in spending order and returns it.
func (p *purse) adopt(t *lot, now time.Time) *lot {
	for _, have := range p.lots {
		if have.ID == t.ID {
			return have
		}
	}
	if !t.ExpiresAt.After(now) || p.beyond(t) {
		return t
	}
	i, _ := slices.BinarySearchFunc(p.lots, t, func(a, b *lot) int {
		if c := a.ExpiresAt.Compare(b.ExpiresAt); c != 0 {
			return c
		}
		if c := a.EarnedAt.Compare(b.EarnedAt); c != 0 {
			return c
		}
		return compareUUID(a.ID, b.ID)
	})
	p.lots = slices.Insert(p.lots, i, t)
	return t
}

func compareUUID(a, b uuid.UUID) int {
	for i := range a {
		if a[i] != b[i] {
			if a[i] < b[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}

// refundBurn gives spent points back to the lots they came from, latest to
// expire first, so each point returns to its issuer. Points given back while
// the member owes points pay the debt.
func (l *Ledger) refundBurn(ctx context.Context, tx pgx.Tx, c opContext, m memberRow, pu *purse, o original, r Refund, now time.Time) (RefundResult, error) {
	n := *r.Points
	rows, err := tx.Query(ctx, `
		WITH burn_and_refunds AS (
		    SELECT $1::UUID AS id
		    UNION ALL
		    SELECT id FROM transactions WHERE original_id = $1 AND kind = 'burn_refund'
		)
		SELECT l.id, l.issuer_id, l.points, l.remaining, l.earned_at, l.spendable_from, l.expires_at,
		       SUM(c.points) AS still_spent
		FROM burn_and_refunds AS t
		JOIN lot_consumptions AS c ON c.transaction_id = t.id AND c.kind IN ('burn', 'burn_refund')
		JOIN lots AS l ON l.id = c.lot_id
		GROUP BY l.id, l.issuer_id, l.points, l.remaining, l.earned_at, l.spendable_from, l.expires_at
		ORDER BY l.expires_at DESC, l.earned_at DESC, l.id DESC`, r.TransactionID)
	if err != nil {
		return RefundResult{}, fmt.Errorf("refund: lots of %s: %w", r.TransactionID, err)
	}
	type spent struct {
		lot   *lot
		still coalition.Points
	}
	var lots []spent
	for rows.Next() {
		s := spent{lot: &lot{}}
		if err := rows.Scan(&s.lot.ID, &s.lot.IssuerID, &s.lot.Points, &s.lot.Remaining, &s.lot.EarnedAt,
			&s.lot.SpendableFrom, &s.lot.ExpiresAt, &s.still); err != nil {
			rows.Close()
			return RefundResult{}, fmt.Errorf("refund: lots of %s: %w", r.TransactionID, err)
		}
		lots = append(lots, s)
	}
	if err := rows.Err(); err != nil {
		return RefundResult{}, fmt.Errorf("refund: lots of %s: %w", r.TransactionID, err)
	}
	// What is left to refund, from the lots (a refund's transaction may also
	// hold debt payments, which are not the burn's: hence the kinds above),
	// checked against the transactions themselves.
	var still coalition.Points
	for _, s := range lots {
		still += s.still
	}
	var restored coalition.Points
	if err := tx.QueryRow(ctx, `
		SELECT COALESCE(SUM(points), 0) FROM transactions WHERE original_id = $1 AND kind = 'burn_refund'`,
		r.TransactionID).Scan(&restored); err != nil {
		return RefundResult{}, fmt.Errorf("refund: earlier refunds: %w", err)
	}
	if still != -o.points-restored {
		return RefundResult{}, fmt.Errorf("refund: burn %s has %d points left by its lots but %d by its transactions",
			r.TransactionID, still, -o.points-restored)
	}
	if n > still {
		return RefundResult{}, coalition.Errorf(coalition.FailedPrecondition, "points",
			"refund of %d exceeds the %d points of the burn not yet refunded", n, still)
	}
	orig := r.TransactionID
	p := newPosting(Transaction{
		ID: coalition.NewID(), Kind: KindBurnRefund, PartnerID: c.partnerID, MemberID: m.ID, Points: n,
		OrderID: o.orderID, BusinessDate: c.date(), CreatedAt: now, OriginalID: &orig,
	})
	redeemer := c.partnerID
	left := n
	for _, s := range lots {
		if left == 0 {
			break
		}
		give := min(s.still, left)
		if give == 0 {
			continue
		}
		t := pu.adopt(s.lot, now)
		t.Remaining += give
		left -= give
		p.consumptions = append(p.consumptions, consumption{lot: t, redeemer: &redeemer, kind: "burn_refund", points: -give})
	}
	p.move(c.redeemedAccount, m.pointsAccount, n)
	p.payDebts(pu, m)
	if err := l.write(ctx, tx, p); err != nil {
		return RefundResult{}, err
	}
	return RefundResult{Transaction: p.tx}, nil
}
