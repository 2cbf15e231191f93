package ledger

import (
	"context"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/infra/txn"
	"github.com/coalition-loyalty/coalition/coalition/rules"
)

// Balance is a member's points at one instant.
type Balance struct {
	MemberID         coalition.MemberID `json:"member_id"`
	Available        coalition.Points   `json:"available"`
	Pending          coalition.Points   `json:"pending"`
	Locked           coalition.Points   `json:"locked"` // joint-promotion points awaiting a purchase at their partner
	Held             coalition.Points   `json:"held"`
	Debt             coalition.Points   `json:"debt"`
	Expiring30d      coalition.Points   `json:"expiring_30d"`
	NextExpiryAt     *time.Time         `json:"next_expiry_at,omitempty"`
	NextExpiryPoints coalition.Points   `json:"next_expiry_points"`
	AsOf             time.Time          `json:"as_of"`
}

// ExpiryHorizon is how far ahead Balance reports expiring points.
const ExpiryHorizon = 30 * 24 * time.Hour

// Balance reads a member's balance for any partner of the coalition (a
// member may spend anywhere, so any checkout may ask).
func (l *Ledger) Balance(ctx context.Context, partner coalition.PartnerID, ref MemberRef) (Balance, error) {
	return l.balance(ctx, &partner, ref)
}

// BalanceOf reads a member's balance for the operator.
func (l *Ledger) BalanceOf(ctx context.Context, ref MemberRef) (Balance, error) {
	return l.balance(ctx, nil, ref)
}

// balance reads a balance; with a partner, only for a partner that may trade.
func (l *Ledger) balance(ctx context.Context, partner *coalition.PartnerID, ref MemberRef) (Balance, error) {
	h, err := l.hashRef(ctx, ref)
	if err != nil {
		return Balance{}, err
	}
	var b Balance
	err = l.tx.Read(ctx, func(tx pgx.Tx) error {
		var m memberRow
		var err error
		if partner != nil {
			_, m, err = loadContextAndMember(ctx, tx, reading, *partner, ref, h, "member")
		} else {
			m, err = findMember(ctx, tx, reading, ref, h, "member")
		}
		if err != nil {
			return err
		}
		b, err = readBalance(ctx, tx, m.ID, l.now())
		return err
	})
	return b, err
}

// readBalance reads a member's balance from the member's open points
// (member_open_points, every lot's remaining points) less what of them
// cannot be spent now, reading only those lots: the expired ones the
// expiry job has not taken yet, the locked ones, the pending ones (through
// lots_member_pending, which holds only lots that had a return window),
// and those expiring within ExpiryHorizon. A regular customer has hundreds
// of open lots, and summing them all took most of the database's time
// under a mix of regulars' requests (docs/BENCHMARKS.md, "Planned once,
// fewer foreign keys, the partner's standing"). The figures are the
// purse's (purse.available, pending, locked, held, owed) over the same
// lots: open (is_open: remaining > 0) and not expired at now; spendable from now
// on; in a joint promotion until unlocked. TestBalanceIsThePursesSum holds
// the two to each other.
func readBalance(ctx context.Context, tx pgx.Tx, member coalition.MemberID, now time.Time) (Balance, error) {
	b := Balance{MemberID: member, AsOf: now}
	var open, expired, held, owed coalition.Points
	var next *time.Time
	q := &pgx.Batch{}
	q.Queue(`
		SELECT COALESCE((SELECT points FROM member_open_points WHERE member_id = $1), 0),
		       COALESCE((SELECT SUM(remaining) FROM lots
		                 WHERE member_id = $1 AND is_open AND expires_at <= $2), 0),
		       COALESCE((SELECT SUM(remaining) FROM lots
		                 WHERE member_id = $1 AND is_open AND spendable_from > earned_at
		                   AND spendable_from > $2 AND unlock_partner_id IS NULL AND expires_at > $2), 0),
		       COALESCE((SELECT SUM(remaining) FROM lots
		                 WHERE member_id = $1 AND unlock_partner_id IS NOT NULL AND is_open AND expires_at > $2), 0),
		       COALESCE((SELECT SUM(remaining) FROM lots
		                 WHERE member_id = $1 AND is_open AND expires_at > $2 AND expires_at <= $3), 0),
		       s.at,
		       COALESCE((SELECT SUM(remaining) FROM lots
		                 WHERE member_id = $1 AND is_open AND expires_at = s.at), 0)
		FROM (SELECT MIN(expires_at) AS at FROM lots WHERE member_id = $1 AND is_open AND expires_at > $2) AS s`,
		member, now, now.Add(ExpiryHorizon)).QueryRow(func(row pgx.Row) error {
		return row.Scan(&open, &expired, &b.Pending, &b.Locked, &b.Expiring30d, &next, &b.NextExpiryPoints)
	})
	q.Queue(`
		SELECT COALESCE(SUM(points - captured_points), 0) FROM holds
		WHERE member_id = $1 AND status = 'active' AND expires_at > $2`, member, now).QueryRow(func(row pgx.Row) error {
		return row.Scan(&held)
	})
	q.Queue(`SELECT COALESCE(SUM(remaining), 0) FROM member_debts WHERE member_id = $1 AND remaining > 0`, member).QueryRow(func(row pgx.Row) error {
		return row.Scan(&owed)
	})
	// The balance's last statements: its read-only transaction's COMMIT
	// goes with them, saving the balance a round trip.
	if err := txn.SendCommit(ctx, tx, q); err != nil {
		return Balance{}, fmt.Errorf("balance of member %s: %w", member, err)
	}
	if next != nil {
		at := next.UTC()
		b.NextExpiryAt = &at
	}
	b.Held, b.Debt = held, owed
	spendable := open - expired - b.Pending - b.Locked
	b.Available = spendable - held - owed
	return b, nil
}

// History lists a member's transactions, newest first, a page at a time. A
// partner sees every transaction of the members it enrolled, and only its own
// transactions with other members.
func (l *Ledger) History(ctx context.Context, partner coalition.PartnerID, ref MemberRef, pageSize int, pageToken string) ([]Transaction, string, error) {
	pageSize, after, err := page(pageSize, pageToken)
	if err != nil {
		return nil, "", err
	}
	h, err := l.hashRef(ctx, ref)
	if err != nil {
		return nil, "", err
	}
	var out []Transaction
	err = l.tx.Read(ctx, func(tx pgx.Tx) error {
		out = nil
		_, m, err := loadContextAndMember(ctx, tx, reading, partner, ref, h, "member")
		if err != nil {
			return err
		}
		seeAll := m.HomePartnerID == partner
		rows, err := tx.Query(ctx, `
			SELECT id, kind, partner_id, member_id, points, amount_minor, currency, COALESCE(order_id, ''),
			       business_date, created_at, original_id, hold_id, COALESCE(rule_version, '')
			FROM transactions
			WHERE member_id = $1
			  AND ($2 OR partner_id = $3)
			  AND ($4::TIMESTAMPTZ IS NULL OR (created_at, id) < ($4, $5))
			ORDER BY created_at DESC, id DESC
			LIMIT $6`, m.ID, seeAll, partner, after.at, after.id, pageSize+1)
		if err != nil {
			return fmt.Errorf("history: %w", err)
		}
		out, err = pgx.CollectRows(rows, scanTransaction)
		if err != nil {
			return fmt.Errorf("history: %w", err)
		}
		if err := explain(ctx, tx, out); err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(out) > pageSize {
		out = out[:pageSize]
		last := out[pageSize-1]
		next = encodePageToken(last.CreatedAt, last.ID)
	}
	return out, next, nil
}

// explain adds to earns and bonuses the breakdown their rule version
// computed, as recorded at the time, in one query for the page.
func explain(ctx context.Context, q interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}, txs []Transaction) error {
	var ids []uuid.UUID
	at := map[uuid.UUID]int{}
	for i, t := range txs {
		if t.Kind == KindEarn || t.Kind == KindBonus {
			ids = append(ids, t.ID)
			at[t.ID] = i
		}
	}
	if len(ids) == 0 {
		return nil
	}
	rows, err := q.Query(ctx, `
		SELECT l.transaction_id, l.rule, l.ref, l.description, l.points, p.code
		FROM earn_lines AS l JOIN partners AS p ON p.id = l.funder_id
		WHERE l.transaction_id = ANY($1)
		ORDER BY l.transaction_id, l.seq`, ids)
	if err != nil {
		return fmt.Errorf("history: breakdown: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id uuid.UUID
		var line rules.Line
		if err := rows.Scan(&id, &line.Rule, &line.Ref, &line.Description, &line.Points, &line.Funder); err != nil {
			return fmt.Errorf("history: breakdown: %w", err)
		}
		txs[at[id]].Lines = append(txs[at[id]].Lines, line)
	}
	return rows.Err()
}

func scanTransaction(r pgx.CollectableRow) (Transaction, error) {
	var t Transaction
	var kind string
	var amount *int64
	var currency *string
	var date time.Time
	if err := r.Scan(&t.ID, &kind, &t.PartnerID, &t.MemberID, &t.Points, &amount, &currency, &t.OrderID,
		&date, &t.CreatedAt, &t.OriginalID, &t.HoldID, &t.RuleVersion); err != nil {
		return t, err
	}
	t.Kind = Kind(kind)
	if amount != nil && currency != nil {
		t.Amount = &coalition.Money{Minor: *amount, Currency: *currency}
	}
	t.BusinessDate = date.Format(time.DateOnly)
	t.CreatedAt = t.CreatedAt.UTC()
	return t, nil
}

type pageCursor struct {
	at *time.Time
	id uuid.UUID
}

// Page tokens are opaque to clients: the position of the last row returned.
func encodePageToken(at time.Time, id uuid.UUID) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(at.UnixMicro(), 10) + "." + id.String()))
}

// page checks a history request's paging: 50 transactions if no size is
// given, at most 200, after the cursor of the token.
func page(size int, token string) (int, pageCursor, error) {
	if size <= 0 {
		size = 50
	}
	if size > 200 {
		return 0, pageCursor{}, coalition.Errorf(coalition.Invalid, "page_size", "must be at most 200")
	}
	after, err := decodePageToken(token)
	return size, after, err
}

func decodePageToken(s string) (pageCursor, error) {
	if s == "" {
		return pageCursor{}, nil
	}
	bad := coalition.Errorf(coalition.Invalid, "page_token", "is not a token this service issued")
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return pageCursor{}, bad
	}
	micros, id, ok := strings.Cut(string(raw), ".")
	if !ok {
		return pageCursor{}, bad
	}
	us, err1 := strconv.ParseInt(micros, 10, 64)
	u, err2 := uuid.Parse(id)
	if err1 != nil || err2 != nil {
		return pageCursor{}, bad
	}
	at := time.UnixMicro(us).UTC()
	return pageCursor{at: &at, id: u}, nil
}
