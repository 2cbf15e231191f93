package analytics

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/coalition-loyalty/coalition/coalition"
)

// Report is one page of figures: a period and the period of the same
// length just before it.
type Report struct {
	// Partner whose view this is; zero for the network's (the operator's).
	Partner  coalition.PartnerID
	Current  Figures
	Previous Figures
	// RolledUpTo is the last business day rolled up (zero if none): days
	// after it count nothing yet.
	RolledUpTo time.Time
}

// Figures are a scope's numbers over business days From..To, both
// included. The scope is a partner (its own members, its own purchases,
// its own points) or the network. Money is in the coalition's currency.
type Figures struct {
	From, To time.Time

	// Acquired: members who joined in the period, by the partner that
	// enrolled them and the channel (a partner's only its own).
	Acquired      []Acquisition
	AcquiredTotal int64

	// ActiveMembers bought at least once in the period (at the partner,
	// or anywhere in the network); RepeatMembers twice or more.
	ActiveMembers int64
	RepeatMembers int64
	// RepeatShareBP is RepeatMembers / ActiveMembers in basis points,
	// rounded down.
	RepeatShareBP int64
	// Purchases are earns (a purchase refunded later still counts; its
	// refund is in Refunds), Spent their amounts.
	Purchases int64
	Spent     coalition.Money
	// FrequencyCenti is Purchases / ActiveMembers in hundredths, rounded
	// down (237: 2.37 purchases per active member).
	FrequencyCenti int64
	// AverageCheck is Spent / Purchases, SpendPerMember Spent /
	// ActiveMembers, both rounded down to a minor unit.
	AverageCheck   coalition.Money
	SpendPerMember coalition.Money
	// Refunds of purchases and the money they gave back.
	Refunds  int64
	Refunded coalition.Money

	// Points the scope issued (earns and the bonuses it funded), had
	// clawed back by refunds, saw spent at its till(s) (any issuer's, net
	// of refunds of burns), saw spent of its own at another partner, and
	// saw expire of its own. The network's count every issuer, the
	// operator's bonuses included.
	PointsIssued          coalition.Points
	PointsClawedBack      coalition.Points
	PointsBurned          coalition.Points
	PointsBurnedElsewhere coalition.Points
	PointsExpired         coalition.Points

	// Shoppers: members of one partner (their home, where they enrolled)
	// who bought at a partner in the period. A partner's view has the
	// cells where it is either; the network's all.
	Shoppers []Shoppers
	// Flows: points spent in the period by issuer and redeemer, net of
	// refunds of burns (a partner's view: those it issued or took).
	Flows []Flow
	// Cohorts: members enrolled in a month who bought in an activity month
	// among the months the period touches (whole calendar months).
	Cohorts []Cohort
	// Promotions: how each promotion, personal offer and coupon did at a
	// till (a partner's view: at its own, and those it funded at others').
	Promotions []PromotionResult
}

// Acquisition counts the members a partner enrolled through a channel:
// "api" (the partner's systems) or "qr" (self-enrolment, at a point of
// sale: Location, "" for none).
type Acquisition struct {
	Partner  coalition.PartnerID
	Channel  string
	Location string
	Members  int64
}

// Shoppers counts the members of Home who bought at At. Suppressed: the
// cell is about another partner's customers and counts too few members
// for a partner to see (Members is then 0); see MinCell.
type Shoppers struct {
	Home, At   coalition.PartnerID
	Members    int64
	Suppressed bool
}

// Flow is points issued by Issuer and spent at Redeemer.
type Flow struct {
	Issuer, Redeemer coalition.PartnerID
	Points           coalition.Points
}

// Cohort is the members enrolled in EnrolmentMonth (at the partner, in a
// partner's view) who bought in ActivityMonth (at the partner, or in the
// network): Active of Enrolled, RetentionBP = Active / Enrolled in basis
// points, rounded down.
type Cohort struct {
	EnrolmentMonth, ActivityMonth time.Time
	Enrolled, Active              int64
	RetentionBP                   int64
}

// MaxPeriod is the longest period, in days, a page may ask for: a year,
// so that a period lies within one span of the bitmaps (days.go).
const MaxPeriod = 366

// Network returns the network's figures over business days from..to and
// the period of the same length before it, for the operator: every
// partner's cells, nothing suppressed.
func (a *Analytics) Network(ctx context.Context, from, to time.Time) (Report, error) {
	return a.page(ctx, scope{id: network}, from, to)
}

// Partner returns partner's own figures over business days from..to and
// the period of the same length before it: its members, its purchases,
// its points; cross-shopping cells where it is the home or the partner
// bought at, suppressed where they count fewer than MinCell of another
// partner's customers.
func (a *Analytics) Partner(ctx context.Context, partner coalition.PartnerID, from, to time.Time) (Report, error) {
	if uuid.UUID(partner) == network {
		return Report{}, coalition.Errorf(coalition.Invalid, "partner", "names no partner")
	}
	return a.page(ctx, scope{id: uuid.UUID(partner), partner: true}, from, to)
}

// scope is whose figures a query counts: a partner's (id) or the
// network's (id = network).
type scope struct {
	id      uuid.UUID
	partner bool
}

// period checks a page's period and returns its days as business dates.
func checkPeriod(from, to time.Time) (time.Time, time.Time, error) {
	from, to = day(from), day(to)
	if to.Before(from) {
		return from, to, coalition.Errorf(coalition.Invalid, "to", "must not be before from")
	}
	if n := int(to.Sub(from).Hours()/24) + 1; n > MaxPeriod {
		return from, to, coalition.Errorf(coalition.Invalid, "to", "a period is at most %d days", MaxPeriod)
	}
	return from, to, nil
}

// compute reads a scope's report from the rollups: both periods in one
// snapshot, one round trip.
func (a *Analytics) compute(ctx context.Context, s scope, from, to time.Time) (Report, error) {
	n := int(to.Sub(from).Hours()/24) + 1
	r := Report{
		Current:  Figures{From: from, To: to},
		Previous: Figures{From: from.AddDate(0, 0, -n), To: from.AddDate(0, 0, -1)},
	}
	err := a.tx.Read(ctx, func(tx pgx.Tx) error {
		r.Current.reset()
		r.Previous.reset()
		var currency string
		var last *time.Time
		b := &pgx.Batch{}
		b.Queue(`SELECT (SELECT currency FROM coalition_settings WHERE id = 1), (SELECT max(business_date) FROM analytics_days)`).
			QueryRow(func(row pgx.Row) error { return row.Scan(&currency, &last) })
		queueFigures(b, s, &r.Current)
		queueFigures(b, s, &r.Previous)
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		if last != nil {
			r.RolledUpTo = *last
		}
		r.Current.finish(currency)
		r.Previous.finish(currency)
		return nil
	})
	if err != nil {
		return Report{}, fmt.Errorf("analytics %s..%s: %w", from.Format(time.DateOnly), to.Format(time.DateOnly), err)
	}
	if s.partner {
		r.Partner = coalition.PartnerID(s.id)
		for _, f := range []*Figures{&r.Current, &r.Previous} {
			suppress(r.Partner, f)
			suppressPromotions(r.Partner, f)
		}
	}
	return r, nil
}

// reset empties what a retried read transaction fills again.
func (f *Figures) reset() { *f = Figures{From: f.From, To: f.To} }

// queueFigures queues the reads of one period's figures.
func queueFigures(b *pgx.Batch, s scope, f *Figures) {
	where, args := "", []any{f.From, f.To}
	if s.partner {
		where, args = "AND partner_id = $3", append(args, s.id)
	}

	b.Queue(`
		SELECT COALESCE(SUM(purchases), 0)::BIGINT, COALESCE(SUM(purchase_minor), 0)::BIGINT,
		       COALESCE(SUM(refunds), 0)::BIGINT, COALESCE(SUM(refund_minor), 0)::BIGINT,
		       COALESCE(SUM(points_issued), 0)::BIGINT, COALESCE(SUM(points_clawed_back), 0)::BIGINT,
		       COALESCE(SUM(points_burned), 0)::BIGINT, COALESCE(SUM(points_burned_elsewhere), 0)::BIGINT,
		       COALESCE(SUM(points_expired), 0)::BIGINT
		FROM analytics_partner_days
		WHERE business_date BETWEEN $1 AND $2 `+where, args...).QueryRow(func(row pgx.Row) error {
		return row.Scan(&f.Purchases, &f.Spent.Minor, &f.Refunds, &f.Refunded.Minor, &f.PointsIssued, &f.PointsClawedBack,
			&f.PointsBurned, &f.PointsBurnedElsewhere, &f.PointsExpired)
	})

	b.Queue(`
		SELECT partner_id, channel, location, SUM(members)::BIGINT
		FROM analytics_enrolments
		WHERE business_date BETWEEN $1 AND $2 `+where+`
		GROUP BY partner_id, channel, location
		ORDER BY partner_id, channel, location`, args...).Query(func(rows pgx.Rows) error {
		var c Acquisition
		_, err := pgx.ForEachRow(rows, []any{&c.Partner, &c.Channel, &c.Location, &c.Members}, func() error {
			f.Acquired = append(f.Acquired, c)
			f.AcquiredTotal += c.Members
			return nil
		})
		return err
	})

	flowsWhere := ""
	if s.partner {
		flowsWhere = "AND (issuer_id = $3 OR redeemer_id = $3)"
	}
	b.Queue(`
		SELECT issuer_id, redeemer_id, SUM(points)::BIGINT
		FROM analytics_point_flows
		WHERE business_date BETWEEN $1 AND $2 `+flowsWhere+`
		GROUP BY issuer_id, redeemer_id
		HAVING SUM(points) <> 0
		ORDER BY issuer_id, redeemer_id`, args...).Query(func(rows pgx.Rows) error {
		var fl Flow
		_, err := pgx.ForEachRow(rows, []any{&fl.Issuer, &fl.Redeemer, &fl.Points}, func() error {
			f.Flows = append(f.Flows, fl)
			return nil
		})
		return err
	})

	// Distinct members, from the bitmaps of the one span that holds the
	// period: a row per member and scope.
	p := newPeriod(f.From, f.To, 3)
	b.Queue(`
		SELECT count(*), count(*) FILTER (WHERE `+p.twoDays()+`)
		FROM analytics_activity AS a
		WHERE a.span = $2 AND a.partner_id = $1 AND `+p.anyDay(), append([]any{s.id, p.span}, p.args...)...).
		QueryRow(func(row pgx.Row) error { return row.Scan(&f.ActiveMembers, &f.RepeatMembers) })
	// And those who bought twice on the one day they bought in the period.
	b.Queue(`
		SELECT count(*)
		FROM analytics_repeat_days AS r
		JOIN analytics_activity AS a ON a.span = r.span AND a.partner_id = r.partner_id AND a.member_id = r.member_id
		WHERE r.span = $2 AND r.partner_id = $1 AND `+p.anyRepeatDay()+` AND NOT (`+p.twoDays()+`)`,
		append([]any{s.id, p.span}, p.args...)...).QueryRow(func(row pgx.Row) error {
		var once int64
		err := row.Scan(&once)
		f.RepeatMembers += once
		return err
	})

	// Cross-shopping: members per (home, partner bought at), partner by
	// partner, each a range of the index (analytics_activity_scope).
	shoppers := func(cond string, args ...any) {
		b.Queue(`
			SELECT a.home_partner_id, a.partner_id, count(*)
			FROM analytics_activity AS a
			WHERE a.span = $2 AND `+cond+` AND `+p.anyDay()+`
			GROUP BY a.home_partner_id, a.partner_id`, append(append([]any{args[0], p.span}, p.args...), args[1:]...)...).
			Query(func(rows pgx.Rows) error {
				var c Shoppers
				_, err := pgx.ForEachRow(rows, []any{&c.Home, &c.At, &c.Members}, func() error {
					f.Shoppers = append(f.Shoppers, c)
					return nil
				})
				return err
			})
	}
	if s.partner {
		// Bought at the partner, and the partner's members elsewhere.
		shoppers("a.partner_id = $1", s.id)
		shoppers(fmt.Sprintf("a.partner_id = ANY(ARRAY(SELECT id FROM partners WHERE id <> $1 AND id <> $%d)) AND a.home_partner_id = $1",
			3+len(p.args)), s.id, network)
	} else {
		shoppers("a.partner_id = ANY(ARRAY(SELECT id FROM partners WHERE id <> $1))", network)
	}

	queuePromotions(b, s, f)

	b.Queue(`
		SELECT c.enrolment_month, c.activity_month, COALESCE(z.members, 0), c.members
		FROM analytics_cohorts AS c
		LEFT JOIN analytics_cohort_sizes AS z ON z.partner_id = c.partner_id AND z.enrolment_month = c.enrolment_month
		WHERE c.partner_id = $1 AND c.activity_month BETWEEN $2 AND $3
		ORDER BY c.enrolment_month, c.activity_month`, s.id, month(f.From), month(f.To)).Query(func(rows pgx.Rows) error {
		var c Cohort
		_, err := pgx.ForEachRow(rows, []any{&c.EnrolmentMonth, &c.ActivityMonth, &c.Enrolled, &c.Active}, func() error {
			f.Cohorts = append(f.Cohorts, c)
			return nil
		})
		return err
	})
}

// finish derives the ratios, in integers, rounded down.
func (f *Figures) finish(currency string) {
	for _, m := range []*coalition.Money{&f.Spent, &f.AverageCheck, &f.SpendPerMember, &f.Refunded} {
		m.Currency = currency
	}
	f.RepeatShareBP = ratio(f.RepeatMembers, f.ActiveMembers, 10_000)
	f.FrequencyCenti = ratio(f.Purchases, f.ActiveMembers, 100)
	f.AverageCheck.Minor = ratio(f.Spent.Minor, f.Purchases, 1)
	f.SpendPerMember.Minor = ratio(f.Spent.Minor, f.ActiveMembers, 1)
	for i := range f.Cohorts {
		c := &f.Cohorts[i]
		c.RetentionBP = ratio(c.Active, c.Enrolled, 10_000)
	}
	slices.SortFunc(f.Shoppers, func(a, b Shoppers) int {
		return cmp.Or(slices.Compare(a.Home[:], b.Home[:]), slices.Compare(a.At[:], b.At[:]))
	})
	f.finishPromotions(currency)
}

// ratio is part × scale / whole, rounded down; 0 when there is no whole.
func ratio(part, whole, scale int64) int64 {
	if whole <= 0 || part <= 0 {
		return 0
	}
	return coalition.MulDivFloor(part, scale, whole)
}
