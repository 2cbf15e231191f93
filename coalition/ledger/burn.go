package ledger

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/offers"
)

// HoldStatus is the state of a hold.
type HoldStatus string

const (
	HoldActive   HoldStatus = "active"
	HoldCaptured HoldStatus = "captured"
	HoldVoided   HoldStatus = "voided"
	HoldExpired  HoldStatus = "expired"
)

// Hold is points reserved by Authorize.
type Hold struct {
	ID             uuid.UUID           `json:"id"`
	MemberID       coalition.MemberID  `json:"member_id"`
	PartnerID      coalition.PartnerID `json:"partner_id"`
	Points         coalition.Points    `json:"points"`
	CapturedPoints coalition.Points    `json:"captured_points"`
	Status         HoldStatus          `json:"status"`
	OrderID        string              `json:"order_id"`
	CreatedAt      time.Time           `json:"created_at"`
	ExpiresAt      time.Time           `json:"expires_at"`
	ReleasedAt     *time.Time          `json:"released_at,omitempty"`
}

// MaxHoldTTL bounds how long points may stay reserved.
const MaxHoldTTL = 7 * 24 * time.Hour

// Redemption spends points in one step at the calling partner.
type Redemption struct {
	IdempotencyKey string           `json:"-"`
	Member         MemberRef        `json:"member"`
	Points         coalition.Points `json:"points"`
	OrderID        string           `json:"order_id"`
	// CouponCode is a coupon the till presents with the redemption (package
	// offers), read in its canonical form: its offer's fixed bonus points
	// are given with the burn. A coupon that cannot be used refuses the
	// whole redemption, as it refuses an accrual. Empty in the request's
	// record when absent, so that redemptions recorded before coupons
	// existed keep their hash.
	CouponCode string `json:"coupon_code,omitempty"`
}

// RedeemResult is a redemption's burn and, when the till presented a
// coupon, the bonus transaction of the coupon's points. The burn's fields
// are embedded so that its JSON, the stored answer a replay returns, is
// the burn's own when there is no coupon: answers recorded before coupons
// (and by the batch, which never takes one) read back unchanged.
type RedeemResult struct {
	Transaction
	Coupon *Transaction `json:"coupon,omitempty"`
}

// Redeem burns points now: member → redeemed, taking the member's spendable
// lots soonest to expire first. It answers with the burn only; a till that
// presents a coupon calls RedeemWithCoupon to learn the coupon's bonus.
func (l *Ledger) Redeem(ctx context.Context, partner coalition.PartnerID, r Redemption) (Transaction, error) {
	res, err := l.RedeemWithCoupon(ctx, partner, r)
	return res.Transaction, err
}

// RedeemWithCoupon is Redeem answering with the coupon's bonus as well.
func (l *Ledger) RedeemWithCoupon(ctx context.Context, partner coalition.PartnerID, r Redemption) (RedeemResult, error) {
	if err := checkPoints("points", r.Points); err != nil {
		return RedeemResult{}, err
	}
	if err := checkOrderID(r.OrderID); err != nil {
		return RedeemResult{}, err
	}
	if r.CouponCode != "" {
		c, err := offers.CheckCode("coupon_code", r.CouponCode)
		if err != nil {
			return RedeemResult{}, err
		}
		r.CouponCode = c
	}
	h, err := l.hashRef(ctx, r.Member)
	if err != nil {
		return RedeemResult{}, err
	}
	if l.lanes == nil || r.IdempotencyKey == "" {
		return l.redeemOne(ctx, partner, r, h)
	}
	q := l.enqueueRequest(&request{ctx: ctx, partner: partner, red: &r, phoneHash: h})
	if _, err := q.wait(); err != nil {
		return RedeemResult{}, err
	}
	return q.burned, nil
}

// redeemOne posts one redemption in a transaction of its own, with the
// bonus of the coupon it presents.
func (l *Ledger) redeemOne(ctx context.Context, partner coalition.PartnerID, r Redemption, h []byte) (RedeemResult, error) {
	return idempotent(ctx, l, partner, r.IdempotencyKey, "redeem", r.record(h), func(tx pgx.Tx, now time.Time) (RedeemResult, error) {
		c, m, err := loadContextAndMember(ctx, tx, posts, partner, r.Member, h, "member")
		if err != nil {
			return RedeemResult{}, err
		}
		pu, err := loadPurse(ctx, tx, m.ID, now)
		if err != nil {
			return RedeemResult{}, err
		}
		if avail := pu.available(now); r.Points > avail {
			return RedeemResult{}, insufficient("points", r.Points, avail)
		}
		p := newPosting(Transaction{
			ID: coalition.NewID(), Kind: KindBurn, PartnerID: partner, MemberID: m.ID, Points: -r.Points,
			OrderID: r.OrderID, BusinessDate: c.date(), CreatedAt: now,
		})
		p.burn(pu, m, c, r.Points, now)
		w := l.newWrites()
		if err := p.queue(w); err != nil {
			return RedeemResult{}, err
		}
		var res RedeemResult
		if r.CouponCode != "" {
			b, err := l.redemptionCoupon(ctx, tx, w, c, m, pu, r, now)
			if err != nil {
				return RedeemResult{}, err
			}
			res.Coupon = &b
		}
		if err := w.send(ctx, tx); err != nil {
			return RedeemResult{}, fmt.Errorf("write %s %s: %w", p.tx.Kind, p.tx.ID, err)
		}
		res.Transaction = p.tx
		return res, nil
	})
}

// burn takes n spendable points (the caller has checked they are there) and
// posts them from the member to the redeeming partner.
func (p *posting) burn(pu *purse, m memberRow, c opContext, n coalition.Points, now time.Time) {
	redeemer := c.partnerID
	p.take(pu.lots, n, func(t *lot) bool { return t.spendable(now) }, "burn", &redeemer, nil)
	p.move(m.pointsAccount, c.redeemedAccount, n)
}

// Authorization reserves points for a later capture.
type Authorization struct {
	IdempotencyKey string           `json:"-"`
	Member         MemberRef        `json:"member"`
	Points         coalition.Points `json:"points"`
	OrderID        string           `json:"order_id"`
	TTL            time.Duration    `json:"ttl"`
}

// Authorize places a hold: the points stay the member's but cannot be spent
// elsewhere until the hold is captured, voided or expires.
func (l *Ledger) Authorize(ctx context.Context, partner coalition.PartnerID, a Authorization) (Hold, error) {
	if err := checkPoints("points", a.Points); err != nil {
		return Hold{}, err
	}
	if err := checkOrderID(a.OrderID); err != nil {
		return Hold{}, err
	}
	if a.TTL == 0 {
		a.TTL = l.holdTTL
	}
	if a.TTL < time.Second || a.TTL > MaxHoldTTL {
		return Hold{}, coalition.Errorf(coalition.Invalid, "ttl", "must be between 1s and %s", MaxHoldTTL)
	}
	h, err := l.hashRef(ctx, a.Member)
	if err != nil {
		return Hold{}, err
	}
	if l.lanes == nil || a.IdempotencyKey == "" {
		return l.authorizeOne(ctx, partner, a, h)
	}
	q := l.enqueueRequest(&request{ctx: ctx, partner: partner, auth: &a, phoneHash: h})
	if _, err := q.wait(); err != nil {
		return Hold{}, err
	}
	return q.held, nil
}

// authorizeOne places one hold in a transaction of its own (a.TTL set).
func (l *Ledger) authorizeOne(ctx context.Context, partner coalition.PartnerID, a Authorization, h []byte) (Hold, error) {
	return idempotent(ctx, l, partner, a.IdempotencyKey, "authorize", a.record(h), func(tx pgx.Tx, now time.Time) (Hold, error) {
		_, m, err := loadContextAndMember(ctx, tx, posts, partner, a.Member, h, "member")
		if err != nil {
			return Hold{}, err
		}
		pu, err := loadPurse(ctx, tx, m.ID, now)
		if err != nil {
			return Hold{}, err
		}
		if avail := pu.available(now); a.Points > avail {
			return Hold{}, insufficient("points", a.Points, avail)
		}
		hold := Hold{ID: coalition.NewID(), MemberID: m.ID, PartnerID: partner, Points: a.Points, Status: HoldActive,
			OrderID: a.OrderID, CreatedAt: now, ExpiresAt: now.Add(a.TTL)}
		p := newPosting(Transaction{})
		p.holdInsert = &hold
		if err := l.write(ctx, tx, p); err != nil {
			return Hold{}, err
		}
		return hold, nil
	})
}

// lockHoldMember locks the member of one of the partner's holds, before
// the hold is read: captures and voids of a hold then take turns, and each
// reads the hold as the one before it left it.
func lockHoldMember(ctx context.Context, tx pgx.Tx, partner coalition.PartnerID, id uuid.UUID) (memberRow, error) {
	m, err := scanMember(tx.QueryRow(ctx, memberSQL+`id = (SELECT member_id FROM holds WHERE id = $1 AND partner_id = $2)`+lockMember,
		id, partner), "hold", "id")
	if e, ok := coalition.AsError(err); ok && e.Code == coalition.NotFound {
		return m, coalition.Errorf(coalition.NotFound, "hold_id", "no hold %s of this partner", id)
	}
	return m, err
}

// loadHold reads one of the partner's holds; another partner's hold is
// reported as not found, so ids of others' holds reveal nothing.
func loadHold(ctx context.Context, tx pgx.Tx, partner coalition.PartnerID, id uuid.UUID) (Hold, error) {
	h, err := scanHold(tx.QueryRow(ctx, `SELECT `+holdColumns+` FROM holds WHERE id = $1 AND partner_id = $2`, id, partner))
	if errors.Is(err, pgx.ErrNoRows) {
		return h, coalition.Errorf(coalition.NotFound, "hold_id", "no hold %s of this partner", id)
	}
	if err != nil {
		return h, fmt.Errorf("load hold %s: %w", id, err)
	}
	return h, nil
}

// holdColumns are the columns scanHold reads, in its order.
const holdColumns = `id, member_id, partner_id, points, captured_points, status, order_id, created_at, expires_at, released_at`

// scanHold reads a hold as one posting and a batch alike read it: times
// in UTC, as a stored answer decodes them.
func scanHold(row pgx.Row) (Hold, error) {
	var h Hold
	var status string
	err := row.Scan(&h.ID, &h.MemberID, &h.PartnerID, &h.Points, &h.CapturedPoints, &status, &h.OrderID,
		&h.CreatedAt, &h.ExpiresAt, &h.ReleasedAt)
	if err != nil {
		return h, err
	}
	h.Status = HoldStatus(status)
	h.CreatedAt, h.ExpiresAt = h.CreatedAt.UTC(), h.ExpiresAt.UTC()
	if h.ReleasedAt != nil {
		t := h.ReleasedAt.UTC()
		h.ReleasedAt = &t
	}
	return h, nil
}

// Capture posts all or part of an active hold. The rest is released.
type Capture struct {
	IdempotencyKey string            `json:"-"`
	HoldID         uuid.UUID         `json:"hold_id"`
	Points         *coalition.Points `json:"points,omitempty"` // the whole hold if nil
}

// CaptureResult is the burn posted and the hold as it now stands.
type CaptureResult struct {
	Transaction Transaction `json:"transaction"`
	Hold        Hold        `json:"hold"`
}

// Capture posts a hold, through the member's lane when batching is on.
func (l *Ledger) Capture(ctx context.Context, partner coalition.PartnerID, cp Capture) (CaptureResult, error) {
	if cp.Points != nil {
		if err := checkPoints("points", *cp.Points); err != nil {
			return CaptureResult{}, err
		}
	}
	if l.lanes == nil || cp.IdempotencyKey == "" {
		return l.captureOne(ctx, partner, cp)
	}
	q := l.enqueueRequest(&request{ctx: ctx, partner: partner, capture: &cp})
	if _, err := q.wait(); err != nil {
		return CaptureResult{}, err
	}
	return q.captured, nil
}

// captureOne posts one capture in a transaction of its own.
func (l *Ledger) captureOne(ctx context.Context, partner coalition.PartnerID, cp Capture) (CaptureResult, error) {
	return idempotent(ctx, l, partner, cp.IdempotencyKey, "capture", cp, func(tx pgx.Tx, now time.Time) (CaptureResult, error) {
		c, err := loadContext(ctx, tx, partner, posts)
		if err != nil {
			return CaptureResult{}, err
		}
		m, err := lockHoldMember(ctx, tx, partner, cp.HoldID)
		if err != nil {
			return CaptureResult{}, err
		}
		hold, err := loadHold(ctx, tx, partner, cp.HoldID)
		if err != nil {
			return CaptureResult{}, err
		}
		if hold.Status != HoldActive {
			return CaptureResult{}, coalition.Errorf(coalition.FailedPrecondition, "hold_id", "hold is %s", hold.Status)
		}
		if !hold.ExpiresAt.After(now) {
			return CaptureResult{}, coalition.Errorf(coalition.FailedPrecondition, "hold_id",
				"hold expired at %s", hold.ExpiresAt.Format(time.RFC3339))
		}
		n := hold.Points
		if cp.Points != nil {
			n = *cp.Points
		}
		if n > hold.Points {
			return CaptureResult{}, coalition.Errorf(coalition.FailedPrecondition, "points",
				"capture of %d exceeds the hold of %d", n, hold.Points)
		}
		pu, err := loadPurse(ctx, tx, m.ID, now)
		if err != nil {
			return CaptureResult{}, err
		}
		// The hold reserved its points; they count as available to itself.
		// They can still be short if a refund clawed points back meanwhile.
		if avail := pu.available(now) + hold.Points; n > avail {
			return CaptureResult{}, insufficient("points", n, avail)
		}
		holdID := hold.ID
		p := newPosting(Transaction{
			ID: coalition.NewID(), Kind: KindCapture, PartnerID: partner, MemberID: m.ID, Points: -n,
			OrderID: hold.OrderID, BusinessDate: c.date(), CreatedAt: now, HoldID: &holdID,
		})
		p.burn(pu, m, c, n, now)
		hold.Status, hold.CapturedPoints, hold.ReleasedAt = HoldCaptured, n, &now
		p.holdUpdate = &hold
		if err := l.write(ctx, tx, p); err != nil {
			return CaptureResult{}, err
		}
		return CaptureResult{Transaction: p.tx, Hold: hold}, nil
	})
}

// Void releases an active hold. Voiding a hold that is already voided or
// expired changes nothing and returns it; a captured hold cannot be voided
// (refund the capture instead).
type Void struct {
	IdempotencyKey string    `json:"-"`
	HoldID         uuid.UUID `json:"hold_id"`
}

// Void releases a hold, through the lanes when batching is on.
func (l *Ledger) Void(ctx context.Context, partner coalition.PartnerID, v Void) (Hold, error) {
	if l.lanes == nil || v.IdempotencyKey == "" {
		return l.voidOne(ctx, partner, v)
	}
	q := l.enqueueRequest(&request{ctx: ctx, partner: partner, void: &v})
	if _, err := q.wait(); err != nil {
		return Hold{}, err
	}
	return q.held, nil
}

// voidOne releases one hold in a transaction of its own.
func (l *Ledger) voidOne(ctx context.Context, partner coalition.PartnerID, v Void) (Hold, error) {
	return idempotent(ctx, l, partner, v.IdempotencyKey, "void", v, func(tx pgx.Tx, now time.Time) (Hold, error) {
		if _, err := loadContext(ctx, tx, partner, posts); err != nil {
			return Hold{}, err
		}
		if _, err := lockHoldMember(ctx, tx, partner, v.HoldID); err != nil {
			return Hold{}, err
		}
		hold, err := loadHold(ctx, tx, partner, v.HoldID)
		if err != nil {
			return Hold{}, err
		}
		switch {
		case hold.Status == HoldCaptured:
			return Hold{}, coalition.Errorf(coalition.FailedPrecondition, "hold_id", "hold is captured; refund the capture instead")
		case hold.Status != HoldActive:
			return hold, nil
		case !hold.ExpiresAt.After(now):
			hold.Status, hold.ReleasedAt = HoldExpired, &hold.ExpiresAt
		default:
			hold.Status, hold.ReleasedAt = HoldVoided, &now
		}
		p := newPosting(Transaction{})
		p.holdUpdate = &hold
		if err := l.write(ctx, tx, p); err != nil {
			return Hold{}, err
		}
		return hold, nil
	})
}
