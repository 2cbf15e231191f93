package analytics

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// RollUp rolls up every cleared settlement window not rolled up yet,
// oldest first, one business day per transaction, and returns how many
// days this call rolled up; then it computes the standard pages
// (Standard) ending on the last day, unless they are there. The periodic
// job calls it after clearing.
//
// A day is rolled up once: its transaction first inserts the day into
// analytics_days, so two replicas racing for it conflict there and the
// loser, retried, finds it done and goes on to the next. A cleared window
// never changes, so a day's figures never need redoing; and because days
// go in order, the bitmaps a day reads (for the month's first purchases)
// hold exactly the days before it.
func (a *Analytics) RollUp(ctx context.Context) (days int, err error) {
	for {
		var more bool
		if more, err = a.rollUpNext(ctx); err != nil {
			return days, err
		}
		if !more {
			break
		}
		days++
	}
	if err := a.warm(ctx); err != nil {
		return days, fmt.Errorf("compute the standard pages: %w", err)
	}
	return days, nil
}

// nextDay is the first cleared window after the last day rolled up, when
// it closed, and when the window before it closed (NULL for the first):
// the members who enrolled between the two closes joined in it.
const nextDay = `
	SELECT w.business_date, w.closed_at,
	       (SELECT max(p.closed_at) FROM settlement_windows AS p WHERE p.business_date < w.business_date)
	FROM settlement_windows AS w
	WHERE w.business_date = (
	    SELECT min(r.business_date) FROM clearing_reports AS r
	    WHERE r.business_date > COALESCE((SELECT max(d.business_date) FROM analytics_days AS d), DATE '0001-01-01'))`

// rollUpNext rolls up the next day, if a cleared window awaits, in one
// serializable transaction. The ledger's rows it reads belong to a closed
// window, which no posting writes any more, so it does not contend with
// live traffic; it writes only the analytics tables.
func (a *Analytics) rollUpNext(ctx context.Context) (bool, error) {
	var found bool
	err := a.tx.Run(ctx, func(tx pgx.Tx) error {
		found = false
		var d, closed time.Time
		var prev *time.Time
		err := tx.QueryRow(ctx, nextDay).Scan(&d, &closed, &prev)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("next day to roll up: %w", err)
		}
		tag, err := tx.Exec(ctx, `
			INSERT INTO analytics_days (business_date, rolled_up_at) VALUES ($1, $2)
			ON CONFLICT (business_date) DO NOTHING`, d, a.clock().UTC())
		if err != nil {
			return fmt.Errorf("roll up %s: %w", d.Format(time.DateOnly), err)
		}
		if tag.RowsAffected() == 0 {
			return nil // rolled up meanwhile; the next call moves on
		}
		since := time.Time{} // before any window: the first takes every earlier member
		if prev != nil {
			since = *prev
		}
		if err := rollUpDay(ctx, tx, d, since, closed); err != nil {
			return fmt.Errorf("roll up %s: %w", d.Format(time.DateOnly), err)
		}
		found = true
		return nil
	})
	return found, err
}

// rollUpDay writes business day d's rows, set-based, in statement order:
// who enrolled, the partners' day, the points' flows, then the month's
// first purchases (cohorts), which read the members' bitmaps before the
// last statement adds the day to them.
func rollUpDay(ctx context.Context, tx pgx.Tx, d, since, closed time.Time) error {
	m := month(d)
	y := d.Year()
	// The days of d's month before d: a member with none of them set is
	// new in the month. d lies in spans y and y+1; the first is read.
	var before mask
	if d.Day() > 1 {
		before = spanMask(y, m, d.AddDate(0, 0, -1))
	}
	for _, s := range []struct {
		what string
		sql  string
		args []any
	}{
		{"members enrolled", enrolledInWindow, []any{d, m, since, closed}},
		{"members first seen", firstSeen, []any{d, m}},
		{"enrolments", enrolments, []any{d}},
		{"cohort sizes", cohortSizes, []any{d, m, network}},
		{"partner days", partnerDays, []any{d}},
		{"point flows", pointFlows, []any{d}},
		{"cohorts", cohorts, append([]any{d, m, y, network}, before.args()...)},
		{"activity", activity, append([]any{d, y, network, dayOf(y, d)}, dayMask(y, d).args()...)},
		{"activity of the next span", activity, append([]any{d, y + 1, network, dayOf(y+1, d)}, dayMask(y+1, d).args()...)},
		{"repeat days", repeatDays, append([]any{d, y, network}, dayMask(y, d).args()...)},
		{"repeat days of the next span", repeatDays, append([]any{d, y + 1, network}, dayMask(y+1, d).args()...)},
		{"promotion days", promotionDays, []any{d}},
		{"promotion members", promotionMembers, append([]any{d, y, dayOf(y, d)}, dayMask(y, d).args()...)},
		{"promotion members of the next span", promotionMembers, append([]any{d, y + 1, dayOf(y+1, d)}, dayMask(y+1, d).args()...)},
	} {
		if _, err := tx.Exec(ctx, s.sql, s.args...); err != nil {
			return fmt.Errorf("%s: %w", s.what, err)
		}
	}
	return nil
}

// enrolledInWindow records the members who joined while window $1 was
// open: from the previous window's close ($3) to its own ($4). A member
// who joined by QR has a self_enrolments row naming the point of sale.
const enrolledInWindow = `
	INSERT INTO analytics_members (member_id, home_partner_id, enrolled_on, enrolment_month, channel, location)
	SELECT m.id, m.home_partner_id, $1::DATE, $2::DATE, COALESCE(s.channel, 'api'), COALESCE(s.location, '')
	FROM members AS m
	LEFT JOIN self_enrolments AS s ON s.member_id = m.id
	WHERE m.enrolled_at >= $3 AND m.enrolled_at < $4
	ON CONFLICT (member_id) DO NOTHING`

// firstSeen records, as enrolled in window $1, a buyer of the window not
// recorded yet: one whose enrolment's clock read fell after the close's
// (the close stamps its time before it commits, and replicas' clocks
// differ by a little). Every buyer then has a row when the day's activity
// is written.
const firstSeen = `
	INSERT INTO analytics_members (member_id, home_partner_id, enrolled_on, enrolment_month, channel, location)
	SELECT m.id, m.home_partner_id, $1::DATE, $2::DATE, COALESCE(s.channel, 'api'), COALESCE(s.location, '')
	FROM (SELECT DISTINCT member_id FROM transactions WHERE business_date = $1 AND kind = 'earn') AS t
	JOIN members AS m ON m.id = t.member_id
	LEFT JOIN self_enrolments AS s ON s.member_id = m.id
	WHERE NOT EXISTS (SELECT 1 FROM analytics_members AS a WHERE a.member_id = t.member_id)
	ON CONFLICT (member_id) DO NOTHING`

const enrolments = `
	INSERT INTO analytics_enrolments (business_date, partner_id, channel, location, members)
	SELECT enrolled_on, home_partner_id, channel, location, count(*)
	FROM analytics_members
	WHERE enrolled_on = $1
	GROUP BY enrolled_on, home_partner_id, channel, location`

// cohortSizes adds the window's members to their enrolment month's cohort,
// at their home partner and in the network ($3).
const cohortSizes = `
	INSERT INTO analytics_cohort_sizes (partner_id, enrolment_month, members)
	SELECT s.scope, $2::DATE, count(*)
	FROM (SELECT home_partner_id AS scope FROM analytics_members WHERE enrolled_on = $1
	      UNION ALL
	      SELECT $3::UUID FROM analytics_members WHERE enrolled_on = $1) AS s
	GROUP BY s.scope
	ON CONFLICT (partner_id, enrolment_month) DO UPDATE SET members = analytics_cohort_sizes.members + excluded.members`

// partnerDays sums the window's rows per partner. Purchases are earns
// (an earn is one purchase; a welcome or referral bonus is not); points
// issued are the earns' and bonuses' points by their transaction's partner,
// which is their one issuer (an earn carries the partner's own lines, each
// other funder gets a bonus transaction of its own); points clawed back
// are read from the issuers' accounts, as one refund may claw back points
// of several issuers; points spent and expired from the lots' consumptions,
// which name issuer and redeemer, net of refunds of burns (negative).
const partnerDays = `
	INSERT INTO analytics_partner_days (business_date, partner_id, purchases, purchase_minor, buyers, refunds, refund_minor,
	                                    points_issued, points_clawed_back, points_burned, points_burned_elsewhere, points_expired)
	SELECT $1::DATE, f.partner_id, SUM(f.purchases)::BIGINT, SUM(f.purchase_minor)::BIGINT, SUM(f.buyers)::BIGINT,
	       SUM(f.refunds)::BIGINT, SUM(f.refund_minor)::BIGINT, SUM(f.issued)::BIGINT, SUM(f.clawed_back)::BIGINT,
	       SUM(f.burned)::BIGINT, SUM(f.burned_elsewhere)::BIGINT, SUM(f.expired)::BIGINT
	FROM (
	    SELECT partner_id,
	           count(CASE WHEN kind = 'earn' THEN 1 END) AS purchases,
	           COALESCE(SUM(CASE WHEN kind = 'earn' THEN amount_minor END), 0)::BIGINT AS purchase_minor,
	           count(DISTINCT CASE WHEN kind = 'earn' THEN member_id END) AS buyers,
	           count(CASE WHEN kind = 'earn_refund' AND amount_minor IS NOT NULL THEN 1 END) AS refunds,
	           COALESCE(SUM(CASE WHEN kind = 'earn_refund' THEN amount_minor END), 0)::BIGINT AS refund_minor,
	           COALESCE(SUM(CASE WHEN kind IN ('earn', 'bonus') THEN points END), 0)::BIGINT AS issued,
	           0::BIGINT AS clawed_back, 0::BIGINT AS burned, 0::BIGINT AS burned_elsewhere, 0::BIGINT AS expired
	    FROM transactions
	    WHERE business_date = $1
	    GROUP BY partner_id
	  UNION ALL
	    SELECT a.owner_id, 0, 0, 0, 0, 0, 0, SUM(e.amount)::BIGINT, 0, 0, 0
	    FROM transactions AS t
	    JOIN entries AS e ON e.transaction_id = t.id
	    JOIN accounts AS a ON a.id = e.account_id
	    WHERE t.business_date = $1 AND t.kind = 'earn_refund' AND a.kind = 'partner_issued'
	    GROUP BY a.owner_id
	  UNION ALL
	    SELECT redeemer_id, 0, 0, 0, 0, 0, 0, 0, SUM(points)::BIGINT, 0, 0
	    FROM lot_consumptions
	    WHERE business_date = $1 AND kind IN ('burn', 'burn_refund')
	    GROUP BY redeemer_id
	  UNION ALL
	    SELECT issuer_id, 0, 0, 0, 0, 0, 0, 0, 0,
	           COALESCE(SUM(CASE WHEN kind IN ('burn', 'burn_refund') AND redeemer_id <> issuer_id THEN points END), 0)::BIGINT,
	           COALESCE(SUM(CASE WHEN kind = 'expire' THEN points END), 0)::BIGINT
	    FROM lot_consumptions
	    WHERE business_date = $1 AND kind IN ('burn', 'burn_refund', 'expire')
	    GROUP BY issuer_id
	) AS f
	GROUP BY f.partner_id`

// pointFlows: the window's points spent, by issuer and redeemer, net of
// refunds of burns, as the clearing's gross matrix counts them (a debt's
// payment is no spending and is left out).
const pointFlows = `
	INSERT INTO analytics_point_flows (business_date, issuer_id, redeemer_id, points)
	SELECT $1::DATE, issuer_id, redeemer_id, SUM(points)::BIGINT
	FROM lot_consumptions
	WHERE business_date = $1 AND kind IN ('burn', 'burn_refund')
	GROUP BY issuer_id, redeemer_id
	HAVING SUM(points) <> 0`

// cohorts counts the members who make their first purchase of month $2 in
// a scope on day $1: at a partner, the partner's own members (home there)
// buying there; in the network ($4), every buyer. "First" is read from the
// bitmaps of span $3 before the day is added: none of the month's days
// before $1 ($5..$16) set.
var cohorts = `
	INSERT INTO analytics_cohorts (partner_id, enrolment_month, activity_month, members)
	SELECT b.scope, m.enrolment_month, $2::DATE, count(*)
	FROM (SELECT DISTINCT partner_id AS scope, member_id FROM transactions WHERE business_date = $1 AND kind = 'earn'
	      UNION ALL
	      SELECT DISTINCT $4::UUID, member_id FROM transactions WHERE business_date = $1 AND kind = 'earn') AS b
	JOIN analytics_members AS m ON m.member_id = b.member_id
	LEFT JOIN analytics_activity AS a ON a.span = $3 AND a.partner_id = b.scope AND a.member_id = b.member_id
	WHERE (b.scope = $4 OR b.scope = m.home_partner_id)
	  AND (a.member_id IS NULL OR (` + each(" | ", func(i int) string { return fmt.Sprintf("(a.d%d & %s)", i, param(5+i)) }) + `) = 0)
	GROUP BY b.scope, m.enrolment_month
	ON CONFLICT (partner_id, activity_month, enrolment_month) DO UPDATE SET members = analytics_cohorts.members + excluded.members`

// buyers are the members who bought on day $1, per partner and in the
// network ($3), and how many times.
const buyers = `
	SELECT partner_id AS scope, member_id, count(*) AS n
	FROM transactions WHERE business_date = $1 AND kind = 'earn' GROUP BY partner_id, member_id
	UNION ALL
	SELECT $3::UUID, member_id, count(*)
	FROM transactions WHERE business_date = $1 AND kind = 'earn' GROUP BY member_id`

// activity sets day $1's bit ($5..$16, one of them nonzero; day $4 of the
// span) in span $2's bitmap of every member who bought that day, per
// partner and in the network ($3), and counts the day unless its bit was
// set already.
var activity = `
	INSERT INTO analytics_activity (span, partner_id, member_id, home_partner_id, first_day, last_day, days,
	                                ` + each(", ", func(i int) string { return fmt.Sprintf("d%d", i) }) + `)
	SELECT $2::INT, b.scope, b.member_id, m.home_partner_id, $4::SMALLINT, $4::SMALLINT, 1,
	       ` + each(", ", func(i int) string { return param(5 + i) }) + `
	FROM (` + buyers + `) AS b
	JOIN analytics_members AS m ON m.member_id = b.member_id
	ON CONFLICT (span, partner_id, member_id) DO UPDATE SET
	    first_day = LEAST(analytics_activity.first_day, excluded.first_day),
	    last_day = GREATEST(analytics_activity.last_day, excluded.last_day),
	    days = analytics_activity.days +
	        CASE WHEN (` + each(" | ", func(i int) string { return fmt.Sprintf("(analytics_activity.d%[1]d & excluded.d%[1]d)", i) }) + `) = 0
	        THEN 1 ELSE 0 END,
	    ` + each(", ", func(i int) string { return fmt.Sprintf("d%[1]d = analytics_activity.d%[1]d | excluded.d%[1]d", i) })

// repeatDays sets day $1's bit in span $2's repeat days of the members who
// bought twice or more that day in a scope.
var repeatDays = `
	INSERT INTO analytics_repeat_days (span, partner_id, member_id,
	                                   ` + each(", ", func(i int) string { return fmt.Sprintf("m%d", i) }) + `)
	SELECT $2::INT, b.scope, b.member_id,
	       ` + each(", ", func(i int) string { return param(4 + i) }) + `
	FROM (` + buyers + `) AS b
	WHERE b.n > 1
	ON CONFLICT (span, partner_id, member_id) DO UPDATE SET
	    ` + each(", ", func(i int) string { return fmt.Sprintf("m%[1]d = analytics_repeat_days.m%[1]d | excluded.m%[1]d", i) })
