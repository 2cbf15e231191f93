package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/infra/txn"
	"github.com/coalition-loyalty/coalition/coalition/offers"
	"github.com/coalition-loyalty/coalition/coalition/rules"
)

// postBatch applies a batch of accruals, redemptions, holds, captures,
// voids and refunds in one READ COMMITTED transaction under the ledger's
// lock protocol, and returns the requests it left to run one at a time;
// every other request has its answer in res (an accrual), burned (a
// redemption), held (a hold or a void), captured or refunded.
//
// The batch handles the common postings: a known member at an active
// partner, with a new key; an accrual with a new order, earning points that
// need no shared budget, no referral bonus and no joint-promotion lock; a
// redemption or hold the member's points cover; a capture or void of an
// active hold of the partner; a refund within what is left of a purchase
// that drew on no budget and paid no referrer, or of a spend. Anything
// else (a refusal to record, a key or order seen before, a promotion with
// a budget) is left to accrueOne, redeemOne, authorizeOne, captureOne,
// voidOne or refundOne, which have every rule of
// precedence and every refusal's wording; so the batch's answers are theirs by construction,
// and it needs no second copy of the rare paths.
//
// The transaction is two or three round trips whatever the batch's size,
// its BEGIN sent with the first and its COMMIT with the last: (1) the
// rules, each partner's terms with the window locked in share mode, every
// member locked FOR UPDATE in one statement in id order (two batches lock
// their common members in the same order, so they cannot deadlock; with
// them the members of the holds and transactions named), the holds and
// transactions named, which keys are taken, and, after the locks, what
// the rules need of the members named by id or card and the purses of
// those who spend, as the previous batch's rules needed them; (2) only if
// (1) did not read all of it: what the rules need of each member, the
// purses of those who spend, capture or refund, and what the refunds need
// of their transactions, set-based; (3) every row, one statement per
// table. Each request is applied in Go in arrival order,
// against the state its member's earlier requests in the batch left: the
// accruals' figures, and the purse, whose lots an accrual adds to, a
// redemption takes from and a hold holds.
func (l *Ledger) postBatch(ctx context.Context, batch []*request, locked func()) map[*request]struct{} {
	all := func() map[*request]struct{} {
		later := make(map[*request]struct{}, len(batch))
		for _, r := range batch {
			later[r] = struct{}{}
		}
		return later
	}
	var run *batchRun
	err := l.tx.Write(ctx, func(tx pgx.Tx) error {
		run = &batchRun{l: l, batch: batch, locked: locked, outstanding: map[coalition.PartnerID]coalition.Points{}}
		return run.apply(ctx, tx)
	})
	if err != nil {
		// Whatever stopped the batch (a key or an order taken by a
		// concurrent request, a poison request, the database, a COMMIT
		// whose outcome is unknown), every request runs again alone: one
		// that the batch did commit finds its key and replays its answer.
		l.lanes.stats.failed.Add(1)
		return all()
	}
	for r, res := range run.results {
		r.res, r.err = res, nil
	}
	for r, tx := range run.burned {
		r.burned, r.err = RedeemResult{Transaction: tx}, nil
	}
	for r, h := range run.holds {
		r.held, r.err = h, nil
	}
	for r, c := range run.captures {
		r.captured, r.err = c, nil
	}
	for r, h := range run.voids {
		r.held, r.err = h, nil
	}
	for r, res := range run.refunds {
		r.refunded, r.err = res, nil
	}
	for p := range run.uncapped {
		l.capped.Delete(p)
	}
	if run.readAhead {
		l.lanes.stats.readAhead.Add(1)
	}
	return run.later
}

// batchRun is one attempt at a batch; the runner may make several.
type batchRun struct {
	l           *Ledger
	batch       []*request
	locked      func() // called once the members are locked
	outstanding map[coalition.PartnerID]coalition.Points
	later       map[*request]struct{}
	results     map[*request]AccrueResult
	burned      map[*request]Transaction // the redemptions' answers
	holds       map[*request]Hold        // the authorizations' answers
	captures    map[*request]CaptureResult
	voids       map[*request]Hold
	refunds     map[*request]RefundResult
	uncapped    map[coalition.PartnerID]struct{}
	readAhead   bool // the members' state came with their locks
}

type partnerTerms struct {
	c   opContext
	err error
}

// memberFacts is what the rules need of a member, carried from one of the
// member's requests in the batch to the next.
type memberFacts struct {
	tier         string
	spend        int64
	referralPaid bool
	debts        []*debt
}

type memberPartner struct {
	member  coalition.MemberID
	partner coalition.PartnerID
}

func (b *batchRun) apply(ctx context.Context, tx pgx.Tx) error {
	l := b.l
	b.later = map[*request]struct{}{}
	b.results = map[*request]AccrueResult{}
	b.burned = map[*request]Transaction{}
	b.holds = map[*request]Hold{}
	b.captures = map[*request]CaptureResult{}
	b.voids = map[*request]Hold{}
	b.refunds = map[*request]RefundResult{}
	b.uncapped = map[coalition.PartnerID]struct{}{}
	leave := func(r *request) { b.later[r] = struct{}{} }
	now := l.now()

	// Round trip 1: rules, terms and window, members, keys.
	q := &pgx.Batch{}
	l.queueGenericPlans(q)
	rulesInForce := func() (rules.RuleSet, error) { return rules.RuleSet{}, nil }
	if l.rules != nil {
		rulesInForce = l.rules.QueueInForce(q, now)
	}
	// Every partner's terms in one statement; a partner it does not find
	// keeps ErrNoRows, which finishContext explains.
	terms := map[coalition.PartnerID]*partnerTerms{}
	var partners []uuid.UUID
	for _, r := range b.batch {
		if _, ok := terms[r.partner]; !ok {
			terms[r.partner] = &partnerTerms{c: opContext{partnerID: r.partner}, err: pgx.ErrNoRows}
			partners = append(partners, uuid.UUID(r.partner))
		}
	}
	q.Queue(contextsSQL+lockWindow, partners).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var id coalition.PartnerID
			c, err := scanContext(rows, coalition.PartnerID{}, &id)
			if err != nil {
				return err
			}
			c.partnerID = id
			terms[id].c, terms[id].err = c, nil
		}
		return rows.Err()
	})
	// A capped partner's outstanding points, once for the batch, read
	// without a lock as accrueOne reads them before its transaction.
	for _, r := range b.batch {
		if _, capped := l.capped.Load(r.partner); !capped || !r.accrual() {
			continue
		}
		if _, ok := b.outstanding[r.partner]; ok {
			continue
		}
		p := r.partner
		b.outstanding[p] = 0
		q.Queue(outstandingSQL, p).QueryRow(func(row pgx.Row) error {
			var o coalition.Points
			if err := row.Scan(&o); err != nil {
				return fmt.Errorf("liability of partner %s: %w", p, err)
			}
			b.outstanding[p] = o
			return nil
		})
	}
	var ids []uuid.UUID
	var cards []string
	var keyPartners []uuid.UUID
	var keys []string
	var holdIDs, txIDs []uuid.UUID
	var spendIDs []uuid.UUID // the members of redemptions and holds, by id or card
	var spendCards []string
	direct := map[*request]bool{} // the requests that name their member by id or card
	for _, r := range b.batch {
		// A capture or void names a hold, a refund a transaction: the
		// batch finds and locks its member.
		if id := r.names(); id != uuid.Nil {
			if r.refund != nil {
				txIDs = append(txIDs, id)
			} else {
				holdIDs = append(holdIDs, id)
			}
			keyPartners, keys = append(keyPartners, uuid.UUID(r.partner)), append(keys, r.key())
			continue
		}
		// Tills name members by card or id; a phone or a QR token (or a
		// reference that names no one) goes to accrueOne.
		ref := r.member()
		if _, _, _, err := memberWhere(ref, r.phoneHash, "member"); err != nil {
			leave(r)
			continue
		}
		switch {
		case ref.ID != (coalition.MemberID{}):
			ids = append(ids, uuid.UUID(ref.ID))
			if r.spends() {
				spendIDs = append(spendIDs, uuid.UUID(ref.ID))
			}
		case ref.CardNumber != "":
			cards = append(cards, ref.CardNumber)
			if r.spends() {
				spendCards = append(spendCards, ref.CardNumber)
			}
		default:
			leave(r)
			continue
		}
		direct[r] = true
		keyPartners, keys = append(keyPartners, uuid.UUID(r.partner)), append(keys, r.key())
	}
	var found []memberRow
	lockSQL, lockArgs := memberSQL+`id = ANY($1) OR card_number = ANY($2) ORDER BY id`+lockMember, []any{ids, cards}
	if len(holdIDs)+len(txIDs) > 0 {
		lockSQL, lockArgs = memberSQL+lockNamedMembers+lockMember, []any{ids, cards, holdIDs, txIDs}
	}
	q.Queue(lockSQL, lockArgs...).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			m, err := scanMember(rows, "member", "")
			if err != nil {
				return err
			}
			found = append(found, m)
		}
		return rows.Err()
	})
	// The holds and transactions named, after their members' locks.
	holds := map[uuid.UUID]*Hold{}
	if len(holdIDs) > 0 {
		queueHolds(q, holdIDs, holds)
	}
	originals := map[uuid.UUID]*refunded{}
	if len(txIDs) > 0 {
		queueOriginals(q, txIDs, originals)
	}
	// Keys are read after the members' locks, so they include every
	// posting of these members that committed before the batch.
	type partnerKey struct {
		partner coalition.PartnerID
		key     string
	}
	taken := map[partnerKey]bool{}
	readPairs := func(into map[partnerKey]bool) func(pgx.Rows) error {
		return func(rows pgx.Rows) error {
			var p coalition.PartnerID
			var k string
			_, err := pgx.ForEachRow(rows, []any{&p, &k}, func() error {
				into[partnerKey{p, k}] = true
				return nil
			})
			return err
		}
	}
	// One probe of the key's primary key per request (LATERAL … LIMIT 1
	// keeps the planner from a join that scans the table). An order that
	// earned before is not looked up: the unique index refuses it when the
	// batch writes, which fails the batch and runs its requests alone. That
	// costs a till that reuses an order id with a new key, and nobody else
	// a probe of an index that the planner, on a young table whose
	// statistics are not yet gathered, does not even pick.
	// Members an offer in force targets, read after their locks: their
	// accruals run alone (accrueOne applies offers), as do accruals and
	// redemptions that present a coupon. With no offer in force this finds
	// nothing at once.
	targeted := map[coalition.MemberID]bool{}
	offers.QueueTargeted(q, ids, cards, now, func(id coalition.MemberID) { targeted[id] = true })
	q.Queue(`
		SELECT u.partner_id, u.key FROM unnest($1::uuid[], $2::text[]) AS u(partner_id, key),
		LATERAL (SELECT 1 FROM idempotency_keys AS k WHERE k.partner_id = u.partner_id AND k.key = u.key LIMIT 1) AS found`,
		keyPartners, keys).Query(readPairs(taken))
	// What the rules need of the members named by id or card, and the
	// purses of those who spend, read after their locks in this round
	// trip with what the previous batch's rules needed (rules seldom
	// change). Round trip 2 reads them only if this batch's rules need
	// more, or a request's member is known by its hold or transaction
	// alone, or a refund needs its transaction's figures.
	var st *batchState
	guessed := l.needs.Load()
	if guessed != nil && len(ids)+len(cards) > 0 {
		st = newBatchState()
		queueState(q, memberSet{ids, cards}, partners, *guessed, now.In(guessed.zone).Format(time.DateOnly), now, st)
		if len(spendIDs)+len(spendCards) > 0 {
			queuePurses(q, memberSet{spendIDs, spendCards}, now, l.purseHead, st.purses)
		}
	}
	err := tx.SendBatch(ctx, q).Close()
	b.locked()
	if err != nil {
		return fmt.Errorf("batch: read: %w", err)
	}
	rs, err := rulesInForce()
	if err != nil {
		return err
	}
	for _, t := range terms {
		// A window that closed while the batch waited for it runs the
		// batch again, in the next one; a partner's refusal is accrueOne's.
		if t.c, t.err = finishContext(ctx, tx, t.c, t.err); errors.Is(t.err, txn.ErrRetry) {
			return t.err
		}
	}
	byRef := map[string]memberRow{}
	for _, m := range found {
		byRef["id:"+m.ID.String()] = m
		byRef["card:"+m.CardNumber] = m
	}
	member := func(r *request) (memberRow, bool) {
		// A hold or transaction of another partner, or none, is not
		// found, as captureOne, voidOne and refundOne report; one whose
		// member the lock statement did not find (it committed after the
		// statement began) runs alone too.
		if id := r.names(); id != uuid.Nil {
			var owner coalition.MemberID
			if r.refund != nil {
				o, ok := originals[id]
				if !ok || o.partner != r.partner {
					return memberRow{}, false
				}
				owner = o.o.member
			} else {
				h, ok := holds[id]
				if !ok || h.PartnerID != r.partner {
					return memberRow{}, false
				}
				owner = h.MemberID
			}
			m, ok := byRef["id:"+owner.String()]
			return m, ok
		}
		ref := r.member()
		switch {
		case ref.ID != (coalition.MemberID{}):
			m, ok := byRef["id:"+ref.ID.String()]
			return m, ok
		case ref.CardNumber != "":
			m, ok := byRef["card:"+ref.CardNumber]
			return m, ok
		}
		return memberRow{}, false
	}

	// Which requests the batch applies.
	type item struct {
		r *request
		c opContext
		m memberRow
	}
	var items []item
	// A request left alone runs after the batch, and may change its
	// member's state then (an order reused after a refusal earns): the
	// member's later requests in the batch are left alone too, so that a
	// member's requests still apply in their order of arrival.
	aloneMember := map[coalition.MemberID]bool{}
	leaveMember := func(r *request, m coalition.MemberID) {
		leave(r)
		aloneMember[m] = true
	}
	seenKey := map[partnerKey]bool{}
	seenOrder := map[partnerKey]bool{}
	var memberIDs, spenders []uuid.UUID
	memberSeen, spendsSeen := map[coalition.MemberID]bool{}, map[coalition.MemberID]bool{}
	for _, r := range b.batch {
		// A key or an order seen earlier in the batch, applied or left
		// alone, leaves this request alone too, to run after the first.
		// (A spend's order id is not unique: only an earn's is.)
		k, o := partnerKey{r.partner, r.key()}, partnerKey{r.partner, r.a.OrderID}
		dup := seenKey[k]
		seenKey[k] = true
		if r.accrual() {
			dup = dup || seenOrder[o]
			seenOrder[o] = true
		}
		if _, left := b.later[r]; left {
			continue
		}
		t := terms[r.partner]
		m, ok := member(r)
		switch {
		case !ok:
			leave(r) // no such member (or hold, or transaction): refused, and nothing changes
			continue
		case dup || aloneMember[m.ID] || t.err != nil || taken[k] || (r.accrual() && r.a.Purchase.Currency != t.c.currency),
			r.accrual() && (r.a.CouponCode != "" || targeted[m.ID]),
			r.red != nil && r.red.CouponCode != "": // redeemOne takes the coupon's use and posts its bonus
			leaveMember(r, m.ID)
			continue
		}
		items = append(items, item{r: r, c: t.c, m: m})
		if !memberSeen[m.ID] {
			memberSeen[m.ID] = true
			memberIDs = append(memberIDs, uuid.UUID(m.ID))
		}
		if r.spends() && !spendsSeen[m.ID] {
			spendsSeen[m.ID] = true
			spenders = append(spenders, uuid.UUID(m.ID))
		}
	}
	if len(items) == 0 {
		return nil
	}

	// Round trip 2, unless round trip 1 read what the rules need.
	var loc *time.Location
	capped := false
	for _, t := range terms {
		if t.err != nil || t.c.location == nil {
			continue
		}
		loc = t.c.location
		if pr := rs.For(t.c.code); pr != nil && pr.CapPerMemberDay > 0 {
			capped = true
		}
	}
	today := now.In(loc).Format(time.DateOnly)
	want := needsOf(rs, loc)
	l.needs.Store(&want)
	if st != nil && (!guessed.covers(want, capped, now) || len(originals) > 0) {
		st = nil
	}
	if st != nil {
		// Round trip 1 read the members named by id or card, and the
		// purses of those named by a redemption or a hold.
		named, spending := map[coalition.MemberID]bool{}, map[coalition.MemberID]bool{}
		for _, r := range b.batch {
			if m, ok := member(r); ok && direct[r] {
				named[m.ID] = true
				spending[m.ID] = spending[m.ID] || r.spends()
			}
		}
		for _, it := range items {
			if !named[it.m.ID] || (it.r.spends() && !spending[it.m.ID]) {
				st = nil
				break
			}
		}
	}
	readNow := st == nil
	if readNow {
		st = newBatchState()
		q = &pgx.Batch{}
		queueState(q, memberSet{ids: memberIDs}, partners, want, today, now, st)
		if len(spenders) > 0 {
			queuePurses(q, memberSet{ids: spenders}, now, l.purseHead, st.purses)
		}
		// What the refunds need of the transactions they name.
		queueRefunded(q, originals, memberIDs)
		if err := tx.SendBatch(ctx, q).Close(); err != nil {
			return fmt.Errorf("batch: member state: %w", err)
		}
	}
	b.readAhead = !readNow
	purses := st.purses
	for _, id := range spenders {
		purseOf(purses, coalition.MemberID(id)) // a spender with no open lot and no hold
	}
	refunding := map[coalition.MemberID]bool{}
	for _, it := range items {
		if it.r.refund != nil {
			refunding[it.m.ID] = true
		}
	}
	for id, pu := range purses {
		pu.debts = st.fact(id).debts // shared: an earn that pays a debt lowers what is owed
		// A truncated purse serves spends from its first lots. A debt is
		// paid from any lot, and a refund gives points back to lots the
		// purse may not hold: such members' requests run alone, on
		// their whole purse.
		if pu.truncated && (len(pu.debts) > 0 || refunding[id]) {
			aloneMember[id] = true
		}
	}
	oneCopyOfEachLot(purses, originals)

	// Each request in arrival order.
	w := l.newWrites()
	var keyRows keyRows
	tiers := map[coalition.MemberID]string{} // the tiers the batch raised, the last of each member's
	for _, it := range items {
		r, c, m := it.r, it.c, it.m
		f := st.fact(m.ID)
		mp := memberPartner{m.ID, r.partner}
		if aloneMember[m.ID] {
			leave(r)
			continue
		}
		if r.red != nil {
			// A redemption, as Redeem posts it, from the purse as the
			// member's earlier requests in the batch left it.
			pu := purses[m.ID]
			if avail := pu.available(now); r.red.Points > avail {
				leaveMember(r, m.ID) // refused: redeemOne records the refusal
				continue
			}
			p := newPosting(Transaction{
				ID: coalition.NewID(), Kind: KindBurn, PartnerID: r.partner, MemberID: m.ID, Points: -r.red.Points,
				OrderID: r.red.OrderID, BusinessDate: c.date(), CreatedAt: now,
			})
			p.burn(pu, m, c, r.red.Points, now)
			if err := p.queue(w); err != nil {
				return err
			}
			if err := b.record(&keyRows, r, "redeem", r.red.record(r.phoneHash), p.tx, now); err != nil {
				return err
			}
			b.burned[r] = p.tx
			continue
		}
		if r.capture != nil {
			res, ok, err := b.applyCapture(w, r, c, m, holds[r.capture.HoldID], purses[m.ID], now)
			switch {
			case err != nil:
				return err
			case !ok:
				leaveMember(r, m.ID) // refused: captureOne records the refusal
				continue
			}
			if err := b.record(&keyRows, r, "capture", *r.capture, res, now); err != nil {
				return err
			}
			b.captures[r] = res
			continue
		}
		if r.void != nil {
			// The purse, if the batch read it for the member's other
			// requests, stops counting a voided hold.
			hold, ok, err := b.applyVoid(w, holds[r.void.HoldID], purses[m.ID], now)
			switch {
			case err != nil:
				return err
			case !ok:
				leaveMember(r, m.ID) // refused: voidOne records the refusal
				continue
			}
			if err := b.record(&keyRows, r, "void", *r.void, hold, now); err != nil {
				return err
			}
			b.voids[r] = hold
			continue
		}
		if rf := r.refund; rf != nil {
			pu := purses[m.ID]
			res, ok, err := b.applyRefund(w, r, c, m, originals[rf.TransactionID], pu, now)
			switch {
			case err != nil:
				return err
			case !ok:
				leaveMember(r, m.ID) // refused, or refundOne's to post
				continue
			}
			// The member's later accruals in the batch pay the debts the
			// refund left, and count its refund against the tier spend.
			f.debts = pu.debts
			if res.Transaction.Kind == KindEarnRefund {
				f.spend -= rf.Purchase.Minor
			}
			if err := b.record(&keyRows, r, "refund", *rf, res, now); err != nil {
				return err
			}
			b.refunds[r] = res
			continue
		}
		if a := r.auth; a != nil {
			// A hold, as Authorize places it; later spends of the member
			// in the batch see it held.
			pu := purses[m.ID]
			if avail := pu.available(now); a.Points > avail {
				leaveMember(r, m.ID) // refused: authorizeOne records the refusal
				continue
			}
			hold := Hold{ID: coalition.NewID(), MemberID: m.ID, PartnerID: r.partner, Points: a.Points, Status: HoldActive,
				OrderID: a.OrderID, CreatedAt: now, ExpiresAt: now.Add(a.TTL)}
			p := newPosting(Transaction{})
			p.holdInsert = &hold
			if err := p.queue(w); err != nil {
				return err
			}
			pu.held += a.Points
			if err := b.record(&keyRows, r, "authorize", a.record(r.phoneHash), hold, now); err != nil {
				return err
			}
			b.holds[r] = hold
			continue
		}
		if st.locked[mp] > 0 { // a purchase that unlocks a joint promotion's points
			leaveMember(r, m.ID)
			continue
		}
		p := rules.Purchase{
			Partner: c.code, Location: c.location, PartnerRateBP: c.earnRateBP, PointValueMinor: c.pointValueMinor,
			Amount: r.a.Purchase.Minor, Category: r.a.Category, At: now,
		}
		if rs.Tiers != nil {
			p.Tier, p.SpendBefore = f.tier, max(f.spend, 0)
		}
		if pr := rs.For(c.code); pr != nil && pr.CapPerMemberDay > 0 {
			p.EarnedToday = st.earnedToday[mp]
		}
		if rs.Referral != nil && m.referredBy != nil {
			p.ReferralPending = !f.referralPaid
		}
		earning, err := rs.Evaluate(p)
		if err != nil || earning.ReferrerPoints > 0 || drawsOnShared(earning) {
			leaveMember(r, m.ID)
			continue
		}
		earning.Sum()
		if c.liabilityLimit == nil {
			if _, ok := b.outstanding[r.partner]; ok {
				b.uncapped[r.partner] = struct{}{}
			}
		} else {
			o, ok := b.outstanding[r.partner]
			if !ok {
				// The partner was capped since the ledger last saw it:
				// read its outstanding points now, in this transaction,
				// as round trip 1 reads a capped partner's, rather than
				// leave each of its accruals in the batch to a transaction
				// of its own, one after another.
				if err := tx.QueryRow(ctx, outstandingSQL, r.partner).Scan(&o); err != nil {
					return fmt.Errorf("batch: liability of partner %s: %w", r.partner, err)
				}
				b.outstanding[r.partner] = o
				l.capped.Store(r.partner, struct{}{})
			}
			if (liability{limit: c.liabilityLimit, outstanding: o}).allows(earning.Own()) != nil {
				leaveMember(r, m.ID) // accrueOne refuses it
				continue
			}
		}
		res := AccrueResult{
			Earning:       earning,
			SpendableFrom: now.Add(c.returnWindow),
			ExpiresAt:     now.AddDate(0, 0, c.pointsTTLDays),
		}
		amount := r.a.Purchase
		earn := newPosting(Transaction{
			ID: coalition.NewID(), Kind: KindEarn, PartnerID: r.partner, MemberID: m.ID,
			Amount: &amount, OrderID: r.a.OrderID, BusinessDate: c.date(), CreatedAt: now,
		})
		earn.ruleVersion = earning.Version
		earn.category = r.a.Category
		made := len(w.newLots)
		bonuses, err := l.queueLines(ctx, tx, w, c, m, earn, earning.Lines, res.SpendableFrom, res.ExpiresAt, f.debts)
		if err != nil {
			return err
		}
		if pu := purses[m.ID]; pu != nil {
			for _, t := range w.newLots[made:] {
				pu.add(t) // for the member's redemptions later in the batch
			}
		}
		if earning.Upgraded && earning.Tier != p.Tier {
			tiers[m.ID] = earning.Tier
			f.tier = earning.Tier
		}
		w.earned(m.ID, r.partner, today, earning.Own())
		f.spend += r.a.Purchase.Minor
		st.earnedToday[mp] += earning.Own()
		if c.liabilityLimit != nil {
			b.outstanding[r.partner] += earning.Own()
		}
		res.Transaction = earn.tx
		res.Bonuses = bonuses
		if err := b.record(&keyRows, r, "accrue", r.a.record(r.phoneHash), res, now); err != nil {
			return err
		}
		b.results[r] = res
	}
	if len(keyRows.key) == 0 {
		return nil
	}

	// Round trip 3: every row.
	q = &pgx.Batch{}
	w.queue(q)
	if len(tiers) > 0 {
		// One statement for the batch's members (a row once: ON CONFLICT
		// DO UPDATE may not change a row twice), as settleTier stores one.
		members, raised := make([]uuid.UUID, 0, len(tiers)), make([]string, 0, len(tiers))
		for m, tier := range tiers {
			members, raised = append(members, uuid.UUID(m)), append(raised, tier)
		}
		q.Queue(`
			INSERT INTO member_tiers (member_id, tier, since, reviewed_at)
			SELECT member_id, tier, $3, $3 FROM unnest($1::uuid[], $2::text[]) AS u(member_id, tier)
			ON CONFLICT (member_id) DO UPDATE SET tier = excluded.tier, since = excluded.since, reviewed_at = excluded.reviewed_at`,
			members, raised, now)
	}
	// A key recorded by a concurrent request since round trip 1 fails
	// the insert, and with it the batch, whose requests then run alone and
	// find it. The COMMIT goes with these statements, so that failure is
	// the database's, not a callback's: a failed statement skips the
	// COMMIT behind it. Only a hold's update is still checked by a
	// callback (posting.go), and a batch with one commits on its own.
	q.Queue(`
		INSERT INTO idempotency_keys (partner_id, key, operation, request_hash, response, created_at)
		SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bytea[], $5::bytea[], $6::timestamptz[])`,
		keyRows.partner, keyRows.key, keyRows.op, keyRows.hash, keyRows.response, keyRows.created)
	if len(w.holdUpdates) == 0 {
		err = txn.SendCommit(ctx, tx, q)
	} else {
		err = tx.SendBatch(ctx, q).Close()
	}
	if err != nil {
		return fmt.Errorf("batch: write: %w", err)
	}
	return nil
}

// keyRows are the idempotency records of a batch's postings.
type keyRows struct {
	partner        []uuid.UUID
	key, op        []string
	hash, response [][]byte
	created        []time.Time
}

// record adds the idempotency record of a request the batch applied: its
// request's hash and its answer, as idempotent would store them.
func (b *batchRun) record(k *keyRows, r *request, op string, req, res any, now time.Time) error {
	resJSON, err := json.Marshal(res)
	if err != nil {
		return fmt.Errorf("%s: encode result: %w", op, err)
	}
	hash, err := requestHash(op, req)
	if err != nil {
		return err
	}
	k.partner = append(k.partner, uuid.UUID(r.partner))
	k.key = append(k.key, r.key())
	k.op = append(k.op, op)
	k.hash = append(k.hash, hash)
	k.response = append(k.response, resJSON)
	k.created = append(k.created, now)
	return nil
}

// drawsOnShared says whether an earning needs what a batch does not
// apply: a promotion's shared budget, or points locked until a purchase
// elsewhere (which a later purchase in the same batch could unlock).
func drawsOnShared(e rules.Earning) bool {
	for _, line := range e.Lines {
		if (line.Budget > 0 && line.Points > 0) || line.UnlockAt != "" {
			return true
		}
	}
	return false
}

// queueGenericPlans has PostgreSQL plan the transaction's statements once
// per connection. A set-based statement's parameters are arrays, whose
// length a generic plan cannot know, so under the default plan_cache_mode
// PostgreSQL judged every generic plan costlier than a custom one and
// planned these statements again at every execution: 0.9 ms of the
// database's CPU per batch at 16 clients, nearly as much as running them
// (docs/BENCHMARKS.md, "Planned once, fewer foreign keys, the partner's
// standing"). The generic plans are the custom ones without the arrays'
// lengths: the same index probes. CockroachDB caches its plans its own way
// and is left to it.
func (l *Ledger) queueGenericPlans(q *pgx.Batch) {
	if !l.tx.CockroachDB() {
		q.Queue(`SET LOCAL plan_cache_mode = force_generic_plan`)
	}
}
