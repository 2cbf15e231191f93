package ledger

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/infra/txn"
	"github.com/coalition-loyalty/coalition/coalition/offers"
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
	// truncated: lots are only the member's first open lots and first
	// spendable lots, soonest to expire (a batch reads Config.PurseHead of
	// each); later ones were not read. Its spendable points are then a
	// lower bound: enough for a spend they cover, taken in the same order,
	// and a spend they do not cover is left to a transaction of its own,
	// which reads every lot.
	truncated bool
}

// DefaultPurseHead is how many of a member's open lots a batch reads for
// the member's spends (Config.PurseHead). A regular customer has hundreds
// of open lots, and a redemption takes from the first few; reading all of
// them made a batch with a regular's redemption cost the database more than
// a hundred accruals (docs/BENCHMARKS.md, "Planned once, fewer foreign
// keys, the partner's standing"). Sixteen cover a redemption of up to
// sixteen purchases' points; the purse read was still the regulars' most
// costly statement with 64 (docs/BENCHMARKS.md, "One lane, bigger
// batches").
const DefaultPurseHead = 16

// beyond says whether t, a lot the purse did not read, sorts after the
// lots a truncated purse holds: between them may be lots it did not read,
// so t may not be taken before them and stays out of the purse.
func (p *purse) beyond(t *lot) bool {
	return p.truncated && (len(p.lots) == 0 || lotOrder(t, p.lots[len(p.lots)-1]) > 0)
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

// lotOrder is the order a purse keeps its lots in, as loadPurse reads
// them: soonest to expire first.
func lotOrder(a, b *lot) int {
	if c := a.ExpiresAt.Compare(b.ExpiresAt); c != 0 {
		return c
	}
	if c := a.EarnedAt.Compare(b.EarnedAt); c != 0 {
		return c
	}
	return bytes.Compare(a.ID[:], b.ID[:])
}

// add puts a lot made after the purse was read in its place (not in a
// truncated purse past its last lot: beyond).
func (p *purse) add(t *lot) {
	if p.beyond(t) {
		return
	}
	i, _ := slices.BinarySearchFunc(p.lots, t, lotOrder)
	p.lots = slices.Insert(p.lots, i, t)
}

func loadPurse(ctx context.Context, tx pgx.Tx, member coalition.MemberID, now time.Time) (*purse, error) {
	p := &purse{}
	purses := map[coalition.MemberID]*purse{member: p}
	members := []uuid.UUID{uuid.UUID(member)}
	b := &pgx.Batch{}
	queuePurses(b, memberSet{ids: members}, now, 0, purses)
	queueDebts(b, members, func(_ coalition.MemberID, d *debt) { p.debts = append(p.debts, d) })
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return nil, err
	}
	return p, nil
}

// queuePurses queues the reads of members' purses into b, for the purses
// given (debts apart: queueDebts): each member's open lots, soonest to
// expire first, and what its active holds hold. One posting's purse and a
// batch's purses are read by the same statements.
//
// With head > 0 (a batch) a purse holds only the member's first head open
// lots and first head spendable ones, and is truncated if there may be
// more: its spendable lots are then the first of all the member's
// spendable lots, which is what a spend takes in order.
func queuePurses(b *pgx.Batch, members memberSet, now time.Time, head int, purses map[coalition.MemberID]*purse) {
	const columns = `id, issuer_id, points, remaining, earned_at, spendable_from, expires_at, unlock_partner_id`
	arr, set := members.array(2)
	sql, args := `
		SELECT member_id, `+columns+`, true
		FROM lots
		WHERE member_id = ANY(`+arr+`) AND is_open AND expires_at > $1
		ORDER BY member_id, expires_at, earned_at, id`, append([]any{now}, set...)
	if head > 0 {
		arr, set = members.array(3)
		// first: the row is one of the first head open lots (a lot may
		// come twice, once from each list).
		sql, args = `
			SELECT u.member_id, l.*
			FROM unnest(`+arr+`) AS u(member_id)
			CROSS JOIN LATERAL (
				(SELECT `+columns+`, true AS first
				 FROM lots
				 WHERE member_id = u.member_id AND is_open AND expires_at > $1
				 ORDER BY expires_at, earned_at, id
				 LIMIT $2)
				UNION ALL
				(SELECT `+columns+`, false
				 FROM lots
				 WHERE member_id = u.member_id AND is_open AND expires_at > $1
				   AND spendable_from <= $1 AND unlock_partner_id IS NULL
				 ORDER BY expires_at, earned_at, id
				 LIMIT $2)) AS l
			ORDER BY u.member_id, l.expires_at, l.earned_at, l.id`, append([]any{now, head}, set...)
	}
	b.Queue(sql, args...).Query(func(rows pgx.Rows) error {
		var id coalition.MemberID
		var t lot
		var first bool
		firsts := map[coalition.MemberID]int{}
		_, err := pgx.ForEachRow(rows, []any{&id, &t.ID, &t.IssuerID, &t.Points, &t.Remaining, &t.EarnedAt, &t.SpendableFrom,
			&t.ExpiresAt, &t.Unlock, &first}, func() error {
			if first {
				firsts[id]++
			}
			pu := purseOf(purses, id)
			if n := len(pu.lots); n > 0 && pu.lots[n-1].ID == t.ID { // the same lot from the other list
				return nil
			}
			tt := t
			pu.lots = append(pu.lots, &tt)
			return nil
		})
		if err != nil {
			return fmt.Errorf("load lots: %w", err)
		}
		if head > 0 {
			for id, pu := range purses {
				pu.truncated = firsts[id] >= head
			}
		}
		return nil
	})
	arr, set = members.array(2)
	b.Queue(`
		SELECT member_id, SUM(points - captured_points)
		FROM holds
		WHERE member_id = ANY(`+arr+`) AND status = 'active' AND expires_at > $1
		GROUP BY member_id`, append([]any{now}, set...)...).Query(func(rows pgx.Rows) error {
		var id coalition.MemberID
		var held coalition.Points
		_, err := pgx.ForEachRow(rows, []any{&id, &held}, func() error {
			purseOf(purses, id).held = held
			return nil
		})
		if err != nil {
			return fmt.Errorf("load holds: %w", err)
		}
		return nil
	})
}

// purseOf is member's purse in purses, made empty if the read has not
// met the member yet (a batch reads the purses of members it names by card).
func purseOf(purses map[coalition.MemberID]*purse, member coalition.MemberID) *purse {
	pu := purses[member]
	if pu == nil {
		pu = &purse{}
		purses[member] = pu
	}
	return pu
}

// queueDebts queues the read of members' open debts, oldest first, into b;
// add receives each debt with its member, in that order.
func queueDebts(b *pgx.Batch, members []uuid.UUID, add func(coalition.MemberID, *debt)) {
	b.Queue(`
		SELECT member_id, id, creditor_id, remaining
		FROM member_debts
		WHERE member_id = ANY($1) AND remaining > 0
		ORDER BY member_id, created_at, id`, members).Query(func(rows pgx.Rows) error {
		var id coalition.MemberID
		var d debt
		_, err := pgx.ForEachRow(rows, []any{&id, &d.ID, &d.CreditorID, &d.Remaining}, func() error {
			dd := d
			add(id, &dd)
			return nil
		})
		if err != nil {
			return fmt.Errorf("load debts: %w", err)
		}
		return nil
	})
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
	category     string                         // an earn's purchase category, for segments
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

// write stores the posting in one round trip.
func (l *Ledger) write(ctx context.Context, tx pgx.Tx, p *posting) error {
	w := l.newWrites()
	if err := p.queue(w); err != nil {
		return err
	}
	if err := w.send(ctx, tx); err != nil {
		return fmt.Errorf("write %s %s: %w", p.tx.Kind, p.tx.ID, err)
	}
	return nil
}

// queue adds the posting's rows to w, so that the postings of one operation,
// or of a batch of operations, go to the database together.
func (p *posting) queue(w *writes) error {
	p.tx.RuleVersion = p.ruleVersion
	var sum coalition.Points
	for _, a := range p.accounts {
		sum += p.entries[a]
	}
	if sum != 0 {
		return fmt.Errorf("posting %s is unbalanced by %d", p.tx.ID, sum)
	}
	if h := p.holdInsert; h != nil {
		w.holdInserts = append(w.holdInserts, *h)
	}
	if p.tx.ID != uuid.Nil {
		w.txs.add(p.tx, p.category)
		w.spent(p.tx)
		if p.tx.Kind == KindEarn || p.tx.Kind == KindBonus {
			w.issued(p.tx.PartnerID, p.tx.BusinessDate, p.tx.Points)
		}
	}
	if h := p.holdUpdate; h != nil {
		w.holdUpdates = append(w.holdUpdates, *h)
	}
	seq := int32(0)
	for _, a := range p.accounts {
		if p.entries[a] == 0 {
			continue
		}
		seq++
		w.entries.add(p.tx.ID, seq, a, p.entries[a])
	}
	for _, t := range p.newLots {
		w.lots.add(t, p.tx)
		w.newLots = append(w.newLots, t)
		w.opened(p.tx.MemberID, t.Points)
	}
	for i, l := range p.lines {
		w.lines.add(p.tx.ID, int32(i+1), l)
	}
	for _, d := range p.newDebts {
		w.debts.add(d, p.tx)
	}
	for _, c := range p.consumptions {
		w.lotDelta.add(c.lot.ID, c.points)
		w.opened(p.tx.MemberID, -c.points)
	}
	// Debts in a stable order, so that a replayed run writes the same.
	debts := make([]*debt, 0, len(p.debtPaid))
	for d := range p.debtPaid {
		debts = append(debts, d)
	}
	slices.SortFunc(debts, func(a, b *debt) int { return strings.Compare(a.ID.String(), b.ID.String()) })
	for _, d := range debts {
		w.debtDelta.add(d.ID, p.debtPaid[d])
	}
	for _, c := range p.consumptions {
		w.consumptions.add(c, p.tx)
		w.issued(c.lot.IssuerID, p.tx.BusinessDate, -c.points)
	}
	return nil
}

// writes is the rows of one or more postings, column by column, sent as one
// set-based statement per table (INSERT … SELECT FROM unnest), in the order
// of the foreign keys: a batch of a hundred accruals costs the database as
// many statements as one.
type writes struct {
	holdInserts  []Hold
	txs          txRows
	holdUpdates  []Hold
	entries      entryRows
	lots         lotRows
	lines        lineRows
	debts        debtRows
	lotDelta     deltas
	debtDelta    deltas
	consumptions consumptionRows
	dayPoints    map[memberDay]coalition.Points
	dayOrder     []memberDay
	daySpend     map[spendDay]int64
	spendOrder   []spendDay
	// outstanding is what the postings add to their partners' outstanding
	// points, by business day (partner_day_outstanding), in the shard
	// this transaction writes.
	outstanding map[partnerDay]coalition.Points
	shard       int
	// open is what the postings add to their members' open points
	// (member_open_points).
	open map[coalition.MemberID]coalition.Points
	// passEvents: write the postings' events to the wallet passes' outbox.
	passEvents bool
	// newLots are the lots the postings made, in order, for a batch to
	// put in its members' purses.
	newLots []*lot
	// couponUse records the coupon an accrual (or a redemption) used,
	// after the transaction that carries its points.
	couponUse *couponUse
}

// memberDay is a member's own points at a partner on a day (the daily
// cap's running figure, member_day_points).
type memberDay struct {
	member  coalition.MemberID
	partner coalition.PartnerID
	day     string
}

// earned adds an earn's own points (base and tier) to its member's day.
func (w *writes) earned(member coalition.MemberID, partner coalition.PartnerID, day string, points coalition.Points) {
	if points <= 0 {
		return
	}
	k := memberDay{member, partner, day}
	if _, ok := w.dayPoints[k]; !ok {
		w.dayOrder = append(w.dayOrder, k)
	}
	w.dayPoints[k] += points
}

// spendDay is a member's UTC calendar day (the tier spend's running
// figure, member_day_spend).
type spendDay struct {
	member coalition.MemberID
	day    string
}

// spent adds an earn's purchase amount to its member's UTC day, and takes
// an earn refund's off it. Every transaction a posting writes passes here
// (posting.queue), so every writer of an earn or an earn refund keeps the
// figure, in the transaction that writes the earn or the refund. A refund
// without an amount (a referral bonus clawed back from the referrer) is no
// spend, as the sum over the transactions skips its NULL.
func (w *writes) spent(t Transaction) {
	if t.Amount == nil || (t.Kind != KindEarn && t.Kind != KindEarnRefund) {
		return
	}
	n := t.Amount.Minor
	if t.Kind == KindEarnRefund {
		n = -n
	}
	k := spendDay{t.MemberID, utcDay(t.CreatedAt)}
	if _, ok := w.daySpend[k]; !ok {
		w.spendOrder = append(w.spendOrder, k)
	}
	w.daySpend[k] += n
}

// partnerDay is a partner's business day (the outstanding points'
// running figure, partner_day_outstanding).
type partnerDay struct {
	partner coalition.PartnerID
	day     string
}

// outstandingShards is how many rows each (partner, business day) of
// partner_day_outstanding is spread over. A transaction writes one of
// them, chosen at random, so two concurrent postings of a partner wait for
// each other only if they draw the same one.
const outstandingShards = 16

// issued adds points to a partner's outstanding of a business day: an
// earn's or a bonus's points, less the points consumed of the partner's
// lots (a consumption giving points back, a refund of a redemption, adds
// them again). Every posting passes here (posting.queue), so every writer
// of an earn, a bonus or a consumption keeps the figure, in its own
// transaction.
func (w *writes) issued(partner coalition.PartnerID, day string, points coalition.Points) {
	if points != 0 {
		w.outstanding[partnerDay{partner, day}] += points
	}
}

// opened adds points to a member's open points: a new lot's points, less
// what a consumption takes of a lot (a consumption giving points back
// adds them again).
func (w *writes) opened(member coalition.MemberID, points coalition.Points) {
	if points != 0 {
		w.open[member] += points
	}
}

// utcDay is the UTC calendar day of t, as member_day_spend keys it (and
// as `(created_at AT TIME ZONE 'UTC')::DATE` computes it).
func utcDay(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// newWrites is an empty set of writes; they tell the wallet passes of
// their postings when the coalition offers passes (Config.PassEvents).
func (l *Ledger) newWrites() *writes {
	return &writes{lotDelta: deltas{at: map[uuid.UUID]int{}}, debtDelta: deltas{at: map[uuid.UUID]int{}},
		dayPoints: map[memberDay]coalition.Points{}, daySpend: map[spendDay]int64{}, passEvents: l.passEvents.Load(),
		outstanding: map[partnerDay]coalition.Points{}, shard: rand.IntN(outstandingShards), open: map[coalition.MemberID]coalition.Points{}}
}

func (w *writes) send(ctx context.Context, tx pgx.Tx) error {
	b := &pgx.Batch{}
	w.queue(b)
	return tx.SendBatch(ctx, b).Close()
}

// passEventsSQL tells the wallet passes of the postings' members (package
// passes' outbox) what changed, in the postings' own transaction, so that
// an update exists exactly when its posting committed and a replayed
// posting writes none twice (the event is the transaction's id). Members
// without a pass get no row. Earns and bonuses say what was earned where,
// spends what was spent where (the words of passes.EarnedMessage and
// passes.SpentMessage); anything else (refunds, expiry, debts paid)
// refreshes the pass without a message.
const passEventsSQL = `
	INSERT INTO pass_outbox (event_id, member_id, kind, message, created_at, next_attempt_at)
	SELECT u.id, u.member_id,
	       CASE WHEN u.kind IN ('earn', 'bonus') AND u.points > 0 THEN 'earned'
	            WHEN u.kind IN ('burn', 'capture') AND u.points < 0 THEN 'spent'
	            ELSE 'refresh' END,
	       CASE WHEN u.kind IN ('earn', 'bonus') AND u.points > 0
	                 THEN '+' || u.points::TEXT || ' points at ' || (SELECT name FROM partners WHERE id = u.partner_id)
	            WHEN u.kind IN ('burn', 'capture') AND u.points < 0
	                 THEN (-u.points)::TEXT || ' points spent at ' || (SELECT name FROM partners WHERE id = u.partner_id)
	            ELSE '' END,
	       u.created_at, u.created_at
	FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::bigint[], $6::timestamptz[])
	     AS u(id, member_id, partner_id, kind, points, created_at)
	WHERE EXISTS (SELECT 1 FROM wallet_passes AS w WHERE w.member_id = u.member_id)
	ON CONFLICT (event_id) DO NOTHING`

// queue adds w's statements to b.
func (w *writes) queue(b *pgx.Batch) {
	if len(w.holdInserts) > 0 {
		n := len(w.holdInserts)
		ids, members, partners := make([]uuid.UUID, n), make([]uuid.UUID, n), make([]uuid.UUID, n)
		points, orders := make([]int64, n), make([]string, n)
		created, expires := make([]time.Time, n), make([]time.Time, n)
		for i, h := range w.holdInserts {
			ids[i], members[i], partners[i] = h.ID, uuid.UUID(h.MemberID), uuid.UUID(h.PartnerID)
			points[i], orders[i], created[i], expires[i] = int64(h.Points), h.OrderID, h.CreatedAt, h.ExpiresAt
		}
		b.Queue(`
			INSERT INTO holds (id, member_id, partner_id, points, status, order_id, created_at, expires_at)
			SELECT id, member_id, partner_id, points, 'active', order_id, created_at, expires_at
			FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::bigint[], $5::text[], $6::timestamptz[], $7::timestamptz[])
			     AS u(id, member_id, partner_id, points, order_id, created_at, expires_at)`,
			ids, members, partners, points, orders, created, expires)
	}
	if t := &w.txs; len(t.id) > 0 {
		b.Queue(`
			INSERT INTO transactions (id, kind, partner_id, member_id, business_date, points,
			                          amount_minor, currency, order_id, original_id, hold_id, rule_version, created_at, category)
			SELECT id, kind, partner_id, member_id, business_date::date, points,
			       amount_minor, currency, order_id, original_id, hold_id, rule_version, created_at, category
			FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::uuid[], $5::text[], $6::bigint[],
			            $7::bigint[], $8::text[], $9::text[], $10::uuid[], $11::uuid[], $12::text[], $13::timestamptz[], $14::text[])
			     AS u(id, kind, partner_id, member_id, business_date, points,
			          amount_minor, currency, order_id, original_id, hold_id, rule_version, created_at, category)`,
			t.id, t.kind, t.partner, t.member, t.date, t.points, t.amount, t.currency, t.order, t.original, t.hold, t.ruleVersion, t.created, t.category)
		if w.passEvents {
			b.Queue(passEventsSQL, t.id, t.member, t.partner, t.kind, t.points, t.created)
		}
	}
	if len(w.holdUpdates) > 0 {
		// A posting changes a hold once, and a batch's postings each
		// change a hold at most once (after it the hold is not active).
		n := len(w.holdUpdates)
		ids, statuses, captured := make([]uuid.UUID, n), make([]string, n), make([]int64, n)
		released := make([]*time.Time, n)
		for i, h := range w.holdUpdates {
			ids[i], statuses[i], captured[i], released[i] = h.ID, string(h.Status), int64(h.CapturedPoints), h.ReleasedAt
		}
		b.Queue(`
			UPDATE holds AS h SET status = u.status, captured_points = u.captured_points, released_at = u.released_at
			FROM unnest($1::uuid[], $2::text[], $3::bigint[], $4::timestamptz[]) AS u(id, status, captured_points, released_at)
			WHERE h.id = u.id AND h.status = 'active'`,
			ids, statuses, captured, released).Exec(func(tag pgconn.CommandTag) error {
			if tag.RowsAffected() != int64(n) {
				// A hold changed since it was read. Every writer of
				// holds, the sweeper included, locks the hold's member
				// before it reads the hold, so this does not happen
				// under the protocol; if it did, the run starts again.
				return txn.ErrRetry
			}
			return nil
		})
	}
	if e := &w.entries; len(e.tx) > 0 {
		b.Queue(`
			INSERT INTO entries (transaction_id, seq, account_id, amount)
			SELECT * FROM unnest($1::uuid[], $2::int[], $3::uuid[], $4::bigint[])`,
			e.tx, e.seq, e.account, e.amount)
	}
	if l := &w.lots; len(l.id) > 0 {
		b.Queue(`
			INSERT INTO lots (id, member_id, issuer_id, transaction_id, points, remaining, earned_at, spendable_from, expires_at,
			                  unlock_partner_id)
			SELECT id, member_id, issuer_id, transaction_id, points, points, earned_at, spendable_from, expires_at, unlock_partner_id
			FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::bigint[], $6::timestamptz[], $7::timestamptz[],
			            $8::timestamptz[], $9::uuid[])
			     AS u(id, member_id, issuer_id, transaction_id, points, earned_at, spendable_from, expires_at, unlock_partner_id)`,
			l.id, l.member, l.issuer, l.tx, l.points, l.earned, l.spendable, l.expires, l.unlock)
	}
	if l := &w.lines; len(l.tx) > 0 {
		b.Queue(`
			INSERT INTO earn_lines (transaction_id, seq, rule, ref, description, points, funder_id, lot_id)
			SELECT * FROM unnest($1::uuid[], $2::int[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::uuid[], $8::uuid[])`,
			l.tx, l.seq, l.rule, l.ref, l.description, l.points, l.funder, l.lot)
	}
	if d := &w.debts; len(d.id) > 0 {
		b.Queue(`
			INSERT INTO member_debts (id, member_id, creditor_id, transaction_id, points, remaining, created_at)
			SELECT id, member_id, creditor_id, transaction_id, points, points, created_at
			FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::bigint[], $6::timestamptz[])
			     AS u(id, member_id, creditor_id, transaction_id, points, created_at)`,
			d.id, d.member, d.creditor, d.tx, d.points, d.created)
	}
	if ids, n := w.lotDelta.nonZero(); len(ids) > 0 {
		b.Queue(`
			UPDATE lots AS l SET remaining = l.remaining - u.delta
			FROM unnest($1::uuid[], $2::bigint[]) AS u(id, delta)
			WHERE l.id = u.id`, ids, n)
	}
	if ids, n := w.debtDelta.nonZero(); len(ids) > 0 {
		b.Queue(`
			UPDATE member_debts AS d SET remaining = d.remaining - u.delta
			FROM unnest($1::uuid[], $2::bigint[]) AS u(id, delta)
			WHERE d.id = u.id`, ids, n)
	}
	if c := &w.consumptions; len(c.id) > 0 {
		b.Queue(`
			INSERT INTO lot_consumptions (id, transaction_id, lot_id, member_id, issuer_id, redeemer_id, debt_id,
			                              kind, points, business_date, created_at)
			SELECT id, transaction_id, lot_id, member_id, issuer_id, redeemer_id, debt_id,
			       kind, points, business_date::date, created_at
			FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::uuid[], $6::uuid[], $7::uuid[],
			            $8::text[], $9::bigint[], $10::text[], $11::timestamptz[])
			     AS u(id, transaction_id, lot_id, member_id, issuer_id, redeemer_id, debt_id,
			          kind, points, business_date, created_at)`,
			c.id, c.tx, c.lot, c.member, c.issuer, c.redeemer, c.debt, c.kind, c.points, c.date, c.created)
	}
	if len(w.dayOrder) > 0 {
		// One row per (member, partner, day) in the statement: ON CONFLICT
		// DO UPDATE may not touch a row twice.
		members, partners := make([]uuid.UUID, len(w.dayOrder)), make([]uuid.UUID, len(w.dayOrder))
		days, points := make([]string, len(w.dayOrder)), make([]int64, len(w.dayOrder))
		for i, k := range w.dayOrder {
			members[i], partners[i], days[i], points[i] = uuid.UUID(k.member), uuid.UUID(k.partner), k.day, int64(w.dayPoints[k])
		}
		b.Queue(`
			INSERT INTO member_day_points (member_id, partner_id, day, points)
			SELECT member_id, partner_id, day::date, points
			FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::bigint[]) AS u(member_id, partner_id, day, points)
			ON CONFLICT (member_id, partner_id, day) DO UPDATE SET points = member_day_points.points + excluded.points`,
			members, partners, days, points)
	}
	if len(w.spendOrder) > 0 {
		// One row per (member, day), as above; a day's figure may go to
		// zero or below (a refund of an earlier day's purchase).
		members, days, spend := make([]uuid.UUID, len(w.spendOrder)), make([]string, len(w.spendOrder)), make([]int64, len(w.spendOrder))
		for i, k := range w.spendOrder {
			members[i], days[i], spend[i] = uuid.UUID(k.member), k.day, w.daySpend[k]
		}
		b.Queue(`
			INSERT INTO member_day_spend (member_id, day, spend_minor)
			SELECT member_id, day::date, spend_minor
			FROM unnest($1::uuid[], $2::text[], $3::bigint[]) AS u(member_id, day, spend_minor)
			ON CONFLICT (member_id, day) DO UPDATE SET spend_minor = member_day_spend.spend_minor + excluded.spend_minor`,
			members, days, spend)
	}
	if len(w.outstanding) > 0 {
		// In (partner, day) order: two transactions that draw the same
		// shard take its rows in the same order.
		keys := make([]partnerDay, 0, len(w.outstanding))
		for k := range w.outstanding {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(a, b partnerDay) int {
			if c := bytes.Compare(a.partner[:], b.partner[:]); c != 0 {
				return c
			}
			return strings.Compare(a.day, b.day)
		})
		partners, days, points := make([]uuid.UUID, len(keys)), make([]string, len(keys)), make([]int64, len(keys))
		for i, k := range keys {
			partners[i], days[i], points[i] = uuid.UUID(k.partner), k.day, int64(w.outstanding[k])
		}
		b.Queue(`
			INSERT INTO partner_day_outstanding (partner_id, business_date, shard, points)
			SELECT partner_id, business_date::date, $3, points
			FROM unnest($1::uuid[], $2::text[], $4::bigint[]) AS u(partner_id, business_date, points)
			ON CONFLICT (partner_id, business_date, shard)
			DO UPDATE SET points = partner_day_outstanding.points + excluded.points`,
			partners, days, w.shard, points)
	}
	if len(w.open) > 0 {
		// In member order, as the members were locked.
		members := make([]uuid.UUID, 0, len(w.open))
		for m := range w.open {
			members = append(members, uuid.UUID(m))
		}
		slices.SortFunc(members, func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) })
		points := make([]int64, len(members))
		for i, m := range members {
			points[i] = int64(w.open[coalition.MemberID(m)])
		}
		b.Queue(`
			INSERT INTO member_open_points (member_id, points)
			SELECT member_id, points FROM unnest($1::uuid[], $2::bigint[]) AS u(member_id, points)
			ON CONFLICT (member_id) DO UPDATE SET points = member_open_points.points + excluded.points`,
			members, points)
	}
	if u := w.couponUse; u != nil {
		offers.QueueUse(b, u.code, u.earn, u.member, u.partner, u.at)
	}
}

// The column slices of each table's rows. Nullable columns are slices of
// pointers (NULL for nil).

type txRows struct {
	id, partner, member []uuid.UUID
	kind, date          []string
	points              []int64
	amount              []*int64
	currency, order     []*string
	original, hold      []*uuid.UUID
	ruleVersion         []*string
	category            []*string
	created             []time.Time
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func (r *txRows) add(t Transaction, category string) {
	var amount *int64
	var currency *string
	if a := t.Amount; a != nil {
		amount, currency = &a.Minor, &a.Currency
	}
	r.id = append(r.id, t.ID)
	r.kind = append(r.kind, string(t.Kind))
	r.partner = append(r.partner, uuid.UUID(t.PartnerID))
	r.member = append(r.member, uuid.UUID(t.MemberID))
	r.date = append(r.date, t.BusinessDate)
	r.points = append(r.points, int64(t.Points))
	r.amount = append(r.amount, amount)
	r.currency = append(r.currency, currency)
	r.order = append(r.order, nonEmpty(t.OrderID))
	r.original = append(r.original, t.OriginalID)
	r.hold = append(r.hold, t.HoldID)
	r.ruleVersion = append(r.ruleVersion, nonEmpty(t.RuleVersion))
	r.category = append(r.category, nonEmpty(category))
	r.created = append(r.created, t.CreatedAt)
}

type entryRows struct {
	tx, account []uuid.UUID
	seq         []int32
	amount      []int64
}

func (r *entryRows) add(tx uuid.UUID, seq int32, account uuid.UUID, amount coalition.Points) {
	r.tx = append(r.tx, tx)
	r.seq = append(r.seq, seq)
	r.account = append(r.account, account)
	r.amount = append(r.amount, int64(amount))
}

type lotRows struct {
	id, member, issuer, tx     []uuid.UUID
	points                     []int64
	earned, spendable, expires []time.Time
	unlock                     []*uuid.UUID
}

func (r *lotRows) add(t *lot, p Transaction) {
	var unlock *uuid.UUID
	if t.Unlock != nil {
		u := uuid.UUID(*t.Unlock)
		unlock = &u
	}
	r.id = append(r.id, t.ID)
	r.member = append(r.member, uuid.UUID(p.MemberID))
	r.issuer = append(r.issuer, uuid.UUID(t.IssuerID))
	r.tx = append(r.tx, p.ID)
	r.points = append(r.points, int64(t.Points))
	r.earned = append(r.earned, t.EarnedAt)
	r.spendable = append(r.spendable, t.SpendableFrom)
	r.expires = append(r.expires, t.ExpiresAt)
	r.unlock = append(r.unlock, unlock)
}

type lineRows struct {
	tx, funder             []uuid.UUID
	seq                    []int32
	rule, ref, description []string
	points                 []int64
	lot                    []*uuid.UUID
}

func (r *lineRows) add(tx uuid.UUID, seq int32, l storedLine) {
	var lotID *uuid.UUID
	if l.lot != nil {
		lotID = &l.lot.ID
	}
	r.tx = append(r.tx, tx)
	r.seq = append(r.seq, seq)
	r.rule = append(r.rule, string(l.Rule))
	r.ref = append(r.ref, l.Ref)
	r.description = append(r.description, l.Description)
	r.points = append(r.points, int64(l.Points))
	r.funder = append(r.funder, uuid.UUID(l.funderID))
	r.lot = append(r.lot, lotID)
}

type debtRows struct {
	id, member, creditor, tx []uuid.UUID
	points                   []int64
	created                  []time.Time
}

func (r *debtRows) add(d newDebt, p Transaction) {
	r.id = append(r.id, d.ID)
	r.member = append(r.member, uuid.UUID(p.MemberID))
	r.creditor = append(r.creditor, uuid.UUID(d.CreditorID))
	r.tx = append(r.tx, p.ID)
	r.points = append(r.points, int64(d.points))
	r.created = append(r.created, p.CreatedAt)
}

type consumptionRows struct {
	id, tx, lot, member, issuer []uuid.UUID
	redeemer, debt              []*uuid.UUID
	kind, date                  []string
	points                      []int64
	created                     []time.Time
}

func (r *consumptionRows) add(c consumption, p Transaction) {
	var redeemer *uuid.UUID
	if c.redeemer != nil {
		u := uuid.UUID(*c.redeemer)
		redeemer = &u
	}
	r.id = append(r.id, coalition.NewID())
	r.tx = append(r.tx, p.ID)
	r.lot = append(r.lot, c.lot.ID)
	r.member = append(r.member, uuid.UUID(p.MemberID))
	r.issuer = append(r.issuer, uuid.UUID(c.lot.IssuerID))
	r.redeemer = append(r.redeemer, redeemer)
	r.debt = append(r.debt, c.debtID)
	r.kind = append(r.kind, c.kind)
	r.points = append(r.points, int64(c.points))
	r.date = append(r.date, p.BusinessDate)
	r.created = append(r.created, p.CreatedAt)
}

// deltas is the net change of rows' remaining points, one per row in the
// order first seen: an UPDATE … FROM applies only one of two source rows
// for the same target row, so changes to a row are summed first.
type deltas struct {
	ids []uuid.UUID
	n   []int64
	at  map[uuid.UUID]int
}

func (d *deltas) add(id uuid.UUID, n coalition.Points) {
	i, ok := d.at[id]
	if !ok {
		i = len(d.ids)
		d.at[id] = i
		d.ids = append(d.ids, id)
		d.n = append(d.n, 0)
	}
	d.n[i] += int64(n)
}

func (d *deltas) nonZero() ([]uuid.UUID, []int64) {
	var ids []uuid.UUID
	var n []int64
	for i, id := range d.ids {
		if d.n[i] != 0 {
			ids = append(ids, id)
			n = append(n, d.n[i])
		}
	}
	return ids, n
}

// insufficient is the error of a burn the member cannot cover.
func insufficient(field string, want, available coalition.Points) error {
	return coalition.Errorf(coalition.FailedPrecondition, field,
		"not enough points: %d requested, %d available", want, max(available, 0))
}

func loadDebts(ctx context.Context, tx pgx.Tx, member coalition.MemberID) ([]*debt, error) {
	var debts []*debt
	b := &pgx.Batch{}
	queueDebts(b, []uuid.UUID{uuid.UUID(member)}, func(_ coalition.MemberID, d *debt) { debts = append(debts, d) })
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return nil, err
	}
	return debts, nil
}
