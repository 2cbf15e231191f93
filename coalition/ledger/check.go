package ledger

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Breach is one violated ledger invariant, with what identifies the rows.
type Breach struct {
	Invariant string `json:"invariant"`
	Detail    string `json:"detail"`
}

// invariants are set-based queries over the whole database; each returns one
// text column per breach. They read only, and can run beside live traffic.
var invariants = []struct {
	name string
	sql  string
	// arg, if set, gives $1 from the time of the check and the hold grace.
	arg func(now time.Time, holdGrace time.Duration) any
}{
	{"every transaction's entries sum to zero", `
		SELECT 'transaction ' || t.id::TEXT || ' entries sum to ' || COALESCE(SUM(e.amount), 0)::TEXT
		FROM transactions AS t LEFT JOIN entries AS e ON e.transaction_id = t.id
		GROUP BY t.id
		HAVING COALESCE(SUM(e.amount), 0) <> 0`, nil},
	{"a transaction's points are the member's entries", `
		SELECT 'transaction ' || t.id::TEXT || ' says ' || t.points::TEXT || ' points, member entries total '
		       || COALESCE(SUM(e.amount), 0)::TEXT
		FROM transactions AS t
		JOIN members AS m ON m.id = t.member_id
		LEFT JOIN entries AS e ON e.transaction_id = t.id AND e.account_id IN (m.points_account_id, m.debt_account_id)
		GROUP BY t.id, t.points
		HAVING COALESCE(SUM(e.amount), 0) <> t.points`, nil},
	{"a member's own points of a day are the day's base and tier lines", `
		WITH lines AS (
			SELECT t.member_id, l.funder_id AS partner_id, (t.created_at AT TIME ZONE s.time_zone)::DATE AS day,
			       SUM(l.points) AS points
			FROM transactions AS t
			JOIN earn_lines AS l ON l.transaction_id = t.id
			CROSS JOIN coalition_settings AS s
			WHERE t.kind = 'earn' AND l.rule IN ('base', 'tier')
			GROUP BY 1, 2, 3
			HAVING SUM(l.points) > 0)
		SELECT 'member ' || COALESCE(d.member_id, l.member_id)::TEXT || ' at partner '
		       || COALESCE(d.partner_id, l.partner_id)::TEXT || ' on ' || COALESCE(d.day, l.day)::TEXT
		       || ': running figure ' || COALESCE(d.points, 0)::TEXT || ', earn lines ' || COALESCE(l.points, 0)::TEXT
		FROM member_day_points AS d
		FULL JOIN lines AS l ON l.member_id = d.member_id AND l.partner_id = d.partner_id AND l.day = d.day
		WHERE COALESCE(d.points, 0) <> COALESCE(l.points, 0)`, nil},
	{"a member's spend of a day is the day's earns less its earn refunds", `
		WITH spend AS (
			SELECT member_id, (created_at AT TIME ZONE 'UTC')::DATE AS day,
			       SUM(CASE WHEN kind = 'earn' THEN amount_minor ELSE -amount_minor END) AS spend_minor
			FROM transactions
			WHERE kind IN ('earn', 'earn_refund') AND amount_minor IS NOT NULL
			GROUP BY 1, 2)
		SELECT 'member ' || COALESCE(d.member_id, s.member_id)::TEXT || ' on ' || COALESCE(d.day, s.day)::TEXT
		       || ' (UTC): running spend ' || COALESCE(d.spend_minor, 0)::TEXT
		       || ', earns less earn refunds ' || COALESCE(s.spend_minor, 0)::TEXT
		FROM member_day_spend AS d
		FULL JOIN spend AS s ON s.member_id = d.member_id AND s.day = d.day
		WHERE COALESCE(d.spend_minor, 0) <> COALESCE(s.spend_minor, 0)`, nil},
	{"a member's points account equals the member's lots", `
		SELECT 'member ' || m.id::TEXT || ' points account ' || COALESCE(a.balance, 0)::TEXT
		       || ' but lots hold ' || COALESCE(l.remaining, 0)::TEXT
		FROM members AS m
		LEFT JOIN (SELECT account_id, SUM(amount) AS balance FROM entries GROUP BY account_id) AS a
		       ON a.account_id = m.points_account_id
		LEFT JOIN (SELECT member_id, SUM(remaining) AS remaining FROM lots GROUP BY member_id) AS l
		       ON l.member_id = m.id
		WHERE COALESCE(a.balance, 0) <> COALESCE(l.remaining, 0)`, nil},
	{"a member's debt account equals the member's open debts", `
		SELECT 'member ' || m.id::TEXT || ' debt account ' || COALESCE(a.balance, 0)::TEXT
		       || ' but open debts total ' || COALESCE(d.remaining, 0)::TEXT
		FROM members AS m
		LEFT JOIN (SELECT account_id, SUM(amount) AS balance FROM entries GROUP BY account_id) AS a
		       ON a.account_id = m.debt_account_id
		LEFT JOIN (SELECT member_id, SUM(remaining) AS remaining FROM member_debts GROUP BY member_id) AS d
		       ON d.member_id = m.id
		WHERE COALESCE(a.balance, 0) <> -COALESCE(d.remaining, 0)`, nil},
	{"a lot's remaining is its points less what was consumed", `
		SELECT 'lot ' || l.id::TEXT || ' remaining ' || l.remaining::TEXT || ', points ' || l.points::TEXT
		       || ' less consumed ' || COALESCE(SUM(c.points), 0)::TEXT
		FROM lots AS l LEFT JOIN lot_consumptions AS c ON c.lot_id = l.id
		GROUP BY l.id, l.points, l.remaining
		HAVING l.remaining <> l.points - COALESCE(SUM(c.points), 0)`, nil},
	{"a debt's remaining is its points less what was paid", `
		SELECT 'debt ' || d.id::TEXT || ' remaining ' || d.remaining::TEXT || ', points ' || d.points::TEXT
		       || ' less paid ' || COALESCE(SUM(c.points), 0)::TEXT
		FROM member_debts AS d LEFT JOIN lot_consumptions AS c ON c.debt_id = d.id
		GROUP BY d.id, d.points, d.remaining
		HAVING d.remaining <> d.points - COALESCE(SUM(c.points), 0)`, nil},
	{"a member with debt has no unspent points", `
		SELECT 'member ' || d.member_id::TEXT || ' owes ' || SUM(d.remaining)::TEXT || ' while holding unspent lots'
		FROM member_debts AS d
		WHERE d.remaining > 0
		  AND EXISTS (SELECT 1 FROM lots AS l WHERE l.member_id = d.member_id AND l.is_open AND l.expires_at > $1)
		GROUP BY d.member_id`,
		func(now time.Time, _ time.Duration) any { return now }},
	{"a captured hold has exactly one capture of its points", `
		SELECT 'hold ' || h.id::TEXT || ' captured ' || h.captured_points::TEXT || ' points, postings total '
		       || COALESCE(-SUM(t.points), 0)::TEXT
		FROM holds AS h LEFT JOIN transactions AS t ON t.hold_id = h.id AND t.kind = 'capture'
		WHERE h.status = 'captured'
		GROUP BY h.id, h.captured_points
		HAVING COUNT(t.id) <> 1 OR COALESCE(-SUM(t.points), 0) <> h.captured_points`, nil},
	{"no hold outlives its TTL unreleased", `
		SELECT 'hold ' || id::TEXT || ' still active, expired at ' || expires_at::TEXT
		FROM holds
		WHERE status = 'active' AND expires_at < $1`,
		func(now time.Time, grace time.Duration) any { return now.Add(-grace) }},
	{"refunds never exceed the original", `
		SELECT 'transaction ' || o.id::TEXT || ' refunded beyond the original'
		FROM transactions AS o JOIN transactions AS r ON r.original_id = o.id
		GROUP BY o.id, o.kind, o.points, o.amount_minor
		HAVING (o.kind = 'earn' AND (SUM(r.amount_minor) > o.amount_minor OR -SUM(r.points) > o.points))
		    OR (o.kind IN ('burn', 'capture') AND SUM(r.points) > -o.points)`, nil},
	{"a coupon is used as often as its uses say, never beyond its limit", `
		SELECT 'a coupon of offer ' || o.code || ' counts ' || c.uses::TEXT || ' uses of ' || c.max_uses::TEXT
		       || ', its earns ' || COALESCE(u.n, 0)::TEXT
		FROM coupons AS c
		JOIN offers AS o ON o.id = c.offer_id
		LEFT JOIN (SELECT coupon_code, count(*) AS n FROM coupon_uses GROUP BY coupon_code) AS u ON u.coupon_code = c.code
		WHERE c.uses <> COALESCE(u.n, 0) OR c.uses > c.max_uses`, nil},
	{"an offer's budget is never overdrawn", `
		SELECT 'offer ' || o.code || ' granted ' || SUM(b.granted)::TEXT || ' of a budget of ' || o.budget_points::TEXT
		FROM offers AS o JOIN promotion_budgets AS b ON b.promotion = 'offer:' || o.code
		GROUP BY o.code, o.budget_points
		HAVING SUM(b.granted) > o.budget_points`, nil},
	{"a member's open points figure is the remaining points of the member's lots", `
		SELECT 'member ' || COALESCE(f.member_id, l.member_id)::TEXT || ': open points figure '
		       || COALESCE(f.points, 0)::TEXT || ', lots ' || COALESCE(l.remaining, 0)::TEXT
		FROM member_open_points AS f
		FULL JOIN (SELECT member_id, SUM(remaining) AS remaining FROM lots GROUP BY member_id) AS l
		       ON l.member_id = f.member_id
		WHERE COALESCE(f.points, 0) <> COALESCE(l.remaining, 0)`, nil},
	{"a partner's outstanding running figure is its earns and bonuses less what was consumed of its lots", `
		WITH issued AS (
			SELECT partner_id, business_date, SUM(points) AS points
			FROM (SELECT partner_id, business_date, points FROM transactions WHERE kind IN ('earn', 'bonus')
			      UNION ALL
			      SELECT issuer_id, business_date, -points FROM lot_consumptions) AS x
			GROUP BY partner_id, business_date),
		figure AS (
			SELECT partner_id, business_date, SUM(points) AS points
			FROM partner_day_outstanding
			GROUP BY partner_id, business_date)
		SELECT 'partner ' || COALESCE(f.partner_id, i.partner_id)::TEXT || ' on ' || COALESCE(f.business_date, i.business_date)::TEXT
		       || ': running figure ' || COALESCE(f.points, 0)::TEXT || ', postings ' || COALESCE(i.points, 0)::TEXT
		FROM figure AS f
		FULL JOIN issued AS i ON i.partner_id = f.partner_id AND i.business_date = f.business_date
		WHERE COALESCE(f.points, 0) <> COALESCE(i.points, 0)`, nil},
	// The posting tables' references are not foreign keys (migration
	// 0025): each is checked here, by an anti-join that finds a row naming
	// a row that does not exist.
	{"every posting row names rows that exist", `
		SELECT 'transaction ' || t.id::TEXT || ' names ' || x.what
		FROM transactions AS t
		CROSS JOIN LATERAL (
			SELECT 'no member ' || t.member_id::TEXT WHERE NOT EXISTS (SELECT 1 FROM members AS m WHERE m.id = t.member_id)
			UNION ALL
			SELECT 'no partner ' || t.partner_id::TEXT WHERE NOT EXISTS (SELECT 1 FROM partners AS p WHERE p.id = t.partner_id)) AS x(what)
		UNION ALL
		SELECT 'entry ' || e.transaction_id::TEXT || '/' || e.seq::TEXT || ' names ' || x.what
		FROM entries AS e
		CROSS JOIN LATERAL (
			SELECT 'no transaction' WHERE NOT EXISTS (SELECT 1 FROM transactions AS t WHERE t.id = e.transaction_id)
			UNION ALL
			SELECT 'no account ' || e.account_id::TEXT WHERE NOT EXISTS (SELECT 1 FROM accounts AS a WHERE a.id = e.account_id)) AS x(what)
		UNION ALL
		SELECT 'earn line ' || l.transaction_id::TEXT || '/' || l.seq::TEXT || ' names ' || x.what
		FROM earn_lines AS l
		CROSS JOIN LATERAL (
			SELECT 'no transaction' WHERE NOT EXISTS (SELECT 1 FROM transactions AS t WHERE t.id = l.transaction_id)
			UNION ALL
			SELECT 'no funder ' || l.funder_id::TEXT WHERE NOT EXISTS (SELECT 1 FROM partners AS p WHERE p.id = l.funder_id)
			UNION ALL
			SELECT 'no lot ' || l.lot_id::TEXT WHERE l.lot_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM lots AS o WHERE o.id = l.lot_id)) AS x(what)
		UNION ALL
		SELECT 'lot ' || o.id::TEXT || ' names ' || x.what
		FROM lots AS o
		CROSS JOIN LATERAL (
			SELECT 'no transaction' WHERE NOT EXISTS (SELECT 1 FROM transactions AS t WHERE t.id = o.transaction_id)
			UNION ALL
			SELECT 'no member ' || o.member_id::TEXT WHERE NOT EXISTS (SELECT 1 FROM members AS m WHERE m.id = o.member_id)
			UNION ALL
			SELECT 'no issuer ' || o.issuer_id::TEXT WHERE NOT EXISTS (SELECT 1 FROM partners AS p WHERE p.id = o.issuer_id)) AS x(what)
		UNION ALL
		SELECT 'consumption ' || c.id::TEXT || ' names ' || x.what
		FROM lot_consumptions AS c
		CROSS JOIN LATERAL (
			SELECT 'no transaction' WHERE NOT EXISTS (SELECT 1 FROM transactions AS t WHERE t.id = c.transaction_id)
			UNION ALL
			SELECT 'no lot ' || c.lot_id::TEXT WHERE NOT EXISTS (SELECT 1 FROM lots AS o WHERE o.id = c.lot_id)
			UNION ALL
			SELECT 'no member ' || c.member_id::TEXT WHERE NOT EXISTS (SELECT 1 FROM members AS m WHERE m.id = c.member_id)
			UNION ALL
			SELECT 'no issuer ' || c.issuer_id::TEXT WHERE NOT EXISTS (SELECT 1 FROM partners AS p WHERE p.id = c.issuer_id)
			UNION ALL
			SELECT 'no redeemer ' || c.redeemer_id::TEXT
			WHERE c.redeemer_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM partners AS p WHERE p.id = c.redeemer_id)
			UNION ALL
			SELECT 'no settlement window ' || c.business_date::TEXT
			WHERE NOT EXISTS (SELECT 1 FROM settlement_windows AS w WHERE w.business_date = c.business_date)) AS x(what)
		UNION ALL
		SELECT 'idempotency key ' || k.key || ' names no partner ' || k.partner_id::TEXT
		FROM idempotency_keys AS k
		WHERE NOT EXISTS (SELECT 1 FROM partners AS p WHERE p.id = k.partner_id)`, nil},
	{"every posting belongs to a window", `
		SELECT 'transaction ' || t.id::TEXT || ' names no settlement window'
		FROM transactions AS t LEFT JOIN settlement_windows AS w ON w.business_date = t.business_date
		WHERE w.business_date IS NULL`, nil},
}

// Check verifies every ledger invariant over the whole database as of now;
// holdGrace is how long past its TTL an active hold is tolerated before the
// sweeper is deemed late. It returns the breaches found, none if the ledger
// is sound.
func (l *Ledger) Check(ctx context.Context, holdGrace time.Duration) ([]Breach, error) {
	var out []Breach
	now := l.now()
	err := l.tx.Read(ctx, func(tx pgx.Tx) error {
		out = nil
		if !l.tx.CockroachDB() {
			// The check reads everything: whole-table scans are the right
			// plan, whatever the connection's default (see txn.PoolConfig).
			if _, err := tx.Exec(ctx, `SET LOCAL enable_seqscan = on`); err != nil {
				return err
			}
		}
		for _, inv := range invariants {
			var args []any
			if inv.arg != nil {
				args = append(args, inv.arg(now, holdGrace))
			}
			rows, err := tx.Query(ctx, inv.sql, args...)
			if err != nil {
				return fmt.Errorf("check %q: %w", inv.name, err)
			}
			details, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				return fmt.Errorf("check %q: %w", inv.name, err)
			}
			for _, d := range details {
				out = append(out, Breach{Invariant: inv.name, Detail: d})
			}
		}
		return nil
	})
	return out, err
}
