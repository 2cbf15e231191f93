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

// ExpireLots posts the expiry of lots whose date has passed with points
// left: for each member and issuer, one transaction moving the points from
// the member to the issuer's breakage account, with a consumption of each
// lot. It handles up to limit members per call and returns how many lots it
// expired; call it until it returns 0.
func (l *Ledger) ExpireLots(ctx context.Context, limit int) (int, error) {
	now := l.now()
	rows, err := l.tx.Pool().Query(ctx, `
		SELECT DISTINCT member_id FROM lots
		WHERE remaining > 0 AND expires_at <= $1
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
		return 0, txn.ErrRetry // closed while this waited; the next is open
	}
	if err != nil {
		return 0, fmt.Errorf("open window: %w", err)
	}
	m, err := findMember(ctx, tx, posts, MemberRef{ID: member}, nil, "member")
	if err != nil {
		return 0, err
	}
	rows, err := tx.Query(ctx, `
		SELECT l.id, l.issuer_id, l.points, l.remaining, l.earned_at, l.spendable_from, l.expires_at, p.breakage_account_id
		FROM lots AS l JOIN partners AS p ON p.id = l.issuer_id
		WHERE l.member_id = $1 AND l.remaining > 0 AND l.expires_at <= $2
		ORDER BY l.issuer_id, l.expires_at, l.id`, member, now)
	if err != nil {
		return 0, err
	}
	type expired struct {
		lot      *lot
		breakage uuid.UUID
	}
	var lots []expired
	for rows.Next() {
		e := expired{lot: &lot{}}
		if err := rows.Scan(&e.lot.ID, &e.lot.IssuerID, &e.lot.Points, &e.lot.Remaining, &e.lot.EarnedAt,
			&e.lot.SpendableFrom, &e.lot.ExpiresAt, &e.breakage); err != nil {
			rows.Close()
			return 0, err
		}
		lots = append(lots, e)
	}
	if err := rows.Err(); err != nil {
		return 0, err
	}
	var p *posting
	flush := func() error {
		if p == nil {
			return nil
		}
		return l.write(ctx, tx, p)
	}
	for _, e := range lots {
		if p == nil || p.tx.PartnerID != e.lot.IssuerID {
			if err := flush(); err != nil {
				return 0, err
			}
			p = newPosting(Transaction{ID: coalition.NewID(), Kind: KindExpire, PartnerID: e.lot.IssuerID, MemberID: member,
				BusinessDate: date.Format(time.DateOnly), CreatedAt: now})
		}
		n := e.lot.Remaining
		p.take([]*lot{e.lot}, n, func(*lot) bool { return true }, "expire", nil, nil)
		p.move(m.pointsAccount, e.breakage, n)
		p.tx.Points -= n
	}
	return len(lots), flush()
}
