package ledger

import (
	"context"
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

// Accrual is a purchase at the calling partner that earns points.
type Accrual struct {
	IdempotencyKey string          `json:"-"`
	Member         MemberRef       `json:"member"`
	Purchase       coalition.Money `json:"purchase"`
	OrderID        string          `json:"order_id"`
	Category       string          `json:"category,omitempty"`
	// CouponCode is a coupon the till presents (package offers), read in
	// its canonical form. A coupon that cannot be used refuses the whole
	// accrual, which writes nothing, so that the cashier can retry without
	// it (under a new idempotency key: the refusal is recorded).
	CouponCode string `json:"coupon_code,omitempty"`
}

// AccrueResult is the earn posted and how its points were computed.
type AccrueResult struct {
	Transaction Transaction   `json:"transaction"`
	Earning     rules.Earning `json:"earning"`
	// Bonuses are the points of other funders, or locked ones, posted with
	// the earn (and the referrer's bonus, on another member).
	Bonuses []Transaction `json:"bonuses,omitempty"`
	// Unlocked is the joint-promotion points this purchase unlocked.
	Unlocked      coalition.Points `json:"unlocked,omitempty"`
	SpendableFrom time.Time        `json:"spendable_from"`
	ExpiresAt     time.Time        `json:"expires_at"`
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

func checkPoints(field string, n coalition.Points) error {
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

// Accrue earns points on a purchase under the rules in force: it posts the
// earn (the partner's own points: base, tier and the promotions it funds)
// and a bonus transaction for each other funder's points or locked points,
// with a lot each, pending until the partner's return window has passed.
// Points earned while the member owes points pay the debt first. A purchase
// here also unlocks the member's joint-promotion points waiting for it.
func (l *Ledger) Accrue(ctx context.Context, partner coalition.PartnerID, a Accrual) (AccrueResult, error) {
	h, err := l.prepareAccrual(ctx, &a)
	if err != nil {
		return AccrueResult{}, err
	}
	if l.lanes == nil || a.IdempotencyKey == "" {
		return l.accrueOne(ctx, partner, a, h)
	}
	r := l.enqueue(ctx, partner, a, h)
	return r.wait()
}

// prepareAccrual checks what needs no database, reads a coupon code in
// its canonical form and hashes a phone reference, before any
// transaction.
func (l *Ledger) prepareAccrual(ctx context.Context, a *Accrual) ([]byte, error) {
	if err := checkMoney("purchase", a.Purchase); err != nil {
		return nil, err
	}
	if err := checkOrderID(a.OrderID); err != nil {
		return nil, err
	}
	if len(a.Category) > 64 {
		return nil, coalition.Errorf(coalition.Invalid, "category", "must be at most 64 characters")
	}
	if a.CouponCode != "" {
		c, err := offers.CheckCode("coupon_code", a.CouponCode)
		if err != nil {
			return nil, err
		}
		a.CouponCode = c
	}
	return l.hashRef(ctx, a.Member)
}

// AccrueAll posts a partner's accruals as one upload (a day of receipts):
// each is an Accrue, with its own idempotency key and its own answer, at
// the same index. The accruals are queued into the lanes in their order, so
// that those naming one member the same way apply in that order (but for
// one that a batch leaves to run alone: docs/DATABASE.md), and they commit
// together in the lanes' batches. An accrual that repeats an earlier
// one's key or order waits for the earlier one's answer first, so that it
// replays or is refused as it would be one after the other.
func (l *Ledger) AccrueAll(ctx context.Context, partner coalition.PartnerID, as []Accrual) ([]AccrueResult, []error) {
	res := make([]AccrueResult, len(as))
	errs := make([]error, len(as))
	// wave[i]: the accrual runs once the waves before it are answered.
	wave := make([]int, len(as))
	lastKey, lastOrder := map[string]int{}, map[string]int{}
	waves := 0
	for i, a := range as {
		if w, ok := lastKey[a.IdempotencyKey]; ok {
			wave[i] = max(wave[i], w+1)
		}
		if w, ok := lastOrder[a.OrderID]; ok {
			wave[i] = max(wave[i], w+1)
		}
		lastKey[a.IdempotencyKey], lastOrder[a.OrderID] = wave[i], wave[i]
		waves = max(waves, wave[i]+1)
	}
	for w := range waves {
		pending := map[int]*request{}
		for i, a := range as {
			if wave[i] != w {
				continue
			}
			h, err := l.prepareAccrual(ctx, &a)
			switch {
			case err != nil:
				errs[i] = err
			case l.lanes == nil || a.IdempotencyKey == "":
				res[i], errs[i] = l.accrueOne(ctx, partner, a, h)
			default:
				pending[i] = l.enqueue(ctx, partner, a, h)
			}
		}
		for i, r := range pending {
			res[i], errs[i] = r.wait()
		}
	}
	return res, errs
}

// accrueOne posts one accrual in a transaction of its own.
func (l *Ledger) accrueOne(ctx context.Context, partner coalition.PartnerID, a Accrual, h []byte) (AccrueResult, error) {
	var outstanding *coalition.Points
	if _, capped := l.capped.Load(partner); capped {
		o, err := l.readOutstanding(ctx, partner)
		if err != nil {
			return AccrueResult{}, err
		}
		outstanding = &o
	}
	res, err := l.accrue(ctx, partner, a, h, outstanding)
	if errors.Is(err, errOutstandingUnread) {
		// First sight of the partner's cap: read what it has outstanding
		// and post again.
		l.capped.Store(partner, struct{}{})
		o, rerr := l.readOutstanding(ctx, partner)
		if rerr != nil {
			return AccrueResult{}, rerr
		}
		res, err = l.accrue(ctx, partner, a, h, &o)
	}
	if uniqueViolation(err, "transactions_one_earn_per_order") {
		// The order has earned already (with another idempotency key).
		return AccrueResult{}, coalition.Errorf(coalition.Conflict, "order_id", "order %q has already earned points", a.OrderID)
	}
	return res, err
}

// accrue posts an accrual; outstanding is the partner's outstanding points
// if they were read, which a capped partner's accrual needs.
func (l *Ledger) accrue(ctx context.Context, partner coalition.PartnerID, a Accrual, h []byte, outstanding *coalition.Points) (AccrueResult, error) {
	return idempotent(ctx, l, partner, a.IdempotencyKey, "accrue", a.record(h), func(tx pgx.Tx, now time.Time) (AccrueResult, error) {
		rulesInForce := func() (rules.RuleSet, error) { return l.rulesAt(ctx, tx, now) }
		c, m, err := loadContextAndMember(ctx, tx, posts, partner, a.Member, h, "member", func(b *pgx.Batch) {
			if l.rules != nil {
				rulesInForce = l.rules.QueueInForce(b, now)
			}
		})
		// A wrong currency is reported before an unknown member.
		if e, ok := coalition.AsError(err); err != nil && (!ok || e.Code != coalition.NotFound) {
			return AccrueResult{}, err
		}
		if a.Purchase.Currency != c.currency {
			return AccrueResult{}, coalition.Errorf(coalition.Invalid, "purchase.currency",
				"the coalition settles in %s, not %s", c.currency, a.Purchase.Currency)
		}
		if err != nil {
			return AccrueResult{}, err
		}
		// An order earns once: the unique index on (partner, order) refuses
		// a second earn when it is written (see below). Checking first with
		// a read would lock, at SERIALIZABLE, the index page that every
		// partner's next (sequential) order id is written to.
		rs, err := rulesInForce()
		if err != nil {
			return AccrueResult{}, err
		}
		purchase, locked, debts, eligible, err := l.memberState(ctx, tx, rs, c, m, now)
		if err != nil {
			return AccrueResult{}, err
		}
		purchase.Amount, purchase.Category, purchase.At = a.Purchase.Minor, a.Category, now
		earning, err := rs.Evaluate(purchase)
		if err != nil {
			return AccrueResult{}, fmt.Errorf("accrue: %w", err)
		}
		// The coupon's use is taken before any budget is drawn: the shared
		// rows of the protocol's third step in one order (coupon, then
		// budgets in line order).
		if err := applyOffers(ctx, tx, &earning, eligible, a, c, m, now); err != nil {
			return AccrueResult{}, err
		}
		for i := range earning.Lines {
			line := &earning.Lines[i]
			if line.Budget > 0 && line.Points > 0 {
				granted, err := drawBudget(ctx, tx, budgetKey(*line), line.Points, line.Budget, m.ID)
				if err != nil {
					return AccrueResult{}, err
				}
				if granted < line.Points && line.Rule == rules.LineCoupon {
					// A coupon promises its points: the till is told, and
					// the cashier goes on without it.
					return AccrueResult{}, coalition.Errorf(coalition.FailedPrecondition, "coupon_code",
						"the coupon cannot be used: its offer's budget is spent (%d of %d points left)", granted, line.Points)
				}
				if granted < line.Points {
					line.Description += fmt.Sprintf(" (%d of %d: the promotion's budget is spent)", granted, line.Points)
					line.Points = granted
				}
			}
		}
		earning.Sum()
		if c.liabilityLimit == nil {
			if outstanding != nil { // the cap was lifted
				l.capped.Delete(partner)
			}
		} else if outstanding == nil {
			return AccrueResult{}, errOutstandingUnread
		} else if err := (liability{limit: c.liabilityLimit, outstanding: *outstanding}).allows(earning.Own()); err != nil {
			return AccrueResult{}, err
		}
		res := AccrueResult{
			Earning:       earning,
			SpendableFrom: now.Add(c.returnWindow),
			ExpiresAt:     now.AddDate(0, 0, c.pointsTTLDays),
		}
		amount := a.Purchase
		earn := newPosting(Transaction{
			ID: coalition.NewID(), Kind: KindEarn, PartnerID: partner, MemberID: m.ID,
			Amount: &amount, OrderID: a.OrderID, BusinessDate: c.date(), CreatedAt: now,
		})
		earn.ruleVersion = earning.Version
		earn.category = a.Category
		w := l.newWrites()
		bonuses, err := l.queueLines(ctx, tx, w, c, m, earn, earning.Lines, res.SpendableFrom, res.ExpiresAt, debts)
		if err != nil {
			return AccrueResult{}, err
		}
		w.earned(m.ID, partner, now.In(c.location).Format(time.DateOnly), earning.Own())
		if a.CouponCode != "" {
			w.couponUse = &couponUse{code: a.CouponCode, earn: earn.tx.ID, member: m.ID, partner: partner, at: now}
		}
		if err := w.send(ctx, tx); err != nil {
			return AccrueResult{}, fmt.Errorf("write earn %s: %w", earn.tx.ID, err)
		}
		if earning.ReferrerPoints > 0 {
			b, err := l.referrerBonus(ctx, tx, c, m, earn, earning, res.SpendableFrom, res.ExpiresAt)
			if err != nil {
				return AccrueResult{}, err
			}
			bonuses = append(bonuses, b)
		}
		if err := l.settleTier(ctx, tx, m.ID, purchase.Tier, earning, now); err != nil {
			return AccrueResult{}, err
		}
		if res.Unlocked = locked; locked > 0 {
			if _, err := tx.Exec(ctx, `
				UPDATE lots SET unlock_partner_id = NULL
				WHERE member_id = $1 AND unlock_partner_id = $2 AND is_open AND expires_at > $3`,
				m.ID, partner, now); err != nil {
				return AccrueResult{}, fmt.Errorf("accrue: unlock: %w", err)
			}
		}
		res.Transaction = earn.tx
		res.Bonuses = bonuses
		return res, nil
	})
}

// rulesAt is the rule set in force at t, read in the posting's transaction.
func (l *Ledger) rulesAt(ctx context.Context, tx pgx.Tx, t time.Time) (rules.RuleSet, error) {
	if l.rules == nil {
		return rules.RuleSet{}, nil
	}
	return l.rules.InForce(ctx, tx, t)
}

// memberState reads what the rules need to know of the member, in one
// round trip: the stored tier, the qualifying spend over the tier period,
// what the member earned today at this partner (for a daily cap), whether a
// referral bonus is still due, and the joint-promotion points this purchase
// will unlock; and the member's open debts, which the new points pay
// first. Each read is of the member's own rows.
//
// It also reads the running offers that target the member (package
// offers), in the same round trip: nothing when there are none.
func (l *Ledger) memberState(ctx context.Context, tx pgx.Tx, rs rules.RuleSet, c opContext, m memberRow, now time.Time) (rules.Purchase, coalition.Points, []*debt, []offers.Terms, error) {
	p := rules.Purchase{
		Partner: c.code, Location: c.location, PartnerRateBP: c.earnRateBP, PointValueMinor: c.pointValueMinor,
	}
	var locked coalition.Points
	b := &pgx.Batch{}
	if rs.Tiers != nil {
		b.Queue(`SELECT tier FROM member_tiers WHERE member_id = $1`, m.ID).QueryRow(func(r pgx.Row) error {
			if err := r.Scan(&p.Tier); err != nil && !errors.Is(err, pgx.ErrNoRows) {
				return fmt.Errorf("tier: %w", err)
			}
			return nil
		})
		from := now.AddDate(0, 0, -rs.Tiers.PeriodDays)
		day, next := spendBoundary(from)
		b.Queue(qualifyingSpendSQL, m.ID, day, from, next).QueryRow(func(r pgx.Row) error {
			return r.Scan(&p.SpendBefore)
		})
	}
	if pr := rs.For(c.code); pr != nil && pr.CapPerMemberDay > 0 {
		b.Queue(`
			SELECT COALESCE(SUM(points), 0) FROM member_day_points
			WHERE member_id = $1 AND partner_id = $2 AND day = $3::date`,
			m.ID, c.partnerID, now.In(c.location).Format(time.DateOnly)).QueryRow(func(r pgx.Row) error {
			return r.Scan(&p.EarnedToday)
		})
	}
	if rs.Referral != nil && m.referredBy != nil {
		b.Queue(`SELECT count(*) = 0 FROM referral_bonuses WHERE member_id = $1`, m.ID).QueryRow(func(r pgx.Row) error {
			return r.Scan(&p.ReferralPending)
		})
	}
	b.Queue(`
		SELECT COALESCE(SUM(remaining), 0) FROM lots
		WHERE member_id = $1 AND unlock_partner_id = $2 AND is_open AND expires_at > $3`,
		m.ID, c.partnerID, now).QueryRow(func(r pgx.Row) error { return r.Scan(&locked) })
	var debts []*debt
	queueDebts(b, []uuid.UUID{uuid.UUID(m.ID)}, func(_ coalition.MemberID, d *debt) { debts = append(debts, d) })
	var eligible []offers.Terms
	offers.QueueEligible(b, m.ID, now, &eligible)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return p, 0, nil, nil, fmt.Errorf("accrue: member state: %w", err)
	}
	p.SpendBefore = max(p.SpendBefore, 0)
	return p, locked, debts, eligible, nil
}

func storedTier(ctx context.Context, tx pgx.Tx, member coalition.MemberID) (string, error) {
	var tier string
	err := tx.QueryRow(ctx, `SELECT tier FROM member_tiers WHERE member_id = $1`, member).Scan(&tier)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("tier of %s: %w", member, err)
	}
	return tier, nil
}

// qualifyingSpend is the member's purchases since from, net of refunds, at
// every partner of the coalition (zero if the refunds outweigh them).
func qualifyingSpend(ctx context.Context, q rules.Queryer, member coalition.MemberID, from time.Time) (int64, error) {
	day, next := spendBoundary(from)
	var spend int64
	if err := q.QueryRow(ctx, qualifyingSpendSQL, member, day, from, next).Scan(&spend); err != nil {
		return 0, fmt.Errorf("qualifying spend of %s: %w", member, err)
	}
	return max(spend, 0), nil
}

// spendBoundary splits the period that starts after from at from's UTC
// day: the running figure (member_day_spend) gives every later day, and
// the transactions themselves give the part of that first day after from.
func spendBoundary(from time.Time) (day string, next time.Time) {
	u := from.UTC()
	d := time.Date(u.Year(), u.Month(), u.Day(), 0, 0, 0, 0, time.UTC)
	return d.Format(time.DateOnly), d.AddDate(0, 0, 1)
}

// qualifyingSpendSQL is member $1's purchases net of refunds after $3,
// whose UTC day is $2 and the next day starts at $4: the running figure of
// each day after $2, and the earns and earn refunds of the rest of day $2
// (an index range of the member's transactions by time). It reads a row a
// day of the period however often the member buys, and equals the sum over
// the transactions after $3: a transaction is in its day's row from the
// commit that writes it, the days have no upper bound, and the one
// statement reads both parts from one snapshot, so the split holds
// whatever order the postings commit in.
//
// Two scalar subqueries rather than a union summed by member, as a batch
// reads it (queueState), whose round trip for one member took half as
// long again (measured with the two interleaved on regulars' data).
const qualifyingSpendSQL = `
	SELECT COALESCE((SELECT SUM(spend_minor) FROM member_day_spend
	                 WHERE member_id = $1 AND day > $2::date), 0)
	     + COALESCE((SELECT SUM(CASE WHEN kind = 'earn' THEN amount_minor ELSE -amount_minor END) FROM transactions
	                 WHERE member_id = $1 AND kind IN ('earn', 'earn_refund') AND created_at > $3 AND created_at < $4), 0)`

// settleTier stores a tier the purchase raised.
func (l *Ledger) settleTier(ctx context.Context, tx pgx.Tx, member coalition.MemberID, before string, e rules.Earning, now time.Time) error {
	if !e.Upgraded || e.Tier == before {
		return nil
	}
	_, err := tx.Exec(ctx, `
		INSERT INTO member_tiers (member_id, tier, since, reviewed_at) VALUES ($1, $2, $3, $3)
		ON CONFLICT (member_id) DO UPDATE SET tier = excluded.tier, since = excluded.since, reviewed_at = excluded.reviewed_at`,
		member, e.Tier, now)
	if err != nil {
		return fmt.Errorf("raise tier of %s: %w", member, err)
	}
	return nil
}

// budgetShards spreads a promotion's budget so that concurrent accruals
// update different rows.
const budgetShards = 8

// drawBudget grants up to want points from a promotion's budget: from the
// member's shard first, then from the others, and returns what it granted.
func drawBudget(ctx context.Context, tx pgx.Tx, promotion string, want, budget coalition.Points, member coalition.MemberID) (coalition.Points, error) {
	share := func(shard int) coalition.Points {
		s := budget / budgetShards
		if shard == 0 {
			s += budget % budgetShards
		}
		return s
	}
	first := homeShard(member)
	granted := map[int]coalition.Points{}
	if err := readGranted(ctx, tx, granted, `SELECT shard, granted FROM promotion_budgets WHERE promotion = $1 AND shard = $2`, promotion, first); err != nil {
		return 0, fmt.Errorf("budget of %s: %w", promotion, err)
	}
	take := map[int]coalition.Points{first: min(want, max(share(first)-granted[first], 0))}
	got := take[first]
	if got < want {
		if err := readGranted(ctx, tx, granted, `SELECT shard, granted FROM promotion_budgets WHERE promotion = $1`, promotion); err != nil {
			return 0, fmt.Errorf("budget of %s: %w", promotion, err)
		}
		for s := range budgetShards {
			if s == first || got == want {
				continue
			}
			n := min(want-got, max(share(s)-granted[s], 0))
			take[s], got = n, got+n
		}
	}
	for s := range budgetShards {
		if take[s] == 0 {
			continue
		}
		// Shards are budget rows shared by many members' accruals, read
		// without a lock: the draw re-checks the shard's share as it
		// takes the row's lock, and a draw that would now overrun it runs
		// the posting again on what the other accruals left.
		tag, err := tx.Exec(ctx, `
			INSERT INTO promotion_budgets (promotion, shard, granted) VALUES ($1, $2, $3)
			ON CONFLICT (promotion, shard) DO UPDATE SET granted = promotion_budgets.granted + excluded.granted
			WHERE promotion_budgets.granted + excluded.granted <= $4`,
			promotion, s, take[s], share(s))
		if err != nil {
			return 0, fmt.Errorf("budget of %s: %w", promotion, err)
		}
		if tag.RowsAffected() != 1 {
			return 0, txn.ErrRetry
		}
	}
	return got, nil
}

// homeShard is the budget shard a member's accruals draw on first (and
// refunds give back to first).
func homeShard(member coalition.MemberID) int { return int(member[15]) % budgetShards }

// readGranted reads (shard, granted) rows of a promotion's budget into
// granted.
func readGranted(ctx context.Context, tx pgx.Tx, granted map[int]coalition.Points, q string, args ...any) error {
	rows, err := tx.Query(ctx, q, args...)
	if err != nil {
		return err
	}
	var shard int
	var g coalition.Points
	_, err = pgx.ForEachRow(rows, []any{&shard, &g}, func() error {
		granted[shard] = g
		return nil
	})
	return err
}

// funder is an issuer of points named by a rule line.
type funder struct {
	id            coalition.PartnerID
	issuedAccount uuid.UUID
}

// funders resolves the codes the lines name ("operator" included). A
// partner's code, id and issued account never change, so what was read once
// is kept.
func (l *Ledger) funders(ctx context.Context, tx pgx.Tx, lines []rules.Line) (map[string]funder, error) {
	var codes []string
	out := map[string]funder{}
	l.mu.Lock()
	for _, line := range lines {
		for _, code := range []string{line.Funder, line.UnlockAt} {
			if code == "" {
				continue
			}
			if f, ok := l.funderCache[code]; ok {
				out[code] = f
			} else {
				codes = append(codes, code)
			}
		}
	}
	l.mu.Unlock()
	if len(codes) == 0 {
		return out, nil
	}
	rows, err := tx.Query(ctx, `SELECT code, id, issued_account_id FROM partners WHERE code = ANY($1)`, codes)
	if err != nil {
		return nil, fmt.Errorf("funders: %w", err)
	}
	for rows.Next() {
		var code string
		var f funder
		if err := rows.Scan(&code, &f.id, &f.issuedAccount); err != nil {
			rows.Close()
			return nil, fmt.Errorf("funders: %w", err)
		}
		out[code] = f
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("funders: %w", err)
	}
	l.mu.Lock()
	for _, c := range codes {
		f, ok := out[c]
		if !ok {
			l.mu.Unlock()
			return nil, fmt.Errorf("the rules name partner %q, which is not in the coalition", c)
		}
		l.funderCache[c] = f
	}
	l.mu.Unlock()
	return out, nil
}

// postLines writes an earn and its bonus transactions (or a welcome bonus,
// given as earn): the lines funded by the earn's partner and not locked go
// into the earn's own lot; every other (funder, unlock) group gets a bonus
// transaction with a lot of its own, so that each lot has one issuer and
// each point its payer.
//
// debts are the member's open debts, which the new lots pay first.
func (l *Ledger) postLines(ctx context.Context, tx pgx.Tx, c opContext, m memberRow, earn *posting, lines []rules.Line,
	spendableFrom, expiresAt time.Time, debts []*debt) ([]Transaction, error) {
	w := l.newWrites()
	bonuses, err := l.queueLines(ctx, tx, w, c, m, earn, lines, spendableFrom, expiresAt, debts)
	if err != nil {
		return nil, err
	}
	if err := w.send(ctx, tx); err != nil {
		return nil, fmt.Errorf("write earn %s: %w", earn.tx.ID, err)
	}
	return bonuses, nil
}

// queueLines is postLines with the rows added to w, to be sent later.
func (l *Ledger) queueLines(ctx context.Context, tx pgx.Tx, w *writes, c opContext, m memberRow, earn *posting, lines []rules.Line,
	spendableFrom, expiresAt time.Time, debts []*debt) ([]Transaction, error) {
	fs, err := l.funders(ctx, tx, lines)
	if err != nil {
		return nil, err
	}
	type group struct{ funder, unlock string }
	own := group{c.code, ""}
	order := []group{own} // the earn first: bonus transactions name it
	postings := map[group]*posting{own: earn}
	lots := map[group]*lot{}
	for _, line := range lines {
		g := group{line.Funder, line.UnlockAt}
		if line.Points == 0 {
			// Nothing to issue (a spent budget, a cap): the line explains the
			// receipt from the earn, and no empty bonus transaction is made.
			earn.lines = append(earn.lines, storedLine{Line: line, funderID: fs[g.funder].id})
			continue
		}
		p, ok := postings[g]
		if !ok {
			orig := earn.tx.ID
			p = newPosting(Transaction{
				ID: coalition.NewID(), Kind: KindBonus, PartnerID: fs[g.funder].id, MemberID: m.ID,
				BusinessDate: c.date(), CreatedAt: earn.tx.CreatedAt, OriginalID: &orig,
			})
			p.ruleVersion = earn.ruleVersion
			postings[g] = p
			order = append(order, g)
		}
		t := lots[g]
		if t == nil {
			t = &lot{ID: coalition.NewID(), IssuerID: fs[g.funder].id, EarnedAt: earn.tx.CreatedAt,
				SpendableFrom: spendableFrom, ExpiresAt: expiresAt}
			if g.unlock != "" {
				id := fs[g.unlock].id
				t.Unlock = &id
			}
			lots[g] = t
			p.newLots = append(p.newLots, t)
		}
		t.Points += line.Points
		t.Remaining += line.Points
		p.tx.Points += line.Points
		p.move(fs[g.funder].issuedAccount, m.pointsAccount, line.Points)
		sl := storedLine{Line: line, funderID: fs[g.funder].id, lot: t}
		p.lines = append(p.lines, sl)
	}
	// Points earned while the member owes points pay the debt first: only
	// the new lots, as any older points went to the debt when it arose.
	var bonuses []Transaction
	for _, g := range order {
		p := postings[g]
		if len(debts) > 0 && len(p.newLots) > 0 {
			p.payDebts(&purse{lots: p.newLots, debts: debts}, m)
		}
		if err := p.queue(w); err != nil {
			return nil, err
		}
		if p != earn {
			bonuses = append(bonuses, p.tx)
		}
	}
	return bonuses, nil
}

// referrerBonus pays the member who referred this one, at the operator's
// cost, and records that the referral has been paid.
func (l *Ledger) referrerBonus(ctx context.Context, tx pgx.Tx, c opContext, m memberRow, earn *posting, e rules.Earning,
	spendableFrom, expiresAt time.Time) (Transaction, error) {
	ref, err := findMember(ctx, tx, posts, MemberRef{ID: *m.referredBy}, nil, "member")
	if err != nil {
		return Transaction{}, err
	}
	line := rules.Line{Rule: rules.LineReferral, Points: e.ReferrerPoints, Funder: rules.FundedByOperator,
		Description: "referral bonus: a member you referred made a first purchase"}
	fs, err := l.funders(ctx, tx, []rules.Line{line})
	if err != nil {
		return Transaction{}, err
	}
	op := fs[rules.FundedByOperator]
	orig := earn.tx.ID
	p := newPosting(Transaction{
		ID: coalition.NewID(), Kind: KindBonus, PartnerID: op.id, MemberID: ref.ID, Points: line.Points,
		BusinessDate: c.date(), CreatedAt: earn.tx.CreatedAt, OriginalID: &orig,
	})
	p.ruleVersion = e.Version
	t := &lot{ID: coalition.NewID(), IssuerID: op.id, Points: line.Points, Remaining: line.Points,
		EarnedAt: earn.tx.CreatedAt, SpendableFrom: spendableFrom, ExpiresAt: expiresAt}
	p.newLots = append(p.newLots, t)
	p.lines = []storedLine{{Line: line, funderID: op.id, lot: t}}
	p.move(op.issuedAccount, ref.pointsAccount, line.Points)
	debts, err := loadDebts(ctx, tx, ref.ID)
	if err != nil {
		return Transaction{}, err
	}
	if len(debts) > 0 {
		p.payDebts(&purse{lots: []*lot{t}, debts: debts}, ref)
	}
	if err := l.write(ctx, tx, p); err != nil {
		return Transaction{}, err
	}
	if _, err := tx.Exec(ctx, `
		INSERT INTO referral_bonuses (member_id, referrer_id, transaction_id, created_at) VALUES ($1, $2, $3, $4)`,
		m.ID, ref.ID, earn.tx.ID, earn.tx.CreatedAt); err != nil {
		return Transaction{}, fmt.Errorf("record referral of %s: %w", m.ID, err)
	}
	return p.tx, nil
}
