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
)

// Expiry and the hold sweep go through the posting engine as a batch does:
// a page of members in one READ COMMITTED transaction, the open window
// held in share mode (expiry posts), the page's members locked in one
// statement ORDER BY id FOR UPDATE (so a page and a lane's batch lock
// their common members in the same order and cannot deadlock), their rows
// read set-based after that lock, and every row written by the set-based
// writer, one statement per table (docs/DATABASE.md, "Expiry and the hold
// sweep").

// expiringMembers locks the members who have lots past their date with
// points left, up to $2 of them, in id order. The page is chosen inside
// the statement (an initPlan, computed once), so choosing and locking is
// one round trip; a member whose lots were spent or expired by another
// transaction meanwhile is locked and then found to have nothing to
// expire.
const expiringMembers = `
	id = ANY(ARRAY(
	    SELECT DISTINCT member_id FROM lots
	    WHERE is_open AND expires_at <= $1
	    LIMIT $2))
	ORDER BY id`

// expiringLots reads the lots to expire of the locked members, after their
// locks: each member's lots by issuer, soonest to expire first, with the
// issuer's breakage account.
const expiringLots = `
	SELECT l.member_id, l.id, l.issuer_id, l.points, l.remaining, l.earned_at, l.spendable_from, l.expires_at,
	       p.breakage_account_id
	FROM lots AS l JOIN partners AS p ON p.id = l.issuer_id
	WHERE l.member_id = ANY($1) AND l.is_open AND l.expires_at <= $2
	ORDER BY l.member_id, l.issuer_id, l.expires_at, l.id`

// expiring is a lot to expire and where its points go.
type expiring struct {
	lot      *lot
	breakage uuid.UUID
}

// ExpireLots posts the expiry of lots whose date has passed with points
// left: for each member and issuer, one transaction moving the points from
// the member to the issuer's breakage account, with a consumption of each
// lot. It handles a page of up to limit members in one transaction and
// returns how many lots it expired; call it until it returns 0.
func (l *Ledger) ExpireLots(ctx context.Context, limit int) (int, error) {
	now := l.now()
	var n int
	err := l.tx.Write(ctx, func(tx pgx.Tx) error {
		var err error
		n, err = l.expirePage(ctx, tx, limit, now)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("expire lots: %w", err)
	}
	return n, nil
}

// expirePage expires the lots of one page of members: the window and the
// members in one round trip, their lots in a second, every row in a third.
func (l *Ledger) expirePage(ctx context.Context, tx pgx.Tx, limit int, now time.Time) (int, error) {
	q := &pgx.Batch{}
	l.queueGenericPlans(q)
	var date time.Time
	windowOpen := true
	q.Queue(`SELECT business_date FROM settlement_windows AS w WHERE status = 'open'` + lockWindow).QueryRow(func(row pgx.Row) error {
		err := row.Scan(&date)
		if errors.Is(err, pgx.ErrNoRows) {
			windowOpen = false
			return nil
		}
		return err
	})
	members := map[coalition.MemberID]memberRow{}
	var ids []uuid.UUID
	q.Queue(memberSQL+expiringMembers+lockMember, now, limit).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			m, err := scanMember(rows, "member", "")
			if err != nil {
				return err
			}
			members[m.ID] = m
			ids = append(ids, uuid.UUID(m.ID))
		}
		return rows.Err()
	})
	if err := tx.SendBatch(ctx, q).Close(); err != nil {
		return 0, fmt.Errorf("lock page: %w", err)
	}
	if !windowOpen {
		return 0, txn.ErrRetry // closed while this waited; the next is open
	}
	if len(ids) == 0 {
		return 0, nil
	}
	rows, err := tx.Query(ctx, expiringLots, ids, now)
	if err != nil {
		return 0, fmt.Errorf("read lots: %w", err)
	}
	byMember := map[coalition.MemberID][]expiring{}
	var member coalition.MemberID
	var e expiring
	var t lot
	_, err = pgx.ForEachRow(rows, []any{&member, &t.ID, &t.IssuerID, &t.Points, &t.Remaining, &t.EarnedAt,
		&t.SpendableFrom, &t.ExpiresAt, &e.breakage}, func() error {
		tt := t
		byMember[member] = append(byMember[member], expiring{lot: &tt, breakage: e.breakage})
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("read lots: %w", err)
	}
	w := l.newWrites()
	n := 0
	for _, id := range ids { // id order: the same rows on every run
		m := members[coalition.MemberID(id)]
		lots := byMember[m.ID]
		for _, p := range expiryPostings(m, lots, date, now) {
			if err := p.queue(w); err != nil {
				return 0, err
			}
		}
		n += len(lots)
	}
	if n == 0 {
		return 0, nil
	}
	if err := w.send(ctx, tx); err != nil {
		return 0, fmt.Errorf("write: %w", err)
	}
	return n, nil
}

// expiryPostings builds a member's expiry: one transaction per issuer, in
// the order of lots (by issuer), each taking every expiring lot of that
// issuer whole into the issuer's breakage account.
func expiryPostings(m memberRow, lots []expiring, date, now time.Time) []*posting {
	var out []*posting
	var p *posting
	for _, e := range lots {
		if p == nil || p.tx.PartnerID != e.lot.IssuerID {
			p = newPosting(Transaction{ID: coalition.NewID(), Kind: KindExpire, PartnerID: e.lot.IssuerID, MemberID: m.ID,
				BusinessDate: date.Format(time.DateOnly), CreatedAt: now})
			out = append(out, p)
		}
		n := e.lot.Remaining
		p.take([]*lot{e.lot}, n, func(*lot) bool { return true }, "expire", nil, nil)
		p.move(m.pointsAccount, e.breakage, n)
		p.tx.Points -= n
	}
	return out
}

// expireLotsPerMember is how expiry ran before it went through pages: one
// transaction per member, each posting written on its own. It is kept for
// BenchmarkExpireLots, which compares the two.
func (l *Ledger) expireLotsPerMember(ctx context.Context, limit int) (int, error) {
	now := l.now()
	rows, err := l.tx.Pool().Query(ctx, `
		SELECT DISTINCT member_id FROM lots
		WHERE is_open AND expires_at <= $1
		LIMIT $2`, now, limit)
	if err != nil {
		return 0, fmt.Errorf("expire lots: %w", err)
	}
	members, err := pgx.CollectRows(rows, pgx.RowTo[coalition.MemberID])
	if err != nil {
		return 0, fmt.Errorf("expire lots: %w", err)
	}
	total := 0
	for _, member := range members {
		var n int
		err := l.tx.Write(ctx, func(tx pgx.Tx) error {
			var err error
			n, err = l.expireMemberLots(ctx, tx, member, now)
			return err
		})
		if err != nil {
			return total, fmt.Errorf("expire lots of member %s: %w", member, err)
		}
		total += n
	}
	return total, nil
}

func (l *Ledger) expireMemberLots(ctx context.Context, tx pgx.Tx, member coalition.MemberID, now time.Time) (int, error) {
	var date time.Time
	err := tx.QueryRow(ctx, `SELECT business_date FROM settlement_windows AS w WHERE status = 'open'`+lockWindow).Scan(&date)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, txn.ErrRetry
	}
	if err != nil {
		return 0, fmt.Errorf("open window: %w", err)
	}
	m, err := findMember(ctx, tx, posts, MemberRef{ID: member}, nil, "member")
	if err != nil {
		return 0, err
	}
	rows, err := tx.Query(ctx, expiringLots, []uuid.UUID{uuid.UUID(member)}, now)
	if err != nil {
		return 0, err
	}
	var lots []expiring
	var id coalition.MemberID
	var e expiring
	var t lot
	_, err = pgx.ForEachRow(rows, []any{&id, &t.ID, &t.IssuerID, &t.Points, &t.Remaining, &t.EarnedAt,
		&t.SpendableFrom, &t.ExpiresAt, &e.breakage}, func() error {
		tt := t
		lots = append(lots, expiring{lot: &tt, breakage: e.breakage})
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, p := range expiryPostings(m, lots, date, now) {
		if err := l.write(ctx, tx, p); err != nil {
			return 0, err
		}
	}
	return len(lots), nil
}

// expiredHoldMembers locks the members of a page of active holds past
// their TTL, the $2 that expired first, in id order, as expiringMembers
// does for lots.
const expiredHoldMembers = `
	id = ANY(ARRAY(
	    SELECT member_id FROM holds
	    WHERE status = 'active' AND expires_at <= $1
	    ORDER BY expires_at
	    LIMIT $2))
	ORDER BY id`

// ReleaseExpiredHolds marks active holds past their TTL as expired,
// released when their TTL ended, and returns how many it marked: the holds
// of a page of members (those of up to limit holds, the soonest expired
// first) in one transaction. Expired holds already stop counting against
// the balance when their TTL passes; this makes it visible.
//
// The page's members are locked as a batch locks them, and their holds are
// read after the lock, so each hold is as the member's last capture or
// void left it; the update, which must change every hold it names, cannot
// meet a hold that changed since. It posts no transaction and writes
// nothing a business day owns, so it takes no window.
func (l *Ledger) ReleaseExpiredHolds(ctx context.Context, limit int) (int64, error) {
	now := l.now()
	var n int64
	err := l.tx.Write(ctx, func(tx pgx.Tx) error {
		n = 0
		rows, err := tx.Query(ctx, memberSQL+expiredHoldMembers+lockMember, now, limit)
		if err != nil {
			return fmt.Errorf("lock page: %w", err)
		}
		var ids []uuid.UUID
		for rows.Next() {
			m, err := scanMember(rows, "member", "")
			if err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, uuid.UUID(m.ID))
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("lock page: %w", err)
		}
		if len(ids) == 0 {
			return nil
		}
		rows, err = tx.Query(ctx, `
			SELECT `+holdColumns+` FROM holds
			WHERE member_id = ANY($1) AND status = 'active' AND expires_at <= $2
			ORDER BY member_id, expires_at, id`, ids, now)
		if err != nil {
			return fmt.Errorf("read holds: %w", err)
		}
		w := l.newWrites()
		for rows.Next() {
			h, err := scanHold(rows)
			if err != nil {
				rows.Close()
				return fmt.Errorf("read holds: %w", err)
			}
			// Released when its TTL ended, as a void that finds it
			// expired records it.
			at := h.ExpiresAt
			h.Status, h.ReleasedAt = HoldExpired, &at
			p := newPosting(Transaction{})
			p.holdUpdate = &h
			if err := p.queue(w); err != nil {
				rows.Close()
				return err
			}
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("read holds: %w", err)
		}
		if len(w.holdUpdates) == 0 {
			return nil
		}
		n = int64(len(w.holdUpdates))
		return w.send(ctx, tx)
	})
	if err != nil {
		return 0, fmt.Errorf("release expired holds: %w", err)
	}
	return n, nil
}
