package analytics

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/offers"
	"github.com/coalition-loyalty/coalition/coalition/rules"
)

// PromotionResult is how a promotion did over a period at one partner's
// till. A promotion is any bonus line of a purchase's breakdown that names
// its code: rule "promotion" (the rule set's promotions), "offer" (personal
// offers) or "coupon", Ref its code. A promotion that applies at several
// partners has a result per partner; one funded by someone else than the
// till's partner is reported with its Funder.
//
// Participants and the comparable others are counted per member-day: a
// participant-day is a member on a day they received the promotion at the
// till, with everything they spent at the till that day; a comparable day
// is a member who bought at the same till on the same day without
// receiving it, with everything they spent there that day. Same partner,
// same days: the comparison holds the weekday, the season and the
// partner's own mix of customers and goods constant, and is exact from
// daily sums over any period.
type PromotionResult struct {
	Rule    string
	Ref     string
	Partner coalition.PartnerID // the till's
	Funder  coalition.PartnerID // the issuer of the points (operator included)

	// Members reached: who received its points in the period, each once.
	Members int64
	// Purchases that earned its points, and the points given (at the
	// purchase, before any refund).
	Purchases int64
	Points    coalition.Points

	// ParticipantDays and SpendPerParticipantDay: what a member spent at
	// the till, on average, on a day they received the promotion;
	// ComparableDays and SpendPerComparableDay the same of the members who
	// bought there on those days without it. Rounded down to a minor unit.
	ParticipantDays        int64
	SpendPerParticipantDay coalition.Money
	ComparableDays         int64
	SpendPerComparableDay  coalition.Money

	// BudgetUsed is the points its budget has granted to date (net of the
	// refunds that gave points back to it), read when the page is asked
	// for; HasBudget is false for a promotion that never drew on a budget.
	BudgetUsed coalition.Points
	HasBudget  bool

	// Suppressed: a result at another partner's till that reached fewer
	// than MinCell members, in the funder's view; its counts of members,
	// purchases and spend are 0 (its points and budget, the funder's own,
	// are shown).
	Suppressed bool
}

// PromotionRules are the rules of the breakdown lines reported as
// promotions.
var PromotionRules = []string{"promotion", "offer", "coupon"}

// promotionLines are the bonus lines of business day $1 that name a
// promotion, each with the purchase it came with: the earn itself, or the
// earn a bonus transaction (points funded by someone else than the till's
// partner) names as its original. Lines that gave nothing (a spent budget)
// reached no one.
const promotionLines = `
	SELECT l.rule, l.ref, p.partner_id AS till_id, l.funder_id, p.member_id, p.id AS purchase_id, p.kind AS purchase_kind, l.points
	FROM transactions AS t
	JOIN earn_lines AS l ON l.transaction_id = t.id
	JOIN transactions AS p ON p.id = COALESCE(CASE WHEN t.kind = 'bonus' THEN t.original_id END, t.id)
	WHERE t.business_date = $1 AND t.kind IN ('earn', 'bonus') AND l.rule IN ('promotion', 'offer', 'coupon') AND l.points > 0`

// promotionDays sums day $1 per promotion and till: purchases and points;
// the members who received it and what they spent at the till that day;
// and the till's other buyers of the day and what they spent (the till's
// buyers and takings less the participants').
const promotionDays = `
	INSERT INTO analytics_promotion_days (business_date, rule, ref, partner_id, funder_id, purchases, points,
	                                      participants, participant_minor, others, others_minor)
	WITH lines AS (` + promotionLines + `),
	spend AS (
	    SELECT partner_id, member_id, SUM(amount_minor)::BIGINT AS minor
	    FROM transactions WHERE business_date = $1 AND kind = 'earn'
	    GROUP BY partner_id, member_id)
	SELECT $1::DATE, g.rule, g.ref, g.till_id, g.funder_id, g.purchases, g.points,
	       r.members, r.minor, COALESCE(b.buyers, 0) - r.buyers, COALESCE(b.minor, 0) - r.minor
	FROM (SELECT rule, ref, till_id, funder_id,
	             count(DISTINCT CASE WHEN purchase_kind = 'earn' THEN purchase_id END) AS purchases,
	             SUM(points)::BIGINT AS points
	      FROM lines GROUP BY rule, ref, till_id, funder_id) AS g
	JOIN (SELECT x.rule, x.ref, x.till_id, x.funder_id, count(*) AS members, count(s.member_id) AS buyers,
	             COALESCE(SUM(s.minor), 0)::BIGINT AS minor
	      FROM (SELECT DISTINCT rule, ref, till_id, funder_id, member_id FROM lines) AS x
	      LEFT JOIN spend AS s ON s.partner_id = x.till_id AND s.member_id = x.member_id
	      GROUP BY x.rule, x.ref, x.till_id, x.funder_id) AS r
	  ON r.rule = g.rule AND r.ref = g.ref AND r.till_id = g.till_id AND r.funder_id = g.funder_id
	LEFT JOIN (SELECT partner_id, count(*) AS buyers, SUM(minor)::BIGINT AS minor FROM spend GROUP BY partner_id) AS b
	  ON b.partner_id = g.till_id`

// promotionMembers sets day $1's bit ($4..$15; day $3 of span $2) in the
// bitmap of every member who received a promotion that day.
var promotionMembers = `
	INSERT INTO analytics_promotion_members (span, rule, ref, partner_id, funder_id, member_id, first_day, last_day,
	                                         ` + each(", ", func(i int) string { return fmt.Sprintf("d%d", i) }) + `)
	SELECT DISTINCT $2::INT, x.rule, x.ref, x.till_id, x.funder_id, x.member_id, $3::SMALLINT, $3::SMALLINT,
	       ` + each(", ", func(i int) string { return param(4 + i) }) + `
	FROM (` + promotionLines + `) AS x
	ON CONFLICT (span, partner_id, rule, ref, funder_id, member_id) DO UPDATE SET
	    first_day = LEAST(analytics_promotion_members.first_day, excluded.first_day),
	    last_day = GREATEST(analytics_promotion_members.last_day, excluded.last_day),
	    ` + each(", ", func(i int) string {
	return fmt.Sprintf("d%[1]d = analytics_promotion_members.d%[1]d | excluded.d%[1]d", i)
})

// queuePromotions queues the reads of one period's promotion results: the
// sums of its days, and the members reached from the bitmaps of the one
// span that holds it. A partner's view has the promotions at its till and
// those it funded at others'.
func queuePromotions(b *pgx.Batch, s scope, f *Figures) {
	type key struct {
		rule, ref       string
		partner, funder coalition.PartnerID
	}
	at := map[key]int{}
	row := func(k key) *PromotionResult {
		i, ok := at[k]
		if !ok {
			i = len(f.Promotions)
			at[k] = i
			f.Promotions = append(f.Promotions, PromotionResult{Rule: k.rule, Ref: k.ref, Partner: k.partner, Funder: k.funder})
		}
		return &f.Promotions[i]
	}

	where, args := "", []any{f.From, f.To}
	if s.partner {
		where, args = "AND (partner_id = $3 OR funder_id = $3)", append(args, s.id)
	}
	b.Queue(`
		SELECT rule, ref, partner_id, funder_id, SUM(purchases)::BIGINT, SUM(points)::BIGINT,
		       SUM(participants)::BIGINT, SUM(participant_minor)::BIGINT, SUM(others)::BIGINT, SUM(others_minor)::BIGINT
		FROM analytics_promotion_days
		WHERE business_date BETWEEN $1 AND $2 `+where+`
		GROUP BY rule, ref, partner_id, funder_id`, args...).Query(func(rows pgx.Rows) error {
		var k key
		var purchases, points, participants, participantMinor, others, othersMinor int64
		_, err := pgx.ForEachRow(rows, []any{&k.rule, &k.ref, &k.partner, &k.funder, &purchases, &points,
			&participants, &participantMinor, &others, &othersMinor}, func() error {
			r := row(k)
			r.Purchases, r.Points = purchases, coalition.Points(points)
			r.ParticipantDays, r.SpendPerParticipantDay.Minor = participants, ratio(participantMinor, participants, 1)
			r.ComparableDays, r.SpendPerComparableDay.Minor = others, ratio(othersMinor, others, 1)
			return nil
		})
		return err
	})

	// Members reached, from the bitmaps: a partner's at its till, and at
	// other partners' tills those of the promotions it funded (a range of
	// the funder's index).
	p := newPeriod(f.From, f.To, 2)
	reached := func(cond string, args ...any) {
		b.Queue(`
			SELECT a.rule, a.ref, a.partner_id, a.funder_id, count(*)
			FROM analytics_promotion_members AS a
			WHERE a.span = $1`+cond+` AND `+p.anyDay()+`
			GROUP BY a.rule, a.ref, a.partner_id, a.funder_id`, append(append([]any{p.span}, p.args...), args...)...).
			Query(func(rows pgx.Rows) error {
				var k key
				var n int64
				_, err := pgx.ForEachRow(rows, []any{&k.rule, &k.ref, &k.partner, &k.funder, &n}, func() error {
					row(k).Members = n
					return nil
				})
				return err
			})
	}
	if !s.partner {
		reached("")
		return
	}
	n := 2 + len(p.args)
	reached(fmt.Sprintf(" AND a.partner_id = $%d", n), s.id)
	reached(fmt.Sprintf(" AND a.funder_id = $%[1]d AND a.partner_id <> $%[1]d", n), s.id)
}

// finishPromotions sets the currency and a canonical order: by rule, code,
// till and funder.
func (f *Figures) finishPromotions(currency string) {
	for i := range f.Promotions {
		r := &f.Promotions[i]
		r.SpendPerParticipantDay.Currency, r.SpendPerComparableDay.Currency = currency, currency
	}
	slices.SortFunc(f.Promotions, func(a, b PromotionResult) int {
		return cmp.Or(strings.Compare(a.Rule, b.Rule), strings.Compare(a.Ref, b.Ref),
			slices.Compare(a.Partner[:], b.Partner[:]), slices.Compare(a.Funder[:], b.Funder[:]))
	})
}

// suppressPromotions hides, in partner's view, the counts of a result at
// another partner's till that reached fewer than MinCell members (but not
// none): they are about the other partner's customers. What the partner
// funded there (points, budget) is its own and stays.
func suppressPromotions(partner coalition.PartnerID, f *Figures) {
	for i := range f.Promotions {
		r := &f.Promotions[i]
		if r.Partner == partner || r.Members == 0 || r.Members >= MinCell {
			continue
		}
		r.Suppressed = true
		r.Members, r.Purchases, r.ParticipantDays, r.ComparableDays = 0, 0, 0, 0
		r.SpendPerParticipantDay.Minor, r.SpendPerComparableDay.Minor = 0, 0
	}
}

// budgetKey is the key of a result's budget in promotion_budgets: a
// promotion's code, or an offer's (a coupon draws on its offer's) under
// the offers' own prefix.
func budgetKey(p PromotionResult) string {
	if p.Rule == rules.LinePromotion {
		return p.Ref
	}
	return offers.BudgetKey(p.Ref)
}

// readBudgets sets, on every result of r, what its promotion's budget has
// granted to date: a running figure, read at the page's reading, not kept
// with the stored report.
func (a *Analytics) readBudgets(ctx context.Context, r *Report) error {
	var refs []string
	for _, f := range []*Figures{&r.Current, &r.Previous} {
		for _, p := range f.Promotions {
			refs = append(refs, budgetKey(p))
		}
	}
	if len(refs) == 0 {
		return nil
	}
	rows, err := a.tx.Pool().Query(ctx, `
		SELECT promotion, SUM(granted)::BIGINT FROM promotion_budgets WHERE promotion = ANY($1) GROUP BY promotion`, refs)
	if err != nil {
		return fmt.Errorf("promotions' budgets: %w", err)
	}
	used, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (struct {
		ref    string
		points int64
	}, error) {
		var v struct {
			ref    string
			points int64
		}
		err := row.Scan(&v.ref, &v.points)
		return v, err
	})
	if err != nil {
		return fmt.Errorf("promotions' budgets: %w", err)
	}
	for _, f := range []*Figures{&r.Current, &r.Previous} {
		for i := range f.Promotions {
			p := &f.Promotions[i]
			for _, u := range used {
				if u.ref == budgetKey(*p) {
					p.BudgetUsed, p.HasBudget = coalition.Points(u.points), true
				}
			}
		}
	}
	return nil
}
