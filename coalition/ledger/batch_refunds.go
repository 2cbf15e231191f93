package ledger

import (
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/offers"
)

// A batch's refunds. Each names a transaction of its partner, whose member
// the batch's lock statement finds and locks with the others
// (lockNamedMembers). What refundOne reads of the transaction after the
// member's lock (earlier refunds, the lots its points went into or came
// from) the batch reads set-based for all its refunds, and carries: two
// refunds of one purchase in a batch see each other, as they would one
// after the other. A refund whose purchase drew on a shared budget (a
// budgeted promotion, a personal offer, a coupon) or paid a referrer runs
// alone: giving the budget back writes rows shared between members, and
// clawing the referrer's bonus back locks a second member after the
// batch's sorted lock, both refundOne's business.

// refunded is what a batch knows of a transaction its refunds name, as its
// earlier refunds of it left it.
type refunded struct {
	o       original
	partner coalition.PartnerID
	// An earn: the money refunded so far, its lots and its bonuses' (in
	// refundOne's order), and whether its refund must run alone.
	minor int64
	lots  []earnLot
	alone bool
	// A burn or capture: the points given back so far, and what each lot
	// it took from still has of it (latest to expire first).
	restored coalition.Points
	spent    []spentLot
}

type spentLot struct {
	lot   *lot
	still coalition.Points
}

// queueOriginals reads the transactions ids into into, after the members'
// locks (a transaction never changes; its member's lock is what orders
// the refunds of it).
func queueOriginals(q *pgx.Batch, ids []uuid.UUID, into map[uuid.UUID]*refunded) {
	q.Queue(`
		SELECT id, partner_id, kind, member_id, points, amount_minor, currency, order_id
		FROM transactions WHERE id = ANY($1)`, ids).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var id uuid.UUID
			var kind string
			var amount *int64
			var currency, orderID *string
			st := &refunded{}
			if err := rows.Scan(&id, &st.partner, &kind, &st.o.member, &st.o.points, &amount, &currency, &orderID); err != nil {
				return fmt.Errorf("batch: refunded transactions: %w", err)
			}
			st.o.kind = Kind(kind)
			if amount != nil {
				st.o.amount, st.o.currency = *amount, *currency
			}
			if orderID != nil {
				st.o.orderID = *orderID
			}
			into[id] = st
		}
		return rows.Err()
	})
}

// queueRefunded reads, set-based, what the refunds of the transactions in
// states need: the refunds before them, the lots of each earn and of its
// bonuses, whether an earn's refund must run alone, and the lots each burn
// or capture took from with what it still has of them. members are the
// batch's locked members.
func queueRefunded(q *pgx.Batch, states map[uuid.UUID]*refunded, members []uuid.UUID) {
	var earns, burns, all []uuid.UUID
	for id, st := range states {
		switch st.o.kind {
		case KindEarn:
			earns = append(earns, id)
		case KindBurn, KindCapture:
			burns = append(burns, id)
		default:
			continue // refused by refundOne: nothing to read
		}
		all = append(all, id)
	}
	if len(all) == 0 {
		return
	}
	q.Queue(`
		SELECT original_id, kind, COALESCE(SUM(points), 0), COALESCE(SUM(amount_minor), 0)
		FROM transactions
		WHERE original_id = ANY($1) AND kind IN ('earn_refund', 'burn_refund')
		GROUP BY original_id, kind`, all).Query(func(rows pgx.Rows) error {
		var id uuid.UUID
		var kind string
		var points coalition.Points
		var minor int64
		_, err := pgx.ForEachRow(rows, []any{&id, &kind, &points, &minor}, func() error {
			if Kind(kind) == KindEarnRefund {
				states[id].minor = minor
			} else {
				states[id].restored = points
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("batch: earlier refunds: %w", err)
		}
		return nil
	})
	if len(earns) > 0 {
		// earnLots for every earn at once: the earn's lots and its
		// bonuses', of the earn's member (a referrer's bonus lot is not).
		q.Queue(`
			WITH earns AS (
			    SELECT id AS earn, member_id, id, created_at FROM transactions WHERE id = ANY($1)
			    UNION ALL
			    SELECT e.id, e.member_id, t.id, t.created_at
			    FROM transactions AS e JOIN transactions AS t ON t.original_id = e.id AND t.kind = 'bonus'
			    WHERE e.id = ANY($1)
			)
			SELECT t.earn, l.id, l.issuer_id, l.points, l.remaining, l.earned_at, l.spendable_from, l.expires_at,
			       l.unlock_partner_id, p.issued_account_id, t.id
			FROM earns AS t
			JOIN lots AS l ON l.transaction_id = t.id AND l.member_id = t.member_id
			JOIN partners AS p ON p.id = l.issuer_id
			WHERE l.member_id = ANY($2)
			ORDER BY t.earn, t.created_at, t.id`, earns, members).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var earn uuid.UUID
				t := &lot{}
				var el earnLot
				if err := rows.Scan(&earn, &t.ID, &t.IssuerID, &t.Points, &t.Remaining, &t.EarnedAt, &t.SpendableFrom, &t.ExpiresAt,
					&t.Unlock, &el.issuedAccount, &el.transaction); err != nil {
					return fmt.Errorf("batch: lots of refunded earns: %w", err)
				}
				el.lot = t
				states[earn].lots = append(states[earn].lots, el)
			}
			return rows.Err()
		})
		// What refundOne alone does: give a budget back (a line of a
		// promotion or offer that has budget rows; one without has
		// nothing to give back), or claw a referrer's bonus back.
		q.Queue(`
			WITH earns AS (
			    SELECT id AS earn, id FROM transactions WHERE id = ANY($1)
			    UNION ALL
			    SELECT t.original_id, t.id FROM transactions AS t WHERE t.original_id = ANY($1) AND t.kind = 'bonus'
			)
			SELECT DISTINCT t.earn
			FROM earns AS t
			JOIN earn_lines AS x ON x.transaction_id = t.id
			WHERE x.rule IN ('promotion', 'offer', 'coupon') AND x.points > 0
			  AND EXISTS (SELECT 1 FROM promotion_budgets AS b
			              WHERE b.promotion = CASE WHEN x.rule = 'promotion' THEN x.ref ELSE $2 || x.ref END)
			UNION
			SELECT transaction_id FROM referral_bonuses WHERE member_id = ANY($3) AND transaction_id = ANY($1)`,
			earns, offers.BudgetKey(""), members).Query(func(rows pgx.Rows) error {
			var id uuid.UUID
			_, err := pgx.ForEachRow(rows, []any{&id}, func() error {
				states[id].alone = true
				return nil
			})
			if err != nil {
				return fmt.Errorf("batch: budgets and referrals of refunded earns: %w", err)
			}
			return nil
		})
	}
	if len(burns) > 0 {
		// refundBurn's read for every burn at once.
		q.Queue(`
			WITH burn_and_refunds AS (
			    SELECT b AS burn, b AS id FROM unnest($1::uuid[]) AS b
			    UNION ALL
			    SELECT original_id, id FROM transactions WHERE original_id = ANY($1) AND kind = 'burn_refund'
			)
			SELECT t.burn, l.id, l.issuer_id, l.points, l.remaining, l.earned_at, l.spendable_from, l.expires_at,
			       SUM(c.points) AS still_spent
			FROM burn_and_refunds AS t
			JOIN lot_consumptions AS c ON c.transaction_id = t.id AND c.kind IN ('burn', 'burn_refund')
			JOIN lots AS l ON l.id = c.lot_id
			GROUP BY t.burn, l.id, l.issuer_id, l.points, l.remaining, l.earned_at, l.spendable_from, l.expires_at
			ORDER BY t.burn, l.expires_at DESC, l.earned_at DESC, l.id DESC`, burns).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var burn uuid.UUID
				s := spentLot{lot: &lot{}}
				if err := rows.Scan(&burn, &s.lot.ID, &s.lot.IssuerID, &s.lot.Points, &s.lot.Remaining, &s.lot.EarnedAt,
					&s.lot.SpendableFrom, &s.lot.ExpiresAt, &s.still); err != nil {
					return fmt.Errorf("batch: lots of refunded burns: %w", err)
				}
				states[burn].spent = append(states[burn].spent, s)
			}
			return rows.Err()
		})
	}
}

// oneCopyOfEachLot makes every lot the refunds read the one object the
// batch changes: the purse's copy where the purse has the lot, else one
// copy shared by every refund that reads it, so that whatever a request
// does to a lot the later ones see, as they would read it from the
// database.
func oneCopyOfEachLot(purses map[coalition.MemberID]*purse, states map[uuid.UUID]*refunded) {
	lots := map[uuid.UUID]*lot{}
	for _, pu := range purses {
		for _, t := range pu.lots {
			lots[t.ID] = t
		}
	}
	one := func(t *lot) *lot {
		if have, ok := lots[t.ID]; ok {
			return have
		}
		lots[t.ID] = t
		return t
	}
	for _, st := range states {
		for i := range st.lots {
			st.lots[i].lot = one(st.lots[i].lot)
		}
		for i := range st.spent {
			st.spent[i].lot = one(st.spent[i].lot)
		}
	}
}

// applyRefund posts a refund as refundOne posts it, against the refunded
// transaction and the purse as the batch left them; ok is false if
// refundOne would refuse it or must post it (a budget, a referrer).
func (b *batchRun) applyRefund(w *writes, r *request, c opContext, m memberRow, st *refunded, pu *purse, now time.Time) (RefundResult, bool, error) {
	rf := r.refund
	orig := rf.TransactionID
	switch st.o.kind {
	case KindEarn:
		if rf.Purchase == nil || rf.Purchase.Currency != st.o.currency || st.alone {
			return RefundResult{}, false, nil
		}
		total := st.minor + rf.Purchase.Minor
		if total > st.o.amount {
			return RefundResult{}, false, nil
		}
		for i := range st.lots {
			st.lots[i].lot = pu.adopt(st.lots[i].lot, now)
		}
		amount := *rf.Purchase
		p := newPosting(Transaction{
			ID: coalition.NewID(), Kind: KindEarnRefund, PartnerID: c.partnerID, MemberID: m.ID,
			Amount: &amount, OrderID: st.o.orderID, BusinessDate: c.date(), CreatedAt: now, OriginalID: &orig,
		})
		var res RefundResult
		res.DebtPoints = p.clawBack(pu, m, st.lots, st.o.amount, st.o.amount-st.minor, st.o.amount-total)
		st.minor = total
		if err := p.queue(w); err != nil {
			return RefundResult{}, false, err
		}
		res.Transaction = p.tx
		return res, true, nil
	case KindBurn, KindCapture:
		if rf.Points == nil {
			return RefundResult{}, false, nil
		}
		var still coalition.Points
		for _, s := range st.spent {
			still += s.still
		}
		n := *rf.Points
		// A burn whose lots and transactions disagree is refundOne's to
		// report; more than is left to refund, its to refuse.
		if still != -st.o.points-st.restored || n > still {
			return RefundResult{}, false, nil
		}
		p := newPosting(Transaction{
			ID: coalition.NewID(), Kind: KindBurnRefund, PartnerID: c.partnerID, MemberID: m.ID, Points: n,
			OrderID: st.o.orderID, BusinessDate: c.date(), CreatedAt: now, OriginalID: &orig,
		})
		redeemer := c.partnerID
		left := n
		for i := range st.spent {
			s := &st.spent[i]
			if left == 0 {
				break
			}
			give := min(s.still, left)
			if give == 0 {
				continue
			}
			t := pu.adopt(s.lot, now)
			s.lot = t
			t.Remaining += give
			s.still -= give
			left -= give
			p.consumptions = append(p.consumptions, consumption{lot: t, redeemer: &redeemer, kind: "burn_refund", points: -give})
		}
		st.restored += n
		p.move(c.redeemedAccount, m.pointsAccount, n)
		p.payDebts(pu, m)
		if err := p.queue(w); err != nil {
			return RefundResult{}, false, err
		}
		return RefundResult{Transaction: p.tx}, true, nil
	}
	return RefundResult{}, false, nil // a refund of a refund, a bonus, an expiry: refused
}
