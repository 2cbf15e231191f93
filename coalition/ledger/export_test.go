package ledger

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/coalition-loyalty/coalition/coalition"
)

// Op is one posting for Together: an accrual, or whichever of the others
// is set.
type Op struct {
	Partner       coalition.PartnerID
	Accrual       Accrual
	Redemption    *Redemption
	Authorization *Authorization // TTL set
	Capture       *Capture
	Void          *Void
	Refund        *Refund
}

// OpResult is an Op's answer.
type OpResult struct {
	Accrued  AccrueResult
	Burned   Transaction
	Held     Hold // an authorization's or a void's
	Captured CaptureResult
	Refunded RefundResult
	Err      error
	Alone    bool // the batch left it to a transaction of its own
}

// Together applies postings as one batch of a lane, in order, as if they
// had queued together, and returns each one's answer.
func (l *Ledger) Together(ctx context.Context, ops []Op) []OpResult {
	batch := make([]*request, len(ops))
	for i, op := range ops {
		r := &request{ctx: ctx, partner: op.Partner, a: op.Accrual, red: op.Redemption, auth: op.Authorization,
			capture: op.Capture, void: op.Void, refund: op.Refund, done: make(chan struct{})}
		h, err := l.hashRef(ctx, r.member())
		if err != nil {
			panic(err)
		}
		r.phoneHash = h
		batch[i] = r
	}
	l.applyBatch(batch, func() {})
	out := make([]OpResult, len(ops))
	for i, r := range batch {
		<-r.done
		out[i] = OpResult{Accrued: r.res, Burned: r.burned.Transaction, Held: r.held, Captured: r.captured, Refunded: r.refunded, Err: r.err, Alone: r.ranAlone}
	}
	return out
}

// AccrueTogether is Together for accruals only.
func (l *Ledger) AccrueTogether(ctx context.Context, partners []coalition.PartnerID, as []Accrual) ([]AccrueResult, []error) {
	ops := make([]Op, len(as))
	for i, a := range as {
		ops[i] = Op{Partner: partners[i], Accrual: a}
	}
	res := make([]AccrueResult, len(as))
	errs := make([]error, len(as))
	for i, r := range l.Together(ctx, ops) {
		res[i], errs[i] = r.Accrued, r.Err
	}
	return res, errs
}

// QualifyingSpend is a member's tier spend since from, read as an accrual
// alone, Standing and the tier review read it.
func (l *Ledger) QualifyingSpend(ctx context.Context, member coalition.MemberID, from time.Time) (int64, error) {
	return qualifyingSpend(ctx, l.tx.Pool(), member, from)
}

// ExpireLotsPerMember is expiry as it ran before pages, one transaction
// per member, for BenchmarkExpireLots to compare with ExpireLots.
func (l *Ledger) ExpireLotsPerMember(ctx context.Context, limit int) (int, error) {
	return l.expireLotsPerMember(ctx, limit)
}

// BalanceFromPurse is a member's balance added up in Go from every open
// lot of its purse, as the ledger's postings see them: the oracle of
// readBalance, which adds them up in the database.
func (l *Ledger) BalanceFromPurse(ctx context.Context, member coalition.MemberID) (Balance, error) {
	var b Balance
	now := l.now()
	err := l.tx.Read(ctx, func(tx pgx.Tx) error {
		pu, err := loadPurse(ctx, tx, member, now)
		if err != nil {
			return err
		}
		b = Balance{MemberID: member, Available: pu.available(now), Pending: pu.pending(now), Locked: pu.locked(),
			Held: pu.held, Debt: pu.owed(), AsOf: now}
		for _, t := range pu.lots { // soonest to expire first
			if t.ExpiresAt.Sub(now) <= ExpiryHorizon {
				b.Expiring30d += t.Remaining
			}
			switch {
			case b.NextExpiryAt == nil:
				at := t.ExpiresAt.UTC()
				b.NextExpiryAt, b.NextExpiryPoints = &at, t.Remaining
			case t.ExpiresAt.Equal(*b.NextExpiryAt):
				b.NextExpiryPoints += t.Remaining
			}
		}
		return nil
	})
	return b, err
}

// PurseReadDiscards runs a batch's read of member's purse (its first head
// open lots and first head spendable ones) under EXPLAIN ANALYZE in tx
// and returns how many rows its scans fetched and then threw away
// (Rows Removed by Filter, over every node of the plan).
func PurseReadDiscards(ctx context.Context, tx pgx.Tx, member coalition.MemberID, now time.Time, head int) (int64, error) {
	b := &pgx.Batch{}
	queuePurses(b, memberSet{ids: []uuid.UUID{uuid.UUID(member)}}, now, head, map[coalition.MemberID]*purse{})
	q := b.QueuedQueries[0]
	var plan []struct{ Plan planNode }
	if err := tx.QueryRow(ctx, "EXPLAIN (ANALYZE, FORMAT JSON) "+q.SQL, q.Arguments...).Scan(&plan); err != nil {
		return 0, err
	}
	return plan[0].Plan.discards(), nil
}

type planNode struct {
	Removed float64    `json:"Rows Removed by Filter"` // per loop
	Loops   float64    `json:"Actual Loops"`
	Plans   []planNode `json:"Plans"`
}

func (n planNode) discards() int64 {
	d := int64(n.Removed * n.Loops)
	for _, c := range n.Plans {
		d += c.discards()
	}
	return d
}
