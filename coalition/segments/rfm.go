package segments

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// RFM scores, per scope, over the purchases of the look-back:
//
//   - recency: days from the member's last purchase to the day computed
//     (0: bought that day);
//   - frequency: the number of purchases (earns on a purchase amount; a
//     refunded purchase still was a visit);
//   - monetary: what the purchases came to, net of refunds made within the
//     look-back, in minor units, never below zero.
//
// Each is scored 1 (worst) to 5 (best) by quintile among the scope's
// members with a purchase: with n such members and k of them strictly
// worse on the measure (more days since, fewer purchases, less spend), the
// score is 1 + ⌊5k / n⌋, in integers. Members tied on a measure get the
// same score, that of the lowest of their positions, so a tie is never
// split between two scores, and a quintile may hold more or fewer than
// n/5 members (many members with one purchase all score 1 on frequency).
// A scope with one member scores it 1, 1, 1.

// score is the SQL of the quintile score of a member k+1-th from the worst
// (rank) among n.
func score(rank, n string) string {
	return fmt.Sprintf(`CASE WHEN 5 * (%[1]s - 1) < %[2]s THEN 1 WHEN 5 * (%[1]s - 1) < 2 * %[2]s THEN 2
	            WHEN 5 * (%[1]s - 1) < 3 * %[2]s THEN 3 WHEN 5 * (%[1]s - 1) < 4 * %[2]s THEN 4 ELSE 5 END`, rank, n)
}

// rfmSQL rewrites member_rfm as of $1 from the purchases of the business
// days $2 to $1, each partner's scope and the coalition's ($3) in one
// statement; a second statement deletes the rows of members no longer in
// a scope. It reads the ledger's rows of closed windows only, set-based:
// one pass over the look-back's earns and refunds. The sums are cast back
// to BIGINT: PostgreSQL sums BIGINTs as NUMERIC, and sorting the scopes'
// rows by NUMERIC for the ranks took a third of the statement (see
// docs/BENCHMARKS.md, segments).
var rfmSQL = `
	WITH per_partner AS (
	    SELECT partner_id AS scope_id, member_id,
	           max(CASE WHEN kind = 'earn' THEN business_date END) AS last_purchase,
	           sum(CASE WHEN kind = 'earn' THEN 1 ELSE 0 END) AS frequency,
	           sum(CASE WHEN kind = 'earn' THEN amount_minor ELSE -amount_minor END)::BIGINT AS spend
	    FROM transactions
	    WHERE kind IN ('earn', 'earn_refund') AND amount_minor IS NOT NULL
	      AND business_date >= $2::DATE AND business_date <= $1::DATE
	    GROUP BY partner_id, member_id
	), scopes AS (
	    SELECT scope_id, member_id, last_purchase, frequency, spend FROM per_partner WHERE frequency > 0
	    UNION ALL
	    SELECT $3::UUID, member_id, max(last_purchase), sum(frequency)::BIGINT, sum(spend)::BIGINT
	    FROM per_partner GROUP BY member_id HAVING sum(frequency) > 0
	), measured AS (
	    SELECT scope_id, member_id, last_purchase, ($1::DATE - last_purchase) AS recency_days,
	           frequency, CASE WHEN spend > 0 THEN spend ELSE 0 END AS monetary
	    FROM scopes
	), ranked AS (
	    SELECT measured.*,
	           count(*) OVER (PARTITION BY scope_id) AS n,
	           rank() OVER (PARTITION BY scope_id ORDER BY recency_days DESC) AS r_rank,
	           rank() OVER (PARTITION BY scope_id ORDER BY frequency) AS f_rank,
	           rank() OVER (PARTITION BY scope_id ORDER BY monetary) AS m_rank
	    FROM measured
	)
	INSERT INTO member_rfm (scope_id, member_id, as_of, last_purchase, recency_days, frequency, monetary_minor, r, f, m)
	SELECT scope_id, member_id, $1::DATE, last_purchase, recency_days, frequency, monetary,
	       ` + score("r_rank", "n") + `,
	       ` + score("f_rank", "n") + `,
	       ` + score("m_rank", "n") + `
	FROM ranked
	ON CONFLICT (scope_id, member_id) DO UPDATE SET
	    as_of = excluded.as_of, last_purchase = excluded.last_purchase, recency_days = excluded.recency_days,
	    frequency = excluded.frequency, monetary_minor = excluded.monetary_minor,
	    r = excluded.r, f = excluded.f, m = excluded.m`

// lookBackStart is the first business day of the look-back ending on asOf.
func lookBackStart(asOf time.Time) time.Time { return asOf.AddDate(0, 0, -(LookBackDays - 1)) }

// computeRFM rewrites member_rfm as of asOf.
func (s *Segments) computeRFM(ctx context.Context, asOf time.Time) error {
	return s.tx.Run(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, rfmSQL, asOf, lookBackStart(asOf), network); err != nil {
			return fmt.Errorf("compute RFM scores as of %s: %w", asOf.Format(time.DateOnly), err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM member_rfm WHERE as_of <> $1`, asOf); err != nil {
			return fmt.Errorf("drop stale RFM scores: %w", err)
		}
		return nil
	})
}
