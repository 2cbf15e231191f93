package ledger

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/infra/txn"
	"github.com/coalition-loyalty/coalition/coalition/rules"
)

// lot is a member's points from one earn.
type lot struct {
	ID            uuid.UUID
	IssuerID      coalition.PartnerID
	Points        coalition.Points
	Remaining     coalition.Points
	EarnedAt      time.Time
	SpendableFrom time.Time
	ExpiresAt     time.Time
	// Unlock: a joint promotion's points, locked until the member buys at
	// this partner.
	Unlock *coalition.PartnerID
}

func (t lot) spendable(now time.Time) bool { return t.Unlock == nil && !t.SpendableFrom.After(now) }

// debt is points a member owes a partner after a refund of spent points.
type debt struct {
	ID         uuid.UUID
	CreditorID coalition.PartnerID
	Remaining  coalition.Points
}

// purse is a member's open lots (unexpired, not exhausted, soonest to expire
// first), active holds and open debts, read in the posting's transaction.
type purse struct {
	lots  []*lot
	held  coalition.Points
	debts []*debt
}

func (p *purse) spendable(now time.Time) (n coalition.Points) {
	for _, t := range p.lots {
		if t.spendable(now) {
			n += t.Remaining
		}
	}
	return n
}

func (p *purse) pending(now time.Time) (n coalition.Points) {
	for _, t := range p.lots {
		if t.Unlock == nil && !t.spendable(now) {
			n += t.Remaining
		}
	}
	return n
}

// locked is the points of joint promotions still waiting for their unlock.
func (p *purse) locked() (n coalition.Points) {
	for _, t := range p.lots {
		if t.Unlock != nil {
			n += t.Remaining
		}
	}
	return n
}

func (p *purse) owed() (n coalition.Points) {
	for _, d := range p.debts {
		n += d.Remaining
	}
	return n
}

// available is what the member can spend now: spendable points less holds
// and debt. Negative only while a debt is unpaid.
func (p *purse) available(now time.Time) coalition.Points {
	return p.spendable(now) - p.held - p.owed()
}

func loadPurse(ctx context.Context, tx pgx.Tx, member coalition.MemberID, now time.Time) (*purse, error) {
	p := &purse{}
	rows, err := tx.Query(ctx, `
		SELECT id, issuer_id, points, remaining, earned_at, spendable_from, expires_at, unlock_partner_id
		FROM lots
		WHERE member_id = $1 AND remaining > 0 AND expires_at > $2
		ORDER BY expires_at, earned_at, id`, member, now)
	if err != nil {
		return nil, fmt.Errorf("load lots: %w", err)
	}
	for rows.Next() {
		t := &lot{}
		if err := rows.Scan(&t.ID, &t.IssuerID, &t.Points, &t.Remaining, &t.EarnedAt, &t.SpendableFrom, &t.ExpiresAt, &t.Unlock); err != nil {
			rows.Close()
			return nil, fmt.Errorf("load lots: %w", err)
		}
		p.lots = append(p.lots, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load lots: %w", err)
	}
	if p.debts, err = loadDebts(ctx, tx, member); err != nil {
		return nil, err
	}
	if err := tx.QueryRow(ctx, `
		SELECT COALESCE(SUM(points - captured_points), 0)
		FROM holds
		WHERE member_id = $1 AND status = 'active' AND expires_at > $2`, member, now).Scan(&p.held); err != nil {
		return nil, fmt.Errorf("load holds: %w", err)
	}
	return p, nil
}

// consumption is one change of a lot's remaining points.
type consumption struct {
	lot      *lot
	redeemer *coalition.PartnerID
	debtID   *uuid.UUID
	kind     string
	points   coalition.Points // > 0 takes from the lot, < 0 gives back
}

// posting collects everything one ledger transaction writes, then writes it
// in one round trip.
type posting struct {
	tx           Transaction
	ruleVersion  string
	entries      map[uuid.UUID]coalition.Points // by account
	accounts     []uuid.UUID                    // first-use order, so entries are numbered the same on every run
	newLots      []*lot
	newDebts     []newDebt
	consumptions []consumption
	debtPaid     map[*debt]coalition.Points
	holdInsert   *Hold
	holdUpdate   *Hold
	lines        []storedLine
}

// storedLine is one line of an earn's breakdown, as earn_lines keeps it.
type storedLine struct {
	rules.Line
	funderID coalition.PartnerID
	lot      *lot
}

type newDebt struct {
	debt
	points coalition.Points
}

func newPosting(t Transaction) *posting {
	return &posting{tx: t, entries: map[uuid.UUID]coalition.Points{}, debtPaid: map[*debt]coalition.Points{}}
}

// move credits amount to one account and debits it from another.
func (p *posting) move(from, to uuid.UUID, amount coalition.Points) {
	if amount == 0 {
		return
	}
	p.add(from, -amount)
	p.add(to, amount)
}

func (p *posting) add(account uuid.UUID, amount coalition.Points) {
	if _, ok := p.entries[account]; !ok {
		p.accounts = append(p.accounts, account)
	}
	p.entries[account] += amount
}

// take consumes up to want points from lots in order, skipping lots for
// which use is false, and returns how many it took.
func (p *posting) take(lots []*lot, want coalition.Points, use func(*lot) bool, kind string, redeemer *coalition.PartnerID, debtID *uuid.UUID) coalition.Points {
	var took coalition.Points
	for _, t := range lots {
		if took == want {
			break
		}
		if t.Remaining == 0 || !use(t) {
			continue
		}
		n := min(t.Remaining, want-took)
		t.Remaining -= n
		took += n
		p.consumptions = append(p.consumptions, consumption{lot: t, redeemer: redeemer, debtID: debtID, kind: kind, points: n})
	}
	return took
}

// payDebts pays the member's open debts, oldest first, from any of the
// member's points (pending ones too), soonest to expire first. Each point so
// used counts as spent at the creditor, which is what settles the debt
// between partners.
func (p *posting) payDebts(pu *purse, m memberRow) {
	for _, d := range pu.debts {
		if d.Remaining == 0 {
			continue
		}
		creditor, id := d.CreditorID, d.ID
		paid := p.take(pu.lots, d.Remaining, func(*lot) bool { return true }, "debt", &creditor, &id)
		if paid == 0 {
			return
		}
		d.Remaining -= paid
		p.debtPaid[d] += paid
		p.move(m.pointsAccount, m.debtAccount, paid)
	}
}

// write stores the posting. The order of statements follows the foreign keys.
func (p *posting) write(ctx context.Context, tx pgx.Tx) error {
	b := &pgx.Batch{}
	if err := p.queue(b); err != nil {
		return err
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("write %s %s: %w", p.tx.Kind, p.tx.ID, err)
	}
	return nil
}

// queue adds the posting's statements to b, so that several postings of one
// operation go to the database in one round trip.
func (p *posting) queue(b *pgx.Batch) error {
	p.tx.RuleVersion = p.ruleVersion
	var sum coalition.Points
	for _, a := range p.accounts {
		sum += p.entries[a]
	}
	if sum != 0 {
		return fmt.Errorf("posting %s is unbalanced by %d", p.tx.ID, sum)
	}
	if h := p.holdInsert; h != nil {
		b.Queue(`
			INSERT INTO holds (id, member_id, partner_id, points, status, order_id, created_at, expires_at)
			VALUES ($1, $2, $3, $4, 'active', $5, $6, $7)`,
			h.ID, h.MemberID, h.PartnerID, h.Points, h.OrderID, h.CreatedAt, h.ExpiresAt)
	}
	if p.tx.ID != uuid.Nil {
		var amount *int64
		var currency *string
		if a := p.tx.Amount; a != nil {
			amount, currency = &a.Minor, &a.Currency
		}
		b.Queue(`
			INSERT INTO transactions (id, kind, partner_id, member_id, business_date, points,
			                          amount_minor, currency, order_id, original_id, hold_id, rule_version, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULLIF($9, ''), $10, $11, NULLIF($12, ''), $13)`,
			p.tx.ID, string(p.tx.Kind), p.tx.PartnerID, p.tx.MemberID, p.tx.BusinessDate, p.tx.Points,
			amount, currency, p.tx.OrderID, p.tx.OriginalID, p.tx.HoldID, p.ruleVersion, p.tx.CreatedAt)
	}
	if h := p.holdUpdate; h != nil {
		b.Queue(`
			UPDATE holds SET status = $2, captured_points = $3, released_at = $4
			WHERE id = $1 AND status = 'active'`,
			h.ID, string(h.Status), h.CapturedPoints, h.ReleasedAt).Exec(func(tag pgconn.CommandTag) error {
			if tag.RowsAffected() != 1 {
				// The sweeper expired the hold since it was read.
				return txn.ErrRetry
			}
			return nil
		})
	}
	var values []string
	var args []any
	seq := 0
	for _, a := range p.accounts {
		if p.entries[a] == 0 {
			continue
		}
		seq++
		n := len(args)
		values = append(values, fmt.Sprintf("($%d, $%d, $%d, $%d)", n+1, n+2, n+3, n+4))
		args = append(args, p.tx.ID, seq, a, p.entries[a])
	}
	if len(values) > 0 {
		b.Queue(`INSERT INTO entries (transaction_id, seq, account_id, amount) VALUES `+strings.Join(values, ", "), args...)
	}
	for _, t := range p.newLots {
		b.Queue(`
			INSERT INTO lots (id, member_id, issuer_id, transaction_id, points, remaining, earned_at, spendable_from, expires_at,
			                  unlock_partner_id)
			VALUES ($1, $2, $3, $4, $5, $5, $6, $7, $8, $9)`,
			t.ID, p.tx.MemberID, t.IssuerID, p.tx.ID, t.Points, t.EarnedAt, t.SpendableFrom, t.ExpiresAt, t.Unlock)
	}
	for i, l := range p.lines {
		var lotID *uuid.UUID
		if l.lot != nil {
			lotID = &l.lot.ID
		}
		b.Queue(`
			INSERT INTO earn_lines (transaction_id, seq, rule, ref, description, points, funder_id, lot_id)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			p.tx.ID, i+1, l.Rule, l.Ref, l.Description, l.Points, l.funderID, lotID)
	}
	for _, d := range p.newDebts {
		b.Queue(`
			INSERT INTO member_debts (id, member_id, creditor_id, transaction_id, points, remaining, created_at)
			VALUES ($1, $2, $3, $4, $5, $5, $6)`,
			d.ID, p.tx.MemberID, d.CreditorID, p.tx.ID, d.points, p.tx.CreatedAt)
	}
	// Net change per lot, in a stable order, then one row per consumption.
	delta := map[*lot]coalition.Points{}
	var touched []*lot
	for _, c := range p.consumptions {
		if _, ok := delta[c.lot]; !ok {
			touched = append(touched, c.lot)
		}
		delta[c.lot] += c.points
	}
	for _, t := range touched {
		if delta[t] != 0 {
			b.Queue(`UPDATE lots SET remaining = remaining - $2 WHERE id = $1`, t.ID, delta[t])
		}
	}
	debts := make([]*debt, 0, len(p.debtPaid))
	for d := range p.debtPaid {
		debts = append(debts, d)
	}
	slices.SortFunc(debts, func(a, b *debt) int { return strings.Compare(a.ID.String(), b.ID.String()) })
	for _, d := range debts {
		b.Queue(`UPDATE member_debts SET remaining = remaining - $2 WHERE id = $1`, d.ID, p.debtPaid[d])
	}
	for _, c := range p.consumptions {
		b.Queue(`
			INSERT INTO lot_consumptions (id, transaction_id, lot_id, member_id, issuer_id, redeemer_id, debt_id,
			                              kind, points, business_date, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			uuid.New(), p.tx.ID, c.lot.ID, p.tx.MemberID, c.lot.IssuerID, c.redeemer, c.debtID,
			c.kind, c.points, p.tx.BusinessDate, p.tx.CreatedAt)
	}
	return nil
}

// insufficient is the error of a burn the member cannot cover.
func insufficient(field string, want, available coalition.Points) error {
	return coalition.Errorf(coalition.FailedPrecondition, field,
		"not enough points: %d requested, %d available", want, max(available, 0))
}

const debtsSQL = `
	SELECT id, creditor_id, remaining
	FROM member_debts
	WHERE member_id = $1 AND remaining > 0
	ORDER BY created_at, id`

func loadDebts(ctx context.Context, tx pgx.Tx, member coalition.MemberID) ([]*debt, error) {
	rows, err := tx.Query(ctx, debtsSQL, member)
	if err != nil {
		return nil, fmt.Errorf("load debts: %w", err)
	}
	return scanDebts(rows)
}

func scanDebts(rows pgx.Rows) ([]*debt, error) {
	debts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*debt, error) {
		d := &debt{}
		return d, r.Scan(&d.ID, &d.CreditorID, &d.Remaining)
	})
	if err != nil {
		return nil, fmt.Errorf("load debts: %w", err)
	}
	return debts, nil
}
