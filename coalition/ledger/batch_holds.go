package ledger

import (
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/coalition-loyalty/coalition/coalition"
)

// A batch's captures and voids. Each names a hold, whose member the
// batch's lock statement finds (lockNamedMembers) and locks with the
// others; the holds are read after that statement, so each is as the
// member's last posting left it, and then carried through the batch: a
// capture or void sees what the batch's earlier requests did to its hold
// and to its member's purse.

// lockNamedMembers widens the batch's member lock to the members of the
// holds ($3) and transactions ($4) its captures, voids and refunds name:
// one statement still, ORDER BY id, so the protocol's order is kept. The
// arrays are computed once (initPlans) and searched by the primary key,
// as id = ANY($1) is; a hold or transaction that commits after the
// statement began is not among them, and a request naming it runs alone.
const lockNamedMembers = `
	id = ANY($1::uuid[]
	         || ARRAY(SELECT member_id FROM holds WHERE id = ANY($3::uuid[]))
	         || ARRAY(SELECT member_id FROM transactions WHERE id = ANY($4::uuid[])))
	OR card_number = ANY($2) ORDER BY id`

// queueHolds reads the holds ids into holds, after the members' locks.
func queueHolds(q *pgx.Batch, ids []uuid.UUID, holds map[uuid.UUID]*Hold) {
	q.Queue(`SELECT `+holdColumns+` FROM holds WHERE id = ANY($1)`, ids).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			h, err := scanHold(rows)
			if err != nil {
				return err
			}
			holds[h.ID] = &h
		}
		return rows.Err()
	})
}

// applyCapture posts a capture as captureOne posts it, against the hold
// and the purse as the batch left them; ok is false if captureOne would
// refuse it (the request then runs alone and records its refusal).
func (b *batchRun) applyCapture(w *writes, r *request, c opContext, m memberRow, h *Hold, pu *purse, now time.Time) (CaptureResult, bool, error) {
	cp := r.capture
	if h.Status != HoldActive || !h.ExpiresAt.After(now) {
		return CaptureResult{}, false, nil
	}
	n := h.Points
	if cp.Points != nil {
		n = *cp.Points
	}
	if n > h.Points {
		return CaptureResult{}, false, nil
	}
	if avail := pu.available(now) + h.Points; n > avail {
		return CaptureResult{}, false, nil
	}
	holdID := h.ID
	p := newPosting(Transaction{
		ID: coalition.NewID(), Kind: KindCapture, PartnerID: r.partner, MemberID: m.ID, Points: -n,
		OrderID: h.OrderID, BusinessDate: c.date(), CreatedAt: now, HoldID: &holdID,
	})
	p.burn(pu, m, c, n, now)
	// The hold no longer holds: the purse's held points are those of
	// active, unexpired holds, as queuePurses sums them.
	pu.held -= h.Points - h.CapturedPoints
	at := now
	h.Status, h.CapturedPoints, h.ReleasedAt = HoldCaptured, n, &at
	done := *h
	p.holdUpdate = &done
	if err := p.queue(w); err != nil {
		return CaptureResult{}, false, err
	}
	return CaptureResult{Transaction: p.tx, Hold: done}, true, nil
}

// applyVoid releases a hold as voidOne does; ok is false for a captured
// hold, which voidOne refuses. pu is the member's purse if the batch read
// it (for the member's other requests), else nil.
func (b *batchRun) applyVoid(w *writes, h *Hold, pu *purse, now time.Time) (Hold, bool, error) {
	switch {
	case h.Status == HoldCaptured:
		return Hold{}, false, nil
	case h.Status != HoldActive:
		return *h, true, nil // already released: answered, nothing written
	case !h.ExpiresAt.After(now):
		// Past its TTL it no longer counted in the purse.
		at := h.ExpiresAt
		h.Status, h.ReleasedAt = HoldExpired, &at
	default:
		if pu != nil {
			pu.held -= h.Points - h.CapturedPoints
		}
		at := now
		h.Status, h.ReleasedAt = HoldVoided, &at
	}
	done := *h
	p := newPosting(Transaction{})
	p.holdUpdate = &done
	if err := p.queue(w); err != nil {
		return Hold{}, false, err
	}
	return done, true, nil
}
