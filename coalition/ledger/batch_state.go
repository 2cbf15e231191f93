package ledger

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/rules"
)

// memberSet names the members a read is for: by id alone, or, in the
// round trip that locks them, by the ids and card numbers the requests
// name (their ids are then known to the database only).
type memberSet struct {
	ids   []uuid.UUID
	cards []string // nil: ids alone
}

// array is the SQL array of the set's members, each once, with its
// parameters numbered from $n, and their arguments. (The purses' read
// counts a member's rows to know if its purse is whole: a member twice
// would count twice. The members table names each once by itself.)
func (s memberSet) array(n int) (string, []any) {
	if s.cards == nil {
		ids := slices.Clone(s.ids)
		slices.SortFunc(ids, func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) })
		return "$" + strconv.Itoa(n) + "::uuid[]", []any{slices.Compact(ids)}
	}
	return "ARRAY(SELECT id FROM members WHERE id = ANY($" + strconv.Itoa(n) + "::uuid[]) OR card_number = ANY($" +
		strconv.Itoa(n+1) + "::text[]))", []any{s.ids, s.cards}
}

// stateNeeds is what the rules in force need a batch to read of its
// members; the ledger keeps the last batch's, so that the next one can
// read its members' state in the round trip that locks them.
type stateNeeds struct {
	tiers      bool
	periodDays int // the tiers' qualifying period
	referral   bool
	zone       *time.Location // the coalition's, whose day caps a member's earns
}

func needsOf(rs rules.RuleSet, zone *time.Location) stateNeeds {
	n := stateNeeds{referral: rs.Referral != nil, zone: zone}
	if rs.Tiers != nil {
		n.tiers, n.periodDays = true, rs.Tiers.PeriodDays
	}
	return n
}

// covers says whether a read made for n has what a batch that needs
// want reads, on day today if it caps earns.
func (n stateNeeds) covers(want stateNeeds, capped bool, now time.Time) bool {
	switch {
	case want.tiers && (!n.tiers || n.periodDays != want.periodDays),
		want.referral && !n.referral,
		capped && (n.zone == nil || now.In(n.zone).Format(time.DateOnly) != now.In(want.zone).Format(time.DateOnly)):
		return false
	}
	return true
}

// batchState is what a batch reads of its members after locking them.
type batchState struct {
	facts       map[coalition.MemberID]*memberFacts
	earnedToday map[memberPartner]coalition.Points // capped partners' day figures
	locked      map[memberPartner]coalition.Points // joint promotions' locked points
	purses      map[coalition.MemberID]*purse      // the spenders'
}

func newBatchState() *batchState {
	return &batchState{
		facts:       map[coalition.MemberID]*memberFacts{},
		earnedToday: map[memberPartner]coalition.Points{},
		locked:      map[memberPartner]coalition.Points{},
		purses:      map[coalition.MemberID]*purse{},
	}
}

func (s *batchState) fact(id coalition.MemberID) *memberFacts {
	f := s.facts[id]
	if f == nil {
		f = &memberFacts{}
		s.facts[id] = f
	}
	return f
}

// queueState queues the read of what the rules need of the members,
// for earns at partners on day today: one statement, whose rows say what
// they are (1 tier, 2 part of the qualifying spend, 3 a referral paid, 4
// points earned today at a partner, 5 points locked until a purchase at a
// partner, 6 an open debt). It returns the same figures as accrueOne's
// statements (qualifyingSpendSQL, the day's points, the locked lots and
// queueDebts), which the batch's property test holds it to; in one
// statement they cost the database one start and end instead of six.
//
// The members' array is computed once (m); each part probes its table's
// index by member. The locked lots' sum filters rather than selects, so
// that only lots_member_locked can serve it (docs/BENCHMARKS.md, "Three
// round trips, and a plan made on an empty table").
func queueState(q *pgx.Batch, members memberSet, partners []uuid.UUID, n stateNeeds, today string, now time.Time, s *batchState) {
	arr, args := members.array(1)
	param := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	in := `member_id = ANY((SELECT ids FROM m)::uuid[])`
	p, at := param(partners), param(now)
	parts := []string{
		`SELECT 4, member_id, partner_id, NULL::uuid, points, NULL::text, NULL::timestamptz FROM member_day_points
		 WHERE ` + in + ` AND partner_id = ANY(` + p + `::uuid[]) AND day = ` + param(today) + `::date`,
		`SELECT 5, member_id, unlock_partner_id, NULL, COALESCE(SUM(remaining) FILTER (WHERE remaining > 0 AND expires_at > ` + at + `), 0)::bigint, NULL, NULL
		 FROM lots WHERE ` + in + ` AND unlock_partner_id = ANY(` + p + `::uuid[]) GROUP BY member_id, unlock_partner_id`,
		`SELECT 6, member_id, id, creditor_id, remaining, NULL, created_at FROM member_debts WHERE ` + in + ` AND remaining > 0`,
	}
	if n.tiers {
		day, next := spendBoundary(now.AddDate(0, 0, -n.periodDays))
		from := now.AddDate(0, 0, -n.periodDays)
		parts = append(parts,
			`SELECT 1, member_id, NULL, NULL, 0, tier, NULL FROM member_tiers WHERE `+in,
			`SELECT 2, member_id, NULL, NULL, SUM(spend_minor)::bigint, NULL, NULL FROM member_day_spend
			 WHERE `+in+` AND day > `+param(day)+`::date GROUP BY member_id`,
			`SELECT 2, member_id, NULL, NULL, SUM(CASE WHEN kind = 'earn' THEN amount_minor ELSE -amount_minor END)::bigint, NULL, NULL
			 FROM transactions
			 WHERE `+in+` AND kind IN ('earn', 'earn_refund') AND created_at > `+param(from)+` AND created_at < `+param(next)+`
			   AND amount_minor IS NOT NULL
			 GROUP BY member_id`)
	}
	if n.referral {
		parts = append(parts, `SELECT 3, member_id, NULL, NULL, 0, NULL, NULL FROM referral_bonuses WHERE `+in)
	}
	type dated struct {
		d  *debt
		at time.Time
	}
	q.Queue(`WITH m AS MATERIALIZED (SELECT `+arr+` AS ids)
		`+strings.Join(parts, "\n\t\tUNION ALL\n\t\t"), args...).Query(func(rows pgx.Rows) error {
		var kind int
		var member coalition.MemberID
		var ref, ref2 *uuid.UUID
		var figure int64
		var text *string
		var at *time.Time
		debts := map[coalition.MemberID][]dated{}
		_, err := pgx.ForEachRow(rows, []any{&kind, &member, &ref, &ref2, &figure, &text, &at}, func() error {
			// Each kind's columns are NOT NULL in their tables.
			if (kind == 1 && text == nil) || (kind >= 4 && ref == nil) || (kind == 6 && (ref2 == nil || at == nil)) {
				return fmt.Errorf("a row of kind %d without its columns", kind)
			}
			switch kind {
			case 1:
				s.fact(member).tier = *text
			case 2:
				s.fact(member).spend += figure
			case 3:
				s.fact(member).referralPaid = true
			case 4:
				s.earnedToday[memberPartner{member, coalition.PartnerID(*ref)}] = coalition.Points(figure)
			case 5:
				s.locked[memberPartner{member, coalition.PartnerID(*ref)}] = coalition.Points(figure)
			case 6:
				debts[member] = append(debts[member], dated{&debt{ID: *ref, CreditorID: coalition.PartnerID(*ref2), Remaining: coalition.Points(figure)}, *at})
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("members' state: %w", err)
		}
		// Oldest first, as queueDebts orders them: a debt is paid in that order.
		for member, ds := range debts {
			slices.SortFunc(ds, func(a, b dated) int {
				if c := a.at.Compare(b.at); c != 0 {
					return c
				}
				return bytes.Compare(a.d.ID[:], b.d.ID[:])
			})
			f := s.fact(member)
			for _, d := range ds {
				f.debts = append(f.debts, d.d)
			}
		}
		return nil
	})
}
